"""``mtl sweep`` end to end in real processes: run, status, report, failures, reproduce."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from mtl.sweep import load_sweep
from mtl.sweep.results import load_results

STUDY = """
target = "pop"
[base]
dataset = "synthetic"
epochs = 3
widths = "8,8"
batch-size = 32
dataset-options = { n = 240, dim = 120, density = 0.1, missing = 0.3 }
[task-sets]
tight = "pop,pop_rock"
loose = "pop,year"
[axes]
arch = ["SS"]
task-set = ["tight", "loose"]
train-size = [60, 120]
seed = [0, 1]
"""


def mtl(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "MTL_PLUGINS": "", "COLUMNS": "200"},
        timeout=240,
    )


@pytest.fixture
def study(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    return path


def test_index_runs_exactly_one_item_then_skips_it(tmp_path, study):
    out = mtl("sweep", "run", str(study), "--index", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "runs" / "study"
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "3",
        "sweep.json",
    ]
    item = load_sweep(study).items[3]
    config = json.loads((root / "3" / "config.json").read_text())
    assert config["seed"] == item.seed and config["train_size"] == item.config.train_size
    assert config["tasks"] == item.config.tasks and config["arch"] == "SS"
    assert "test" in json.loads((root / "3" / "results.json").read_text())
    before = (root / "3" / "results.json").stat().st_mtime_ns
    again = mtl("sweep", "run", str(study), "--index", "3", cwd=tmp_path)
    assert again.returncode == 0 and "finished before" in again.stderr
    assert (root / "3" / "results.json").stat().st_mtime_ns == before


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, study):
    cases = [
        (["sweep", "run", str(study), "--index", "99"], "item 99 is out of range"),
        (["sweep", "run", str(study), "--set", "task-sets.tight=pop,popp"], "lacks"),
        (["sweep", "run", str(study), "--set", "axes.arch=SS,XX"], "architecture"),
        (["sweep", "report", str(study)], "has no finished runs"),
        (["sweep", "status", str(tmp_path / "none.toml")], "does not exist"),
    ]
    for args, message in cases:
        out = mtl(*args, cwd=tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.startswith("error:") and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
        assert not (tmp_path / "runs").exists(), args


def test_parallel_run_isolates_failures_then_reports(tmp_path, study, monkeypatch):
    # train size 500 is larger than the training split: those items fail, the rest run
    sets = ("--set", "axes.train-size=60,120,500")
    out = mtl("sweep", "run", str(study), "--jobs", "2", *sets, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    sweep = load_sweep(study, ("axes.train-size=60,120,500",))
    bad = [i.index for i in sweep.items if i.config.train_size == 500]
    assert f"{len(bad)} item(s) failed" in out.stderr
    assert "larger than the training split" in out.stderr
    root = tmp_path / sweep.root
    # a damaged run directory is reported as failed and left out, not averaged
    broken = next(i for i in sweep.items if i.kind == "single" and i.config.tasks == ["year"])
    (root / str(broken.index) / "results.json").write_text("{not json")
    status = mtl("sweep", "status", str(study), *sets, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    n, n_bad = len(sweep.items), len(bad) + 1
    assert f"{n} items: {n - n_bad} done, 0 running, {n_bad} failed, 0 pending" in status.stdout
    assert "not valid JSON" in status.stdout

    report = mtl("sweep", "report", str(study), *sets, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    out_dir = root / "report"
    for name in ("report.md", "results.csv", "learning_curves.png", "training_size.png",
                 "architecture_coupling.png", "correlations.png"):  # fmt: skip
        assert (out_dir / name).is_file() and (out_dir / name).stat().st_size > 0, name
    frame = pd.read_csv(out_dir / "results.csv")
    assert len(frame) == n - n_bad and broken.index not in set(frame["item"])
    assert not set(bad) & set(frame["item"])
    text = (out_dir / "report.md").read_text()
    flat = " ".join(text.split())
    assert f"item {broken.index}:" in text and "paired t-test" in flat and "Wilcoxon" in flat

    # the numbers in the table are the paired statistics of results.csv (scipy as oracle)
    from scipy import stats

    multi = frame[(frame.kind == "multi") & (frame.task_set == "tight") & (frame.train_size == 60)]
    single = frame[(frame.kind == "single") & (frame.task == "pop") & (frame.train_size == 60)]
    a = multi.sort_values("seed")["test.pop.roc_auc"].to_numpy()
    b = single.sort_values("seed")["test.pop.roc_auc"].to_numpy()
    diff = a - b
    half = stats.t.ppf(0.975, len(diff) - 1) * stats.sem(diff)
    p = stats.ttest_rel(a, b).pvalue
    row = next(line for line in text.splitlines() if line.startswith("| SS | tight | 60 |"))
    assert f"{diff.mean():+.4f} ± {half:.4f}" in row
    assert (f"{p:.3f}" if p >= 0.001 else "< 0.001") in row
    # every cell's mean and t-interval over seeds, also for tasks without a comparison
    year = frame[(frame.kind == "multi") & (frame.task_set == "loose") & (frame.train_size == 60)]
    v = year["test.year.rmse"].to_numpy()
    half = stats.t.ppf(0.975, len(v) - 1) * stats.sem(v)
    cells = text[text.index("## Every cell") :]
    row = next(ln for ln in cells.splitlines() if ln.startswith("| SS | loose | 60 | year |"))
    assert f"{v.mean():.4f} ± {half:.4f}" in row

    # the Python API reads the same table, from the sweep file or the run folder
    monkeypatch.chdir(tmp_path)  # runs/ is relative to the working directory
    api = load_results(study, ("axes.train-size=60,120,500",))
    assert len(api) == len(frame) and list(api["item"]) == list(frame["item"])
    assert api["test.pop.roc_auc"].tolist() == pytest.approx(
        frame["test.pop.roc_auc"].tolist(), nan_ok=True
    )
    assert len(load_results(root)) == len(frame)


LIST_AXES = """
target = "pop"
baselines = "none"
[base]
dataset = "synthetic"
arch = "SS"
epochs = 2
batch-size = 32
dataset-options = { n = 240, dim = 120, density = 0.1 }
[task-sets]
tight = "pop,pop_rock"
[axes]
task-set = ["tight"]
widths = ["8,8", "6,4"]
dropout = ["0", "0.1,0.2"]
seed = [0, 1]
"""


def test_axes_with_list_values_run_and_report(tmp_path):
    """Settings that take lists (widths, dropout rates, aux tasks) are axis values too:
    their cells read ``8,8``, and the report groups by them."""
    study = tmp_path / "lists.toml"
    study.write_text(LIST_AXES)
    out = mtl("sweep", "run", str(study), "--jobs", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "widths=6,4 dropout=0.1,0.2" in out.stderr
    report = mtl("sweep", "report", str(study), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    frame = pd.read_csv(tmp_path / "runs" / "lists" / "report" / "results.csv")
    assert sorted(set(frame["widths"])) == ["6,4", "8,8"] and len(frame) == 8
    for _, row in frame.iterrows():  # each label is what the run was configured with
        config = json.loads((tmp_path / row["run_dir"] / "config.json").read_text())
        assert ",".join(map(str, config["widths"])) == row["widths"]
    text = (tmp_path / "runs" / "lists" / "report" / "report.md").read_text()
    cells = [
        ln for ln in text.splitlines() if ln.startswith("| SS | tight | 6,4 | 0.1,0.2 | pop |")
    ]
    assert len(cells) == 1 and "| 2 |" in cells[0]  # one cell, two seeds


NO_SEED_AXIS = """
target = "pop"
[base]
dataset = "synthetic"
epochs = 1
widths = "8,8"
seed = 3
dataset-options = { n = 240, dim = 120, density = 0.1 }
[task-sets]
tight = "pop,pop_rock"
[axes]
arch = ["SS", "mmoe"]
"""


def test_a_sweep_without_a_seed_axis_reports_its_base_seed(tmp_path):
    """No seed axis: every run has [base]'s seed, rows say so and the report pairs by it
    (this used to stop the report with KeyError 'seed')."""
    study = tmp_path / "noseed.toml"
    study.write_text(NO_SEED_AXIS)
    out = mtl("sweep", "run", str(study), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = mtl("sweep", "report", str(study), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    frame = pd.read_csv(tmp_path / "runs" / "noseed" / "report" / "results.csv")
    assert list(frame["seed"]) == [3, 3, 3, 3] and list(frame["kind"]).count("single") == 2
    text = (tmp_path / "runs" / "noseed" / "report" / "report.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith(("| SS | tight |", "| mmoe | tight |"))]
    assert any("(1 seed)" in ln for ln in rows), text  # Δm and Δ over the one seed


def test_reproduce_a_sweep_item(tmp_path, study):
    assert mtl("sweep", "run", str(study), "--index", "0", cwd=tmp_path).returncode == 0
    run_dir = tmp_path / "runs" / "study" / "0"
    out = mtl("reproduce", str(run_dir), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "reproduced" in out.stdout and "exactly" in out.stdout
    # a tampered metric is found
    results = json.loads((run_dir / "results.json").read_text())
    results["test"]["pop"]["roc_auc"] += 0.01
    (run_dir / "results.json").write_text(json.dumps(results))
    out = mtl("reproduce", str(run_dir), cwd=tmp_path)
    assert (
        out.returncode == 1 and "not reproduced" in out.stdout and "test.pop.roc_auc" in out.stdout
    )


def test_a_preempted_item_is_checkpointed_and_resumes_to_the_uninterrupted_result(tmp_path):
    """The warning signal mid-item (sent by the run itself at a known step, see
    MTL_TEST_SIGNAL_AT): exit 0, status 'preempted', and the next run of the same index
    resumes mid-epoch and ends exactly like an item never interrupted."""
    study = tmp_path / "pre.toml"
    study.write_text(STUDY.replace("batch-size = 32", "batch-size = 16"))
    root = tmp_path / "runs" / "pre"
    env = {
        **os.environ, "MTL_PLUGINS": "", "COLUMNS": "200", "OMP_NUM_THREADS": "1",
        "MTL_TEST_SIGNAL_AT": "2:2:USR2",
    }  # fmt: skip
    first = subprocess.run(
        [sys.executable, "-m", "mtl", "sweep", "run", str(study), "--index", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    stderr = first.stderr
    assert first.returncode == 0, stderr
    assert "preempted" in stderr and "error" not in stderr.lower()
    assert "in epoch 2 at step 2" in stderr
    status = mtl("sweep", "status", str(study), "--all", cwd=tmp_path)
    assert "preempted" in status.stdout + status.stderr, status.stdout
    again = mtl("sweep", "run", str(study), "--index", "0", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    ref = tmp_path / "ref"
    direct = mtl("reproduce", str(root / "0"), "--into", str(ref), cwd=tmp_path)
    assert direct.returncode == 0, direct.stdout + direct.stderr
    a = json.loads((root / "0" / "results.json").read_text())
    b = json.loads((ref / "results.json").read_text())
    assert a["test"] == b["test"] and a["selected_epoch"] == b["selected_epoch"]


SHORT = ("axes.task-set=tight", "axes.train-size=60", "axes.seed=0", "baselines=target")


def test_the_run_folder_remembers_its_overrides(tmp_path, study, monkeypatch):
    sets = [a for s in (*SHORT, "epochs=1") for a in ("--set", s)]
    out = mtl("sweep", "run", str(study), *sets, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "runs" / "study"
    assert json.loads((root / "sweep.json").read_text())["sets"] == [*SHORT, "epochs=1"]
    # without repeating --set: the recorded overrides apply, from the file or the folder
    for target in (str(study), "runs/study"):
        status = mtl("sweep", "status", target, cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert "2 items: 2 done, 0 running, 0 failed, 0 pending" in status.stdout, status.stdout
        assert "overrides recorded in runs/study: " in status.stderr
        assert "--set epochs=1" in status.stderr
    again = mtl("sweep", "run", str(study), cwd=tmp_path)  # nothing left to run
    assert again.returncode == 0 and "2 finished" in again.stderr and "0 to run" in again.stderr
    # the same overrides in another order are the same sweep
    reordered = [a for s in ("epochs=1", *reversed(SHORT)) for a in ("--set", s)]
    assert mtl("sweep", "status", str(study), *reordered, cwd=tmp_path).returncode == 0
    # other overrides than recorded: one clear error, nothing changed
    before = (root / "sweep.json").read_text()
    for args in (
        ["sweep", "status", str(study), "--set", "epochs=2"],
        ["sweep", "run", str(study), *sets[:-1], "epochs=2"],
        ["sweep", "report", "runs/study", "--set", "epochs=2"],
    ):
        bad = mtl(*args, cwd=tmp_path)
        assert bad.returncode == 2 and bad.stderr.startswith("error:"), bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
        flat = " ".join(bad.stderr.split())
        assert "--set epochs=1" in flat and "--set epochs=2" in flat and "name=NEW" in flat
    assert (root / "sweep.json").read_text() == before
    # the report, from the folder alone, states every override at the top
    report = mtl("sweep", "report", "runs/study", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    head = (root / "report" / "report.md").read_text().split("\n## ")[0]
    top = head.splitlines()[2]
    assert top.startswith("**Overrides:**"), head
    for s in (*SHORT, "epochs=1"):
        assert f"`{s}`" in top, s
    frame = load_results(root)
    assert len(frame) == 2 and set(frame["kind"]) == {"multi", "single"}
    monkeypatch.chdir(tmp_path)
    assert len(load_results(study)) == 2  # the file alone: the recorded overrides too


def test_a_report_without_overrides_says_so(tmp_path):
    short = STUDY.replace("epochs = 3", "epochs = 1").replace('"loose"]', "]")
    short = short.replace("[60, 120]", "[60]").replace("[0, 1]", "[0]")
    (tmp_path / "short.toml").write_text('baselines = "target"\n' + short)
    assert mtl("sweep", "run", "short.toml", cwd=tmp_path).returncode == 0
    report = mtl("sweep", "report", "short.toml", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "overrides recorded" not in report.stderr
    text = (tmp_path / "runs" / "short" / "report" / "report.md").read_text()
    assert text.splitlines()[2] == "Overrides: none (the sweep file as written)."
