"""Where this process sits in a job: rank, world size, rendezvous and what is wrong.

torchrun's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``) win; otherwise SLURM's (``SLURM_PROCID``, ``SLURM_LOCALID``,
``SLURM_NTASKS``, the first host of ``SLURM_JOB_NODELIST``, a port derived from the
job id) when the job step runs more than one task; otherwise one process. Nothing
here imports torch, so ``mtl env`` answers fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mtl.core.errors import UserError

PORT_BASE = 20_000
PORT_SPAN = 20_000
WARN_SIGNALS = ("USR2", "USR1", "URG", "CONT", "HUP", "XCPU")


@dataclass
class DistEnv:
    """What the launcher told this process."""

    source: str  # "torchrun", "slurm" or "single"
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    master_addr: str | None = None
    master_port: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(env: Mapping[str, str], key: str, problems: list[str]) -> int | None:
    value = env.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        problems.append(f"{key}={value!r} is not an integer")
        return None


def first_host(nodelist: str) -> str | None:
    """The first host of a SLURM node list such as ``gpu[03-05,07],cpu1`` (no scontrol needed)."""
    nodelist = nodelist.strip()
    if not nodelist:
        return None
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if not m:
        return None
    prefix, ranges = m.group(1), m.group(2)
    if ranges is None:
        return prefix
    first = ranges.split(",", 1)[0].split("-", 1)[0]
    return prefix + first


def master_from_slurm(env: Mapping[str, str]) -> str | None:
    """The job's first node: ``scontrol show hostnames`` when available, else parsed."""
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
    if not nodelist:
        return None
    scontrol = shutil.which("scontrol")
    if scontrol:  # if it fails, parse the node list ourselves
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [scontrol, "show", "hostnames", nodelist],
                capture_output=True,
                text=True,
                timeout=10,
            )
            hosts = out.stdout.split()
            if out.returncode == 0 and hosts:
                return hosts[0]
    return first_host(nodelist)


def port_for_job(job_id: str) -> int:
    """A rendezvous port derived from the job id, so jobs sharing a node do not collide."""
    digits = "".join(c for c in job_id if c.isdigit()) or "0"
    return PORT_BASE + int(digits) % PORT_SPAN


def discover(env: Mapping[str, str] | None = None) -> DistEnv:
    """Rank and rendezvous from torchrun's variables, then SLURM's, else a single process."""
    env = os.environ if env is None else env
    problems: list[str] = []
    if "RANK" in env or "WORLD_SIZE" in env:
        rank = _int(env, "RANK", problems)
        world = _int(env, "WORLD_SIZE", problems)
        local = _int(env, "LOCAL_RANK", problems)
        local_world = _int(env, "LOCAL_WORLD_SIZE", problems)
        port = _int(env, "MASTER_PORT", problems)
        out = DistEnv(
            "torchrun",
            rank=rank if rank is not None else 0,
            local_rank=local if local is not None else 0,
            world_size=world if world is not None else 1,
            local_world_size=local_world if local_world is not None else 1,
            master_addr=env.get("MASTER_ADDR") or None,
            master_port=port,
            problems=problems,
        )
        if rank is None or world is None:
            problems.append("RANK and WORLD_SIZE must be set together (launch with torchrun)")
    elif _ntasks(env) > 1:
        rank = _int(env, "SLURM_PROCID", problems)
        local = _int(env, "SLURM_LOCALID", problems)
        world = _ntasks(env)
        local_world = _int(env, "SLURM_NTASKS_PER_NODE", problems) or _local_tasks(env)
        addr = env.get("MASTER_ADDR") or master_from_slurm(env)
        port = _int(env, "MASTER_PORT", problems)
        if port is None and env.get("SLURM_JOB_ID"):
            port = port_for_job(env["SLURM_JOB_ID"])
        out = DistEnv(
            "slurm",
            rank=rank if rank is not None else 0,
            local_rank=local if local is not None else 0,
            world_size=world,
            local_world_size=local_world or 1,
            master_addr=addr,
            master_port=port,
            problems=problems,
        )
        if rank is None:
            problems.append("SLURM_NTASKS > 1 but SLURM_PROCID is missing; start tasks with srun")
    else:
        single = DistEnv("single")
        job_tasks = _int(env, "SLURM_NTASKS", problems) or 1
        if job_tasks > 1 and "SLURM_STEP_ID" not in env:
            single.problems.append(
                f"the SLURM job has {job_tasks} tasks but this process was not started by srun, "
                "so it would train alone; start it with srun (or ask for --ntasks=1)"
            )
        return single
    _check(out, problems)
    return out


def _ntasks(env: Mapping[str, str]) -> int:
    """Tasks of this job step (srun sets SLURM_STEP_NUM_TASKS; the batch shell has none)."""
    try:
        return int(env.get("SLURM_STEP_NUM_TASKS", ""))
    except ValueError:
        return 1


def _local_tasks(env: Mapping[str, str]) -> int | None:
    value = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or ""
    m = re.match(r"(\d+)", value)
    return int(m.group(1)) if m else None


def _check(d: DistEnv, problems: list[str]) -> None:
    if d.world_size < 1:
        problems.append(f"world size is {d.world_size}; it must be at least 1")
    elif not 0 <= d.rank < d.world_size:
        problems.append(f"rank {d.rank} is outside the world of {d.world_size} processes")
    if d.local_rank < 0 or (d.local_world_size and d.local_rank >= d.local_world_size > 0):
        problems.append(
            f"local rank {d.local_rank} is outside the {d.local_world_size} tasks of this node"
        )
    if d.distributed and not d.master_addr:
        problems.append(
            "no rendezvous address: MASTER_ADDR is unset and no SLURM node list was found "
            "(set MASTER_ADDR to the first node's host name; localhost is never assumed)"
        )
    if d.distributed and d.master_port is None:
        problems.append("no rendezvous port: set MASTER_PORT (or run inside a SLURM job)")


def check_devices(d: DistEnv, device: str, gpus: int) -> list[str]:
    """Problems in matching ranks to devices (``gpus`` = visible CUDA devices)."""
    problems = []
    if device == "cuda" and gpus == 0:
        problems.append("--device cuda but no GPU is visible to this process")
    if device in ("cuda", "auto") and gpus and d.local_world_size > gpus:
        problems.append(
            f"{d.local_world_size} processes on this node share {gpus} visible GPU(s); "
            "start one process per GPU (--nproc-per-node / --ntasks-per-node = GPUs)"
        )
    return problems


def warning_signal(env: Mapping[str, str] | None = None) -> str:
    """The preemption warning signal's name (``MTL_PREEMPT_SIGNAL``, default USR2)."""
    env = os.environ if env is None else env
    name = env.get("MTL_PREEMPT_SIGNAL", "USR2").upper().removeprefix("SIG")
    if name not in WARN_SIGNALS:
        raise UserError(
            f"MTL_PREEMPT_SIGNAL={name!r} is not a usable warning signal; "
            f"choose one of {', '.join(WARN_SIGNALS)}"
        )
    return name


def backend_for(device: str) -> str:
    return "nccl" if device == "cuda" else "gloo"


def signal_problems(signal_name: str, backend: str) -> list[str]:
    if signal_name == "USR1" and backend == "nccl":
        return ["the warning signal USR1 clashes with NCCL's own use of it; use USR2"]
    return []
