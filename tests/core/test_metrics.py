"""Check mtl.core.metrics against scikit-learn / scipy oracles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from mtl.core.metrics import (
    binary_metrics,
    multiclass_metrics,
    pearson,
    rankdata,
    regression_metrics,
    roc_auc,
    spearman,
)

SCALAR_MC_KEYS = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
)


def _assert_python_floats(d: dict, keys) -> None:
    for key in keys:
        assert type(d[key]) is float, (key, type(d[key]))


# --------------------------------------------------------------------- rankdata
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_rankdata_matches_scipy(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, size=200) if ties else rng.normal(size=200)
    r = rankdata(x)
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, stats.rankdata(x, method="average"))


def test_rankdata_small_cases() -> None:
    np.testing.assert_allclose(rankdata([3, 1, 3, 2]), [3.5, 1.0, 3.5, 2.0])
    np.testing.assert_allclose(rankdata([7, 7, 7]), [2.0, 2.0, 2.0])
    assert rankdata(np.array([])).shape == (0,)


# ------------------------------------------------------------ pearson/spearman
@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=100)
    b = 0.5 * a + rng.normal(size=100)
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b)[0], abs=1e-12)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)
    ai, bi = rng.integers(0, 4, 100), rng.integers(0, 4, 100)  # tie-heavy
    assert spearman(ai, bi) == pytest.approx(stats.spearmanr(ai, bi)[0], abs=1e-12)


def test_correlations_nan_cases() -> None:
    const = np.full(10, 0.1)
    x = np.arange(10.0)
    for f in (pearson, spearman):
        assert math.isnan(f(const, x))
        assert math.isnan(f(x, const))
        assert math.isnan(f([1.0], [2.0]))
        assert math.isnan(f([], []))
        assert type(f(x, x**2)) is float
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)


# ------------------------------------------------------------------ regression
@pytest.mark.parametrize("seed", range(5))
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=150)
    p = y + rng.normal(scale=0.7, size=150)
    m = regression_metrics(y, p)
    assert set(m) == {"rmse", "mae", "r2", "pearson", "spearman"}
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(skm.r2_score(y, p))
    assert m["pearson"] == pytest.approx(stats.pearsonr(y, p)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(y, p)[0])
    _assert_python_floats(m, m)


def test_regression_constant_and_empty() -> None:
    m = regression_metrics(np.full(5, 2.0), np.arange(5.0))
    assert math.isnan(m["r2"]) and math.isnan(m["pearson"])
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(np.full(5, 2.0), np.arange(5.0)))
    e = regression_metrics(np.array([]), np.array([]))
    assert all(type(v) is float and math.isnan(v) for v in e.values())
    assert len(e) == 5


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        regression_metrics(np.zeros(3), np.zeros(4))


# --------------------------------------------------------------------- roc_auc
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_roc_auc_matches_sklearn(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=300)
    s = rng.integers(0, 4, size=300) + y if ties else rng.normal(size=300) + y
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_roc_auc_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(np.ones(10), np.linspace(0, 1, 10)))
    assert math.isnan(roc_auc(np.zeros(10), np.linspace(0, 1, 10)))
    assert math.isnan(roc_auc(np.array([]), np.array([])))


# ---------------------------------------------------------------------- binary
def _check_binary(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict:
    m = binary_metrics(y, prob, threshold=threshold)
    pred = (prob >= threshold).astype(int)
    kw = {"zero_division": 0}
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, **kw))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred, **kw))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, **kw))
    assert m["positive_rate"] == pytest.approx(y.mean())
    _assert_python_floats(m, m)
    return m


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_binary_metrics_match_sklearn(seed: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=200)
    prob = np.clip(0.3 * y + rng.uniform(size=200) * 0.7, 0, 1)
    m = _check_binary(y, prob, threshold)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, prob))


def test_binary_threshold_is_inclusive() -> None:
    m = binary_metrics(np.array([1, 0]), np.array([0.5, 0.49]))
    assert m["accuracy"] == 1.0 and m["precision"] == 1.0


def test_binary_zero_division_paths() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=50)
    # never predicts positive -> precision 0/0
    m = _check_binary(y, np.zeros(50), 0.5)
    assert m["precision"] == 0.0 and m["f1"] == 0.0
    # no true positives and no predicted positives -> recall, f1 0/0
    m = _check_binary(np.zeros(20, dtype=int), np.zeros(20), 0.5)
    assert m["recall"] == 0.0 and m["f1"] == 0.0 and math.isnan(m["roc_auc"])
    # all predicted positive
    _check_binary(y, np.ones(50), 0.5)


def test_binary_empty() -> None:
    m = binary_metrics(np.array([]), np.array([]))
    assert set(m) == {"accuracy", "precision", "recall", "f1", "roc_auc", "positive_rate"}
    assert all(type(v) is float and math.isnan(v) for v in m.values())


# ------------------------------------------------------------------ multiclass
def _check_multiclass(y: np.ndarray, proba: np.ndarray) -> dict:
    k = proba.shape[1]
    labels = list(range(k))
    pred = proba.argmax(axis=1)
    m = multiclass_metrics(y, proba)
    kw = {"labels": labels, "zero_division": 0}
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", **kw))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted", **kw))
    assert m["macro_precision"] == pytest.approx(
        skm.precision_score(y, pred, average="macro", **kw)
    )
    assert m["macro_recall"] == pytest.approx(skm.recall_score(y, pred, average="macro", **kw))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, average=None, **kw)
    pc = m["per_class"]
    np.testing.assert_allclose(pc["precision"], p)
    np.testing.assert_allclose(pc["recall"], r)
    np.testing.assert_allclose(pc["f1"], f)
    assert pc["support"] == s.tolist()
    assert all(type(v) is int for v in pc["support"])
    assert all(type(v) is float for key in ("precision", "recall", "f1") for v in pc[key])
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)
    _assert_python_floats(m, SCALAR_MC_KEYS)
    json.dumps(m)  # must serialise
    return m


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [2, 3, 6])
def test_multiclass_matches_sklearn(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=250)
    proba = rng.dirichlet(np.ones(k), size=250)
    proba[np.arange(250), y] += 0.3 * rng.uniform(size=250)
    _check_multiclass(y, proba)


def test_multiclass_unseen_class() -> None:
    rng = np.random.default_rng(1)
    k = 4
    y = rng.integers(0, 3, size=100)  # class 3 never occurs in y_true
    proba = rng.uniform(size=(100, k))
    m = _check_multiclass(y, proba)
    assert m["per_class"]["support"][3] == 0
    assert len(m["confusion_matrix"]) == k


def test_multiclass_class_never_seen_anywhere() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=60)
    proba = np.c_[rng.uniform(size=(60, 2)), np.zeros(60)]  # class 2 never true/pred
    m = _check_multiclass(y, proba)
    assert m["confusion_matrix"][2] == [0, 0, 0]
    assert m["per_class"]["f1"][2] == 0.0


def test_multiclass_all_one_prediction() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=80)
    proba = np.tile([0.2, 0.7, 0.1], (80, 1))
    m = _check_multiclass(y, proba)
    assert m["per_class"]["precision"][0] == 0.0
    assert m["per_class"]["precision"][2] == 0.0


def test_multiclass_argmax_ties_pick_first() -> None:
    proba = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])
    m = _check_multiclass(np.array([0, 1]), proba)
    assert m["accuracy"] == 1.0


def test_multiclass_classes_and_validation() -> None:
    proba = np.eye(3)
    m = multiclass_metrics(np.arange(3), proba, classes=["a", "b", "c"])
    assert m["classes"] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        multiclass_metrics(np.arange(3), proba, classes=["a", "b"])
    with pytest.raises(ValueError):
        multiclass_metrics(np.array([0, 1, 3]), proba)


def test_multiclass_empty() -> None:
    m = multiclass_metrics(np.array([], dtype=int), np.zeros((0, 3)))
    for key in SCALAR_MC_KEYS:
        assert type(m[key]) is float and math.isnan(m[key])
    assert m["per_class"] == {
        "precision": [0.0] * 3,
        "recall": [0.0] * 3,
        "f1": [0.0] * 3,
        "support": [0] * 3,
    }
    assert m["confusion_matrix"] == [[0] * 3 for _ in range(3)]
    json.dumps(m)
