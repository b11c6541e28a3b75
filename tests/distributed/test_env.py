"""Rank discovery: torchrun's variables, then SLURM's, else one process; problems named."""

import os
import subprocess
import sys

import pytest

from mtl.distributed.env import discover, first_host, port_for_job
from mtl.distributed.preempt import requeue_id


def test_no_launcher_is_a_single_process():
    d = discover({})
    assert (d.source, d.rank, d.world_size, d.problems) == ("single", 0, 1, [])


def test_torchrun_variables_win_over_slurm():
    env = {
        "RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "n1", "MASTER_PORT": "29500", "SLURM_PROCID": "0", "SLURM_NTASKS": "2",
    }  # fmt: skip
    d = discover(env)
    assert (d.source, d.rank, d.local_rank, d.world_size) == ("torchrun", 3, 1, 4)
    assert (d.master_addr, d.master_port, d.problems) == ("n1", 29500, [])


def test_slurm_tasks_give_ranks_and_a_rendezvous_on_the_first_node(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no scontrol: the node list is parsed
    env = {
        "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8",
        "SLURM_STEP_NUM_TASKS": "8", "SLURM_STEP_ID": "0",
        "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NODELIST": "gpu[07-08],cpu1",
        "SLURM_JOB_ID": "123456",
    }  # fmt: skip
    d = discover(env)
    assert (d.source, d.rank, d.local_rank, d.world_size) == ("slurm", 5, 1, 8)
    assert d.master_addr == "gpu07" and d.master_port == port_for_job("123456")
    assert d.problems == []


def test_one_slurm_task_is_not_distributed():
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_STEP_NUM_TASKS": "1"}
    assert discover(env).source == "single" and discover(env).problems == []


def test_the_batch_shell_of_a_multi_task_job_is_told_to_use_srun():
    d = discover({"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "5"})
    assert d.source == "single" and "not started by srun" in d.problems[0]


@pytest.mark.parametrize(
    "env, problem",
    [
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "1"}, "no rendezvous address"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, "no rendezvous port"),
        ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "outside"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "not an integer"),
        ({"WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "set together"),
    ],
)
def test_misconfigurations_are_named(env, problem):
    assert any(problem in p for p in discover(env).problems), discover(env).problems


def test_first_host_of_node_lists():
    assert first_host("a01") == "a01"
    assert first_host("gpu[3-5,9]") == "gpu3"
    assert first_host("n[010-012],m1") == "n010"


def test_requeue_id_is_array_aware():
    assert requeue_id({"SLURM_JOB_ID": "7"}) == "7"
    env = {"SLURM_JOB_ID": "9", "SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "2"}
    assert requeue_id(env) == "7_2"
    assert requeue_id({}) is None


def _mtl_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(MTL_PLUGINS="", **extra)
    return subprocess.run(
        [sys.executable, "-m", "mtl", "env", "--json"], capture_output=True, text=True, env=env
    )


def test_mtl_env_reports_and_fails_on_misconfiguration():
    import json

    ok = _mtl_env()
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["world_size"] == 1
    bad = _mtl_env(RANK="0", WORLD_SIZE="2", MASTER_PORT="29500", MTL_PREEMPT_SIGNAL="KILL")
    assert bad.returncode == 2
    problems = json.loads(bad.stdout)["problems"]
    assert any("no rendezvous address" in p for p in problems)
    assert any("not a usable warning signal" in p for p in problems)


def test_train_refuses_a_misconfigured_launch_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(MTL_PLUGINS="", RANK="0", WORLD_SIZE="2", MASTER_PORT="29500")
    out = subprocess.run(
        [sys.executable, "-m", "mtl", "train", "--run-dir", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "no rendezvous address" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()
