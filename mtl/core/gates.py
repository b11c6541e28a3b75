"""Expert utilisation: each gate's mean weight per expert, recorded once per epoch.

A gated model (any module of it) sets, in ``forward``, ``gate_weights``: a dict of gate
name → ``(gates, batch, experts)`` weights, and ``gate_rows``: gate name → one label per
gate row (task names, or ``shared``). :class:`GateRecorder` sums them over the rows of
an evaluation pass (the trainer uses its training-split evaluation pass, in evaluation
mode, so the record depends only on the weights: resume stays exact) and returns, per
gate name, ``{row label: [mean weight of expert 0, 1, ...]}`` for ``metrics.jsonl``.
In a distributed run every rank scores a share of the rows; sums and counts are
all-reduced, so the record equals one process's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtl.distributed import group


def gated_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "gate_rows", None), dict)]


class GateRecorder:
    """``with GateRecorder(model) as rec: <forward passes>``; then ``rec.record()``."""

    def __init__(self, model: nn.Module):
        self.modules = gated_modules(model)
        self.sums: dict[str, torch.Tensor] = {}
        self.rows: dict[str, list[str]] = {}
        self.count = 0
        self.handles: list[Any] = []

    def _hook(self, module: nn.Module, _inputs: Any, _output: Any) -> None:
        for name, w in module.gate_weights.items():
            s = w.detach().to(torch.float64).sum(dim=1)  # (gates, experts)
            self.sums[name] = self.sums[name] + s if name in self.sums else s
            self.rows[name] = list(module.gate_rows[name])
        first = next(iter(module.gate_weights.values()), None)
        if first is not None and module is self.modules[0]:
            self.count += first.shape[1]

    def __enter__(self) -> GateRecorder:
        self.handles = [m.register_forward_hook(self._hook) for m in self.modules]
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def record(self) -> dict[str, Any]:
        """``{"gates": {name: {row: [mean per expert]}}}``, or ``{}`` for an ungated model."""
        if not self.modules:
            return {}
        names = sorted(self.sums)
        if group.context().distributed and names:  # every rank has the same gates
            parts = [self.sums[n].reshape(-1) for n in names]
            parts.append(parts[0].new_tensor([float(self.count)]))
            flat = group.all_sum(torch.cat(parts))
            offset = 0
            for n in names:
                size = self.sums[n].numel()
                self.sums[n] = flat[offset : offset + size].view_as(self.sums[n])
                offset += size
            self.count = int(flat[-1])
        if not self.count:
            return {}
        out = {}
        for n in names:
            means = (self.sums[n] / self.count).tolist()
            out[n] = dict(zip(self.rows[n], means, strict=True))
        return {"gates": out}
