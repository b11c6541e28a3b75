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
  bargaining solution of Nash-MTL for ``α = 1``) by damped Newton on a convex function,
  with weight 0 for tasks without a gradient and all weights 0 where no solution exists.
"""

from __future__ import annotations

import torch
from torch import Tensor

RIDGE = 1e-12
"""Ridge added to the diagonal of a unit-scale problem: keeps it strictly convex."""
LIVE = 1e-8
"""Squared gradient norm, relative to the largest, below which a task has no gradient."""
TOL = 1e-11
"""Multiplier tolerance of the active-set method (unit scale)."""


def _unit(Q: Tensor) -> float:
    """A positive scale of ``Q`` (its largest diagonal entry), 1 for a zero matrix."""
    top = float(Q.diagonal().max()) if Q.numel() else 0.0
    return top if top > 0 else 1.0


def qp(Q: Tensor, C: Tensor, simplex: bool = False, start: Tensor | None = None) -> Tensor:
    """``argmin ½ xᵀQx + cᵀx`` over ``x ≥ 0`` (and ``Σx = 1`` if ``simplex``); ``Q`` PSD.

    ``C`` is one linear term ``(k,)`` or a batch ``(b, k)`` of problems sharing ``Q``,
    solved together. A primal active-set method (Lawson–Hanson style): grow the free
    set by the coordinate with the most negative multiplier, solve the
    equality-constrained problem on it, and step back to the boundary (dropping the
    coordinates that reach 0) when that solution leaves the feasible set. The problems
    advance in lock-step, one batched k×k solve per iteration. ``start``, a feasible
    point of the same shape as ``C`` (e.g. the answer to a nearby problem), warm-starts
    them on its face.
    """
    single = C.dim() == 1
    Q = Q.detach().to("cpu", torch.float64)
    C = C.detach().to("cpu", torch.float64).reshape(-1, len(Q))
    b, k = C.shape
    scale = _unit(Q)
    Q, C = (Q + Q.T) / (2 * scale), C / scale
    rows = torch.arange(b)
    # The problem restricted to a face: rows/columns of fixed coordinates become identity
    # rows. For the simplex, the system is extended by the multiplier of Σx = 1.
    n = k + 1 if simplex else k
    system = torch.zeros(n, n, dtype=torch.float64)
    system[:k, :k] = Q + RIDGE * torch.eye(k, dtype=torch.float64)
    rhs = torch.zeros(b, n, dtype=torch.float64)
    rhs[:, :k] = -C
    if simplex:
        system[k, :k] = system[:k, k] = 1.0
        rhs[:, k] = 1.0
    eye = torch.eye(n, dtype=torch.float64)
    x = torch.zeros(b, k, dtype=torch.float64)
    free = torch.zeros(b, n, dtype=torch.bool)  # the multiplier's slot is always free
    growing = torch.ones(b, dtype=torch.bool)  # at a face optimum: check multipliers
    if simplex:
        free[:, k] = True
    if start is not None:
        x = start.detach().to("cpu", torch.float64).reshape(b, k).clamp_min(0.0)
        if simplex:
            x = x / x.sum(dim=1, keepdim=True)
        free[:, :k] = x > 0
        growing[:] = False  # solve its face first
    elif simplex:
        vertex = torch.argmin(0.5 * Q.diagonal() + C, dim=1)
        x[rows, vertex] = 1.0
        free[rows, vertex] = True
    done = torch.zeros(b, dtype=torch.bool)
    for _ in range(20 * k + 50):
        grad = x @ Q + C
        on = free[:, :k]
        if simplex:
            grad = grad - ((grad * on).sum(1) / on.sum(1).clamp_min(1))[:, None]
        best, j = grad.masked_fill(on, torch.inf).min(dim=1)
        done |= growing & (best >= -TOL)
        grow = growing & ~done
        free[rows[grow], j[grow]] = True
        growing &= done
        if bool(done.all()):
            break
        on = free[:, :k]
        mask = free[:, :, None] & free[:, None, :]
        y = torch.linalg.solve(torch.where(mask, system, eye), rhs * free)[:, :k]
        leaving = on & (y < 0) & ~done[:, None]
        blocked = leaving.any(dim=1)
        reached = ~blocked & ~done
        x = torch.where(reached[:, None], y, x)
        growing |= reached
        if not bool(blocked.any()):
            continue
        ratio = torch.where(leaving, x / (x - y), torch.inf).min(dim=1).values
        step = ratio.clamp(0.0, 1.0) * blocked
        x = x + step[:, None] * (y - x)
        hit = blocked[:, None] & on & (x <= 1e-15)
        if simplex:  # a simplex face cannot empty: numerically stuck, stop there
            stuck = (on & ~hit).sum(dim=1) == 0
            hit &= ~stuck[:, None]
            done |= stuck
        free[:, :k] &= ~hit
        x = x * free[:, :k]
    x = x.clamp_min(0.0)
    if simplex:
        x = x / x.sum(dim=1, keepdim=True)
    return x[0] if single else x


def min_norm(G: Tensor) -> Tensor:
    """Weights ``w`` on the simplex minimising ``wᵀGw``: the min-norm point of the hull."""
    return qp(G, torch.zeros(len(G), dtype=torch.float64), simplex=True)


def fair_weights(G: Tensor, alpha: float, start: Tensor | None = None) -> Tensor:
    """The ``w > 0`` with ``G w = w^(-1/α)`` (``α > 0``), where it exists.

    Such ``w`` exists when some update improves every task (``gᵢ·d > 0`` for all ``i``).
    Tasks without a gradient (``‖gᵢ‖² ≤ LIVE·maxⱼ‖gⱼ‖²``: a weight ~1/‖gᵢ‖ would
    be needed, beyond the solver's precision) get weight 0 and the others are solved
    alone. If 0 lies in the convex hull of the other gradients there is no
    solution (every update hurts some task) and all weights are 0.
    """
    G = G.detach().to("cpu", torch.float64)
    weights = torch.zeros(len(G), dtype=torch.float64)
    diag = G.diagonal()
    live = diag > LIVE * float(diag.max().clamp_min(0))
    if not live.any():
        return weights
    sub = G[live][:, live]
    if start is not None:
        start = start.detach().to("cpu", torch.float64)[live]
        start = start if bool((start > 0).all()) and bool(torch.isfinite(start).all()) else None
    scale = float(sub.diagonal().mean())
    unit = scale ** (-alpha / (1.0 + alpha))  # w scales as scale^(-α/(1+α)) with G
    w, residual = _fair_newton(sub / scale, 1.0 / alpha, None if start is None else start / unit)
    if residual <= 1e-3:
        weights[live] = w * unit
    return weights


def _fair_newton(G: Tensor, p: float, start: Tensor | None) -> tuple[Tensor, float]:
    """Damped Newton for ``G w = w^(-p)`` on a unit-scale ``G``, and its relative residual.

    ``w`` minimises the strictly convex ``½ wᵀ(G + ridge)w − Σ h(wᵢ)`` with
    ``h'(w) = w^(-p)``; a backtracking line search keeps ``w`` positive. The residual of
    unregularised equation, relative in each component, tells whether a solution exists
    (it is O(1) where the ridge alone holds ``w`` finite).
    """
    k = len(G)
    Gr = G + RIDGE * torch.eye(k, dtype=torch.float64)

    def h(w: Tensor) -> Tensor:
        return torch.log(w) if p == 1.0 else w.pow(1.0 - p) / (1.0 - p)

    def f(w: Tensor) -> float:
        return float(0.5 * w @ Gr @ w - h(w).sum())

    w = torch.ones(k, dtype=torch.float64) if start is None else start
    value = f(w)
    for _ in range(100):
        grad = Gr @ w - w.pow(-p)
        step = torch.linalg.solve(Gr + torch.diag(p * w.pow(-p - 1.0)), -grad)
        decrement = float(-(grad @ step))
        if decrement < 1e-24:
            break
        neg = step < 0
        t = min(1.0, 0.99 * float((-w[neg] / step[neg]).min())) if neg.any() else 1.0
        while t > 1e-16:
            trial = w + t * step
            new = f(trial)
            if new <= value - 0.25 * t * decrement:
                break
            t /= 2
        else:
            break  # no decrease left at machine precision
        w, value = trial, new
    target = w.pow(-p)
    return w, float(((G @ w - target) / target).abs().max())
