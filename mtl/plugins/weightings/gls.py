"""Geometric loss strategy (GLS).

Sumanth Chennupati, Ganesh Sistu, Senthil Yogamani and Samir A. Rawashdeh, "MultiNet++:
Multi-Stream Feature Aggregation and Geometric Loss Strategy for Multi-Task Learning",
IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops (CVPRW), 2019.

The combined objective is the geometric mean of the ``K`` present tasks' losses,
``G = (prod_i L_i)^(1/K)``. Its gradient is ``sum_i G / (K * L_i) * grad L_i``, so the
step's weights are ``w_i = G / (K * L_i)`` (computed in log space, ``G = exp(mean log L)``)
and back-propagating ``sum_i w_i L_i`` gives exactly the gradient of ``G``. Losses are
floored at 1e-8 so a task with zero loss gives a large but finite weight. (LibMTL
back-propagates ``G`` itself but records ``L_i / (K * prod L)`` as the weights, which is
not this gradient.)
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._masked import EPS


class GeometricLossStrategy(Weighting):
    """Weights ``G / (K * L_i)``: the gradient of the geometric mean of the losses."""

    description: ClassVar[str] = "geometric loss strategy: minimise the geometric mean of losses"
    needs: ClassVar[str] = "losses"

    def combine(self, info: StepInfo) -> Combination:
        present = info.present
        weights = torch.zeros_like(info.losses)
        count = int(present.sum())
        if count:
            losses = info.losses.detach()[present].double().clamp_min(EPS)
            geo = torch.exp(torch.log(losses).mean())
            weights[present] = (geo / (count * losses)).to(weights.dtype)
        return Combination(weights=weights)
