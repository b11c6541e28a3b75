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


def _wait_for(path: Path, proc: subprocess.Popen, timeout=60):
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "run made no progress"
        time.sleep(0.05)


# epochs 2 to 4 leave time for the signal to land
BIG = [*with_n(1500), "--batch-size", "4", "--epochs", "4"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of BIG."""
    path = tmp_path_factory.mktemp("ref") / "ref"
    ref = mtl("train", *BIG, "--run-dir", str(path))
    assert ref.returncode == 0, ref.stderr
    return path


@pytest.mark.parametrize("sig, code", [(signal.SIGUSR2, 0), (signal.SIGTERM, 143)])
def test_signal_checkpoints_mid_epoch_and_auto_resume_ends_like_an_uninterrupted_run(
    tmp_path, reference, sig, code
):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "mtl", "train", *BIG, "--run-dir", str(run), "--resume", "auto"]
    proc = subprocess.Popen(
        args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(run / "metrics.jsonl", proc)  # epoch 1 is done; stop inside epoch 2
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "preempted" in stderr and "checkpointed" in stderr
    assert not (run / "results.json").exists()

    import torch

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["partial"] is not None and state["partial"]["position"] > 0
    assert (run / "checkpoints" / "last.prev.pt").exists()  # the previous good one is kept

    again = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert_same_run(reference, run, rel=1e-6)
    # one process: the resumed epoch continues the same float32 loss sum, so exactly
    assert [r["loss"] for r in history(run)] == [r["loss"] for r in history(reference)]


def test_two_ranks_stop_on_the_same_step_and_resume_exactly(tmp_path):
    common = [*with_n(600), "--epochs", "2"]
    # the reference: one process with the same global batch (equal, as tested above)
    ref = mtl("train", *common, "--batch-size", "4", "--run-dir", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    common += ["--batch-size", "2"]
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    args = [*cmd, "-m", "mtl", "train", *common, "--run-dir", str(run), "--resume", "auto"]
    proc = subprocess.Popen(
        args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    _wait_for(run / "metrics.jsonl", proc)
    # as SLURM does: the warning reaches every process of the step; torchrun ignores it
    workers = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(workers) == 2
    os.kill(int(workers[1]), signal.SIGUSR2)  # one rank hears it; both must stop
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
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
    args = [*with_n(600), "--batch-size", "2", "--epochs", "50"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    proc = subprocess.Popen(
        [*cmd, "-m", "mtl", "train", *args, "--run-dir", str(tmp_path / "run")],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(tmp_path / "run" / "metrics.jsonl", proc)
    workers = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    os.kill(int(workers[-1]), signal.SIGKILL)
    start = time.monotonic()
    proc.communicate(timeout=60)
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
