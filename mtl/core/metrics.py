"""Evaluation metrics for regression, binary and multiclass tasks (pure numpy).

Every scalar returned is a plain Python ``float`` (``float("nan")`` when the
metric is undefined) so results can be JSON-serialised directly.
"""

from __future__ import annotations

import numpy as np

NAN = float("nan")


def _vec(x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Return ``x`` as a flat 1-D array of ``dtype``."""
    return np.asarray(x, dtype=dtype).ravel()


def _check_same_length(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"length mismatch: {a.shape[0]} vs {b.shape[0]}")


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise ``num / den`` with 0 where ``den == 0`` (zero_division=0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def rankdata(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (``scipy.stats.rankdata(method="average")``)."""
    x = np.asarray(x).ravel()
    n = x.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    is_start = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(is_start)
    counts = np.diff(np.r_[starts, n])
    avg = starts + (counts + 1) / 2.0  # mean of ranks start+1 .. start+count
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = avg[np.cumsum(is_start) - 1]
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN if fewer than 2 values or either input is constant."""
    a, b = _vec(a), _vec(b)
    _check_same_length(a, b)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return NAN
    am, bm = a - a.mean(), b - b.mean()
    den = np.sqrt(np.dot(am, am) * np.dot(bm, bm))
    if den == 0:
        return NAN
    return float(np.clip(np.dot(am, bm) / den, -1.0, 1.0))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson of average ranks); NaN like :func:`pearson`."""
    a, b = _vec(a), _vec(b)
    _check_same_length(a, b)
    return pearson(rankdata(a), rankdata(b))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, R^2, Pearson and Spearman.

    ``r2`` equals ``sklearn.metrics.r2_score`` except that it is NaN when
    ``y_true`` is constant (sklearn returns 1.0 or 0.0 there). Empty input
    gives NaN for every metric.
    """
    y, p = _vec(y_true), _vec(y_pred)
    _check_same_length(y, p)
    keys = ("rmse", "mae", "r2", "pearson", "spearman")
    if y.size == 0:
        return dict.fromkeys(keys, NAN)
    err = y - p
    ss_res = float(np.dot(err, err))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = NAN if np.all(y == y[0]) or ss_tot == 0 else 1.0 - ss_res / ss_tot
    return {
        "rmse": float(np.sqrt(ss_res / y.size)),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(r2),
        "pearson": pearson(y, p),
        "spearman": spearman(y, p),
    }


def roc_auc(y_true01: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney U statistic (ties count 1/2, as in sklearn).

    NaN if only one class is present.
    """
    y, s = _vec(y_true01, bool), _vec(score)
    _check_same_length(y, s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return NAN
    u = rankdata(s)[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def binary_metrics(
    y_true01: np.ndarray, prob: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC and the true positive rate of labels.

    A sample is predicted positive iff ``prob >= threshold``. Precision,
    recall and F1 use zero_division=0. Empty input gives NaN for every metric.
    """
    y, p = _vec(y_true01, bool), _vec(prob)
    _check_same_length(y, p)
    keys = ("accuracy", "precision", "recall", "f1", "roc_auc", "positive_rate")
    if y.size == 0:
        return dict.fromkeys(keys, NAN)
    pred = p >= threshold
    tp = int(np.sum(y & pred))
    fp = int(np.sum(~y & pred))
    fn = int(np.sum(y & ~pred))
    return {
        "accuracy": float(np.mean(y == pred)),
        "precision": float(_safe_div(tp, tp + fp)),
        "recall": float(_safe_div(tp, tp + fn)),
        "f1": float(_safe_div(2 * tp, 2 * tp + fp + fn)),
        "roc_auc": roc_auc(y, p),
        "positive_rate": float(np.mean(y)),
    }


def multiclass_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: list[str] | None = None
) -> dict:
    """Accuracy, macro/weighted scores, per-class scores and confusion matrix.

    ``proba`` has shape (N, K); the prediction is its argmax (first max on
    ties). Labels are 0..K-1, so classes absent from the data still get a
    row/column and count (as 0) in the macro averages; zero_division=0.
    ``classes`` (optional, length K) only names the classes in the output.
    Empty input gives NaN scalars and all-zero per-class values/matrix.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be 2-D (N, K), got shape {proba.shape}")
    n, k = proba.shape
    y = _vec(y_true, np.int64)
    _check_same_length(y, proba)
    if classes is not None and len(classes) != k:
        raise ValueError(f"got {len(classes)} class names for {k} columns")
    if n and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}), got [{y.min()}, {y.max()}]")
    pred = proba.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm)
    support, n_pred = cm.sum(axis=1), cm.sum(axis=0)
    precision = _safe_div(tp, n_pred)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * tp, support + n_pred)
    total = int(support.sum())
    if n == 0:
        scalars = dict.fromkeys(
            ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall"),
            NAN,
        )
    else:
        scalars = {
            "accuracy": float(tp.sum() / n),
            "macro_f1": float(f1.mean()),
            "weighted_f1": float(f1 @ support / total) if total else NAN,
            "macro_precision": float(precision.mean()),
            "macro_recall": float(recall.mean()),
        }
    return {
        **scalars,
        "classes": list(classes) if classes is not None else [str(i) for i in range(k)],
        "per_class": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.tolist(),
        },
        "confusion_matrix": cm.tolist(),
    }


def mean_over_tasks(by_task: dict[str, dict], metric: str) -> float:
    """Mean of ``metric`` over the tasks that report it (e.g. Spearman over regression
    tasks), NaN values skipped; NaN if no task has a finite value."""
    values = [
        float(m[metric])
        for m in by_task.values()
        if isinstance(m.get(metric), (int, float)) and np.isfinite(m[metric])
    ]
    return float(np.mean(values)) if values else NAN
