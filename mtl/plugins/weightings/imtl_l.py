"""IMTL-L: the loss-balancing part of Impartial Multi-Task Learning.

Liyang Liu, Yi Li, Zhanghui Kuang, Jing-Hao Xue, Yimin Chen, Wenming Yang, Qingmin Liao
and Wayne Zhang, "Towards Impartial Multi-task Learning", International Conference on
Learning Representations (ICLR), 2021.

Each task has a learnable scale ``s_i`` (starting at 0); the scaled loss is
``exp(s_i) * L_i - s_i``. The model's loss weights are ``exp(s_i)``; ``Combination.loss``
(losses detached) trains ``s`` with gradient ``exp(s_i) * L_i - 1``, zero when the scaled
loss ``exp(s_i) * L_i`` is 1 for every task: all tasks are kept at the same scale.
Absent tasks are left out, so their ``s_i`` gets no gradient.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._learnable import present_indices, task_scalars, values


class ImpartialLossWeighting(Weighting):
    """Learnable scales; weights ``exp(s_i)``."""

    description: ClassVar[str] = "IMTL-L: learnable loss scales that keep scaled losses equal"
    needs: ClassVar[str] = "losses"

    def __init__(self, num_tasks: int, options: dict, seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.scales = task_scalars(num_tasks, 0.0)

    def combine(self, info: StepInfo) -> Combination:
        losses = info.losses.detach()
        s = values(self.scales).to(losses.device)
        weights = (torch.exp(s) * info.present).to(losses.dtype)
        terms = [
            torch.exp(self.scales[i]) * losses[i].to(self.scales[i]) - self.scales[i]
            for i in present_indices(info.present)
        ]
        return Combination(weights=weights, loss=sum(terms) if terms else None)
