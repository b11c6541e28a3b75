"""MTAN: task-specific attention over a shared network's intermediate features.

Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019.
One shared network computes features level by level; each task has a small attention
module per level that reads the shared feature there and its own attended feature of
the level below, and outputs a soft mask in (0, 1) applied element-wise to the shared
feature; the task's head reads its attended feature of the last level.

Levels (:mod:`mtl.core.features`): the shared encoder's intermediate features (per
block for ``cnn1d``/``cnn2d``, the hidden states over time steps for ``lstm``),
shallowest first, then the shared ReLU layers of ``--widths`` over the encoder's output
(without an encoder, over the dense or sparse inputs: the MLP's layers). At level
``j`` with shared feature ``F_j`` ``(batch, positions, C_j)`` task ``t`` computes::

    m_tj = sigmoid(W2_tj · relu(W1_tj · F_j + U_tj · s_t,j-1 + b1_tj) + b2_tj)
    a_tj = m_tj ⊙ F_j ,   s_tj = mean of a_tj over real positions   (batch, C_j)

(``W1``/``W2`` act per position, as the paper's 1×1 convolutions; the hidden width is
``C_j / reduction``). Over positions (time steps, blocks' grid cells) the mask is the
task's attention; the summary ``s`` carries it to the next level, whose positions may
differ (pooling), where the paper used a convolution and pooling. Heads read ``s`` of
the last level. All tasks run at once: each level's weights are stacked
``(tasks, …)`` and applied with ``einsum``; no loop over tasks.

Sharing (:mod:`mtl.core.sharing`): the encoder and the ``--widths`` layers are shared;
attention modules and heads are task-specific. Tasks read every level, so there is no
single shared representation (representation methods are refused; gradient and
loss-level methods work).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtl.core.architecture import Architecture, ModelSpec
from mtl.core.features import Feature, MlpTrunk
from mtl.core.layers import TaskLinear
from mtl.core.options import Option, resolve_options

OPTIONS = (
    Option(
        "reduction",
        int,
        4,
        "attention hidden width = level width / reduction (at least 1)",
        min=1,
    ),
)


def _uniform(*shape: int, fan_in: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


def pooled(a: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``(tasks, batch, positions, dim)`` → mean over the real positions ``(tasks, batch, dim)``."""
    if mask is None:
        return a.mean(dim=2)
    m = mask.to(a.dtype)[None, :, :, None]
    return (a * m).sum(dim=2) / m.sum(dim=2).clamp(min=1)


class LevelAttention(nn.Module):
    """Every task's attention module at one level: weights stacked over tasks."""

    def __init__(self, tasks: int, dim: int, below: int, hidden: int):
        super().__init__()
        fan_in = dim + below
        self.w_shared = _uniform(tasks, dim, hidden, fan_in=fan_in)
        self.w_below = _uniform(tasks, below, hidden, fan_in=fan_in) if below else None
        self.b_hidden = _uniform(tasks, 1, 1, hidden, fan_in=fan_in)
        self.w_mask = _uniform(tasks, hidden, dim, fan_in=hidden)
        self.b_mask = _uniform(tasks, 1, 1, dim, fan_in=hidden)

    def forward(self, f: torch.Tensor, below: torch.Tensor | None) -> torch.Tensor:
        """``f`` ``(batch, positions, dim)``, ``below`` ``(tasks, batch, below)`` or None
        → masks ``(tasks, batch, positions, dim)``."""
        u = torch.einsum("bpc,tch->tbph", f, self.w_shared) + self.b_hidden
        if below is not None:
            u = u + torch.einsum("tbd,tdh->tbh", below, self.w_below).unsqueeze(2)
        return torch.sigmoid(
            torch.einsum("tbph,thc->tbpc", torch.relu(u), self.w_mask) + self.b_mask
        )


class MtanNet(nn.Module):
    needs_features = True

    def __init__(self, spec: ModelSpec, reduction: int):
        super().__init__()
        tasks = len(spec.task_names)
        self.output_dims = list(spec.output_dims)
        self.trunk = MlpTrunk(
            spec.input_dim, spec.widths, spec.dropout, spec.input_mean, spec.input_std
        )
        dims = [*(spec.features or []), *spec.widths]
        self.attention = nn.ModuleList(
            LevelAttention(tasks, d, dims[j - 1] if j else 0, max(1, d // reduction))
            for j, d in enumerate(dims)
        )
        self.head = TaskLinear(tasks, dims[-1], max(self.output_dims))

    def shared_parameters(self) -> list[nn.Parameter]:
        """The ``--widths`` layers (a shared encoder's parameters are added above)."""
        return list(self.trunk.parameters())

    def has_shared_representation(self) -> bool:
        return False

    def attend(self, x, features: list[Feature] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Every task's summary of the last level ``(tasks, batch, dim)`` and the masks
        of every level, ``(tasks, batch, positions, C_j)`` each."""
        levels = [*features, *self.trunk(x)]
        summary, masks = None, []
        for level, attention in zip(levels, self.attention, strict=True):
            mask = attention(level.x, summary)
            masks.append(mask)
            summary = pooled(mask * level.x.unsqueeze(0), level.mask)
        return summary, masks

    def forward(self, x, features: list[Feature] = ()) -> list[torch.Tensor]:
        """``x``: the encoder's output ``(batch, dim)``, or the dense or sparse batch
        without an encoder; ``features``: the encoder's levels (``[]`` without one)."""
        out = self.head(self.attend(x, features)[0])
        return [out[t, :, :k] for t, k in enumerate(self.output_dims)]


class MtanArchitecture(Architecture):
    description = "MTAN: task attention over the shared encoder's and layers' features"
    options = OPTIONS
    needs_features = True

    def build(self, spec: ModelSpec) -> nn.Module:
        o = resolve_options(self.options, spec.options, "architecture 'mtan'")
        return MtanNet(spec, o["reduction"])
