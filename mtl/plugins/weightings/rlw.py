"""Random loss weighting (RLW).

Baijiong Lin, Feiyang Ye, Yu Zhang and Ivor W. Tsang, "Reasonable Effectiveness of
Random Weighting: A Litmus Test for Multi-Task Learning", Transactions on Machine
Learning Research (TMLR), 2022 (arXiv:2111.10603, "A Closer Look at Loss Weighting in
Multi-Task Learning").

Every step draws ``k`` standard-normal numbers from the method's seeded generator and
weighs the tasks by their softmax over the present tasks (the paper's default
distribution). All ``k`` numbers are drawn even when tasks are absent, so the random
stream, and therefore resume and DDP, do not depend on which tasks have labels.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._masked import masked_softmax


class RandomLossWeighting(Weighting):
    """``weights = softmax(z)`` over the present tasks, ``z ~ N(0, I)`` each step."""

    description: ClassVar[str] = "random loss weighting: softmax of a normal draw each step"
    needs: ClassVar[str] = "losses"

    def combine(self, info: StepInfo) -> Combination:
        draw = torch.randn(self.num_tasks, generator=self.generator, dtype=torch.float64)
        logits = draw.to(device=info.losses.device, dtype=info.losses.dtype)
        return Combination(weights=masked_softmax(logits, info.present))
