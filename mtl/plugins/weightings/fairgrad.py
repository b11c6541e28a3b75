"""FairGrad: α-fair allocation of the update's progress among tasks.

Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024
(https://arxiv.org/abs/2402.15638). The update ``d = Σ wᵢ gᵢ`` maximises the α-fair
utility of the tasks' rates ``gᵢ·d`` within a norm ball; its weights solve the
non-linear system ``G w = w^(-1/α)``, ``w > 0`` (the paper's Equation 4). We solve it
by damped Newton on the strictly convex function whose gradient it is (see
:func:`~mtl.plugins.weightings.solvers.fair_weights`), to machine precision, where the
authors' code and TorchJD call a least-squares routine. ``α = 1`` is proportional
fairness (the Nash-MTL solution), larger ``α`` favours the slowest task; ``α = 0``
(utilitarian) gives equal weights ``1/k``, as in TorchJD.

Where the system has no solution the method says so rather than returning a
regularised blow-up: a task with a (numerically) zero gradient, below 1e-4 of the
largest norm, gets weight 0 (the others are solved alone), and if 0 is in the convex
hull of the gradients (no update improves every task, e.g. two opposite gradients) all
weights are 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.core.options import Option
from mtl.plugins.weightings.gramian import GramianWeighting
from mtl.plugins.weightings.solvers import fair_weights


class FairGrad(GramianWeighting):
    """Weights of the α-fair update: ``G w = w^(-1/α)``."""

    description = "FairGrad: alpha-fair resource allocation among tasks (Ban & Ji 2024)"
    options = (
        Option(
            "alpha", float, 1.0, "fairness: 0 utilitarian, 1 proportional, large max-min", min=0
        ),
    )

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        alpha = self.opts["alpha"]
        if alpha == 0:
            return torch.full((len(gram),), 1.0 / len(gram), dtype=torch.float64)
        return fair_weights(gram, alpha)
