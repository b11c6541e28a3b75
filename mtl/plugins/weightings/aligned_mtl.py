"""Aligned-MTL: make the task gradients orthogonal and of equal norm, then sum them.

Senushkin et al., "Independent Component Alignment for Multi-Task Learning", CVPR 2023
(https://arxiv.org/abs/2305.19000), Algorithm 1. With the eigendecomposition
``G = V Λ Vᵀ`` of the Gramian (rank ``r``, eigenvalues ``λ₁ ≥ … ≥ λᵣ > 0``), the
balance matrix ``B = √λ_scale · V Λ^(-1/2) Vᵀ`` turns the gradients into ``B J``, whose
rows are orthogonal with equal norms (condition number 1); the update is their sum, so
the weights are ``B·1``. ``scale`` picks ``λ_scale``: the smallest kept eigenvalue (the
paper), the median, or the mean.

Conventions: the sum of the aligned gradients (task weights 1, as in the paper's code
and LibMTL, and like equal weighting here); TorchJD averages them (a factor 1/k).
Eigenvalues below ``λ₁·k·ε`` (float32 ε: the Gramian is computed in float32) are
dropped; an all-zero Gramian gives weights 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.core.options import Option
from mtl.plugins.weightings.gramian import GramianWeighting

EPS32 = float(torch.finfo(torch.float32).eps)


class AlignedMTL(GramianWeighting):
    """Sum of the task gradients after aligning their principal components."""

    description = "Aligned-MTL: gradients made orthogonal, equal norms (Senushkin et al. 2023)"
    options = (
        Option(
            "scale",
            str,
            "min",
            "eigenvalue that sets the aligned norm: min (the paper), median or mean",
            choices=("min", "median", "mean"),
        ),
    )

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        n = len(gram)
        ones = torch.ones(n, dtype=torch.float64)
        values, vectors = torch.linalg.eigh((gram + gram.T) / 2)
        keep = values > values.max() * n * EPS32
        if not keep.any():
            return ones
        values, vectors = values[keep], vectors[:, keep]
        kind = self.opts["scale"]
        scale = {"min": values.min(), "median": values.median(), "mean": values.mean()}[kind]
        balance = scale.sqrt() * (vectors / values.sqrt()) @ vectors.T
        return balance @ ones
