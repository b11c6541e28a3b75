"""GradVac: align task gradients towards an adaptive target similarity.

Wang et al., "Gradient Vaccine: Investigating and Improving Multi-task Optimization in
Massively Multilingual Models", ICLR 2021 (https://arxiv.org/abs/2010.05874). Like
PCGrad, each task gradient is corrected in a random order of the other tasks, but the
correction fires whenever the cosine ``φᵢⱼ`` between the (corrected) ``gᵢ`` and the
original ``gⱼ`` is below a target ``φ̂ᵢⱼ``, and adds just enough of ``gⱼ`` to reach
that target. The targets are exponential moving averages of the observed cosines,
``φ̂ᵢⱼ ← (1-β) φ̂ᵢⱼ + β φᵢⱼ``, starting at 0 (so the first step is PCGrad); the update
is the sum of the corrected gradients.

The targets live in the method's state (``state_dict``); only pairs of tasks present
in a step are read or updated. ``beta`` defaults to 0.5 as in LibMTL and TorchJD (the
paper's experiments use 0.01). Orders come from ``self.generator``: for task ``i``,
``torch.randperm(n - 1)`` over the other present tasks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mtl.core.options import Option
from mtl.plugins.weightings.gramian import GramianWeighting

EPS = 1e-8


class GradVac(GramianWeighting):
    """Sum of the task gradients corrected towards EMA targets of their cosines."""

    description = "GradVac: gradient vaccine towards EMA cosine targets (Wang et al. 2021)"
    options = (Option("beta", float, 0.5, "EMA rate of the target cosines (0..1)", min=0, max=1),)

    def __init__(self, num_tasks: int, options: dict[str, Any], seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.targets = torch.zeros(num_tasks, num_tasks, dtype=torch.float64)

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        G = gram.tolist()
        tasks = index.tolist()
        beta = self.opts["beta"]
        n = len(G)
        total = [0.0] * n
        for i in range(n):
            coef = [0.0] * n
            coef[i] = 1.0
            dots = list(G[i])  # gᵢᴾᶜ · gⱼ for every j
            others = [j for j in range(n) if j != i]
            for pick in torch.randperm(n - 1, generator=self.generator).tolist():
                j = others[pick]
                norm_i = math.sqrt(max(sum(c * d for c, d in zip(coef, dots, strict=True)), 0))
                norm_j = math.sqrt(max(G[j][j], 0))
                phi = dots[j] / (norm_i * norm_j + EPS)
                target = float(self.targets[tasks[i], tasks[j]])
                if phi < target:
                    scale = norm_i * (
                        target * math.sqrt(max(1 - phi**2, 0))
                        - phi * math.sqrt(max(1 - target**2, 0))
                    )
                    step = scale / (norm_j * math.sqrt(max(1 - target**2, 0)) + EPS)
                    coef[j] += step
                    dots = [d + step * g for d, g in zip(dots, G[j], strict=True)]
                self.targets[tasks[i], tasks[j]] = (1 - beta) * target + beta * phi
            total = [t + c for t, c in zip(total, coef, strict=True)]
        return torch.tensor(total, dtype=torch.float64)

    def get_extra_state(self) -> dict[str, Any]:
        return {**super().get_extra_state(), "targets": self.targets.clone()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        self.targets = state["targets"].clone()
