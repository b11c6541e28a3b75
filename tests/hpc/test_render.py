"""Rendering job scripts: what SLURM needs is in them, what it would reject is refused."""

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.hpc.render import JobSpec, parse_time, render

RUN = 'dataset = "synthetic"\nepochs = 2\n'


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(RUN)
    return path


def invoke(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("template", ["cpu", "gpu", "ddp-torchrun", "ddp-srun"])
def test_every_template_has_what_hpc_md_asks_for(cfg, template):
    extra = {"gpus_per_node": 2} if template.startswith("ddp") else {}
    script = render(JobSpec(template, config=cfg, **extra))
    for needle in (
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        "#SBATCH --output=logs/%x-%j.out",
        "#SBATCH --signal=USR2@180",
        "set -euo pipefail",
        "export PYTHONUNBUFFERED=1",
        "OMP_NUM_THREADS=",
        '--cpus-per-task="$SLURM_CPUS_PER_TASK"',
        "--resume auto",
        f"--config {cfg}",
    ):
        assert needle in script, (template, needle)
    assert re.search(r"^srun ", script, re.M)  # the program runs as a job step
    assert "{{" not in script and not re.search(r"[=:]\s*(localhost|127\.0\.0\.1)", script)
    out = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_torchrun_launcher_ignores_the_warning_and_rendezvous_on_the_first_node(cfg):
    script = render(JobSpec("ddp-torchrun", config=cfg, nodes=2, gpus_per_node=4))
    assert "trap '' USR2; exec" in script
    assert "--nproc-per-node=4" in script and "#SBATCH --gpus-per-node=4" in script
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1' in script
    assert "SLURM_JOB_ID % " in script  # the port derives from the job id


def test_srun_ddp_starts_one_task_per_gpu(cfg):
    script = render(JobSpec("ddp-srun", config=cfg, nodes=3, gpus_per_node=8, signal="URG@300"))
    assert "#SBATCH --ntasks-per-node=8" in script and "#SBATCH --nodes=3" in script
    assert "#SBATCH --signal=URG@300" in script and "MTL_PREEMPT_SIGNAL=URG" in script


@pytest.mark.parametrize(
    "value, seconds",
    [("90", 5400), ("30:00", 1800), ("12:00:00", 43200), ("1-00", 86400), ("2-03:04:05", 183845)],
)
def test_slurm_time_formats(value, seconds):
    assert parse_time(value) == seconds


@pytest.mark.parametrize(
    "args, message",
    [
        (["gpu", "--signal", "USR1@120"], "clashes with NCCL"),
        (["ddp-srun", "--gpus-per-node", "4", "--signal", "USR1"], "clashes with NCCL"),
        (["cpu", "--time", "12h"], "is not a SLURM time"),
        (["cpu", "--time", "00:02:00"], "not shorter than --time"),
        (["cpu", "--signal", "KILL@60"], "not a warning signal"),
        (["cpu", "--signal", "USR2@70000"], "0 to 65535"),
        (["cpu", "--mem", "lots"], "not a SLURM size"),
        (["cpu", "--nodes", "2"], "needs a DDP template"),
        (["gpu", "--gpus-per-node", "4"], "leaves GPUs idle"),
        (["ddp-srun"], "not distributed"),
        (["ddp-srun", "--gpus-per-node", "4", "--procs-per-node", "2"], "one process per GPU"),
        (["ddp-torchrun", "--procs-per-node", "4", "--cpus-per-task", "2"], "at least one CPU"),
        (["cpu", "--partition", "a b"], "characters SLURM"),
        (["mpi"], "unknown template"),
        (["array"], "needs --sweep"),
        (["cpu", "--set", "epochs=2"], "apply to the array template"),
    ],
)
def test_misconfiguration_is_one_line_and_exit_2(cfg, args, message):
    result = invoke("hpc", "render", *args[:1], "--config", str(cfg), *args[1:])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_or_bad_config_is_refused(tmp_path):
    result = invoke("hpc", "render", "cpu", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "does not exist" in result.output
    (tmp_path / "bad.toml").write_text("epoch = 3\n")
    result = invoke("hpc", "render", "cpu", "--config", str(tmp_path / "bad.toml"))
    assert result.exit_code == 2 and "unknown key 'epoch'" in result.output


def test_submit_without_sbatch_says_so(cfg, tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable), MTL_PLUGINS="")
    out = subprocess.run(
        [sys.executable, "-m", "mtl", "hpc", "submit", "cpu", "--config", str(cfg)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2
    assert "sbatch is not on PATH" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()  # nothing half-written


def test_dry_run_prints_the_script_and_submits_nothing(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("hpc", "submit", "cpu", "--config", str(cfg), "--dry-run")
    assert result.exit_code == 0 and result.output.startswith("#!/usr/bin/env bash")
    assert "--run-dir runs/run" in result.output
    assert not (tmp_path / "logs").exists()


def test_array_covers_every_sweep_item(tmp_path):
    pytest.importorskip("mtl.sweep", reason="sweeps (mtl.sweep) are not in this mtl")
    from mtl.sweep import load_sweep

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'name = "s"\ntarget = "pop"\nbaselines = "none"\n[base]\ndataset = "synthetic"\n'
        '[task-sets]\nt = "pop,ballad"\n[axes]\ntask-set = ["t"]\nseed = [0, 1, 2, 3, 4]\n'
    )
    n = len(load_sweep(sweep, ()).items)
    script = render(JobSpec("array", sweep=sweep, parallel=2, sets=["epochs=3"]))
    assert f"#SBATCH --array=0-{n - 1}%2" in script
    assert "#SBATCH --output=logs/%x-%A_%a.out" in script
    assert f'sweep run {sweep} --index "$SLURM_ARRAY_TASK_ID" --set epochs=3' in script
