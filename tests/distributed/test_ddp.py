"""Distributed training with real processes: torchrun + gloo on CPU, preemption, resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.runner import start_run

pytestmark = pytest.mark.ddp

TINY = [
    "--dataset", "synthetic", "--widths", "16,16,8,8", "-o", "n=300", "-o", "dim=400",
    "-o", "density=0.05", "--dropout", "0", "--report", "jsonl", "--seed", "1",
]  # fmt: skip


def with_n(n):
    """TINY with ``n`` examples (a dataset option may be given once)."""
    return [f"n={n}" if a == "n=300" else a for a in TINY]


def _env(**extra):
    env = dict(os.environ, MTL_PLUGINS="", OMP_NUM_THREADS="1", MTL_DIST_TIMEOUT="30")
    for key in [k for k in env if k.startswith("SLURM_")] + ["RANK", "WORLD_SIZE"]:
        env.pop(key, None)
    env.update(extra)
    return env


def mtl(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        capture_output=True, text=True, env=env or _env(), timeout=timeout,
    )  # fmt: skip


def torchrun(n, *args, timeout=180):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}"]
    return subprocess.run(
        [*cmd, "-m", "mtl", *args], capture_output=True, text=True, env=_env(), timeout=timeout
    )


def history(run: Path):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a: Path, b: Path, rel=1e-5):
    ra, rb = (
        json.loads((a / "results.json").read_text()),
        json.loads((b / "results.json").read_text()),
    )
    assert ra["selected_epoch"] == rb["selected_epoch"]
    for split in ("val", "test"):
        for task, metrics in ra[split].items():
            for name, value in metrics.items():
                if isinstance(value, float):
                    assert rb[split][task][name] == pytest.approx(value, rel=rel, abs=1e-6), (
                        split, task, name,
                    )  # fmt: skip
    ha, hb = history(a), history(b)
    assert [(r["epoch"], r["split"]) for r in ha] == [(r["epoch"], r["split"]) for r in hb]
    for x, y in zip(ha, hb, strict=True):
        assert y["loss"] == pytest.approx(x["loss"], rel=rel)
        for task, metrics in x["tasks"].items():  # per-epoch train-subset and val metrics
            for name, value in metrics.items():
                if isinstance(value, float) and not math.isnan(value):
                    assert y["tasks"][task][name] == pytest.approx(value, rel=rel, abs=1e-6)


def test_two_gloo_ranks_end_like_one_process_with_the_same_global_batch(tmp_path):
    one = mtl(
        "train", *TINY, "--epochs", "3", "--batch-size", "32", "--run-dir", str(tmp_path / "one")
    )
    assert one.returncode == 0, one.stderr
    two = torchrun(
        2, "train", *TINY, "--epochs", "3", "--batch-size", "16", "--run-dir", str(tmp_path / "two")
    )
    assert two.returncode == 0, two.stderr
    assert_same_run(tmp_path / "one", tmp_path / "two")
    # only rank 0 wrote: one console-free run directory, no stray files
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )


def test_two_ranks_match_one_process_with_a_schedule_and_accumulation(tmp_path):
    """One process group checks both: a per-step cosine schedule with warm-up counts the
    same optimiser steps, and 2 ranks x 2 micro-batches of 8 step like one batch of 32."""
    opts = ["--epochs", "3", "--lr-schedule", "cosine", "--warmup-epochs", "1", "--lr", "0.05"]
    one = mtl("train", *TINY, *opts, "--batch-size", "32", "--run-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = torchrun(
        2, "train", *TINY, *opts, "--batch-size", "8", "--accumulate", "2",
        "--run-dir", str(tmp_path / "two"),
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert_same_run(tmp_path / "one", tmp_path / "two")
    lrs = [[r["lr"] for r in history(p) if r["split"] == "train"] for p in tmp_path.iterdir()]
    assert lrs[0] == lrs[1] and len(set(lrs[0])) == 3


def test_a_different_global_batch_gives_a_different_run(tmp_path):
    """The comparison above can fail: 2 x 32 is not the 1-process batch of 32."""
    one = mtl(
        "train", *TINY, "--epochs", "1", "--batch-size", "32", "--run-dir", str(tmp_path / "one")
    )
    two = torchrun(
        2, "train", *TINY, "--epochs", "1", "--batch-size", "32", "--run-dir", str(tmp_path / "two")
    )
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    with pytest.raises(AssertionError):
        assert_same_run(tmp_path / "one", tmp_path / "two")


def _wait_for(path: Path, proc: subprocess.Popen, timeout=120):
    """Wait for a file the run writes (never for time to pass); fail if it exits first."""
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "run made no progress"
        time.sleep(0.05)


def at_step(spec: str, ready: Path | None = None) -> dict:
    """The environment that puts a signal at a known step (mtl.distributed.preempt)."""
    extra = {"MTL_TEST_SIGNAL_AT": spec}
    if ready is not None:
        extra["MTL_TEST_SIGNAL_READY"] = str(ready)
    return _env(**extra)


BIG = [*with_n(600), "--batch-size", "4", "--epochs", "3"]
STOP_AT = (2, 17)  # the signal lands before step 17 of epoch 2


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of BIG."""
    path = tmp_path_factory.mktemp("ref") / "ref"
    ref = mtl("train", *BIG, "--run-dir", str(path))
    assert ref.returncode == 0, ref.stderr
    return path


@pytest.mark.parametrize("sig, code", [("USR2", 0), ("TERM", 143)])
def test_signal_checkpoints_mid_epoch_and_auto_resume_ends_like_an_uninterrupted_run(
    tmp_path, reference, sig, code
):
    run = tmp_path / "run"
    args = ["train", *BIG, "--run-dir", str(run), "--resume", "auto"]
    first = mtl(*args, env=at_step(f"{STOP_AT[0]}:{STOP_AT[1]}:{sig}"))
    assert first.returncode == code, first.stderr
    assert f"in epoch {STOP_AT[0]} at step {STOP_AT[1]}:" in first.stderr
    assert "checkpointed" in first.stderr
    assert not (run / "results.json").exists()

    import torch

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == STOP_AT[0] - 1 and state["partial"]["position"] == STOP_AT[1] * 4
    assert (run / "checkpoints" / "last.prev.pt").exists()  # the previous good one is kept

    again = mtl(*args)
    assert again.returncode == 0, again.stderr
    assert_same_run(reference, run, rel=1e-6)
    # one process: the resumed epoch continues the same float32 loss sum, so exactly
    assert [r["loss"] for r in history(run)] == [r["loss"] for r in history(reference)]


def test_two_ranks_stop_on_the_same_step_and_resume_exactly(tmp_path):
    """The real path: a SIGUSR2 sent from outside to one worker (as SLURM sends it to
    every process of the step; torchrun ignores it). That worker waits at a known step
    until it arrives, so the step is known; both ranks must stop there."""
    common = [*with_n(600), "--epochs", "2"]
    # the reference: one process with the same global batch (equal, as tested above)
    ref = mtl("train", *common, "--batch-size", "4", "--run-dir", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    common += ["--batch-size", "2"]
    run, ready = tmp_path / "run", tmp_path / "ready"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    args = [*cmd, "-m", "mtl", "train", *common, "--run-dir", str(run), "--resume", "auto"]
    proc = subprocess.Popen(
        args, env=at_step("2:30:wait:1", ready), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(ready, proc)  # rank 1 waits before step 30 of epoch 2
        workers = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert ready.read_text().strip() in workers and len(workers) == 2
        os.kill(int(ready.read_text()), signal.SIGUSR2)  # one rank hears it; both must stop
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "in epoch 2 at step 30:" in stderr
    import torch

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["partial"]["position"] == 30 * 4
    again = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert_same_run(tmp_path / "ref", run, rel=1e-6)


def test_a_stop_file_stops_both_ranks_after_the_epoch(tmp_path):
    args = [*with_n(600), "--batch-size", "2", "--epochs", "50"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [*cmd, "-m", "mtl", "train", *args, "--run-dir", str(run)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(run / "metrics.jsonl", proc)
    (run / "STOP").touch()
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    result = json.loads((run / "results.json").read_text())
    assert result["status"] == "stopped" and result["epochs_run"] < 50


def test_a_killed_rank_fails_the_job_quickly(tmp_path):
    """kill -9 of rank 1 while it waits at a known step (rank 0 is in the step's
    collective): the job fails, well within the collective timeout."""
    args = [*with_n(600), "--batch-size", "2", "--epochs", "50"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [*cmd, "-m", "mtl", "train", *args, "--run-dir", str(tmp_path / "run")],
        env=at_step("1:5:wait:1", ready), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(ready, proc)
        os.kill(int(ready.read_text()), signal.SIGKILL)
        start = time.monotonic()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode != 0
    assert time.monotonic() - start < 30


def test_two_ranks_match_one_process_for_a_weighted_snippet_lstm(tmp_path):
    """Task weights, snippet rows and gradient clipping (on the averaged gradient) go
    through the same step in a distributed run."""
    seq = [
        "--dataset", "synthetic-seq", "-o", "n=120", "-o", "features=3", "-o", "min_length=6",
        "-o", "max_length=12", "--encoder", "lstm", "-e", "hidden=5", "--arch", "S",
        "--widths", "6", "--dropout", "0", "--tasks", "genre,energy", "--task-weight",
        "energy=3", "--snippets", "2", "--report", "jsonl", "--seed", "2", "--epochs", "2",
        "--clip-grad-norm", "0.05",
    ]  # fmt: skip
    one = mtl("train", *seq, "--batch-size", "16", "--run-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = torchrun(2, "train", *seq, "--batch-size", "8", "--run-dir", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    assert_same_run(tmp_path / "one", tmp_path / "two", rel=1e-4)


SHARDED_EVAL = """
import json, sys
from mtl.core.config import TrainConfig
from mtl.core.experiment import prepare
from mtl.core.plugins import load_plugins
from mtl.core.train import DeviceData, evaluate_split
from mtl.distributed import group

ctx = group.setup("cpu")
cfg = TrainConfig(
    dataset="synthetic", dataset_options={"n": 500, "dim": 400, "density": 0.05},
    tasks=["pop", "ballad", "loudness", "year"], widths=[16, 16, 8, 8], report=[],
    device="cpu", eval_batch_size=16,
)
exp = prepare(cfg, load_plugins(env={"MTL_PLUGINS": ""}))
dd = DeviceData(exp)
seen = []
exp.model.register_forward_hook(lambda m, i, out: seen.append(len(out[0])))
rows = dd.splits["val"]
sharded, sharded_loss = evaluate_split(exp, dd, rows, shard=True)
forwarded = sum(seen)
alone, alone_loss = evaluate_split(exp, dd, rows)
out = dict(rank=ctx.rank, forwarded=forwarded, n=len(rows), sharded=sharded,
           sharded_loss=sharded_loss, alone=alone, alone_loss=alone_loss)
with open(sys.argv[1] + f"/rank{ctx.rank}.json", "w") as f:
    json.dump(out, f)
group.teardown()
"""


def test_sharded_validation_scores_a_share_per_rank_and_gives_every_rank_all_metrics(tmp_path):
    script = tmp_path / "eval.py"
    script.write_text(SHARDED_EVAL)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = subprocess.run(
        [*cmd, str(script), str(tmp_path)], capture_output=True, text=True, env=_env(), timeout=180
    )
    assert done.returncode == 0, done.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    n = ranks[0]["n"]
    # each rank ran the model on its half of the rows only (every other row) ...
    assert [r["forwarded"] for r in ranks] == [(n + 1) // 2, n // 2]
    # ... and every rank got the metrics of all rows, equal to scoring them alone
    assert ranks[0]["sharded"] == ranks[1]["sharded"]
    assert ranks[0]["sharded_loss"] == ranks[1]["sharded_loss"]
    for r in ranks:
        assert r["sharded_loss"] == pytest.approx(r["alone_loss"], rel=1e-6)
        for task, metrics in r["alone"].items():
            assert r["sharded"][task]["n"] == metrics["n"] > 0
            for name, value in metrics.items():
                if not (isinstance(value, float) and math.isnan(value)):
                    assert r["sharded"][task][name] == pytest.approx(value, rel=1e-6, abs=1e-9)


# Partial labels: with a third of each task's labels missing, 2 ranks end like one process
# on the same global batch, the validation loss included (each task's loss is a mean over
# the split's labelled rows, whatever the evaluation batching or the ranks' shares).
PARTIAL = [*TINY, "-o", "missing=0.3", "--tasks", "pop,ballad,loudness", "--epochs", "2"]


def test_two_ranks_with_missing_labels_end_like_one_process(tmp_path):
    one = mtl("train", *PARTIAL, "--batch-size", "32", "--run-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = torchrun(2, "train", *PARTIAL, "--batch-size", "16", "--run-dir", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    assert_same_run(tmp_path / "one", tmp_path / "two")


def _val_losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["split"] == "val"]


def test_validation_loss_does_not_depend_on_the_evaluation_batch(tmp_path):
    base = dict(
        dataset="synthetic",
        dataset_options={"n": 300, "dim": 200, "density": 0.05, "missing": 0.3},
        tasks=["pop", "ballad", "loudness"],
        widths=[8, 8, 4, 4],
        dropout=[0.0],
        epochs=2,
        batch_size=16,
        report=[],
        device="cpu",
        seed=1,
    )
    plugins, losses = load_plugins(), []
    for size in (1024, 7):  # one batch for the whole split, then batches of 7 rows
        cfg = TrainConfig(**base, eval_batch_size=size, run_dir=str(tmp_path / str(size)))
        start_run(cfg, plugins)
        losses.append(_val_losses(tmp_path / str(size)))
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
