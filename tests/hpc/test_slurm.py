"""Jobs on a real SLURM (hpc/ci-slurm.sh starts a single-node one; CI runs it first).

Each test submits with ``mtl hpc submit`` exactly as a user would, waits with
``scontrol`` (no accounting needed) and checks the run directory.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

RUN_TOML = """\
dataset = "synthetic"
widths = "16,16,8,8"
dropout = "0"
report = "jsonl"
seed = 3
epochs = {epochs}
batch-size = {batch}
[dataset-options]
n = {n}
dim = 400
density = 0.05
"""


def _slurm_reason() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "SLURM is not installed (run hpc/ci-slurm.sh start as root)"
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*") in ("idle", "mixed") for s in states):
        return "no SLURM node takes jobs here (run hpc/ci-slurm.sh start as root)"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_reason()
    if reason:
        pytest.skip(reason)


def _env(**extra):
    env = dict(os.environ, MTL_PLUGINS="", MTL_DIST_TIMEOUT="60")
    for key in [k for k in env if k.startswith("SLURM_")] + ["RANK", "WORLD_SIZE"]:
        env.pop(key, None)
    env.update(extra)
    return env


def mtl(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args], capture_output=True, text=True,
        env=env or _env(), cwd=cwd, timeout=300,
    )  # fmt: skip


def submit(cwd: Path, *args, env=None) -> tuple[str, Path]:
    """Submit (sbatch passes this environment on to the job)."""
    start = time.monotonic()
    out = mtl("hpc", "submit", *args, "--time", "00:10:00", "--log-dir", "logs", cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - start < 20  # returns at once, does not wait for the job
    job = out.stdout.split("submitted job", 1)[1].split()[0]
    log = out.stdout.split("log:", 1)[1].split()[0]
    return job, cwd / log


def job_state(job: str) -> str:
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, timeout=20
    )
    states = [w.split("=", 1)[1] for w in out.stdout.split() if w.startswith("JobState=")]
    return states[0] if states else "UNKNOWN"


def wait(job: str, timeout=240, until=("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = job_state(job)
        if state in until or (state in ("FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL")):
            return state
        time.sleep(1)
    subprocess.run(["scancel", job], timeout=20)
    pytest.fail(f"job {job} did not finish in {timeout} s (last state {state})")


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def assert_same(a: Path, b: Path, rel=1e-5):
    ra, rb = results(a), results(b)
    assert ra["selected_epoch"] == rb["selected_epoch"]
    for split in ("val", "test"):
        for task, metrics in ra[split].items():
            for name, value in metrics.items():
                if isinstance(value, float):
                    assert rb[split][task][name] == pytest.approx(value, rel=rel, abs=1e-6)
    la = [json.loads(x)["loss"] for x in (a / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["loss"] for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert lb == pytest.approx(la, rel=rel)


def config(tmp_path: Path, name="run.toml", epochs=2, batch=32, n=300) -> Path:
    path = tmp_path / name
    path.write_text(RUN_TOML.format(epochs=epochs, batch=batch, n=n))
    return path


def test_cpu_job_trains_to_completion(slurm, tmp_path):
    cfg = config(tmp_path)
    job, log = submit(
        tmp_path, "cpu", "--config", str(cfg), "--run-dir", "runs/cpu", "--cpus-per-task", "1",
        "--mem", "1G",
    )  # fmt: skip
    assert wait(job) == "COMPLETED", log.read_text() if log.exists() else "no log"
    run = tmp_path / "runs" / "cpu"
    assert results(run)["status"] == "completed"
    assert log.name == f"cpu-{job}.out" and "mtl: job" in log.read_text()
    ref = mtl("train", "--config", str(cfg), "--run-dir", str(tmp_path / "ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    assert_same(tmp_path / "ref", run, rel=1e-6)


@pytest.mark.parametrize("template", ["ddp-srun", "ddp-torchrun"])
def test_two_task_gloo_job_matches_one_process(slurm, tmp_path, template):
    cfg = config(tmp_path, batch=16)
    job, log = submit(
        tmp_path, template, "--config", str(cfg), "--run-dir", "runs/ddp", "--procs-per-node",
        "2", "--cpus-per-task", "1" if template == "ddp-srun" else "2", "--mem", "2G",
    )  # fmt: skip
    assert wait(job) == "COMPLETED", log.read_text() if log.exists() else "no log"
    ref = mtl(
        "train", "--config", str(cfg), "--batch-size", "32", "--run-dir", str(tmp_path / "ref"),
        cwd=tmp_path,
    )  # fmt: skip
    assert ref.returncode == 0, ref.stderr
    assert_same(tmp_path / "ref", tmp_path / "runs" / "ddp")
    assert "rendezvous" in log.read_text()


def test_warning_signal_checkpoints_requeues_and_finishes_like_an_uninterrupted_run(
    slurm, tmp_path
):
    """The run waits before step 7 of epoch 2 (MTL_TEST_SIGNAL_AT, after writing READY)
    until SLURM's warning signal reaches it: a known step, whatever the load; the
    requeued job finds READY and does not wait again."""
    cfg = config(tmp_path, epochs=3, batch=4, n=600)
    ready = tmp_path / "ready"
    at = _env(MTL_TEST_SIGNAL_AT="2:7:wait", MTL_TEST_SIGNAL_READY=str(ready))
    job, log = submit(
        tmp_path, "cpu", "--config", str(cfg), "--run-dir", "runs/pre", "--cpus-per-task", "1",
        "--mem", "1G", env=at,
    )  # fmt: skip
    run = tmp_path / "runs" / "pre"
    end = time.monotonic() + 180
    while not (ready.exists() and ready.read_text().strip()):
        assert job_state(job) in ("PENDING", "RUNNING", "CONFIGURING"), job_state(job)
        assert time.monotonic() < end, "the job made no progress"
        time.sleep(0.2)
    # what SLURM does ahead of the time limit: the warning signal to the job's steps
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=20)
    assert wait(job, timeout=300, until=("COMPLETED",)) == "COMPLETED", log.read_text()
    text = log.read_text()
    # said before the requeue (SLURM may end the step as soon as it is accepted)
    assert f"preempted in epoch 2 at step 7; checkpoint written, requeueing SLURM job {job}" in text
    assert "restart 1" in text  # the same job ran again, appending to its log
    ref = mtl("train", "--config", str(cfg), "--run-dir", str(tmp_path / "ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    assert_same(tmp_path / "ref", run, rel=1e-6)


SWEEP_TOML = """\
name = "arr"
target = "pop"
baselines = "none"

[base]
dataset = "synthetic"
widths = "16,16,8,8"
epochs = 1
report = "jsonl"
dataset-options = { n = 300, dim = 400, density = 0.05 }

[task-sets]
t = "pop,pop_rock"

[axes]
task-set = ["t"]
seed = [0, 1]
"""


def test_array_job_runs_each_sweep_item_into_its_own_directory(slurm, tmp_path):
    pytest.importorskip("mtl.sweep", reason="sweeps (mtl.sweep) are not in this mtl")
    sweep = tmp_path / "arr.toml"
    sweep.write_text(SWEEP_TOML)
    job, log = submit(
        tmp_path, "array", "--sweep", str(sweep), "--parallel", "2", "--cpus-per-task", "1",
        "--mem", "1G",
    )  # fmt: skip
    assert log.name == f"arr-{job}_%a.out"
    end = time.monotonic() + 240
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout:
        assert time.monotonic() < end, "the array did not finish"
        time.sleep(1)
    seeds = []
    for i in (0, 1):
        run = tmp_path / "runs" / "arr" / str(i)
        assert results(run)["status"] == "completed", (tmp_path / "logs").iterdir()
        seeds.append(json.loads((run / "config.json").read_text())["seed"])
        assert (tmp_path / "logs" / f"arr-{job}_{i}.out").exists()
    assert seeds == [0, 1]


# --- what the partition offers, and where jobs stand (mtl/hpc/cluster.py) ------------------


def test_live_sinfo_parses_and_a_request_it_cannot_run_is_refused(slurm, tmp_path):
    from mtl.hpc.cluster import cluster_nodes

    nodes = cluster_nodes()
    assert nodes, "the live sinfo output did not parse"
    assert any(n.default for n in nodes) and all(n.cpus >= 1 for n in nodes)
    cpus = max(n.cpus for n in nodes)
    cfg = config(tmp_path)
    out = mtl("hpc", "submit", "cpu", "--config", str(cfg), "--cpus-per-task", str(cpus + 1),
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"has at most {cpus} CPUs per node" in out.stderr
    assert f"use --cpus-per-task {cpus} or less" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "logs").exists()


def test_submit_shows_the_state_and_hpc_status_follows_the_job(slurm, tmp_path):
    cfg = config(tmp_path, epochs=1)
    out = mtl("hpc", "submit", "cpu", "--config", str(cfg), "--run-dir", "runs/st",
              "--cpus-per-task", "1", "--mem", "1G", "--time", "00:10:00", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    job = out.stdout.split("submitted job", 1)[1].split()[0]
    assert any(
        line.startswith("  state:  ") and line.split()[1] in ("PENDING", "RUNNING", "COMPLETING",
                                                              "COMPLETED", "CONFIGURING")
        for line in out.stdout.splitlines()
    ), out.stdout  # fmt: skip
    status = mtl("hpc", "status", job, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"{job}  cpu  ") or status.stdout.startswith(f"{job}  st  ")
    assert wait(job) == "COMPLETED"


def test_a_job_that_can_never_start_is_named_by_hpc_status(slurm, tmp_path):
    from mtl.hpc.cluster import cluster_nodes

    cpus = max(n.cpus for n in cluster_nodes())
    # submitted past mtl's check, with sbatch itself, as the user in the report did
    out = subprocess.run(
        ["sbatch", "--parsable", f"--cpus-per-task={cpus + 2}", "--wrap", "true"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    if out.returncode != 0:
        pytest.skip(f"this SLURM refuses the request at submission: {out.stderr.strip()}")
    job = out.stdout.strip().split(";")[0]
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            status = mtl("hpc", "status", job, cwd=tmp_path)
            if "(None" not in status.stdout:
                break
            time.sleep(1)
        assert status.returncode == 0, status.stderr
        assert "PENDING (" in status.stdout and "it will never start" in status.stdout, (
            status.stdout
        )
    finally:
        subprocess.run(["scancel", job], timeout=20)
