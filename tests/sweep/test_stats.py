"""Student-t distribution, intervals and the paired test, checked against scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from mtl.sweep.stats import betainc, mean_ci, paired_test, relative_improvement, t_cdf, t_ppf

DFS = [1, 2, 3, 4, 5, 9, 29, 200, 2.5]


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_matches_scipy(df):
    for t in [-50.0, -6.0, -2.776, -1.0, -1e-3, 0.0, 0.3, 1.0, 2.0, 4.5, 12.0, 1e4]:
        assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("df", DFS)
def test_t_ppf_matches_scipy(df):
    for p in [1e-6, 0.01, 0.025, 0.1, 0.5, 0.8, 0.975, 0.995, 1 - 1e-7]:
        assert t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_betainc_matches_scipy():
    from scipy.special import betainc as scipy_betainc

    rng = np.random.default_rng(0)
    for a, b, x in zip(
        rng.uniform(0.1, 30, 50), rng.uniform(0.1, 30, 50), rng.random(50), strict=True
    ):
        assert betainc(a, b, x) == pytest.approx(scipy_betainc(a, b, x), rel=1e-9, abs=1e-14)
    assert betainc(2, 3, 0) == 0 and betainc(2, 3, 1) == 1


def test_mean_ci_is_the_t_interval():
    xs = [0.71, 0.69, 0.74, 0.70, 0.73]
    ci = mean_ci(xs)
    low, high = stats.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=stats.sem(xs))
    assert ci.mean == pytest.approx(np.mean(xs))
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-10)
    assert mean_ci([1.0]).n == 1 and math.isnan(mean_ci([1.0]).half)
    assert mean_ci([math.nan, 2.0, None, 4.0]).mean == 3.0  # non-finite values are left out


def test_paired_test_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(0.7, 0.02, 6)
    b = a - rng.normal(0.01, 0.01, 6)
    out = paired_test(list(a), list(b))
    ref = stats.ttest_rel(a, b)
    assert out.t == pytest.approx(ref.statistic, rel=1e-10)
    assert out.p == pytest.approx(ref.pvalue, rel=1e-8)
    assert out.diff.mean == pytest.approx(np.mean(a - b))
    # identical samples: no difference, p = 1
    same = paired_test([1.0, 2.0], [1.0, 2.0])
    assert same.diff.mean == 0 and same.p == 1.0


def test_relative_improvement_respects_direction():
    assert relative_improvement(0.8, 0.5, True) == pytest.approx(0.6)
    assert relative_improvement(4.0, 5.0, False) == pytest.approx(0.2)  # lower rmse is better
    assert math.isnan(relative_improvement(1.0, 0.0, True))
