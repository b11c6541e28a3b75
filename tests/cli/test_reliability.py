"""Run directories against crashes and second writers (docs/reliability.md).

Real processes where the promise is about processes: ``kill -9`` at a known point
(a file the run writes, or a step set with ``MTL_TEST_SIGNAL_AT``), two writers of one
run, two sweep processes on one sweep. Every wait is for a file or a line the process
writes, never for time to pass.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.core.reporter import TIMING_KEYS

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

TINY = ["--dataset", "synthetic", "--tasks", "pop", "--arch", "SS", "--widths", "8,8",
        "-o", "n=200", "-o", "dim=50", "-o", "density=0.1", "--report", "",
        "--keep-checkpoints", "all"]  # fmt: skip
ENV = {**os.environ, "MTL_PLUGINS": "", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
WAIT = 120  # seconds before a wait for a file gives up (a broken run, not a slow one)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def mtl(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=ENV, timeout=WAIT,
    )  # fmt: skip


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:  # a failed assertion left it running
            proc.kill()
        proc.communicate()


def start(*args, cwd=None, env=None):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtl", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env or ENV,
    )  # fmt: skip
    STARTED.append(proc)
    return proc


def wait_for(proc, ready, what):
    """Poll ``ready()`` until true; fail if ``proc`` exits first."""
    end = time.monotonic() + WAIT
    while not ready():
        assert proc.poll() is None, f"exited before {what}: {proc.communicate()}"
        assert time.monotonic() < end, f"no {what} after {WAIT} s"
        time.sleep(0.01)


def has_line(path):
    return lambda: path.is_file() and path.read_text().strip() != ""


def one_error_line(output):
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


def metrics_text(run):
    return (run / "metrics.jsonl").read_text()


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def epochs(run):
    return [(r["epoch"], r["split"]) for r in records(run)]


def untimed(recs):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in recs]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, builtin_plugins_for_module):
    """``two``: two epochs of three (interrupted); ``three``: the uninterrupted run;
    ``other``: one epoch of another architecture."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (
        ("two", ["--epochs", "2"]),
        ("three", ["--epochs", "3"]),
        ("other", ["--epochs", "1", "--arch", "SSS", "--widths", "8,8,8"]),
    ):
        out = invoke("train", *TINY, *extra, "--run-dir", root / name)
        assert out.exit_code == 0, out.output
    return root


def copy(runs, name, tmp_path):
    return Path(shutil.copytree(runs / name, tmp_path / name))


def assert_like_uninterrupted(run, runs):
    assert epochs(run) == [(e, s) for e in (1, 2, 3) for s in ("train", "val")]
    assert untimed(records(run)) == untimed(records(runs / "three"))
    got = json.loads((run / "results.json").read_text())
    want = json.loads((runs / "three" / "results.json").read_text())
    assert got["test"] == want["test"] and got["selected_epoch"] == want["selected_epoch"]


# --- torn metrics.jsonl ------------------------------------------------------------


def test_resume_drops_a_torn_last_line_and_records_after_the_checkpoint(runs, tmp_path):
    """Killed after appending epoch 3 and while appending again (last.pt still at 2):
    resume drops both, and writes every epoch once, as the uninterrupted run did."""
    run = copy(runs, "two", tmp_path)
    epoch3 = records(runs / "three")[4] | {"loss": 123.0}
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(epoch3) + "\n" + '{"epoch": 3, "split": "va')
    out = invoke("train", "--resume", run, "--epochs", "3")
    assert out.exit_code == 0, out.output
    assert_like_uninterrupted(run, runs)


def test_reproduce_names_the_torn_file_and_line_before_training(runs, tmp_path):
    run = copy(runs, "three", tmp_path)
    text = (run / "metrics.jsonl").read_text()
    (run / "metrics.jsonl").write_text(text[: len(text) - 40])  # cut inside line 6
    out = invoke("reproduce", run, "--into", tmp_path / "again")
    assert out.exit_code == 2
    line = one_error_line(out.output)
    assert f"'{run / 'metrics.jsonl'}' line 6 is not valid JSON" in line
    assert not (tmp_path / "again").exists()


SWEEP = """
baselines = "none"
[base]
dataset = "synthetic"
epochs = {epochs}
widths = "8,8"
dataset-options = {{ n = 200, dim = 50, density = 0.1 }}
[task-sets]
tight = "pop,pop_rock"
[axes]
arch = ["SS"]
seed = [0, 1]
"""


def test_sweep_report_names_the_torn_line_and_writes_nothing(tmp_path, monkeypatch):
    from mtl.core.plugins import load_plugins
    from mtl.sweep import load_sweep
    from mtl.sweep.execute import run_item

    monkeypatch.chdir(tmp_path)
    study = tmp_path / "s.toml"
    study.write_text(SWEEP.format(epochs=2))
    sweep = load_sweep(study)
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    for item in sweep.items:
        assert run_item(sweep, item.index, plugins).state == "done"
    metrics = sweep.items[1].run_dir / "metrics.jsonl"
    metrics.write_text(metrics.read_text()[:-30])  # cut inside the last line
    out = invoke("sweep", "report", study)
    assert out.exit_code == 2
    assert f"'{metrics}' line 4 is not valid JSON" in one_error_line(out.output)
    report = sweep.root / "report"
    assert not (report / "results.csv").exists() and not (report / "report.md").exists()


# --- --resume auto, last.prev.pt, orphans ------------------------------------------


def test_resume_auto_starts_over_a_run_killed_before_its_first_checkpoint(tmp_path):
    """kill -9 in its first epoch (it kills itself before step 3): no checkpoint yet;
    the same command again (a requeued SLURM job) starts the run over and finishes it."""
    run = tmp_path / "run"
    command = ["train", *TINY, "--batch-size", "16", "--epochs", "1",
               "--run-dir", run, "--resume", "auto"]  # fmt: skip
    proc = start(*command, env={**ENV, "MTL_TEST_SIGNAL_AT": "1:3:KILL"})
    proc.communicate(timeout=WAIT)
    assert proc.returncode == -signal.SIGKILL
    assert (run / "manifest.json").is_file()
    assert (run / "checkpoints").is_dir() and not (run / "checkpoints" / "last.pt").exists()
    out = invoke(*command)  # the requeued job (in this process: one torch import less)
    assert out.exit_code == 0, out.output
    assert epochs(run) == [(1, "train"), (1, "val")]
    assert json.loads((run / "results.json").read_text())["epochs_run"] == 1


def test_missing_last_pt_resumes_from_last_prev_and_orphans_are_removed(runs, tmp_path):
    run = copy(runs, "two", tmp_path)
    (run / "checkpoints" / "last.pt").unlink()  # last.prev.pt holds epoch 1
    orphans = [run / "checkpoints" / ".last.pt.k2j1x9.tmp", run / ".metrics.jsonl.ab12.tmp"]
    for path in orphans:
        path.write_bytes(b"half a file")
    out = invoke("train", "--resume", run, "--epochs", "3")
    assert out.exit_code == 0, out.output
    assert_like_uninterrupted(run, runs)
    assert not any(path.exists() for path in orphans)


def test_resume_without_any_checkpoint_says_so(runs, tmp_path):
    run = copy(runs, "two", tmp_path)
    for name in ("last.pt", "last.prev.pt"):
        (run / "checkpoints" / name).unlink()
    (run / "results.json").unlink()  # unfinished (a finished run kept best.pt only is fine)
    out = invoke("train", "--resume", run)
    assert out.exit_code == 2
    line = one_error_line(out.output)
    assert "has no checkpoint to resume from" in line and "--resume auto" in line


# --- a checkpoint of another architecture ------------------------------------------


def test_a_checkpoint_of_another_architecture_is_one_line_naming_the_parameters(runs, tmp_path):
    run = copy(runs, "two", tmp_path)
    for name in ("last.pt", "best.pt"):
        shutil.copy(runs / "other" / "checkpoints" / name, run / "checkpoints" / name)
    out = invoke("train", "--resume", run, "--epochs", "3")
    assert out.exit_code == 2
    line = one_error_line(out.output)
    assert "does not fit the model of run" in line and "unexpected (" in line
    assert line.endswith("start a new run")
    for command in (["evaluate", run], ["predict", run, "--out", tmp_path / "p.csv"]):
        out = invoke(*command)
        assert out.exit_code == 2
        line = one_error_line(out.output)
        assert "unexpected (" in line and line.endswith("start a new run")
    assert not (tmp_path / "p.csv").exists()


# --- two writers --------------------------------------------------------------------


def test_a_second_writer_is_refused_and_a_killed_writer_leaves_no_stale_lock(runs, tmp_path):
    """The first writer holds the lock (and is held still with SIGSTOP while the second
    tries); then it trains on, waits at the start of epoch 4 (MTL_TEST_SIGNAL_AT), is
    killed -9 there, and a resume ends exactly like a run never interrupted."""
    run, ready = copy(runs, "two", tmp_path), tmp_path / "ready"
    at_epoch_4 = {"MTL_TEST_SIGNAL_AT": "4:0:wait", "MTL_TEST_SIGNAL_READY": str(ready)}
    first = start("train", "--resume", run, "--epochs", "5", env={**ENV, **at_epoch_4})

    def holds_lock():
        try:
            return json.loads((run / ".lock").read_text())["pid"] == first.pid
        except (OSError, ValueError):
            return False

    wait_for(first, holds_lock, "lock held by the first writer")
    first.send_signal(signal.SIGSTOP)
    second = mtl("train", "--resume", run, "--epochs", "3")
    assert second.returncode == 2
    line = one_error_line(second.stderr)
    assert "is being written by another mtl process" in line and f"pid {first.pid}" in line
    first.send_signal(signal.SIGCONT)
    wait_for(first, ready.is_file, "epoch 4")
    first.kill()  # kill -9: the lock dies with the process
    first.communicate()
    done = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert done == 3
    out = invoke("train", "--resume", run, "--epochs", done + 1)
    assert out.exit_code == 0, out.output
    ref = tmp_path / "ref"
    assert invoke("train", *TINY, "--epochs", done + 1, "--run-dir", ref).exit_code == 0
    assert epochs(run) == [(e, s) for e in range(1, done + 2) for s in ("train", "val")]
    assert untimed(records(run)) == untimed(records(ref))
    got, want = (json.loads((r / "results.json").read_text()) for r in (run, ref))
    assert got["test"] == want["test"] and got["selected_epoch"] == want["selected_epoch"]


def test_two_sweep_processes_run_each_item_once_and_neither_fails(tmp_path, monkeypatch):
    """Process B lists both items and takes item 0; process A (--index 1) then claims
    item 1; when B reaches item 1 it is running elsewhere: not a failure. STOP files end
    the (otherwise endless) items, so the order of events is fixed."""
    from mtl.sweep import load_sweep
    from mtl.sweep.state import sweep_states

    study = tmp_path / "s.toml"
    study.write_text(SWEEP.format(epochs=100000))
    root = tmp_path / "runs" / "s"
    b = start("sweep", "run", study, cwd=tmp_path)
    wait_for(b, has_line(root / "0" / "metrics.jsonl"), "item 0 training")
    a = start("sweep", "run", study, "--index", "1", cwd=tmp_path)
    wait_for(a, has_line(root / "1" / "metrics.jsonl"), "item 1 training")
    (root / "0" / "STOP").touch()
    _, b_err = b.communicate(timeout=WAIT)
    assert b.returncode == 0, b_err
    assert "running elsewhere" in b_err and "failed" not in b_err
    (root / "1" / "STOP").touch()
    _, a_err = a.communicate(timeout=WAIT)
    assert a.returncode == 0, a_err
    for i in (0, 1):
        status = json.loads((root / ".status" / f"{i}.json").read_text())
        assert status["state"] == "done"
        seen = epochs(root / str(i))
        assert len(seen) == len(set(seen)) and seen[:2] == [(1, "train"), (1, "val")]
    monkeypatch.chdir(tmp_path)
    assert [s.state for s in sweep_states(load_sweep(study))] == ["done", "done"]


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused_unread(runs, tmp_path):
    run = copy(runs, "two", tmp_path)
    marker = tmp_path / "code-ran"
    torch.save({"model": _RunsCodeWhenUnpickled(marker)}, run / "checkpoints" / "best.pt")
    out = invoke("evaluate", run)
    assert out.exit_code == 2 and not marker.exists()
    line = one_error_line(out.output)
    assert "mtl never unpickles" in line and "weights_only" not in line


def test_a_file_system_without_locks_is_one_line(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = invoke("train", *TINY, "--epochs", "1", "--run-dir", tmp_path / "run")
    assert out.exit_code == 2
    line = one_error_line(out.output)
    assert "does not support file locks" in line and "-o flock" in line
    assert not (tmp_path / "run").exists()
