"""The ``mlp`` encoder: no encoder at all; the sharing MLP reads dense or sparse inputs."""

from __future__ import annotations

from torch import nn

from mtl.core.encoder import Encoder, EncoderSpec


class MlpEncoder(Encoder):
    description = "dense or sparse inputs straight into the sharing MLP (the default)"
    input_kinds = ("dense", "sparse")

    def output_dim(self, spec: EncoderSpec) -> int:
        return spec.input_dim

    def build(self, spec: EncoderSpec) -> nn.Module | None:
        return None

    def feature_dims(self, spec: EncoderSpec) -> list[int]:
        """No levels of its own: an architecture that needs features reads the inputs,
        and its own layers are the levels (:class:`mtl.core.features.MlpTrunk`)."""
        return []
