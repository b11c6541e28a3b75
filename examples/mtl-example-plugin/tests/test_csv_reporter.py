"""The long-csv reporter, alone and in a tiny training run with the csv-features dataset."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.reporter import RunInfo
from mtl.core.runner import start_run

import mtl_example_plugin
from mtl_example_plugin.csv_reporter import COLUMNS, FILE, CsvReporter, cell

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "songs.csv"


@pytest.fixture(scope="module")
def plugins():
    loaded = load_plugins(env={"MTL_PLUGINS": ""}, extra=[("example", mtl_example_plugin)])
    assert loaded.failures == []
    return loaded


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_info(run_dir: Path, start_epoch: int = 1) -> RunInfo:
    return RunInfo(
        run_dir=run_dir,
        config={},
        tasks=[],
        split_sizes={},
        epochs=3,
        start_epoch=start_epoch,
        steps_per_epoch=1,
        selection="y:rmse",
        primary_metrics={"y": "rmse"},
    )


def epoch_records(epoch: int, value: float) -> list[dict]:
    return [
        {"epoch": epoch, "split": "train", "loss": value, "tasks": {"y": {"rmse": value, "n": 4}}},
        {
            "epoch": epoch,
            "split": "val",
            "loss": value,
            "tasks": {"y": {"rmse": value, "confusion": [[1]], "n": 2}},
        },
    ]


def test_cells_keep_exact_floats_and_blank_missing_values():
    assert cell(0.1) == "0.1" and float(cell(1 / 3)) == 1 / 3
    assert cell(7) == "7"
    assert cell(math.nan) == "" and cell(math.inf) == "" and cell(None) == ""


def test_rows_per_epoch_then_test_at_the_selected_epoch(tmp_path):
    reporter = CsvReporter()
    reporter.on_start(run_info(tmp_path))
    reporter.on_epoch(1, epoch_records(1, 0.5), improved=True)
    rows = read(tmp_path / FILE)  # written after every epoch
    assert [r["split"] for r in rows] == ["train"] * 3 + ["val"] * 3
    reporter.on_epoch(2, epoch_records(2, math.nan), improved=False)
    reporter.on_end({"selected_epoch": 1, "test_loss": 0.25, "test": {"y": {"rmse": 0.25}}})
    reporter.close()
    rows = read(tmp_path / FILE)
    assert tuple(rows[0]) == COLUMNS
    assert rows[0] == {"epoch": "1", "split": "train", "task": "", "metric": "loss", "value": "0.5"}
    assert {"epoch": "2", "split": "val", "task": "y", "metric": "rmse", "value": ""} in rows
    assert not any(r["metric"] == "confusion" for r in rows)  # only scalar metrics
    assert rows[-2:] == [
        {"epoch": "1", "split": "test", "task": "", "metric": "loss", "value": "0.25"},
        {"epoch": "1", "split": "test", "task": "y", "metric": "rmse", "value": "0.25"},
    ]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_resumed_run_keeps_the_epochs_before_it(tmp_path):
    first = CsvReporter()
    first.on_start(run_info(tmp_path))
    for epoch in (1, 2):
        first.on_epoch(epoch, epoch_records(epoch, float(epoch)), improved=True)
    first.on_end({"selected_epoch": 2, "test": {"y": {"rmse": 9.0}}})

    resumed = CsvReporter()
    resumed.on_start(run_info(tmp_path, start_epoch=2))  # epoch 2 is trained again
    resumed.on_epoch(2, epoch_records(2, 20.0), improved=True)
    rows = read(tmp_path / FILE)
    assert sorted({(r["epoch"], r["split"]) for r in rows}) == [
        ("1", "train"),
        ("1", "val"),
        ("2", "train"),
        ("2", "val"),
    ]
    assert [r["value"] for r in rows if r["epoch"] == "2" and r["metric"] == "rmse"] == ["20.0"] * 2


def test_tiny_training_run_writes_metrics_long_csv(plugins, tmp_path):
    config = TrainConfig(
        dataset="csv-features",
        dataset_options={
            "path": str(SAMPLE),
            "targets": "valence:regression,genre:multiclass,instrumental:binary",
        },
        tasks=["valence", "genre", "instrumental"],
        arch="ST",  # one letter per hidden layer
        widths=[16, 8],
        epochs=2,
        batch_size=64,
        report=["long-csv"],
        device="cpu",
        run_dir=str(tmp_path / "run"),
    )
    run, results = start_run(config, plugins)
    rows = read(run.file(FILE))
    assert {(r["epoch"], r["split"]) for r in rows} == {
        ("1", "train"),
        ("1", "val"),
        ("2", "train"),
        ("2", "val"),
        (str(results["selected_epoch"]), "test"),
    }
    assert {r["task"] for r in rows} == {"", "valence", "genre", "instrumental"}

    # The csv agrees with the run's own records: metrics.jsonl and results.json.
    for record in run.metrics():
        for task, metrics in record["tasks"].items():
            for metric, value in metrics.items():
                match = [
                    r["value"]
                    for r in rows
                    if (r["epoch"], r["split"], r["task"], r["metric"])
                    == (str(record["epoch"]), record["split"], task, metric)
                ]
                assert match == [cell(value)], (record["epoch"], record["split"], task, metric)
    test_acc = [r for r in rows if r["split"] == "test" and r["metric"] == "accuracy"]
    assert {r["task"]: float(r["value"]) for r in test_acc} == pytest.approx(
        {t: results["test"][t]["accuracy"] for t in ("genre", "instrumental")}
    )
    n_test = [
        r for r in rows if r["split"] == "test" and r["task"] == "genre" and r["metric"] == "n"
    ]
    assert int(n_test[0]["value"]) == results["test"]["genre"]["n"]
    assert run.manifest()["plugins"][-1]["name"] == "example"
    assert not list(run.path.rglob("*.tmp"))
