"""Uncertainty weighting (UW).

Alex Kendall, Yarin Gal and Roberto Cipolla, "Multi-Task Learning Using Uncertainty to
Weigh Losses for Scene Geometry and Semantics", IEEE/CVF Conference on Computer Vision
and Pattern Recognition (CVPR), 2018.

Each task has a learnable log-variance ``s_i = log sigma_i^2``. We follow the paper's
regression form, which is also LibMTL's convention: the objective is

    sum_i 0.5 * exp(-s_i) * L_i + 0.5 * s_i,

so the model's loss weights are ``0.5 * exp(-s_i)`` and ``Combination.loss`` (with the
losses detached) trains ``s``: its gradient is ``0.5 - 0.5 * exp(-s_i) * L_i``, zero at
``exp(s_i) = L_i``. Model and ``s`` descend the same objective. ``s`` starts at
``init`` (LibMTL: -0.5). Absent tasks are left out, so their ``s_i`` gets no gradient.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._learnable import present_indices, task_scalars, values


class UncertaintyWeighting(Weighting):
    """Learnable log-variances; weights ``0.5 * exp(-s_i)``."""

    description: ClassVar[str] = "uncertainty weighting: learnable log-variance per task"
    needs: ClassVar[str] = "losses"
    options: ClassVar[tuple[Option, ...]] = (
        Option("init", float, -0.5, "initial log-variance s of every task", min=-10, max=10),
    )

    def __init__(self, num_tasks: int, options: dict, seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.log_vars = task_scalars(num_tasks, self.opts["init"])

    def combine(self, info: StepInfo) -> Combination:
        losses = info.losses.detach()
        s = values(self.log_vars).to(losses.device)
        weights = (0.5 * torch.exp(-s) * info.present).to(losses.dtype)
        terms = [
            0.5 * torch.exp(-self.log_vars[i]) * losses[i].to(self.log_vars[i])
            + 0.5 * self.log_vars[i]
            for i in present_indices(info.present)
        ]
        return Combination(weights=weights, loss=sum(terms) if terms else None)
