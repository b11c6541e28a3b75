"""IMTL-G: the update whose projections on every task's gradient direction are equal.

Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021
(https://openreview.net/forum?id=IMPnRXEWpvr), the gradient part. With unit vectors
``uᵢ = gᵢ/‖gᵢ‖``, the update ``d = Σ αᵢ gᵢ`` with ``Σ αᵢ = 1`` satisfies ``d·uᵢ = d·uⱼ``
for all tasks. On the Gramian this reads ``G v = (‖g₁‖, …, ‖gₙ‖)`` and ``α = v / Σv``;
we use the pseudo-inverse, which also covers linearly dependent gradients (the
generalisation of Quinton & Rey 2024 that TorchJD implements). If ``Σv`` vanishes the
weights are 0, as in TorchJD.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.plugins.weightings.gramian import GramianWeighting

RTOL = 1e-6
"""Relative cut-off of the pseudo-inverse: the Gramian is computed in float32."""


class IMTLG(GramianWeighting):
    """Weights giving every task the same projected update."""

    description = "IMTL-G: equal projections on all task gradients (Liu et al. 2021)"

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        norms = gram.diagonal().clamp_min(0).sqrt()
        v = torch.linalg.pinv(gram, rtol=RTOL, hermitian=True) @ norms
        total = v.sum()
        return torch.zeros_like(v) if total.abs() < 1e-12 else v / total
