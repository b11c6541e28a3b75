"""The encoder component interface: what turns an input batch into one vector per example.

An encoder sits below the sharing architecture: the architecture's first layer reads
the encoder's output (``output_dim`` wide) instead of the raw inputs. Sequence inputs
need an encoder (``lstm``, ``cnn1d``, ``cnn2d``); dense and sparse inputs use ``mlp``,
which builds nothing, so the architecture reads them directly as it always has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from mtl.core.options import Option


@dataclass
class EncoderSpec:
    """Everything an encoder needs to build its module.

    ``input_dim`` is the number of features per step (per column for dense inputs);
    ``options`` are the encoder's parsed ``-e KEY=VALUE`` options; ``input_mean`` and
    ``input_std`` (or ``None``) are training-split statistics per feature, computed over
    real steps only; ``stabilise`` is the activation-stabilisation weight β (recurrent
    encoders only).
    """

    input_kind: str
    input_dim: int
    options: dict[str, Any]
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None
    stabilise: float = 0.0


class Encoder(ABC):
    """Builds a module mapping an input batch to ``(batch, output_dim)`` features.

    ``input_kinds`` lists the input containers it reads (``dense``, ``sparse``,
    ``sequence``); ``recurrent`` marks encoders that support activation stabilisation.
    The module's ``forward(batch)`` receives what :mod:`mtl.core.batches` produces
    (a :class:`~mtl.core.batches.SequenceBatch` for sequences). A module may set an
    attribute ``penalty`` (a scalar tensor, or ``None``) in its forward; after a
    training-mode forward it is added to the step's loss, never to an evaluation loss
    (:mod:`mtl.core.penalty`).
    """

    description: str = ""
    options: tuple[Option, ...] = ()
    input_kinds: tuple[str, ...] = ("sequence",)
    recurrent: bool = False

    @abstractmethod
    def output_dim(self, spec: EncoderSpec) -> int:
        """Width of the encoder's output (what the architecture's first layer reads)."""

    @abstractmethod
    def build(self, spec: EncoderSpec) -> nn.Module | None:
        """The encoder module, or ``None`` when the architecture reads the inputs directly."""

    def feature_dims(self, spec: EncoderSpec) -> list[int] | None:
        """Widths of the intermediate features the module exposes, one per level, or
        ``None`` (the default): it exposes none. An encoder that returns a list has a
        module whose ``forward(batch, with_features=True)`` returns ``(output, features)``,
        ``features`` a list of :class:`mtl.core.features.Feature` of these widths
        (the contract of :mod:`mtl.core.features`). ``[]``: no levels of its own."""
        return None
