"""Smooth Tchebycheff scalarisation (STCH).

Xi Lin, Xiaoyuan Zhang, Zhiyuan Yang, Fei Liu, Zhenkun Wang and Qingfu Zhang, "Smooth
Tchebycheff Scalarization for Multi-Objective Optimization", International Conference
on Machine Learning (ICML), 2024.

As in the official multi-task code (and LibMTL), the objectives are the log losses
normalised by a nadir point, ``f_i = log(L_i / n_i)`` (the ideal point is 0 in that
space), and the step minimises ``K * mu * logsumexp(f / mu)`` over the ``K`` present
tasks. Its gradient gives the loss weights

    w_i = K * softmax(f / mu)_i / L_i,

so the task furthest above its nadir dominates, smoothly (``mu -> 0``: the max).

*Warm-up.* For epochs ``1..warmup_epochs`` the step minimises ``sum_i log L_i``
(weights ``1 / L_i``) while, in the last warm-up epoch, each task's step losses are
averaged: that mean is its nadir ``n_i``. (LibMTL counts epochs from 0 and averages in
epoch ``warmup``, so its default 4 warms up for 5 epochs; ours warms up for exactly
``warmup_epochs``.) A task with no label in that epoch takes its first loss after the
warm-up as its nadir; with ``warmup_epochs=0`` every task does. Losses are floored at
1e-8. Nadir sums and counts are buffers (``state_dict``).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._masked import EPS, masked_softmax


class SmoothTchebycheff(Weighting):
    """Gradient weights of ``K * mu * logsumexp(log(L / nadir) / mu)``."""

    description: ClassVar[str] = "smooth Tchebycheff: soft max of nadir-normalised log losses"
    needs: ClassVar[str] = "losses"
    options: ClassVar[tuple[Option, ...]] = (
        Option("mu", float, 1.0, "smoothing (small: close to the max)", min=1e-4),
        Option("warmup_epochs", int, 4, "epochs of log-loss warm-up fixing the nadir", min=0),
    )

    def __init__(self, num_tasks: int, options: dict, seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.register_buffer("nadir_sum", torch.zeros(num_tasks, dtype=torch.float64))
        self.register_buffer("nadir_count", torch.zeros(num_tasks, dtype=torch.long))

    def nadir(self) -> torch.Tensor:
        """Each task's nadir, NaN (0 / 0) while it has none."""
        return self.nadir_sum / self.nadir_count

    def combine(self, info: StepInfo) -> Combination:
        losses = info.losses.detach().to(self.nadir_sum.device, torch.float64).clamp_min(EPS)
        present = info.present.to(self.nadir_sum.device)
        warmup = self.opts["warmup_epochs"]
        if info.epoch <= warmup:
            if info.epoch == warmup:
                self.nadir_sum.add_(losses.where(present, 0.0))
                self.nadir_count.add_(present.long())
            weights = (1.0 / losses).where(present, 0.0)
        else:
            first = present & (self.nadir_count == 0)
            self.nadir_sum.copy_(torch.where(first, losses, self.nadir_sum))
            self.nadir_count.copy_(torch.where(first, 1, self.nadir_count))
            scaled = torch.log(losses / self.nadir().where(present, 1.0)) / self.opts["mu"]
            weights = present.sum() * masked_softmax(scaled, present) / losses
        return Combination(weights=weights.to(info.losses.device, info.losses.dtype))
