"""--threads: torch's CPU threads, by default the CPUs this process may use."""

import json
import os
import subprocess
import sys

import pytest

from mtl.core import threads
from mtl.core.errors import UserError

ALL = len(os.sched_getaffinity(0))


def test_the_default_is_the_affinity_mask_capped_by_slurm_and_divided_among_local_ranks():
    assert threads.available_cpus({}) == ALL
    assert threads.available_cpus({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert threads.available_cpus({"SLURM_CPUS_PER_TASK": str(ALL + 8)}) == ALL
    assert threads.default_threads({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert threads.default_threads({"OMP_NUM_THREADS": "1"}) == 1
    assert threads.default_threads({"OMP_NUM_THREADS": str(ALL + 8)}) == ALL
    assert threads.default_threads({"LOCAL_WORLD_SIZE": str(ALL + 1)}) == 1


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_anything_but_a_positive_integer_is_refused(value):
    with pytest.raises(UserError, match="must be a positive integer"):
        threads.check_threads(value)


def mtl(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *map(str, args)], capture_output=True, text=True,
        timeout=120, env={**os.environ, "MTL_PLUGINS": "", **(env or {})},
    )  # fmt: skip


def test_dummy_and_train_use_and_record_the_threads(tmp_path):
    out = mtl("dummy", "--epochs", "1", "--threads", "1", "--run-dir", tmp_path / "d")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["threads"] == 1
    toml = tmp_path / "run.toml"
    toml.write_text('dataset = "dummy"\nepochs = 1\nthreads = 1\nreport = ""\n')
    out = mtl("train", "--config", toml, "--run-dir", tmp_path / "t")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["threads"] == 1
    # the default: the CPUs this process may use, capped by SLURM_CPUS_PER_TASK
    env = {"SLURM_CPUS_PER_TASK": "1", "OMP_NUM_THREADS": ""}
    out = mtl("dummy", "--epochs", "1", "--run-dir", tmp_path / "s", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["threads"] == 1


@pytest.mark.parametrize("command", ["train", "dummy", "evaluate"])
def test_a_bad_thread_count_is_one_line_and_writes_nothing(tmp_path, command):
    args = {"train": ["--dataset", "dummy"], "dummy": [], "evaluate": [tmp_path / "none"]}
    run = [] if command == "evaluate" else ["--run-dir", tmp_path / "r"]
    out = mtl(command, *args[command], *run, "--threads", "0")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "positive integer" in lines[0]
    assert not (tmp_path / "r").exists()
