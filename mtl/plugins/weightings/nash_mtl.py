"""Nash-MTL: the Nash bargaining solution among tasks over the update direction.

Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022
(https://arxiv.org/abs/2202.01017). The update ``d = Σ αᵢ gᵢ`` maximises
``Σ log(gᵢ·d)`` within a ball; its weights solve ``α ⊙ (G α) = 1``, ``α > 0`` (the
paper's Theorem 5.1). The paper approximates that solution by a few convex-concave
(CCP) steps with a cone solver; we solve the same equation to machine precision by
damped Newton on a strictly convex function (see
:func:`~mtl.plugins.weightings.solvers.fair_weights` with ``α = 1``), warm-started from
the previous step's solution, in torch on the k×k Gramian.

As in the authors' code: the weights are recomputed every ``update-every`` steps and
reused in between, and the update is scaled down to norm ``max-norm`` when it is longer
(0 disables the cap; note that ``‖d‖² = Σ αᵢ (Gα)ᵢ = k`` at the solution, so the
default cap 1 always binds). The previous solution and the step count are state.
Where no bargaining solution exists the weights are 0 for a task with a (numerically)
zero gradient, below 1e-4 of the largest norm (the others bargain alone), and for all
tasks if 0 is in the convex hull of the gradients (no update improves every task).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtl.core.options import Option
from mtl.plugins.weightings.gramian import GramianWeighting
from mtl.plugins.weightings.solvers import fair_weights


class NashMTL(GramianWeighting):
    """Weights of the Nash bargaining solution ``α ⊙ (G α) = 1``, capped in norm."""

    description = "Nash-MTL: Nash bargaining solution among tasks (Navon et al. 2022)"
    options = (
        Option("update-every", int, 1, "recompute the weights every this many steps", min=1),
        Option("max-norm", float, 1.0, "cap on the update's norm (0: no cap)", min=0),
    )

    def __init__(self, num_tasks: int, options: dict[str, Any], seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.previous = torch.zeros(num_tasks, dtype=torch.float64)
        self.calls = 0

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        if self.calls % self.opts["update-every"] == 0:
            alpha = fair_weights(gram, 1.0, start=self.previous[index])
            self.previous[index] = alpha
        else:
            alpha = self.previous[index].clone()
        self.calls += 1
        cap = self.opts["max-norm"]
        norm = max(float(alpha @ gram @ alpha), 0.0) ** 0.5
        return alpha * (cap / norm) if cap > 0 and norm > cap else alpha

    def get_extra_state(self) -> dict[str, Any]:
        state = super().get_extra_state()
        return {**state, "previous": self.previous.clone(), "calls": self.calls}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        self.previous = state["previous"].clone()
        self.calls = state["calls"]
