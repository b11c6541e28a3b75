"""Comparisons with a reference cell (``reference = {weighting = "ew"}``) and task weights."""

import json

import pandas as pd
import pytest

from mtl.core.errors import UserError
from mtl.sweep import load_sweep
from mtl.sweep.analysis import MetricInfo
from mtl.sweep.reference import compare_reference, markdown
from mtl.sweep.stats import paired_test
from mtl.sweep.task_weights import markdown as weights_markdown
from mtl.sweep.task_weights import weight_curves

STUDY = """
target = "pop"
baselines = "none"
reference = { weighting = "ew" }
[base]
dataset = "synthetic"
[task-sets]
a = "pop,loudness"
[axes]
weighting = ["ew", "mgda"]
task-set = ["a"]
seed = [0, 1, 2]
"""
METRICS = {"pop": MetricInfo("roc_auc", True), "loudness": MetricInfo("rmse", False)}
EW = {"pop": [0.60, 0.62, 0.58], "loudness": [2.0, 2.5, 2.2]}
MGDA = {"pop": [0.70, 0.75, 0.71], "loudness": [2.1, 2.4, 2.2]}


def sweep_file(tmp_path, text=STUDY):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def frame(tmp_path):
    rows = []
    for method, values in (("ew", EW), ("mgda", MGDA)):
        for seed in range(3):
            run = tmp_path / f"{method}{seed}"
            run.mkdir()
            w = {"pop": 1.0, "loudness": 1.0} if method == "ew" else {"pop": 0.2, "loudness": 0.6}
            records = [{"epoch": e, "split": "train", "weights": w} for e in (1, 2)]
            (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            rows.append(
                {
                    "kind": "multi",
                    "arch": "low",
                    "task_set": "a",
                    "weighting": method,
                    "seed": seed,
                    "tasks": "pop,loudness",
                    "run_dir": str(run),
                    "test.pop.roc_auc": values["pop"][seed],
                    "test.loudness.rmse": values["loudness"][seed],
                }
            )
    return pd.DataFrame(rows)


def test_cells_are_compared_with_the_reference_paired_by_seed(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path))
    assert sweep.reference == {"weighting": "ew"}
    compare, delta_m = compare_reference(sweep, frame(tmp_path), METRICS)
    assert [(c["weighting"], c["task"]) for c in compare] == [("mgda", "pop"), ("mgda", "loudness")]
    expected = paired_test(MGDA["pop"], EW["pop"])
    assert compare[0]["test"].diff.mean == pytest.approx(expected.diff.mean)
    assert compare[0]["test"].p == pytest.approx(expected.p)
    per_seed = [
        (
            (MGDA["pop"][s] - EW["pop"][s]) / EW["pop"][s]
            + (EW["loudness"][s] - MGDA["loudness"][s]) / EW["loudness"][s]
        )
        / 2
        for s in range(3)
    ]
    assert len(delta_m) == 1 and delta_m[0]["ci"].mean == pytest.approx(sum(per_seed) / 3)
    text = "\n".join(markdown(sweep, compare, delta_m))
    assert "Against the reference (weighting = ew)" in text and "better than" in text


def test_task_weight_shares_over_epochs(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path))
    cells = {c["weighting"]: c for c in weight_curves(sweep, frame(tmp_path))}
    assert cells["ew"]["final"] == {"pop": 0.5, "loudness": 0.5}
    assert cells["mgda"]["final"] == pytest.approx({"pop": 0.25, "loudness": 0.75})
    assert len(cells["mgda"]["curve"]) == 2
    assert "| a | mgda | 0.250 | 0.750 |" in "\n".join(
        weights_markdown(sweep, list(cells.values()))
    )


def test_no_task_weights_section_when_every_cell_weighs_its_tasks_equally(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path))
    only_ew = frame(tmp_path)
    only_ew = only_ew[only_ew.weighting == "ew"]
    assert weight_curves(sweep, only_ew) == []
    assert weights_markdown(sweep, []) == []


@pytest.mark.parametrize(
    "line, message",
    [
        ('reference = { optimizer = "adam" }', "not an axis"),
        ('reference = { weighting = "uw" }', "not among the axis values"),
        ('reference = "ew"', "must be a table"),
    ],
)
def test_bad_reference(tmp_path, line, message):
    text = STUDY.replace('reference = { weighting = "ew" }', line)
    with pytest.raises(UserError, match=message):
        load_sweep(sweep_file(tmp_path, text))
