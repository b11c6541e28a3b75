"""Building blocks of the expert architectures (MMoE, OMoE, CGC/PLE, DSelect-k).

Every expert, gate and tower of all tasks runs as one batched product over stacked
weights; nothing loops over experts or tasks in ``forward``:

- :class:`ExpertBank`: ``n`` expert MLPs of one shape. The first layer reads the input
  once for all experts (dense, sparse via ``embedding_bag``, whitening folded in, as
  :class:`~mtl.core.layers.InputLayer`) or, inside PLE, one stream per expert; deeper
  layers are :class:`~mtl.core.layers.TaskLinear` over the expert dimension.
  Output ``(n, batch, width)``.
- :class:`Gates`: ``count`` softmax gates over ``experts``, linear in their input;
  output ``(count, batch, experts)``, each row summing to 1.
- :class:`Towers`: per-task hidden layer (optional) and output layer (``head``) on
  ``(tasks, batch, width)`` streams.
- :func:`mix`: each task's gate-weighted sum of expert outputs.

Gated models set ``gate_weights`` (name → ``(gates, batch, experts)``) and
``gate_rows`` (name → a row label per gate: task names, or ``shared``) in each
forward: what :mod:`mtl.core.gates` records per epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtl.core.architecture import ModelSpec
from mtl.core.errors import UserError
from mtl.core.layers import InputLayer, TaskLinear
from mtl.core.options import Option

EXPERT_WIDTHS = Option(
    "expert-widths",
    str,
    "",
    "hidden widths of each expert, comma-separated, e.g. 256,128 (empty: --widths "
    "without its last entry, which is the towers' hidden width)",
)


def expert_layout(spec: ModelSpec, owner: str) -> tuple[list[int], int | None]:
    """``(expert widths, tower width or None)`` from ``expert-widths`` and ``--widths``.

    Without ``expert-widths``, experts take every width of ``--widths`` but the last,
    the towers' hidden layer the last (one width: experts of that width, towers with
    no hidden layer); with it, towers take the last width of ``--widths``.
    """
    text = str(spec.options.get("expert-widths", "") or "").strip()
    if text:
        try:
            widths = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            widths = []
        if not widths or any(w < 1 for w in widths):
            raise UserError(
                f"option 'expert-widths' of {owner} must be positive integers separated by "
                f"commas, e.g. 256,128; got '{text}'"
            )
        return widths, spec.widths[-1]
    if len(spec.widths) == 1:
        return list(spec.widths), None
    return list(spec.widths[:-1]), spec.widths[-1]


def refuse_streams(spec: ModelSpec, owner: str) -> None:
    """Expert models mix experts over one input per example, not per-task streams."""
    if spec.streams > 1:
        raise UserError(
            f"{owner} mixes shared experts over one input per example; --encoder-sharing "
            "per-task gives one stream per task: use --encoder-sharing shared"
        )


def at_least(spec: ModelSpec, name: str, owner: str, low: int = 1) -> int:
    value = int(spec.options[name])
    if value < low:
        raise UserError(f"option '{name}' of {owner} must be at least {low}; got {value}")
    return value


class ExpertBank(nn.Module):
    """``n`` experts; ``forward(x)`` → ``(n, batch, widths[-1])``.

    ``streams=False``: ``x`` is the model input (dense ``(batch, in)`` or sparse), read
    once for all experts. ``streams=True``: ``x`` is ``(n, batch, in)``, expert ``i``
    reading stream ``i``.
    """

    def __init__(
        self,
        n: int,
        in_dim: int,
        widths: list[int],
        dropout: list[float],
        mean: Any = None,
        std: Any = None,
        streams: bool = False,
    ):
        super().__init__()
        self.n = n
        first: nn.Module = (
            TaskLinear(n, in_dim, widths[0])
            if streams
            else InputLayer(in_dim, widths[0], n, mean, std)
        )
        self.layers = nn.ModuleList(
            [first] + [TaskLinear(n, widths[i - 1], widths[i]) for i in range(1, len(widths))]
        )
        rates = list(dropout) + [0.0] * (len(widths) - len(dropout))
        self.dropout = nn.ModuleList(nn.Dropout(p) if p > 0 else nn.Identity() for p in rates)

    def forward(self, x) -> torch.Tensor:
        h = self.layers[0](x)
        if self.n == 1 and h.dim() == 2:  # InputLayer with one group: (batch, width)
            h = h.unsqueeze(0)
        h = self.dropout[0](torch.relu(h))
        for layer, drop in zip(self.layers[1:], self.dropout[1:], strict=True):
            h = drop(torch.relu(layer(h)))
        return h


class Gates(nn.Module):
    """``count`` softmax gates over ``experts``: ``(count, batch, experts)``.

    ``streams=False`` reads the model input (dense or sparse) once for all gates;
    ``streams=True`` reads ``(count, batch, in)``, gate ``i`` stream ``i``, or a
    ``(batch, in)`` tensor broadcast to every gate.
    """

    def __init__(
        self,
        count: int,
        in_dim: int,
        experts: int,
        mean: Any = None,
        std: Any = None,
        streams: bool = False,
    ):
        super().__init__()
        self.count = count
        self.linear: nn.Module = (
            TaskLinear(count, in_dim, experts)
            if streams
            else InputLayer(in_dim, experts, count, mean, std)
        )

    def forward(self, x) -> torch.Tensor:
        logits = self.linear(x)
        if logits.dim() == 2:
            logits = logits.unsqueeze(0)
        return torch.softmax(logits, dim=-1)


def mix(gates: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """``(g, batch, e)`` gate weights × ``(e, batch, h)`` experts → ``(g, batch, h)``;
    with ``(g, e, batch, h)`` experts each gate mixes its own selection."""
    if experts.dim() == 4:
        return torch.einsum("gbe,gebh->gbh", gates, experts)
    return torch.einsum("gbe,ebh->gbh", gates, experts)


class Towers(nn.Module):
    """Per-task tower: an optional hidden layer, then the output layer ``head``."""

    def __init__(
        self, tasks: int, in_dim: int, width: int | None, output_dims: list[int], dropout: float
    ):
        super().__init__()
        self.output_dims = list(output_dims)
        self.hidden = TaskLinear(tasks, in_dim, width) if width else None
        self.drop = nn.Dropout(dropout) if width and dropout > 0 else nn.Identity()
        self.head = TaskLinear(tasks, width or in_dim, max(self.output_dims))

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        if self.hidden is not None:
            h = self.drop(torch.relu(self.hidden(h)))
        out = self.head(h)
        return [out[t, :, :k] for t, k in enumerate(self.output_dims)]


def tower_dropout(spec: ModelSpec) -> float:
    return spec.dropout[-1] if spec.dropout else 0.0


def expert_dropout(spec: ModelSpec, layers: int) -> list[float]:
    """Dropout after each expert layer: ``--dropout``'s rates but the towers' last one."""
    rates = list(spec.dropout[:-1]) if len(spec.dropout) > 1 else []
    return (rates + [0.0] * layers)[:layers]
