"""Statistics over seeds: Student-t intervals and the paired t-test, without scipy.

The Student-t CDF is the regularised incomplete beta function,
``P(T <= t) = 1 - I_x(df/2, 1/2) / 2`` with ``x = df / (df + t²)`` for ``t >= 0``,
evaluated by its continued fraction (modified Lentz); the quantile inverts the CDF by
bisection, which is exact to machine precision in 200 halvings and needs no derivative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EPS = 1e-15
TINY = 1e-300


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (converges for x < (a+1)/(a+b+2))."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > TINY else TINY)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > TINY else TINY)
            c = 1.0 + num / c
            c = c if abs(c) > TINY else TINY
            h *= d * c
        if abs(d * c - 1.0) < EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0):
        raise ValueError("betainc needs a > 0 and b > 0")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_sf(t: float, df: float) -> float:
    """P(T > t), accurate in the far upper tail."""
    return t_cdf(-t, df)


def t_ppf(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (inverse CDF), by bisection on the CDF."""
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        raise ValueError("p must be in [0, 1]")
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Interval:
    """Mean and two-sided ``level`` t-interval of a sample (half-width NaN for n < 2)."""

    n: int
    mean: float
    sd: float
    half: float
    level: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def excludes_zero(self) -> bool:
        return self.n >= 2 and (self.low > 0 or self.high < 0)


def format_ci(ci: Interval, digits: int = 4, sign: str = "") -> str:
    """``mean ± half`` for a table cell (``—`` without values, ``(1 seed)`` for one)."""
    if ci.n == 0 or math.isnan(ci.mean):
        return "—"
    if ci.n < 2:
        return f"{ci.mean:{sign}.{digits}f} (1 seed)"
    return f"{ci.mean:{sign}.{digits}f} ± {ci.half:.{digits}f}"


def format_pct(ci: Interval) -> str:
    """A relative interval (Δm) in percent."""
    if ci.n < 2:
        return f"{100 * ci.mean:+.1f}% (1 seed)"
    return f"{100 * ci.mean:+.1f}% ± {100 * ci.half:.1f}%"


def format_p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _clean(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean with a Student-t confidence interval over the finite ``values``."""
    xs = _clean(values)
    n = len(xs)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, level)
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(1, mean, math.nan, math.nan, level)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_ppf(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(n, mean, sd, half, level)


@dataclass(frozen=True)
class Paired:
    """A paired comparison: the differences' interval, t statistic and two-sided p-value."""

    diff: Interval
    t: float
    p: float


def paired_test(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Paired:
    """Paired t-test of ``a - b`` (pairs with a missing side are dropped)."""
    pairs = [
        (float(x), float(y))
        for x, y in zip(a, b, strict=True)
        if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))
    ]
    diff = mean_ci([x - y for x, y in pairs], level)
    if diff.n < 2:
        return Paired(diff, math.nan, math.nan)
    if diff.sd == 0:
        t = 0.0 if diff.mean == 0 else math.copysign(math.inf, diff.mean)
        return Paired(diff, t, 1.0 if diff.mean == 0 else 0.0)
    t = diff.mean / (diff.sd / math.sqrt(diff.n))
    return Paired(diff, t, min(1.0, 2.0 * t_sf(abs(t), diff.n - 1)))


def relative_improvement(multi: float, single: float, higher_is_better: bool) -> float:
    """(multi − single) / |single|, signed so that positive means multi-task is better."""
    if not (math.isfinite(multi) and math.isfinite(single)) or single == 0:
        return math.nan
    sign = 1.0 if higher_is_better else -1.0
    return sign * (multi - single) / abs(single)
