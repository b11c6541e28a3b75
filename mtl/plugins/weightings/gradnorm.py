"""GradNorm: gradient normalisation for adaptive loss balancing.

Zhao Chen, Vijay Badrinarayanan, Chen-Yu Lee and Andrew Rabinovich, "GradNorm: Gradient
Normalization for Adaptive Loss Balancing in Deep Multitask Networks", International
Conference on Machine Learning (ICML), 2018.

Learnable task weights ``w_i`` (starting at 1) weigh the losses. With ``g_i`` the task's
gradient of the shared parameters (a row of ``info.jacobian``; its norm is the square root
of the Gramian's diagonal, so the factored Gramian serves), ``G_i = w_i * ||g_i||``,
its mean ``Gbar`` over the ``K`` present tasks, the relative inverse training rate
``r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0))`` and the asymmetry ``alpha``, the weights
are trained on

    sum_i | G_i - Gbar * r_i^alpha |,

with the target ``Gbar * r_i^alpha`` held constant, as in the paper. ``L_i(0)`` is the
task's loss at the first step in which it is present (a buffer). :meth:`after_step`
renormalises the weights of the step's present tasks to sum to ``K`` (floored at 1e-6 so
they stay positive). Absent tasks are left out of the loss and the renormalisation:
their weight and initial loss do not move. The paper measures ``g`` at the last shared
layer; here ``g`` is over all shared parameters the architecture declares.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting
from mtl.plugins.weightings._learnable import present_indices, task_scalars, values
from mtl.plugins.weightings._masked import EPS


class GradNorm(Weighting):
    """Learnable weights that equalise task gradient norms at relative training rates."""

    description: ClassVar[str] = "GradNorm: learn weights that balance task gradient norms"
    needs: ClassVar[str] = "gradients"
    gramian_only: ClassVar[bool] = True  # only the norms ||g_i||: the Gramian's diagonal
    options: ClassVar[tuple[Option, ...]] = (
        Option("alpha", float, 1.5, "restoring force towards equal training rates", min=0.0),
    )

    def __init__(self, num_tasks: int, options: dict, seed: int = 0):
        super().__init__(num_tasks, options, seed)
        self.task_weights = task_scalars(num_tasks, 1.0)
        self.register_buffer("initial_losses", torch.full((num_tasks,), float("nan")))
        self.register_buffer("last_present", torch.zeros(num_tasks, dtype=torch.bool))

    def combine(self, info: StepInfo) -> Combination:
        if info.jacobian is None and info.gramian is None:
            raise ValueError("gradnorm needs per-task shared gradients (or their Gramian)")
        present = info.present.to(self.initial_losses.device)
        losses = info.losses.detach().to(self.initial_losses)
        first = present & torch.isnan(self.initial_losses)
        self.initial_losses.copy_(torch.where(first, losses, self.initial_losses))
        self.last_present.copy_(present)
        w = values(self.task_weights).to(info.losses.device)
        weights = (w * info.present).to(info.losses.dtype)
        idx = present_indices(present)
        if not idx:
            return Combination(weights=weights, loss=None)
        squares = info.gram.detach().diagonal()[idx].clamp_min(0)  # ||g_i||², exactly
        norms = squares.sqrt().to(w.device, w.dtype)
        gn = torch.stack([self.task_weights[i] for i in idx]) * norms
        rate = losses[idx] / self.initial_losses[idx].clamp_min(EPS)
        rel = (rate / rate.mean().clamp_min(EPS)).to(gn.device, gn.dtype)
        target = (gn.mean() * rel ** self.opts["alpha"]).detach()
        return Combination(weights=weights, loss=(gn - target).abs().sum())

    @torch.no_grad()
    def after_step(self) -> None:
        idx = present_indices(self.last_present)
        if not idx:
            return
        w = torch.stack([self.task_weights[i] for i in idx]).clamp_min(1e-6)
        w = w * (len(idx) / w.sum())
        for i, value in zip(idx, w, strict=True):
            self.task_weights[i].copy_(value)
