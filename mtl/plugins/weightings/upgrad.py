"""UPGrad: project every task gradient onto the dual cone of all of them, then sum.

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
(https://arxiv.org/abs/2406.16232), the aggregator of TorchJD. The dual cone of the
task gradients is the set of updates that conflict with none of them,
``{x : gⱼ·x ≥ 0 for all j}``. The projection of ``gᵢ`` onto it is ``Jᵀvᵢ`` where ``vᵢ``
minimises ``vᵀGv`` subject to ``v ≥ eᵢ`` (the paper's Proposition 1): a non-negative
QP on the k×k Gramian, solved exactly by an active-set method. The update is the sum of
the projections, a non-conflicting direction that equals equal weighting when no two
tasks conflict.

Convention: the projections are summed (preference vector of ones, like equal
weighting here); TorchJD's default averages them (a factor 1/k).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.plugins.weightings.gramian import GramianWeighting
from mtl.plugins.weightings.solvers import qp


def dual_cone_weights(gram: Tensor, U: Tensor) -> Tensor:
    """Each row ``v ≥ u`` minimising ``vᵀGv`` for the rows ``u`` of ``U``: ``Jᵀv`` is
    the projection of ``Jᵀu`` onto the dual cone (all rows solved in one batch)."""
    return U + qp(gram, U @ gram)


class UPGrad(GramianWeighting):
    """Sum of the task gradients each projected onto the dual cone of all of them."""

    description = "UPGrad: sum of projections onto the dual cone (Quinton & Rey 2024)"

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        return dual_cone_weights(gram, torch.eye(len(gram), dtype=torch.float64)).sum(0)
