"""Cross-stitch networks: one column per task, mixed after every hidden layer.

Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task Learning",
CVPR 2016. Each task has its own column of ReLU layers of ``--widths`` (the layers of
an all-``T`` sharing pattern); after every hidden layer ``i`` a cross-stitch unit, a
learned ``tasks × tasks`` matrix ``A_i``, mixes the columns' activations::

    h̃_t = Σ_s A_i[t, s] · h_s          (row t: what task t's column reads next)

``A_i`` starts near the identity: ``self-weight`` (0.9) on the diagonal, the rest
(``1 - self-weight``) spread evenly over the other tasks; with ``self-weight=1`` the
columns start independent (the ``TTTT`` network). Columns run as one batched product
per layer (:class:`~mtl.core.layers.TaskLinear`), the mixing is one ``einsum``; no
loop over tasks.

Sharing (:mod:`mtl.core.sharing`): the mixing units are the shared parameters (every
task's loss depends on them), with a shared encoder's. A column's layers and its head
belong to its task, as in the paper (a column is "the network of task t"); another
task's gradient still reaches them through the mixing, as a plain sum. So gradient
methods (``pcgrad``, …) balance the mixing units and the encoder; all columns are
task-specific. There is no shared representation unless the encoder gives one.

Diagnostics: the mixing matrices, ``{"mixing": [A_1, …, A_L]}`` (rows and columns in
task order), are recorded in every epoch's ``train`` record of ``metrics.jsonl``.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl.core.architecture import Architecture, ModelSpec
from mtl.core.layers import InputLayer, TaskLinear
from mtl.core.options import Option, resolve_options

OPTIONS = (
    Option(
        "self-weight",
        float,
        0.9,
        "initial weight of a task's own column in each mixing unit (the rest is spread "
        "evenly over the other tasks; 1 = independent columns)",
        min=0.0,
        max=1.0,
    ),
)


def initial_mixing(tasks: int, self_weight: float) -> torch.Tensor:
    """``(tasks, tasks)``: ``self_weight`` on the diagonal, the rest spread evenly."""
    if tasks == 1:
        return torch.ones(1, 1)
    off = (1.0 - self_weight) / (tasks - 1)
    eye = torch.eye(tasks)
    return eye * self_weight + (1 - eye) * off


class CrossStitchNet(nn.Module):
    def __init__(self, spec: ModelSpec, self_weight: float):
        super().__init__()
        tasks = len(spec.task_names)
        self.output_dims = list(spec.output_dims)
        w = spec.widths
        # column layers exactly as the TTTT sharing pattern builds them
        self.first = InputLayer(spec.input_dim, w[0], tasks, spec.input_mean, spec.input_std)
        self.hidden = nn.ModuleList(TaskLinear(tasks, w[i - 1], w[i]) for i in range(1, len(w)))
        self.dropout = nn.ModuleList(
            nn.Dropout(p) if p > 0 else nn.Identity() for p in spec.dropout
        )
        self.head = TaskLinear(tasks, w[-1], max(self.output_dims))
        # one cross-stitch unit per hidden layer: (layers, tasks, tasks)
        self.mixing = nn.Parameter(initial_mixing(tasks, self_weight).repeat(len(w), 1, 1))
        self.shared_representation: torch.Tensor | None = None

    def shared_parameters(self) -> list[nn.Parameter]:
        """The mixing units (columns and heads are task-specific; see the module doc)."""
        return [self.mixing]

    def has_shared_representation(self) -> bool:
        return False

    def forward(self, batch) -> list[torch.Tensor]:
        """``batch``: dense ``(batch, in)``, sparse, or per-task streams ``(tasks, batch, in)``."""
        h = torch.relu(self.first(batch))  # (tasks, batch, width)
        layers = [None, *self.hidden]
        for i, (layer, drop) in enumerate(zip(layers, self.dropout, strict=True)):
            if layer is not None:
                h = torch.relu(layer(h))
            h = drop(torch.einsum("ts,sbw->tbw", self.mixing[i], h))
        out = self.head(h)
        return [out[t, :, :k] for t, k in enumerate(self.output_dims)]

    def diagnostics(self) -> dict[str, list]:
        return {"mixing": self.mixing.detach().cpu().tolist()}


class CrossStitchArchitecture(Architecture):
    description = "cross-stitch: one column per task over --widths, learned mixing per layer"
    options = OPTIONS

    def build(self, spec: ModelSpec) -> nn.Module:
        o = resolve_options(self.options, spec.options, "architecture 'cross-stitch'")
        return CrossStitchNet(spec, o["self-weight"])
