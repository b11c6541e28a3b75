"""``mtl predict`` and ``mtl evaluate --report classification`` end to end on a tiny run."""

from __future__ import annotations

import csv
import io
import json
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from typer.testing import CliRunner

from mtl.cli.main import app

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

TASKS = ("genre", "pop", "loudness", "year")
TINY = [
    "--widths", "16,16,16,16", "-o", "n=400", "-o", "dim=300", "-o", "density=0.05",
    "-o", "missing=0.3", "--report", "",
]  # fmt: skip


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, builtin_plugins_for_module):
    path = tmp_path_factory.mktemp("predict") / "run"
    result = invoke("train", "--tasks", ",".join(TASKS), *TINY, "--epochs", "2", "--run-dir", path)
    assert result.exit_code == 0, result.output
    return path


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def dataset_truth(run_dir):
    """Ids, splits and labels as the dataset plugin loads them for this run."""
    from mtl.core.plugins import get_plugins
    from mtl.core.runner import load_experiment

    _, exp = load_experiment(run_dir, get_plugins())
    return exp.data


def test_predict_test_split_rows_columns_and_metrics_equal_results(run_dir, tmp_path):
    out = tmp_path / "pred.csv"
    result = invoke("predict", run_dir, "--split", "test", "--out", out, "--labels")
    assert result.exit_code == 0, result.output
    rows = read_csv(out.read_text())
    data = dataset_truth(run_dir)
    test = data.splits["test"]
    assert [r["id"] for r in rows] == list(data.ids[test])
    assert {r["split"] for r in rows} == {"test"}
    classes = data.task("genre").classes
    assert list(rows[0]) == [
        "id", "split", "genre", *(f"genre_prob_{c}" for c in classes), "genre_true",
        "pop_prob", "pop", "pop_true", "loudness", "loudness_true", "year", "year_true",
    ]  # fmt: skip
    proba = np.array([[float(r[f"genre_prob_{c}"]) for c in classes] for r in rows])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert [r["genre"] for r in rows] == [classes[k] for k in proba.argmax(axis=1)]
    pop = np.array([float(r["pop_prob"]) for r in rows])
    assert [int(r["pop"]) for r in rows] == list((pop >= 0.5).astype(int))
    # unlabelled examples are predicted too
    unlabelled = [r for r in rows if r["loudness_true"] == ""]
    assert unlabelled and all(r["loudness"] != "" for r in unlabelled)
    assert len(unlabelled) == int((~data.masks["loudness"][test]).sum())

    saved = json.loads((run_dir / "results.json").read_text())
    spearmans = []
    for task in ("loudness", "year"):
        lab = [r for r in rows if r[f"{task}_true"] != ""]
        y = np.array([float(r[f"{task}_true"]) for r in lab])
        p = np.array([float(r[task]) for r in lab])
        assert np.allclose(y, data.targets[task][test][data.masks[task][test]])
        rmse = np.sqrt(skm.mean_squared_error(y, p))  # original units
        assert rmse == pytest.approx(saved["test"][task]["rmse"], rel=1e-6)
        spearmans.append(stats.spearmanr(y, p)[0])
        assert spearmans[-1] == pytest.approx(saved["test"][task]["spearman"], abs=1e-9)
    assert saved["test_mean_spearman"] == pytest.approx(np.mean(spearmans), abs=1e-9)
    lab = [r for r in rows if r["pop_true"] != ""]
    auc = skm.roc_auc_score([int(r["pop_true"]) for r in lab], [float(r["pop_prob"]) for r in lab])
    assert auc == pytest.approx(saved["test"]["pop"]["roc_auc"], abs=1e-9)
    lab = [r for r in rows if r["genre_true"] != ""]
    acc = np.mean([r["genre"] == r["genre_true"] for r in lab])
    assert acc == pytest.approx(saved["test"]["genre"]["accuracy"], abs=1e-12)


def test_predict_all_covers_every_example_and_stdout_equals_file(run_dir):
    result = invoke("predict", run_dir, "--split", "all", "--out", "-")
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    data = dataset_truth(run_dir)
    assert len(rows) == data.n
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    assert counts == {s: len(data.splits[s]) for s in counts}
    assert "genre_true" not in rows[0]
    default = run_dir / "predictions_all.csv"
    assert not default.exists()
    assert invoke("predict", run_dir, "--split", "all").exit_code == 0
    assert default.read_text() == result.stdout
    default.unlink()


def test_classification_report_equals_sklearn_and_writes_json_and_png(run_dir, tmp_path):
    for split in ("val", "test"):
        result = invoke("evaluate", run_dir, "--split", split, "--report", "classification")
        assert result.exit_code == 0, result.output
        assert "macro avg" in result.stdout and "weighted avg" in result.stdout
        report = json.loads((run_dir / f"classification_report_{split}.json").read_text())
        assert set(report["tasks"]) == {"genre", "pop"}
        for task in ("genre", "pop"):
            png = run_dir / f"confusion_matrix_{split}_{task}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        out = tmp_path / f"{split}.csv"
        assert invoke("predict", run_dir, "--split", split, "--out", out, "--labels").exit_code == 0
        rows = read_csv(out.read_text())
        data = dataset_truth(run_dir)
        for task, classes in (("genre", list(data.task("genre").classes)), ("pop", ["0", "1"])):
            lab = [r for r in rows if r[f"{task}_true"] != ""]
            y = [classes.index(r[f"{task}_true"]) for r in lab]
            pred = [classes.index(r[task]) for r in lab]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sk = skm.classification_report(
                    y, pred, labels=list(range(len(classes))), target_names=classes,
                    output_dict=True, zero_division=0,
                )  # fmt: skip
            ours = report["tasks"][task]
            for row in ours["classes"]:
                assert row["precision"] == pytest.approx(sk[row["class"]]["precision"])
                assert row["recall"] == pytest.approx(sk[row["class"]]["recall"])
                assert row["f1"] == pytest.approx(sk[row["class"]]["f1-score"])
                assert row["support"] == sk[row["class"]]["support"]
            assert ours["macro_avg"]["f1"] == pytest.approx(sk["macro avg"]["f1-score"])
            assert ours["weighted_avg"]["recall"] == pytest.approx(sk["weighted avg"]["recall"])
            assert ours["accuracy"] == pytest.approx(sk["accuracy"])
        # the per-class numbers are the ones results.json holds for the multiclass task
        saved = json.loads((run_dir / "results.json").read_text())[split]["genre"]
        assert [r["f1"] for r in report["tasks"]["genre"]["classes"]] == pytest.approx(
            saved["per_class"]["f1"]
        )
        assert report["tasks"]["genre"]["confusion_matrix"] == saved["confusion_matrix"]
    result = invoke("evaluate", run_dir, "--report", "classification", "--normalise")
    assert result.exit_code == 0
    assert (run_dir / "confusion_matrix_test_genre_normalised.png").exists()


def test_bad_input_is_one_line_and_writes_nothing(run_dir, tmp_path):
    out = tmp_path / "p.csv"
    for args, message in [
        (["predict", tmp_path, "--out", out], "is not an mtl run directory"),
        (["predict", tmp_path / "nope", "--out", out], "does not exist"),
        (["evaluate", run_dir, "--report", "classification", "--json"], "cannot be combined"),
    ]:
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()


def test_report_on_a_run_without_classification_tasks(tmp_path):
    run = tmp_path / "reg"
    args = ["train", "--tasks", "loudness", *TINY, "--epochs", "1", "--run-dir", run]
    assert invoke(*args).exit_code == 0
    result = invoke("evaluate", run, "--report", "classification")
    assert result.exit_code == 2
    assert "needs a binary or multiclass task; this run has loudness (regression)" in result.output
    assert not (run / "classification_report_test.json").exists()


def test_predict_warns_when_the_data_changed_since_training(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    result = invoke("predict", copy, "--out", tmp_path / "a.csv")
    assert result.exit_code == 0 and "warning" not in result.output
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["data_fingerprint"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("predict", copy, "--out", tmp_path / "b.csv")
    assert result.exit_code == 0, result.output
    assert "warning: the dataset changed since the run was trained" in result.output
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
