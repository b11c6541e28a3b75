"""CAGrad: the best worst-task improvement within a ball around the mean gradient.

Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021
(https://arxiv.org/abs/2110.14048). The update ``d`` maximises ``minᵢ gᵢ·d`` subject to
``‖d − g₀‖ ≤ c‖g₀‖``, ``g₀`` the mean gradient. Its dual is the small convex problem

    min over w in the simplex of  g_wᵀ g₀ + c‖g₀‖ ‖g_w‖,     g_w = Σ wᵢ gᵢ,

and ``d = g₀ + (c‖g₀‖ / ‖g_w‖) g_w``. We solve the dual exactly without a generic
solver: for a fixed ``ν > 0`` the problem with ``‖g_w‖`` replaced by
``‖g_w‖² / (2ν) + ν/2`` is a simplex QP, and the optimum is the ``ν`` at which that
QP's answer has ``‖g_w‖ = ν`` (a monotone scalar equation). On the face of the
optimum that equation is quadratic, so the search jumps to its root as soon as it has
the right face (usually after one or two QPs), with regula falsi as the safeguard.

Conventions: ``rescale`` (default on, as in the authors' code and LibMTL) divides ``d``
by ``1 + c²``; TorchJD does not rescale. If the mean gradient is 0 or the dual optimum
has ``g_w = 0`` (0 in the hull of the gradients), the update is the mean gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl.core.options import Option
from mtl.plugins.weightings.gramian import GramianWeighting
from mtl.plugins.weightings.solvers import RIDGE, min_norm, qp


def face_root(gram: Tensor, linear: Tensor, radius: float, w: Tensor) -> list[float]:
    """The ``ν`` at which ``‖g_w(ν)‖ = ν`` if the QP's answer keeps the support of ``w``.

    On a fixed face, the answer of ``min ½ (r/ν) wᵀGw + aᵀw`` over ``Σw = 1`` is
    ``p + (ν/r) q`` (``p`` the min-norm point of the face's affine hull, ``q`` the
    correction for ``a``), so ``‖g_w‖² = ν²`` is a quadratic equation in ``ν``; its
    positive roots are returned.
    """
    face = (w > 0).nonzero().flatten()
    n = len(face)
    kkt = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    kkt[:n, :n] = gram[face][:, face] + RIDGE * float(gram.diagonal().max()) * torch.eye(n)
    kkt[:n, n] = kkt[n, :n] = 1.0
    rhs = torch.zeros(n + 1, 2, dtype=torch.float64)
    rhs[n, 0] = 1.0
    rhs[:n, 1] = -linear[face]
    pq = torch.zeros(len(w), 2, dtype=torch.float64)
    pq[face] = torch.linalg.solve(kkt, rhs)[:n]
    (pp, pqq), (_, qq) = (pq.T @ gram @ pq).tolist()
    a, b, c = qq / radius**2 - 1.0, 2.0 * pqq / radius, pp
    if abs(a) < 1e-15:
        return [-c / b] if b != 0 else []
    disc = b * b - 4 * a * c
    if disc < 0:
        return []
    roots = [(-b - disc**0.5) / (2 * a), (-b + disc**0.5) / (2 * a)]
    return [r for r in roots if r > 0]


def cagrad_weights(gram: Tensor, c: float) -> Tensor:
    """Weights of CAGrad's update (without the ``1 + c²`` rescaling)."""
    n = len(gram)
    mean = torch.full((n,), 1.0 / n, dtype=torch.float64)
    radius = c * max(float(mean @ gram @ mean), 0.0) ** 0.5
    top = max(float(gram.diagonal().max()), 0.0) ** 0.5
    if radius <= 1e-12 * top or top == 0.0:
        return mean
    linear = gram @ mean

    def hull_norm(w: Tensor) -> float:
        return max(float(w @ gram @ w), 0.0) ** 0.5

    last = [min_norm(gram)]

    def answer(nu: float) -> tuple[Tensor, float]:
        """The simplex QP's answer for ``ν`` and ``‖g_w‖ − ν`` (decreasing in ``ν``)."""
        last[0] = w = qp(gram * (radius / nu), linear, simplex=True, start=last[0])
        return w, hull_norm(w) - nu

    low = hull_norm(last[0])  # ‖g_w‖ − ν ≥ 0 at the min norm ...
    if low < 1e-9 * top:
        low = 1e-9 * top
    for nu in face_root(gram, linear, radius, last[0]):  # fast path: the min norm's face
        if low <= nu <= top:
            w, f = answer(nu)
            if abs(f) <= 1e-12 * top:
                return mean + (radius / hull_norm(w)) * w
    w, f_low = answer(low)
    if f_low <= 0:  # the root is at (or, if g_w ≈ 0, below) the min norm
        return mean if hull_norm(w) < 1e-9 * top else mean + (radius / hull_norm(w)) * w
    high = top  # ... and ≤ 0 at the largest gradient norm
    w, f_high = answer(high)
    side = 0
    for _ in range(100):
        if f_high >= 0 or high - low <= 1e-14 * top:
            break
        # the exact root if the last answer's face is the right one, else regula falsi
        inside = [r for r in face_root(gram, linear, radius, w) if low < r < high]
        nu = inside[0] if inside else (low * f_high - high * f_low) / (f_high - f_low)
        w, f = answer(nu)
        if abs(f) <= 1e-12 * top:
            break
        if f > 0:
            low, f_low = nu, f
            f_high = f_high / 2 if side == 1 else f_high  # Illinois: no stalling end
            side = 1
        else:
            high, f_high = nu, f
            f_low = f_low / 2 if side == -1 else f_low
            side = -1
    return mean + (radius / hull_norm(w)) * w


class CAGrad(GramianWeighting):
    """Conflict-averse update: maximise the worst task's improvement near the mean."""

    description = "CAGrad: conflict-averse gradient descent (Liu et al. 2021)"
    options = (
        Option("c", float, 0.4, "radius of the ball around the mean gradient", min=0),
        Option("rescale", bool, True, "divide the update by 1 + c² (the authors' default)"),
    )

    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        c = self.opts["c"]
        w = cagrad_weights(gram, c)
        return w / (1 + c**2) if self.opts["rescale"] else w
