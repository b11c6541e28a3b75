"""PCGrad: project away the conflicting component of each task gradient.

Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020
(https://arxiv.org/abs/2001.06782), Algorithm 1. For each task ``i``, its gradient is
projected in turn, in a random order of the other tasks, onto the normal plane of every
*original* gradient ``gⱼ`` it conflicts with (``gᵢᴾᶜ·gⱼ < 0``); the update is the *sum*
of the projected gradients (as in the paper, LibMTL and TorchJD), so that without
conflicts it equals equal weighting. Every projection is a linear combination of the
gradients, so the method works on the Gramian: row ``i`` of the coefficient matrix
``C`` tracks ``gᵢᴾᶜ = Σⱼ Cᵢⱼ gⱼ`` and the weights are the column sums of ``C``.

The order for task ``i`` is ``torch.randperm(n, generator=self.generator)`` over the
``n`` present tasks (task ``i`` itself skipped), so a run is reproducible and resumes
exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.plugins.weightings.gramian import GramianWeighting


class PCGrad(GramianWeighting):
    """Sum of the task gradients with their pairwise conflicts projected away."""

    description = "PCGrad: project out conflicting gradient components (Yu et al. 2020)"

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        G = gram.tolist()
        n = len(G)
        total = [0.0] * n
        for i in range(n):
            coef = [0.0] * n
            coef[i] = 1.0
            for j in torch.randperm(n, generator=self.generator).tolist():
                if j == i or G[j][j] <= 0:
                    continue
                dot = sum(c * g for c, g in zip(coef, G[j], strict=True))
                if dot < 0:
                    coef[j] -= dot / G[j][j]
            total = [t + c for t, c in zip(total, coef, strict=True)]
        return torch.tensor(total, dtype=torch.float64)
