"""What the partition offers (sinfo) and where jobs stand (squeue): parsing, the check
before sbatch, and the CLI against stand-in sinfo/sbatch/squeue programs that print
those commands' output for our --format strings (tests/hpc/fixtures)."""

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.hpc.cluster import (
    SINFO_FORMAT,
    SQUEUE_FORMAT,
    Request,
    memory_mb,
    parse_sinfo,
    parse_squeue,
    request_problem,
)
from mtl.hpc.render import JobSpec, request_of

FIXTURES = Path(__file__).parent / "fixtures"
SINGLE = parse_sinfo((FIXTURES / "sinfo_single_node.txt").read_text())
CLUSTER = parse_sinfo((FIXTURES / "sinfo_cluster.txt").read_text())


def test_sinfo_lines_are_parsed():
    [node] = SINGLE
    assert (node.partition, node.default, node.node, node.cpus, node.memory_mb) == (
        "debug", True, "ci-host", 2, 3200,
    )  # fmt: skip
    assert node.gpus == 0 and node.time_limit is None and node.max_nodes is None
    gpu01, gpu02 = [n for n in CLUSTER if n.partition == "gpu"]
    assert (gpu01.gpus, gpu02.gpus) == (4, 4)  # typed gres with socket ranges, summed
    assert gpu01.time_limit == 2 * 86400 and gpu01.max_nodes == 2 and not gpu01.default
    assert [n.default for n in CLUSTER if n.partition == "cpu"] == [True] * 3
    assert {n.state for n in CLUSTER} >= {"down*", "mixed", "allocated"}
    with pytest.raises(ValueError, match="unexpected sinfo line"):
        parse_sinfo("debug*|up|infinite\n")


def test_squeue_lines_are_parsed_and_explained():
    jobs = parse_squeue((FIXTURES / "squeue.txt").read_text())
    assert [j.job_id for j in jobs] == ["1042", "1043", "1044_[2-7%2]", "1044_1", "1045"]
    never, running, array, _, odd = jobs
    assert never.explain().startswith("PENDING (PartitionConfig): it will never start")
    assert "scancel 1042" in never.explain()
    assert running.explain() == "RUNNING" and running.nodelist == "gpu[01-02]"
    assert array.explain() == "PENDING (JobArrayTaskLimit: array tasks at their --parallel limit)"
    assert (
        odd.name == "a|b name"
        and odd.explain() == "PENDING (Priority: waiting for higher-priority jobs)"
    )


def test_formats_are_what_the_parsers_expect():
    assert SINFO_FORMAT.count("|") == 8 and SQUEUE_FORMAT.count("|") == 8
    assert SQUEUE_FORMAT.endswith("%j")  # the name last: it may contain the separator


def ask(**kw):
    values = dict(partition=None, nodes=1, cpus_per_node=1, tasks_per_node=1, memory_mb=None,
                  gpus_per_node=0, seconds=3600)  # fmt: skip
    return Request(**(values | kw))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ask(cpus_per_node=4), "partition 'debug' has at most 2 CPUs per node; this job asks 4 "
         "per node (--cpus-per-task 4): use --cpus-per-task 2 or less"),
        (ask(cpus_per_node=4, tasks_per_node=2), "(--cpus-per-task 2 × 2 tasks): use "
         "--cpus-per-task 1 or less"),
        (ask(cpus_per_node=3, tasks_per_node=3), "use fewer processes per node"),
        (ask(memory_mb=16 * 1024), "at most 3200M of memory per node; this job asks --mem 16G: "
         "use --mem 3200M or less"),
        (ask(gpus_per_node=1), "has at most 0 GPUs per node; this job asks 1: use a CPU template"),
        (ask(nodes=2), "has 1 node(s) that can take this job's per-node request; it asks "
         "--nodes 2: use --nodes 1"),
        (ask(partition="gpu"), "partition 'gpu' does not exist here; partitions: debug"),
    ],
)  # fmt: skip
def test_requests_the_single_node_can_never_run(request_, message):
    problem = request_problem(request_, SINGLE)
    assert problem is not None and message in problem, problem


def test_requests_against_a_cluster():
    assert request_problem(ask(cpus_per_node=2), SINGLE) is None
    assert request_problem(ask(cpus_per_node=48, nodes=3), CLUSTER) is None  # down: may return
    assert request_problem(ask(nodes=17), CLUSTER).endswith(
        "use --nodes 3 or a smaller per-node request"
    )
    assert "--partition gpu" in request_problem(ask(gpus_per_node=4), CLUSTER)
    assert request_problem(ask(partition="gpu", gpus_per_node=4, nodes=2), CLUSTER) is None
    assert "--gpus-per-node 4" in request_problem(ask(partition="gpu", gpus_per_node=8), CLUSTER)
    assert "allows at most 1-00:00:00; this job asks --time 2-00:00:00: use --time 1-00:00:00" in (
        request_problem(ask(seconds=2 * 86400), CLUSTER)
    )
    assert request_problem(ask(partition="long", seconds=6 * 86400), CLUSTER) is None


def test_memory_sizes():
    assert [memory_mb(v) for v in ("16G", "800M", "1T", "500", "2048K")] == [
        16384, 800, 1024**2, 500, 2,
    ]  # fmt: skip


def test_request_of_each_template(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "synthetic"\n')
    r = request_of(JobSpec("cpu", config=cfg))
    assert (r.cpus_per_node, r.gpus_per_node, r.nodes, r.memory_mb) == (4, 0, 1, None)
    r = request_of(JobSpec("gpu", config=cfg, cpus_per_task=2, mem="8G"))
    assert (r.cpus_per_node, r.gpus_per_node, r.memory_mb) == (2, 1, 8192)
    r = request_of(JobSpec("ddp-srun", config=cfg, cpus_per_task=3, gpus_per_node=4, nodes=2))
    assert (r.cpus_per_node, r.tasks_per_node, r.gpus_per_node, r.nodes) == (12, 4, 4, 2)
    r = request_of(JobSpec("ddp-torchrun", config=cfg, cpus_per_task=8, procs_per_node=2))
    assert (r.cpus_per_node, r.tasks_per_node, r.gpus_per_node) == (8, 1, 0)


# --- the CLI with stand-in programs ---------------------------------------------------


def program(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program(bin_dir, "sinfo", f'cat "{FIXTURES / "sinfo_single_node.txt"}"')
    program(bin_dir, "sbatch", f'echo "$@" >> "{tmp_path / "sbatch.calls"}"; echo "1042"')
    squeue = FIXTURES / "squeue.txt"
    # squeue --jobs ID prints that job's line, otherwise every line; an unknown id fails
    program(
        bin_dir,
        "squeue",
        f"""
for a in "$@"; do case "$prev" in --jobs) id="$a";; esac; prev="$a"; done
if [ -n "$id" ]; then
  grep "^$id|" "{squeue}" || {{ echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }}
else cat "{squeue}"; fi""",
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text('dataset = "synthetic"\n')
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_submit_refuses_what_the_partition_can_never_run(fake_slurm):
    result = invoke("hpc", "submit", "cpu", "--config", "run.toml")  # default: 4 CPUs
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: the job could never start: partition 'debug' has at most 2 CPUs per node; "
        "this job asks 4 per node (--cpus-per-task 4): use --cpus-per-task 2 or less"
    )
    assert not (fake_slurm / "sbatch.calls").exists() and not (fake_slurm / "logs").exists()


def test_submit_shows_the_jobs_state(fake_slurm):
    result = invoke("hpc", "submit", "cpu", "--config", "run.toml", "--cpus-per-task", "2")
    assert result.exit_code == 0, result.output
    assert (fake_slurm / "sbatch.calls").read_text().count("--parsable") == 1
    lines = result.output.splitlines()
    assert lines[0] == "submitted job 1042"
    assert lines[-1].startswith("  state:  PENDING (PartitionConfig): it will never start")


def test_hpc_status_of_a_job_and_of_all(fake_slurm):
    one = invoke("hpc", "status", "1043")
    assert one.exit_code == 0, one.output
    assert one.output.strip() == (
        "1043  ddp-run  RUNNING  elapsed 12:05 of 1:00:00  nodes 2  partition gpu  on gpu[01-02]"
    )
    every = invoke("hpc", "status")
    assert every.exit_code == 0 and len(every.output.strip().splitlines()) == 5
    assert "1042  cpu  PENDING (PartitionConfig): it will never start" in every.output
    missing = invoke("hpc", "status", "77")
    assert missing.exit_code == 2
    assert missing.output.startswith("error: job 77 is not in the queue (squeue: slurm_load_jobs")
    assert len(missing.output.strip().splitlines()) == 1
