"""Small exact solvers on the k×k task Gramian, shared by the gradient methods.

Everything here works on float64 CPU tensors of a few tasks; the cost is independent
of the number of parameters. The problems are normalised to unit scale before they are
solved and a tiny ridge (:data:`RIDGE`, relative) makes them strictly convex, so that
zero gradients, parallel gradients and a single task need no special case.

- :func:`qp` minimises ``½ xᵀQx + cᵀx`` over ``x ≥ 0`` (optionally with ``Σx = 1``,
  the simplex) with a primal active-set method (Lawson–Hanson style): exact up to the
  ridge, a handful of k×k solves.
- :func:`min_norm` is the min-norm point of the convex hull of the gradients (MGDA).
- :func:`fair_weights` solves ``G w = w^(-1/α)``, ``w > 0`` (FairGrad, and the Nash
  bargaining solution of Nash-MTL for ``α = 1``) by damped Newton on a convex function.
"""

from __future__ import annotations

import torch
from torch import Tensor

RIDGE = 1e-12
"""Ridge added to the diagonal of a unit-scale problem: keeps it strictly convex."""
TOL = 1e-11
"""Multiplier tolerance of the active-set method (unit scale)."""


def _unit(Q: Tensor) -> float:
    """A positive scale of ``Q`` (its largest diagonal entry), 1 for a zero matrix."""
    top = float(Q.diagonal().max()) if Q.numel() else 0.0
    return top if top > 0 else 1.0


def _solve_face(Q: Tensor, c: Tensor, free: Tensor, simplex: bool) -> Tensor:
    """Minimiser of the quadratic with the coordinates outside ``free`` held at 0."""
    x = torch.zeros_like(c)
    idx = free.nonzero().flatten()
    n = len(idx)
    Qf = Q[idx][:, idx] + RIDGE * torch.eye(n, dtype=Q.dtype)
    if simplex:
        kkt = torch.zeros(n + 1, n + 1, dtype=Q.dtype)
        kkt[:n, :n] = Qf
        kkt[:n, n] = 1.0
        kkt[n, :n] = 1.0
        rhs = torch.cat([-c[idx], torch.ones(1, dtype=Q.dtype)])
        x[idx] = torch.linalg.solve(kkt, rhs)[:n]
    else:
        x[idx] = torch.linalg.solve(Qf, -c[idx])
    return x


def qp(Q: Tensor, c: Tensor, simplex: bool = False) -> Tensor:
    """``argmin ½ xᵀQx + cᵀx`` over ``x ≥ 0`` (and ``Σx = 1`` if ``simplex``); ``Q`` PSD.

    A primal active-set method: grow the free set by the coordinate with the most
    negative multiplier, solve the equality-constrained problem on it, and step back to
    the boundary when that solution leaves the feasible set.
    """
    Q = Q.detach().to("cpu", torch.float64)
    c = c.detach().to("cpu", torch.float64)
    k = len(c)
    scale = _unit(Q)
    Q, c = Q / scale, c / scale
    Q = (Q + Q.T) / 2
    if simplex:
        start = int(torch.argmin(0.5 * Q.diagonal() + c))
        x = torch.zeros(k, dtype=torch.float64)
        x[start] = 1.0
        free = x > 0
    else:
        x = torch.zeros(k, dtype=torch.float64)
        free = torch.zeros(k, dtype=torch.bool)
    for _ in range(10 * k + 20):
        grad = Q @ x + c
        lam = grad - grad[free].mean() if simplex else grad
        lam = torch.where(free, torch.zeros_like(lam), lam)
        j = int(torch.argmin(lam))
        if lam[j] >= -TOL:
            break
        free[j] = True
        for _ in range(k + 1):
            y = _solve_face(Q, c, free, simplex)
            leaving = free & (y < 0)
            if not leaving.any():
                x = y
                break
            step = (x[leaving] / (x[leaving] - y[leaving])).min().clamp(0.0, 1.0)
            x = x + step * (y - x)
            hit = free & (x <= 1e-15)
            if simplex and bool(hit.sum() == free.sum()):
                break  # the face of a simplex cannot empty; numerically stuck
            free &= ~hit
            x[~free] = 0.0
    x = x.clamp_min(0.0)
    return x / x.sum() if simplex else x


def min_norm(G: Tensor) -> Tensor:
    """Weights ``w`` on the simplex minimising ``wᵀGw``: the min-norm point of the hull."""
    return qp(G, torch.zeros(len(G), dtype=torch.float64), simplex=True)


def fair_weights(G: Tensor, alpha: float, start: Tensor | None = None, iters: int = 100) -> Tensor:
    """The ``w > 0`` with ``G w = w^(-1/α)`` (``α > 0``).

    It is the minimiser of the strictly convex ``½ wᵀGw − Σ h(wᵢ)`` with
    ``h'(w) = w^(-1/α)``, found by damped Newton with a backtracking line search that
    keeps ``w`` positive. ``G`` is solved at unit scale and the answer rescaled (it
    scales as ``s^(-α/(1+α))`` with ``G``); ``start``, a previous answer, warm-starts it.
    """
    G = G.detach().to("cpu", torch.float64)
    k = len(G)
    p = 1.0 / alpha
    scale = float(G.diagonal().sum()) / k
    scale = scale if scale > 0 else 1.0
    Gn = G / scale + RIDGE * torch.eye(k, dtype=torch.float64)
    rescale = scale ** (-1.0 / (1.0 + p))

    def h(w: Tensor) -> Tensor:
        return torch.log(w) if p == 1.0 else w.pow(1.0 - p) / (1.0 - p)

    def f(w: Tensor) -> float:
        return float(0.5 * w @ Gn @ w - h(w).sum())

    w = torch.ones(k, dtype=torch.float64)
    if start is not None and bool((start > 0).all()) and bool(torch.isfinite(start).all()):
        w = start.detach().to("cpu", torch.float64) / rescale
    value = f(w)
    for _ in range(iters):
        grad = Gn @ w - w.pow(-p)
        hess = Gn + torch.diag(p * w.pow(-p - 1.0))
        step = torch.linalg.solve(hess, -grad)
        decrement = float(-(grad @ step))
        if decrement < 1e-24:
            break
        t = 1.0
        neg = step < 0
        if neg.any():
            t = min(1.0, 0.99 * float((-w[neg] / step[neg]).min()))
        while t > 1e-16:
            trial = w + t * step
            new = f(trial)
            if new <= value - 0.25 * t * decrement:
                break
            t /= 2
        else:
            break  # no decrease left at machine precision
        w, value = trial, new
    return w * rescale
