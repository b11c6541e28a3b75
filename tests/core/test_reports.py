"""Classification reports against scikit-learn, the Spearman mean against scipy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import classification_report as sk_report
from sklearn.metrics import confusion_matrix

from mtl.core.metrics import mean_over_tasks, regression_metrics
from mtl.core.reports import classification_report, plot_confusion, report_table

SK_KEYS = {"precision": "precision", "recall": "recall", "f1": "f1-score", "support": "support"}


def assert_equals_sklearn(y, pred, classes):
    ours = classification_report(y, pred, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk_report(
            y,
            pred,
            labels=list(range(len(classes))),
            target_names=list(classes),
            output_dict=True,
            zero_division=0,
        )
    for row in ours["classes"]:
        for key, sk_key in SK_KEYS.items():
            assert row[key] == pytest.approx(theirs[row["class"]][sk_key], abs=1e-12)
    for ours_key, sk_key in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        for key, sk_sub in SK_KEYS.items():
            assert ours[ours_key][key] == pytest.approx(theirs[sk_key][sk_sub], abs=1e-12)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-12)
    assert ours["n"] == len(y)
    cm = confusion_matrix(y, pred, labels=list(range(len(classes))))
    assert np.array_equal(np.asarray(ours["confusion_matrix"]), cm)
    return ours


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [2, 3, 7])
def test_report_equals_sklearn_on_random_labels(seed, k):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    assert_equals_sklearn(y, pred, [f"c{i}" for i in range(k)])


def test_classes_never_predicted_and_never_present_count_as_zero():
    classes = ["a", "b", "c", "d"]
    y = np.array([0, 0, 1, 1, 1, 2])  # 'd' has no support
    pred = np.array([0, 1, 1, 1, 3, 1])  # 'c' is never predicted; 'd' only wrongly
    ours = assert_equals_sklearn(y, pred, classes)
    by_class = {r["class"]: r for r in ours["classes"]}
    assert by_class["c"]["precision"] == 0 and by_class["c"]["support"] == 1
    assert by_class["d"]["support"] == 0 and by_class["d"]["f1"] == 0
    assert ours["macro_avg"]["f1"] == pytest.approx(np.mean([r["f1"] for r in ours["classes"]]))


def test_table_lists_every_class_and_the_averages():
    from rich.console import Console

    report = classification_report(np.array([0, 1, 2]), np.array([0, 2, 2]), ["x", "y", "z"])
    console = Console(record=True, width=120)
    console.print(report_table("genre", report))
    text = console.export_text()
    for word in ("x", "y", "z", "accuracy", "macro avg", "weighted avg", "0.6667"):
        assert word in text


@pytest.mark.parametrize("normalise", [False, True])
def test_confusion_png(tmp_path, normalise):
    path = plot_confusion([[3, 1], [0, 2]], ["no", "yes"], tmp_path / "cm.png", normalise, "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temporary left behind


def test_mean_spearman_over_regression_tasks_matches_scipy():
    rng = np.random.default_rng(0)
    by_task, expected = {}, []
    for name in ("valence", "energy", "danceability"):
        y = rng.integers(0, 5, 40).astype(float)  # many ties
        p = y + rng.normal(0, 2, 40)
        by_task[name] = regression_metrics(y, p)
        expected.append(stats.spearmanr(y, p)[0])
    by_task["tag"] = {"roc_auc": 0.7}  # tasks without Spearman do not count
    assert mean_over_tasks(by_task, "spearman") == pytest.approx(np.mean(expected), abs=1e-12)
    by_task["flat"] = regression_metrics(np.ones(5), np.arange(5.0))  # undefined: skipped
    assert mean_over_tasks(by_task, "spearman") == pytest.approx(np.mean(expected), abs=1e-12)
    assert np.isnan(mean_over_tasks({"tag": {"roc_auc": 0.5}}, "spearman"))
