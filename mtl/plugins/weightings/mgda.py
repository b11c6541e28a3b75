"""MGDA: the min-norm point of the convex hull of the task gradients.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018
(https://arxiv.org/abs/1810.04650). The weights ``w`` lie on the simplex and minimise
``‖Σ wᵢ gᵢ‖²``; the combined gradient is a common descent direction of all tasks (or
zero at a Pareto-stationary point). We solve the k×k problem exactly with an active-set
method instead of the paper's Frank-Wolfe iterations (TorchJD stops those at a
tolerance of 1e-3).

``normalize`` rescales each gradient before the solve, as in the authors' code:
``l2`` by its norm, ``loss`` by the task loss, ``loss+`` by both, ``none`` not at all;
the returned weights apply to the raw gradients (``wᵢ / nᵢ``), so they sum to 1 only
with ``none``.

``mgda`` works on the gradients of the shared parameters; ``mgda-ub`` (the paper's
MGDA-UB) on the gradients of the shared representation, an upper bound that is
cheaper for large shared encoders.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.core.options import Option
from mtl.plugins.weightings.gramian import GramianWeighting
from mtl.plugins.weightings.solvers import min_norm

TINY = 1e-12


def gradient_scales(gram: Tensor, losses: Tensor, kind: str) -> Tensor:
    """The per-task scale ``nᵢ`` each gradient is divided by (1 where it would be 0)."""
    norms = gram.diagonal().clamp_min(0).sqrt()
    scale = {
        "none": torch.ones_like(losses),
        "l2": norms,
        "loss": losses,
        "loss+": losses * norms,
    }[kind]
    return torch.where(scale.abs() > TINY, scale, torch.ones_like(scale))


class MGDA(GramianWeighting):
    """Min-norm convex combination of the task gradients of the shared parameters."""

    description = "MGDA: min-norm point of the convex hull of task gradients (Sener & Koltun 2018)"
    options = (
        Option(
            "normalize",
            str,
            "none",
            "scale each gradient before the solve: none, l2 (its norm), loss, loss+ (both)",
            choices=("none", "l2", "loss", "loss+"),
        ),
    )

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        scale = gradient_scales(gram, losses, self.opts["normalize"])
        return min_norm(gram / torch.outer(scale, scale)) / scale


class MGDAUB(MGDA):
    """MGDA-UB: the same solve on the gradients of the shared representation."""

    description = "MGDA-UB: MGDA on the shared representation's gradients (Sener & Koltun 2018)"
    needs = "representation"
