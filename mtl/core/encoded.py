"""The composed model: encoder (shared or one per task) under a sharing architecture.

``EncodedModel.encoder`` is the encoder (state-dict keys ``encoder.*``); ``body`` is
what the architecture built on the encoder's output, its task output layers named
``head``. With ``snippets > 1`` each sequence is read as K snippets by the same model
and the members are combined (:mod:`mtl.core.snippets`).

Sharing (:mod:`mtl.core.sharing`): a shared encoder's parameters are shared, per-task
encoders are task-specific, and the body declares its own. Only a shared encoder
gives a shared representation: the body's when it has one, else the encoder's output
— except for a body that reads the encoder's intermediate features (``features``,
:mod:`mtl.core.features`): its tasks depend on more than the output, so only the
body's own representation counts.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl.core.batches import SequenceBatch
from mtl.core.penalty import training_penalty
from mtl.core.snippets import combine, split_snippets


class PerTaskEncoder(nn.Module):
    """One encoder per task; outputs ``(tasks, batch, dim)`` streams."""

    def __init__(self, encoders: list[nn.Module]):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)

    def forward(self, batch) -> torch.Tensor:
        return torch.stack([e(batch) for e in self.encoders])


class EncodedModel(nn.Module):
    """``forward(batch)`` → one output per task, as architectures return.

    In training mode with snippets, each task's output has ``rows_per_example`` rows per
    example (example-major): the K members, then, for the ``learned`` rule, the
    combination of the members (detached, so its loss trains only the weights). In
    evaluation mode it is the combination, or member ``member`` alone when that is set.
    """

    def __init__(
        self,
        encoder: nn.Module,
        body: nn.Module,
        kinds: list[str],
        snippets: int = 1,
        rule: str = "max-mean",
        features: bool = False,
    ):
        super().__init__()
        self.encoder = encoder
        self.body = body
        self.features = features  # the body reads the encoder's intermediate features
        self.kinds = list(kinds)
        self.snippets = snippets
        self.rule = rule
        self.member: int | None = None
        if snippets > 1 and rule == "learned":
            self.combine_logits = nn.Parameter(torch.zeros(len(kinds), snippets))
        self.shared_representation: torch.Tensor | None = None
        if not callable(getattr(body, "shared_parameters", None)):
            self.shared_parameters = None  # type: ignore[assignment]  # declares nothing

    @property
    def penalty(self) -> torch.Tensor | None:
        """The training penalty of the encoder's and the body's modules
        (:mod:`mtl.core.penalty`); ``None`` in evaluation mode."""
        return training_penalty(self)

    @property
    def shared_encoder(self) -> bool:
        return not isinstance(self.encoder, PerTaskEncoder)

    def shared_parameters(self) -> list[nn.Parameter]:
        """A shared encoder's parameters, then the body's shared ones."""
        own = list(self.encoder.parameters()) if self.shared_encoder else []
        return own + list(self.body.shared_parameters())

    def has_shared_representation(self) -> bool:
        """Only with a shared encoder: per-task encoders split the computation first."""
        if self.features:
            check = getattr(self.body, "has_shared_representation", None)
            return self.shared_encoder and callable(check) and bool(check())
        return self.shared_encoder

    @property
    def rows_per_example(self) -> int:
        if self.snippets == 1 or not self.training:
            return 1
        return self.snippets + (1 if self.rule == "learned" else 0)

    def _run(self, batch) -> list[torch.Tensor]:
        if self.features:
            z, levels = self.encoder(batch, with_features=True)
            out = self.body(z, levels)
        else:
            z = self.encoder(batch)
            out = self.body(z)
        rep = getattr(self.body, "shared_representation", None)
        own = z if self.shared_encoder and not self.features else None
        self.shared_representation = rep if rep is not None else own
        return out

    def forward(self, batch) -> list[torch.Tensor]:
        k = self.snippets
        if k == 1:
            return self._run(batch)
        assert isinstance(batch, SequenceBatch)
        b = batch.size
        members = [o.reshape(b, k, -1) for o in self._run(split_snippets(batch, k))]
        if self.member is not None:
            return [m[:, self.member] for m in members]
        if self.training and self.rule != "learned":
            return [m.reshape(b * k, -1) for m in members]
        combined = [
            combine(
                m.detach() if self.training else m,
                kind,
                self.rule,
                self.combine_logits[t] if self.rule == "learned" else None,
            )
            for t, (m, kind) in enumerate(zip(members, self.kinds, strict=True))
        ]
        if not self.training:
            return combined
        return [
            torch.cat([m, c.unsqueeze(1)], dim=1).reshape(b * (k + 1), -1)
            for m, c in zip(members, combined, strict=True)
        ]
