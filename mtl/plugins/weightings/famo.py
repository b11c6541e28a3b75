"""Fast adaptive multitask optimization (FAMO).

Bo Liu, Yihao Feng, Peter Stone and Qiang Liu, "FAMO: Fast Adaptive Multitask
Optimization", Advances in Neural Information Processing Systems (NeurIPS), 2023.

Task logits ``xi`` (zero at start) give ``z = softmax(xi)`` over the present tasks. The
step minimises ``sum_i z_i / c * log(L_i - m_i)`` with ``c = sum_j z_j / (L_j - m_j)``,
that is loss weights ``w_i = z_i / (c * (L_i - m_i))`` (they sum to 1); the lower bounds
``m`` are 0 as in the official code. After a step, the logits follow the change in log
loss, ``delta_i = log L_i(before) - log L_i(after)``:
``xi <- xi - lr * (J_softmax(xi)^T delta + gamma * xi)``, the paper's plain gradient step
with weight decay ``gamma`` (the official code and LibMTL use Adam on ``xi`` instead).

*Before and after.* The official code and LibMTL's trainer evaluate the losses again
on the same batch after the optimiser step (one extra forward pass per step; LibMTL's
older trainers never called the update, so the logits stayed 0). We take the "after"
losses from the next step's batch instead: each step first updates the logits with
``(previous step's losses, this step's losses)``, then weighs this step. No extra
forward pass and no trainer hook; the price is that ``delta`` also carries
batch-to-batch noise.

*Absent tasks.* The logit update uses only the tasks present in both steps; other
tasks' logits do not move. A task's stored loss changes only when it is present.
Logits, previous losses and which tasks were present are buffers (``state_dict``).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._masked import EPS, masked_softmax


class FastAdaptiveMultitask(Weighting):
    """Softmax task logits with the log-loss correction, updated from loss decrease."""

    description: ClassVar[str] = "FAMO: logits follow each task's log-loss decrease"
    needs: ClassVar[str] = "losses"
    options: ClassVar[tuple[Option, ...]] = (
        Option("lr", float, 0.025, "step size of the task logits", min=0.0),
        Option("gamma", float, 0.001, "weight decay of the task logits", min=0.0),
    )

    def __init__(self, num_tasks: int, options: dict, seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.register_buffer("logits", torch.zeros(num_tasks, dtype=torch.float64))
        self.register_buffer("prev_losses", torch.zeros(num_tasks, dtype=torch.float64))
        self.register_buffer("prev_present", torch.zeros(num_tasks, dtype=torch.bool))

    def update_logits(self, losses: torch.Tensor, present: torch.Tensor) -> None:
        """One logit step on the tasks present now and in the previous step."""
        both = present & self.prev_present
        if bool(both.any()):
            delta = torch.log(self.prev_losses.clamp_min(0) + EPS) - torch.log(
                losses.clamp_min(0) + EPS
            )
            delta = delta.where(both, 0.0)
            z = masked_softmax(self.logits, both)
            grad = z * delta - z * (z * delta).sum()  # J_softmax^T delta (J symmetric)
            step = grad + self.opts["gamma"] * self.logits
            self.logits.sub_(self.opts["lr"] * step.where(both, 0.0))
        self.prev_losses.copy_(torch.where(present, losses, self.prev_losses))
        self.prev_present.copy_(present)

    def combine(self, info: StepInfo) -> Combination:
        losses = info.losses.detach().to(self.logits.device, torch.float64)
        present = info.present.to(self.logits.device)
        self.update_logits(losses, present)
        z = masked_softmax(self.logits, present)
        inv = z / (losses.clamp_min(0) + EPS)
        weights = inv / inv.sum() if bool(present.any()) else inv
        return Combination(weights=weights.to(info.losses.device, info.losses.dtype))
