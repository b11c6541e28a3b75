"""Dynamic weight averaging (DWA).

Shikun Liu, Edward Johns and Andrew J. Davison, "End-to-End Multi-Task Learning with
Attention", IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR), 2019.

At epoch ``t`` a task's weight follows how fast its loss fell over the last two epochs:
``r_i = L_i(t-1) / L_i(t-2)`` and ``w = K * softmax(r / T)`` over the present tasks
(``K`` of them, so the weights sum to ``K``). ``L_i`` are the epoch-mean training losses
that :meth:`end_epoch` delivers. Each task keeps its own two most recent *finite* epoch
means: an epoch in which a task had no label (NaN) leaves its history untouched. A task
with fewer than two means so far gets ``r_i = 1``, which gives every task weight 1 in
the first two epochs, as in the paper. The history is in two buffers (``state_dict``).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._masked import masked_softmax


class DynamicWeightAverage(Weighting):
    """Weights from the ratio of each task's last two epoch-mean losses."""

    description: ClassVar[str] = "dynamic weight averaging: weights from epoch loss descent rates"
    needs: ClassVar[str] = "losses"
    options: ClassVar[tuple[Option, ...]] = (
        Option("T", float, 2.0, "softmax temperature (larger: closer to equal)", min=1e-3),
    )

    def __init__(self, num_tasks: int, options: dict, seed: int = 0):
        super().__init__(num_tasks, options, seed)
        nan = torch.full((num_tasks,), float("nan"), dtype=torch.float64)
        self.register_buffer("last", nan.clone())  # most recent finite epoch mean
        self.register_buffer("before", nan.clone())  # the finite epoch mean before it

    def ratios(self) -> torch.Tensor:
        """``r_i = last_i / before_i``, or 1 where a task has no such pair yet."""
        ok = torch.isfinite(self.last) & torch.isfinite(self.before) & (self.before > 0)
        return torch.where(ok, self.last / self.before.where(ok, 1.0), 1.0)

    def combine(self, info: StepInfo) -> Combination:
        present = info.present.to(self.last.device)
        soft = masked_softmax(self.ratios() / self.opts["T"], present)
        weights = soft * present.sum()
        return Combination(weights=weights.to(info.losses.device, info.losses.dtype))

    def end_epoch(self, epoch: int, epoch_losses: torch.Tensor) -> None:
        new = epoch_losses.detach().to(self.last.device, torch.float64)
        seen = torch.isfinite(new)
        self.before.copy_(torch.where(seen, self.last, self.before))
        self.last.copy_(torch.where(seen, new, self.last))
