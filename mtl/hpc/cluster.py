"""What the cluster offers (``sinfo``) and where jobs stand (``squeue``), parsed.

``sinfo`` and ``squeue`` are called with fixed ``--format`` strings, one line per node
and partition (``--Node``) or per job, fields separated by ``|``. A request is checked
against the partition's nodes before ``sbatch``: a job asking more CPUs, memory, GPUs,
nodes or time than the partition has is accepted by ``sbatch`` and then pends forever
(``Reason=PartitionConfig``), so :func:`request_problem` says what to change instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from mtl.core.errors import UserError

SINFO_FORMAT = "%P|%a|%l|%s|%N|%c|%m|%G|%T"
SQUEUE_FORMAT = "%i|%T|%r|%M|%l|%D|%P|%N|%j"
UNLIMITED = ("infinite", "unlimited", "n/a", "none", "")

# pending reasons that mean "never, as submitted", and what to do
NEVER = {
    "PartitionConfig": "asks more than the partition has (CPUs, memory, GPUs or nodes)",
    "PartitionNodeLimit": "asks more nodes than the partition allows",
    "PartitionTimeLimit": "asks more time than the partition allows",
    "BadConstraints": "its constraints match no node",
    "InvalidAccount": "its account is not valid",
    "InvalidQOS": "its QOS is not valid",
    "ReqNodeNotAvail, UnavailableNodes": "the nodes it needs are unavailable",
}
WAITING = {
    "None": "not yet considered by the scheduler",
    "Priority": "waiting for higher-priority jobs",
    "Resources": "waiting for free resources",
    "Dependency": "waiting for a job it depends on",
    "BeginTime": "waiting for its start time",
    "JobArrayTaskLimit": "array tasks at their --parallel limit",
    "PartitionDown": "the partition is down",
}


@dataclass(frozen=True)
class NodeLine:
    """One node in one partition, as ``sinfo --Node`` lists it."""

    partition: str
    default: bool
    available: str  # up / down / drain / inact
    time_limit: int | None  # seconds; None = no limit
    max_nodes: int | None  # per job; None = no limit
    node: str
    cpus: int
    memory_mb: int
    gpus: int
    state: str


@dataclass(frozen=True)
class Request:
    """What a job asks of one partition."""

    partition: str | None  # None: the default partition
    nodes: int
    cpus_per_node: int
    tasks_per_node: int
    memory_mb: int | None
    gpus_per_node: int
    seconds: int


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    state: str
    reason: str
    elapsed: str
    time_limit: str
    nodes: str
    partition: str
    nodelist: str
    name: str

    def explain(self) -> str:
        """The state with its reason and, for a pending job, what the reason means."""
        if self.state != "PENDING":
            return self.state
        if self.reason in NEVER:
            return (
                f"PENDING ({self.reason}): it will never start as submitted, it "
                f"{NEVER[self.reason]}; scancel {self.job_id} and submit a smaller request"
            )
        hint = WAITING.get(self.reason)
        return f"PENDING ({self.reason}{': ' + hint if hint else ''})"


def _seconds(value: str) -> int | None:
    from mtl.hpc.render import parse_time

    if value.strip().lower() in UNLIMITED:
        return None
    try:
        return parse_time(value)
    except UserError:
        return None


def _gpus(gres: str) -> int:
    """GPUs in a gres string: ``(null)``, ``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:a:2,gpu:b:1``."""
    total = 0
    for item in re.split(r",(?![^()]*\))", gres):
        item = re.sub(r"\(.*?\)", "", item).strip()
        if item.split(":")[0] == "gpu":
            last = item.split(":")[-1]
            total += int(last) if last.isdigit() else 1
    return total


def _int(value: str) -> int:
    m = re.match(r"\d+", value.strip())
    return int(m.group()) if m else 0


def parse_sinfo(text: str) -> list[NodeLine]:
    """Lines of ``sinfo --noheader --Node --format=SINFO_FORMAT``."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = raw.strip().split("|")
        if len(fields) != 9:
            raise ValueError(f"unexpected sinfo line: {raw!r}")
        part, avail, limit, size, node, cpus, mem, gres, state = fields
        max_nodes = size.split("-")[-1] if "-" in size else size
        lines.append(
            NodeLine(
                partition=part.rstrip("*"),
                default=part.endswith("*"),
                available=avail,
                time_limit=_seconds(limit),
                max_nodes=None if max_nodes.lower() in UNLIMITED else _int(max_nodes),
                node=node,
                cpus=_int(cpus),
                memory_mb=_int(mem),
                gpus=_gpus(gres),
                state=state,
            )
        )
    return lines


def parse_squeue(text: str) -> list[QueuedJob]:
    """Lines of ``squeue --noheader --format=SQUEUE_FORMAT`` (the name last: it may hold ``|``)."""
    jobs = []
    for raw in text.splitlines():
        if raw.strip():
            fields = raw.strip().split("|", 8)
            if len(fields) != 9:
                raise ValueError(f"unexpected squeue line: {raw!r}")
            jobs.append(QueuedJob(*fields))
    return jobs


def memory_mb(value: str) -> int:
    """A SLURM size (``16G``, ``800M``, ``1T``, ``500`` = MB) in MB."""
    value = value.strip().upper()
    unit = value[-1] if value[-1] in "KMGT" else "M"
    number = int(value.rstrip("KMGT"))
    return {"K": number // 1024, "M": number, "G": number * 1024, "T": number * 1024**2}[unit]


def _size(mb: int) -> str:
    return f"{mb // 1024}G" if mb % 1024 == 0 and mb >= 1024 else f"{mb}M"


def _clock(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    text = f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def request_problem(request: Request, lines: list[NodeLine]) -> str | None:
    """Why the partition can never run ``request`` (one line, with the fix), or None."""
    names = list(dict.fromkeys(n.partition for n in lines))
    name = request.partition or next((n.partition for n in lines if n.default), None)
    if name is None:
        return None  # no default partition shown: let sbatch decide
    nodes = [n for n in lines if n.partition == name]
    if not nodes:
        return (
            f"partition '{name}' does not exist here; partitions: {', '.join(names)} "
            "(sinfo); use --partition with one of them"
        )
    where = f"partition '{name}'"
    most_cpus = max(n.cpus for n in nodes)
    if request.cpus_per_node > most_cpus:
        per_task = most_cpus // request.tasks_per_node
        tasks = f" × {request.tasks_per_node} tasks" if request.tasks_per_node > 1 else ""
        fix = (
            f"use --cpus-per-task {per_task} or less"
            if per_task >= 1
            else "use fewer processes per node"
        )
        return (
            f"{where} has at most {most_cpus} CPUs per node; this job asks "
            f"{request.cpus_per_node} per node (--cpus-per-task "
            f"{request.cpus_per_node // request.tasks_per_node}{tasks}): {fix}"
        )
    most_mem = max(n.memory_mb for n in nodes)
    if request.memory_mb is not None and request.memory_mb > most_mem:
        return (
            f"{where} has at most {_size(most_mem)} of memory per node; this job asks "
            f"--mem {_size(request.memory_mb)}: use --mem {_size(most_mem)} or less"
        )
    most_gpus = max(n.gpus for n in nodes)
    if request.gpus_per_node > most_gpus:
        with_gpus = sorted({n.partition for n in lines if n.gpus >= request.gpus_per_node})
        other = f"--partition {with_gpus[0]}" if with_gpus else "a CPU template"
        return (
            f"{where} has at most {most_gpus} GPUs per node; this job asks "
            f"{request.gpus_per_node}: use {other}"
            + ("" if with_gpus or not most_gpus else f" or --gpus-per-node {most_gpus}")
        )
    limit = nodes[0].time_limit
    if limit is not None and request.seconds > limit:
        return (
            f"{where} allows at most {_clock(limit)}; this job asks --time "
            f"{_clock(request.seconds)}: use --time {_clock(limit)} or less"
        )
    fit = [
        n
        for n in nodes
        if n.cpus >= request.cpus_per_node
        and (request.memory_mb is None or n.memory_mb >= request.memory_mb)
        and n.gpus >= request.gpus_per_node
    ]
    most_nodes = len(fit)
    if nodes[0].max_nodes is not None:
        most_nodes = min(most_nodes, nodes[0].max_nodes)
    if request.nodes > most_nodes:
        return (
            f"{where} has {most_nodes} node(s) that can take this job's per-node request; it "
            f"asks --nodes {request.nodes}: use --nodes {max(most_nodes, 1)} or a smaller "
            "per-node request"
        )
    return None


def _run(args: list[str]) -> subprocess.CompletedProcess | None:
    exe = shutil.which(args[0])
    if exe is None:
        return None
    try:
        return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def cluster_nodes() -> list[NodeLine] | None:
    """The nodes ``sinfo`` lists, or None when sinfo is missing or fails (no check then)."""
    out = _run(["sinfo", "--noheader", "--Node", f"--format={SINFO_FORMAT}"])
    if out is None or out.returncode != 0:
        return None
    try:
        return parse_sinfo(out.stdout)
    except ValueError:
        return None


def queued(job_id: str | None = None, user: str | None = None) -> list[QueuedJob]:
    """Jobs in the queue (one job, or a user's); UserError when squeue cannot tell."""
    args = ["squeue", "--noheader", f"--format={SQUEUE_FORMAT}"]
    if job_id:
        args += ["--jobs", job_id]
    elif user:
        args += ["--user", user]
    out = _run(args)
    if out is None:
        raise UserError("squeue is not on PATH: ask from a SLURM login node")
    if out.returncode != 0:
        message = (out.stderr.strip() or out.stdout.strip()).splitlines()
        detail = message[-1] if message else "no reason given"
        if job_id and "invalid job id" in detail.lower():
            raise UserError(
                f"job {job_id} is not in the queue (squeue: {detail}); finished jobs leave it "
                "after SLURM's MinJobAge: read its log instead"
            )
        raise UserError(f"squeue failed: {detail}")
    return parse_squeue(out.stdout)
