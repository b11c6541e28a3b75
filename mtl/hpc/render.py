"""Filling the job templates (``mtl/hpc/templates``, linked from ``hpc/``) and submitting.

Everything SLURM would reject, and every combination that would fail later on the
cluster (USR1 with NCCL, a warning lead longer than the time limit, a missing
config file, an empty sweep), is caught here and reported as one
:class:`~mtl.core.errors.UserError` line before anything is written or submitted.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mtl.core.errors import UserError
from mtl.distributed.env import PORT_BASE, PORT_SPAN, WARN_SIGNALS
from mtl.hpc.cluster import (
    QueuedJob,
    Request,
    cluster_nodes,
    memory_mb,
    queued,
    request_problem,
)

TEMPLATES = ("cpu", "gpu", "array", "ddp-torchrun", "ddp-srun")
DDP = ("ddp-torchrun", "ddp-srun")
TIME_RE = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+)(?::(\d+))?$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
MEM_RE = re.compile(r"^\d+[KMGT]?$")


@dataclass
class JobSpec:
    """What a job needs; defaults suit a small CPU run."""

    template: str
    config: Path | None = None
    sweep: Path | None = None
    sets: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    job_name: str | None = None
    time: str = "01:00:00"
    cpus_per_task: int = 4
    mem: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    procs_per_node: int | None = None
    partition: str | None = None
    account: str | None = None
    signal: str = "USR2@180"
    parallel: int | None = None
    log_dir: Path = Path("logs")
    workdir: Path = field(default_factory=Path.cwd)
    setup: str | None = None
    python: str = field(default_factory=lambda: sys.executable)
    extra: list[str] = field(default_factory=list)  # more #SBATCH lines, e.g. --qos=low


def parse_time(value: str) -> int:
    """SLURM's time formats (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds."""
    m = TIME_RE.match(value.strip())
    if not m:
        raise UserError(
            f"--time '{value}' is not a SLURM time; use HH:MM:SS, D-HH:MM:SS or minutes"
        )
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:
        # D-HH, D-HH:MM, D-HH:MM:SS
        parts = [p for p in (a, b, c) if p is not None]
        if a is None:
            parts = [b]
        h, mi, s = (parts + [0, 0, 0])[:3]
        _check_fields(value, [(h, 24, "hours")] + [(mi, 60, "minutes"), (s, 60, "seconds")])
        return days * 86400 + h * 3600 + mi * 60 + s
    if a is None:
        return b * 60  # minutes
    if c is None:
        _check_fields(value, [(b, 60, "seconds")])
        return a * 60 + b  # MM:SS
    _check_fields(value, [(b, 60, "minutes"), (c, 60, "seconds")])
    return a * 3600 + b * 60 + c


def _check_fields(value: str, fields: list[tuple[int, int, str]]) -> None:
    """SLURM rejects (or misreads) 25:99 or 1-30: every field but the first is bounded."""
    for number, limit, name in fields:
        if number >= limit:
            raise UserError(
                f"--time '{value}' has {number} {name}; {name} must be under {limit} "
                "(HH:MM:SS, D-HH:MM:SS or minutes)"
            )


def parse_signal(value: str) -> tuple[str, int]:
    """``USR2@180`` → (``USR2``, 180); SLURM accepts lead times of 0-65535 s."""
    name, _, lead = value.upper().removeprefix("B:").partition("@")
    name = name.removeprefix("SIG")
    if name not in WARN_SIGNALS:
        raise UserError(
            f"--signal '{value}': '{name}' is not a warning signal mtl handles; "
            f"use one of {', '.join(WARN_SIGNALS)}, e.g. USR2@180"
        )
    try:
        seconds = int(lead) if lead else 60
    except ValueError:
        raise UserError(f"--signal '{value}': the lead time after @ must be seconds") from None
    if not 0 <= seconds <= 65535:
        raise UserError(f"--signal '{value}': SLURM accepts lead times of 0 to 65535 seconds")
    return name, seconds


def _q(value: object) -> str:
    return shlex.quote(str(value))


def _check_common(spec: JobSpec) -> tuple[str, int]:
    if spec.template not in TEMPLATES:
        raise UserError(f"unknown template '{spec.template}'; choose one of {', '.join(TEMPLATES)}")
    signal, lead = parse_signal(spec.signal)
    limit = parse_time(spec.time)
    if limit == 0:
        raise UserError("--time is zero; give the job a time limit, e.g. 01:00:00")
    if lead >= limit:
        raise UserError(
            f"--signal lead of {lead} s is not shorter than --time {spec.time}; "
            "the job would be warned before it starts working"
        )
    uses_nccl = spec.template == "gpu" or (spec.template in DDP and spec.gpus_per_node > 0)
    if signal == "USR1" and uses_nccl:
        raise UserError("--signal USR1 clashes with NCCL, which GPU jobs use; use USR2")
    if spec.cpus_per_task < 1:
        raise UserError(f"--cpus-per-task must be at least 1; got {spec.cpus_per_task}")
    if spec.nodes < 1:
        raise UserError(f"--nodes must be at least 1; got {spec.nodes}")
    if spec.gpus_per_node < 0:
        raise UserError(f"--gpus-per-node cannot be negative; got {spec.gpus_per_node}")
    if spec.nodes > 1 and spec.template not in DDP:
        raise UserError(
            f"--nodes {spec.nodes} needs a DDP template (ddp-torchrun or ddp-srun); "
            f"'{spec.template}' runs one process"
        )
    if spec.mem is not None and not MEM_RE.match(spec.mem.upper()):
        raise UserError(f"--mem '{spec.mem}' is not a SLURM size; use e.g. 8G or 16000M")
    for name, value in (("--partition", spec.partition), ("--account", spec.account)):
        if value is not None and not NAME_RE.match(value):
            raise UserError(f"{name} '{value}' contains characters SLURM does not accept")
    if spec.procs_per_node is not None and spec.procs_per_node < 1:
        raise UserError(f"--procs-per-node must be at least 1; got {spec.procs_per_node}")
    if spec.parallel is not None and spec.parallel < 1:
        raise UserError(f"--parallel must be at least 1; got {spec.parallel}")
    for line in spec.extra:
        if not line.startswith("--") or not line.isprintable():
            raise UserError(
                f"--sbatch {line!r} must be one sbatch option such as --qos=low (one line)"
            )
    return signal, lead


def _procs(spec: JobSpec) -> int:
    if spec.gpus_per_node > 0:
        if spec.procs_per_node not in (None, spec.gpus_per_node):
            raise UserError(
                f"--procs-per-node {spec.procs_per_node} differs from --gpus-per-node "
                f"{spec.gpus_per_node}; DDP runs one process per GPU"
            )
        return spec.gpus_per_node
    procs = spec.procs_per_node or 1
    if procs < 1:
        raise UserError(f"--procs-per-node must be at least 1; got {procs}")
    if spec.nodes * procs < 2:
        raise UserError(
            f"'{spec.template}' with one process in all is not distributed; give --gpus-per-node, "
            "--procs-per-node or --nodes (or use the cpu/gpu template)"
        )
    if spec.cpus_per_task < procs and spec.template == "ddp-torchrun":
        raise UserError(
            f"--cpus-per-task {spec.cpus_per_task} is fewer than the {procs} processes per node; "
            "each needs at least one CPU"
        )
    return procs


def _train_config(spec: JobSpec) -> tuple[Path, Path]:
    from mtl.core.config import build_config

    if spec.config is None:
        raise UserError(f"template '{spec.template}' needs --config RUN.toml (a training config)")
    config = build_config(spec.config)  # missing file, bad TOML, unknown keys: one line
    run_dir = spec.run_dir or (Path(config.run_dir) if config.run_dir else None)
    if run_dir is None:
        run_dir = Path("runs") / spec.config.stem
    return spec.config, run_dir


def _sweep_items(spec: JobSpec) -> int:
    if spec.sweep is None:
        raise UserError("template 'array' needs --sweep SWEEP.toml")
    try:
        from mtl.sweep import load_sweep
    except ImportError:
        raise UserError(
            "the array template needs sweeps (mtl.sweep), which this mtl lacks"
        ) from None
    sweep = load_sweep(spec.sweep, spec.sets)
    if not sweep.items:
        raise UserError(f"sweep '{spec.sweep}' expands to no runs; nothing to submit")
    return len(sweep.items)


def render(spec: JobSpec) -> str:
    """The job script for ``spec``; raises UserError on anything SLURM or mtl would reject."""
    signal, lead = _check_common(spec)
    name = spec.job_name
    values: dict[str, object] = {
        "signal": signal,
        "lead": lead,
        "time": spec.time,
        "cpus_per_task": spec.cpus_per_task,
        "log_dir": _q(spec.log_dir),
        "workdir": _q(spec.workdir),
        "python": _q(spec.python),
        "setup": spec.setup or "",
        "port_base": PORT_BASE,
        "port_span": PORT_SPAN,
        "nodes": spec.nodes,
        "train_args": "",
        "sweep_args": "",
    }
    if spec.template == "array":
        n = _sweep_items(spec)
        parallel = spec.parallel or n
        if parallel < 1:
            raise UserError(f"--parallel must be at least 1; got {parallel}")
        values |= {
            "sweep": _q(spec.sweep),
            "last_index": n - 1,
            "parallel": min(parallel, n),
            "sweep_args": " ".join(f"--set {_q(s)}" for s in spec.sets),
        }
        name = name or spec.sweep.stem
    else:
        if spec.sets or spec.sweep:
            raise UserError(
                f"--sweep and --set apply to the array template, not '{spec.template}'; "
                "give --config RUN.toml"
            )
        config, run_dir = _train_config(spec)
        values |= {"config": _q(config), "run_dir": _q(run_dir)}
        name = name or run_dir.name
    if spec.template in DDP:
        procs = _procs(spec)
        values["procs_per_node"] = procs
        values["gpu_directive"] = (
            f"#SBATCH --gpus-per-node={spec.gpus_per_node}" if spec.gpus_per_node else ""
        )
    elif spec.gpus_per_node > 1:
        raise UserError(
            f"--gpus-per-node {spec.gpus_per_node} with template '{spec.template}' leaves GPUs "
            "idle; use ddp-torchrun or ddp-srun"
        )
    if not NAME_RE.match(name):
        raise UserError(f"job name '{name}' has characters SLURM may reject; pass --job-name")
    values["job_name"] = name
    directives = []
    if spec.mem:
        directives.append(f"#SBATCH --mem={spec.mem}")
    if spec.partition:
        directives.append(f"#SBATCH --partition={spec.partition}")
    if spec.account:
        directives.append(f"#SBATCH --account={spec.account}")
    directives += [f"#SBATCH {line}" for line in spec.extra]
    values["directives"] = "\n".join(directives)
    text = template_text(spec.template)
    out = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values[m.group(1)]), text)
    return out


def template_text(name: str) -> str:
    return resources.files("mtl.hpc").joinpath("templates", f"{name}.sbatch").read_text()


def job_name_of(script: str) -> str:
    m = re.search(r"^#SBATCH --job-name=(\S+)", script, re.M)
    return m.group(1) if m else "job"


@dataclass
class Submitted:
    job_id: str
    log: Path
    script: Path
    queue: QueuedJob | None = None  # its line in squeue right after submission


def request_of(spec: JobSpec) -> Request:
    """What the rendered job asks of a node (see the templates' #SBATCH lines)."""
    if spec.template in DDP:
        procs = _procs(spec)
        tasks = procs if spec.template == "ddp-srun" else 1
        gpus = spec.gpus_per_node
    else:
        tasks, gpus = 1, 1 if spec.template == "gpu" else 0
    return Request(
        partition=spec.partition,
        nodes=spec.nodes,
        cpus_per_node=spec.cpus_per_task * tasks,
        tasks_per_node=tasks,
        memory_mb=memory_mb(spec.mem) if spec.mem else None,
        gpus_per_node=gpus,
        seconds=parse_time(spec.time),
    )


def check_request(spec: JobSpec) -> None:
    """A UserError naming what to change when the partition can never run the job."""
    nodes = cluster_nodes()
    if nodes:
        problem = request_problem(request_of(spec), nodes)
        if problem:
            raise UserError(f"the job could never start: {problem}")


def submit(spec: JobSpec, script: str) -> Submitted:
    """Write the script under the log folder and hand it to ``sbatch``; returns at once."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise UserError(
            "sbatch is not on PATH: submit from a SLURM login node, or use --dry-run / "
            "'mtl hpc render' to get the script"
        )
    check_request(spec)
    name = job_name_of(script)
    log_dir = spec.log_dir if spec.log_dir.is_absolute() else spec.workdir / spec.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}.sbatch"
    path.write_text(script)
    out = subprocess.run(
        [sbatch, "--parsable", str(path)], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        reason = (out.stderr.strip() or out.stdout.strip()).splitlines()
        raise UserError(f"sbatch refused the job: {reason[-1] if reason else 'no reason given'}")
    job_id = out.stdout.strip().split(";")[0]
    pattern = f"{name}-{job_id}_%a.out" if spec.template == "array" else f"{name}-{job_id}.out"
    try:
        queue = next(iter(queued(job_id)), None)
    except UserError:
        queue = None  # submitted all the same; 'mtl hpc status' asks again
    return Submitted(job_id, log_dir / pattern, path, queue)
