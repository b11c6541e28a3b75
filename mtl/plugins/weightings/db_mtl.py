"""DB-MTL: dual balancing of loss scales and gradient magnitudes.

Lin et al., "Dual-Balancing for Multi-Task Learning", 2023
(https://arxiv.org/abs/2308.12029). Loss scales are balanced by training on
``log ℓᵢ`` (whose gradient is ``gᵢ / ℓᵢ``); gradient magnitudes by keeping an
exponential moving average ``ĝᵢ`` of each task's log-loss gradient and rescaling every
``ĝᵢ`` to the largest norm among them:

    ĝᵢ ← gᵢ' + (β / tᵢ^σ) (ĝᵢ − gᵢ'),   gᵢ' = gᵢ / (ℓᵢ + 1e-8),
    d = Σᵢ (maxⱼ ‖ĝⱼ‖ / ‖ĝᵢ‖) ĝᵢ,

``tᵢ`` counting the steps in which task ``i`` was present, ``ĝᵢ`` starting at 0 (as in
the authors' LibMTL code). The update ``d`` is not a combination of this step's
gradients, so the method returns the combined shared ``gradient`` (no weights). The
buffer ``ĝ`` (k × shared parameters) and the counts are state; an absent task's buffer
and count do not move and it takes no part in the maximum.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting

EPS = 1e-8


class DBMTL(Weighting):
    """Log-loss gradients with EMA, rescaled to the largest task's magnitude."""

    description = "DB-MTL: log losses and gradient magnitudes balanced (Lin et al. 2023)"
    needs = "gradients"
    options = (
        Option("beta", float, 0.9, "EMA factor of the gradient buffer (0..1)", min=0, max=1),
        Option("beta-sigma", float, 0.5, "decay exponent of the EMA factor over steps", min=0),
    )

    def __init__(self, num_tasks: int, options: dict[str, Any], seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.buffer: torch.Tensor | None = None
        self.counts = torch.zeros(num_tasks, dtype=torch.long)

    def combine(self, info: StepInfo) -> Combination:
        assert info.jacobian is not None, "db-mtl needs per-task gradients"
        jac = info.jacobian.detach()
        if self.buffer is None:
            self.buffer = torch.zeros_like(jac)
        self.buffer = self.buffer.to(jac.device, jac.dtype)
        present = info.present.cpu()
        for i in present.nonzero().flatten().tolist():
            self.counts[i] += 1
            rate = self.opts["beta"] / float(self.counts[i]) ** self.opts["beta-sigma"]
            log_scale = 1.0 / (float(info.losses[i].clamp_min(0)) + EPS)
            self.buffer[i].mul_(rate).add_(jac[i], alpha=(1 - rate) * log_scale)  # in place
        norms = self.buffer.norm(dim=1).to("cpu", torch.float64)
        scale = torch.zeros(self.num_tasks, dtype=torch.float64)
        if present.any():
            scale[present] = norms[present].max() / (norms[present] + EPS)
        return Combination(gradient=scale.to(jac.device, jac.dtype) @ self.buffer)

    def get_extra_state(self) -> dict[str, Any]:
        buffer = None if self.buffer is None else self.buffer.clone()
        return {**super().get_extra_state(), "buffer": buffer, "counts": self.counts.clone()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        self.buffer = None if state["buffer"] is None else state["buffer"].clone()
        self.counts = state["counts"].clone()
