"""The console reporter in logs: real `mtl train` subprocesses whose output is a pipe
(as in a SLURM log, nohup or `| tee`) print one plain line per epoch, full-width tables
and no progress-bar debris; `--log-format json` prints one JSON object per line."""

import io
import json
import os
import re
import subprocess
import sys

import pytest

from mtl.core.tables import fmt, plain_results_tables, results_tables
from mtl.plugins.reporters.console import resolve_log_format

TINY = ["--dataset", "dummy", "--widths", "8,8,8,8", "--batch-size", "256"]


def mtl(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "MTL_PLUGINS": "", "COLUMNS": "80"},
        timeout=120,
    )


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """Two epochs, stdout and stderr piped: the default (auto) must be plain."""
    run_dir = tmp_path_factory.mktemp("plain") / "run"
    out = mtl(
        "train", *TINY, "--epochs", "2", "--select-by", "pop:accuracy", "--run-dir", str(run_dir)
    )
    assert out.returncode == 0, out.stderr
    return out, run_dir


def test_plain_log_has_one_line_per_epoch_with_each_tasks_metric(plain_run):
    out, run_dir = plain_run
    lines = [line for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2
    val = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
           if r["split"] == "val"]  # fmt: skip
    train = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if r["split"] == "train"]  # fmt: skip
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {epoch}/2  loss {fmt(train[epoch - 1]['loss'])}  ")
        tasks = val[epoch - 1]["tasks"]
        for task, metric in (
            ("loudness", "rmse"),
            ("year", "rmse"),
            ("pop", "roc_auc"),
            ("pop", "accuracy"),
        ):  # fmt: skip  (primaries + the selection metric)
            assert f"{task} {metric} {fmt(tasks[task][metric])}" in line
        assert re.search(r"  \d+\.\ds$", line), line
    assert "*best" in lines[0]  # the first epoch is always the best so far


def test_plain_log_has_full_names_and_no_progress_debris(plain_run):
    out, run_dir = plain_run
    text = out.stdout + out.stderr
    assert "━" not in text and "…" not in text and "\x1b[" not in text
    header = next(
        line
        for line in out.stdout.splitlines()
        if line.startswith("task ") and "pop" not in line and "roc_auc" in line
    )
    assert header.split() == ["task", "split", "n", "roc_auc", "accuracy", "precision", "recall",
                              "f1", "positive_rate"]  # fmt: skip
    assert out.stdout.startswith(f"run {run_dir}\n")
    assert "selected epoch" in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].startswith(f"run directory: {run_dir}")


def test_json_log_from_a_toml_config_is_one_object_per_line(tmp_path):
    run_dir = tmp_path / "run"
    (tmp_path / "run.toml").write_text(
        f'dataset = "dummy"\nwidths = [8, 8, 8, 8]\nbatch-size = 256\nepochs = 2\n'
        f'log_format = "json"\nrun-dir = "{run_dir}"\n'
    )
    out = mtl("train", "--config", str(tmp_path / "run.toml"))
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "end"]
    assert events[0]["run_dir"] == str(run_dir) and events[0]["epochs"] == 2
    val = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
           if r["split"] == "val"]  # fmt: skip
    for event, record in zip(events[1:3], val, strict=True):
        assert event["epoch"] == record["epoch"] and event["val_loss"] == record["loss"]
        assert event["val"]["pop"]["roc_auc"] == record["tasks"]["pop"]["roc_auc"]
    assert events[-1]["results"] == json.loads((run_dir / "results.json").read_text())
    assert json.loads((run_dir / "config.json").read_text())["log_format"] == "json"


def test_an_unknown_log_format_is_one_line_exit_2(tmp_path):
    out = mtl("train", *TINY, "--log-format", "fancy", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        "error: 'log-format' must be one of auto, rich, plain, json; got 'fancy'"
    )
    assert not (tmp_path / "r").exists()


def test_auto_is_plain_without_a_terminal_and_explicit_choices_win():
    assert resolve_log_format("auto") == "plain"  # pytest captures: not a terminal
    assert resolve_log_format(None) == "plain"
    assert [resolve_log_format(v) for v in ("rich", "plain", "json")] == ["rich", "plain", "json"]


LONG = {
    "val": {
        f"genre_one_vs_rest_{name}": {"roc_auc": 0.5, "balanced_accuracy_score": 0.25, "n": 10}
        for name in ("Electronic", "Experimental", "International", "Instrumental")
    }
}


def test_tables_never_cut_a_task_or_metric_name():
    primaries = {t: "roc_auc" for t in LONG["val"]}
    (plain,) = plain_results_tables(LONG, primaries, "title")
    for name in [*LONG["val"], "balanced_accuracy_score"]:
        assert name in plain
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=40, color_system=None)
    for table in results_tables(LONG, primaries):
        console.print(table)
    assert "…" not in buffer.getvalue()  # narrow terminals fold, never elide


def test_resume_may_switch_the_log_format(tmp_path, capsys, builtin_plugins_only):
    from mtl.core.config import TrainConfig
    from mtl.core.plugins import get_plugins
    from mtl.core.runner import resume_run, start_run

    config = TrainConfig(
        dataset="dummy", widths=[8, 8, 8, 8], batch_size=256, epochs=1, device="cpu",
        log_format="plain", run_dir=str(tmp_path / "run"), keep_checkpoints="last",
    )  # fmt: skip
    start_run(config, get_plugins())
    first = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in first if line.startswith("epoch ")] == ["epoch 1/1"]
    resume_run(tmp_path / "run", get_plugins(), {"epochs": 2, "log_format": "json"})
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e.get("epoch")) for e in events] == [
        ("start", None), ("epoch", 2), ("end", None)
    ]  # fmt: skip
    assert events[0]["start_epoch"] == 2
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["log_format"] == "json" and saved["epochs"] == 2
