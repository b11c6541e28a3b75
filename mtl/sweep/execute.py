"""Running sweep items: one in this process, or many in parallel worker processes.

``run_item`` runs exactly one item (what a SLURM array task does): a finished item is
skipped, an interrupted one resumes from its last checkpoint, a failed or partial one
starts again from scratch; the item's status file records the outcome.

``run_local`` runs every unfinished item with ``jobs`` worker processes
(``python -m mtl sweep run FILE --serve``), dividing the CPU threads among them. Each
worker imports torch once and takes items one at a time over a pipe, so a failing
item is recorded and the worker goes on; a worker that dies takes only its current
item with it and is replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl.core.errors import AlreadyFinished, Interrupted, UserError
from mtl.core.locks import FileLock
from mtl.core.runs import CONFIG, RunDir
from mtl.sweep.spec import Item, Sweep
from mtl.sweep.state import (
    claim_file,
    item_config,
    item_state,
    read_status,
    slurm_job,
    status_file,
    write_status,
)


@dataclass
class Outcome:
    index: int
    state: str  # done, skipped, failed, elsewhere (claimed by another live process)
    reason: str = ""
    seconds: float = 0.0
    summary: str = ""
    cpu_seconds: float = 0.0


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def summary(sweep: Sweep, results: dict[str, Any], tasks: list[str], plugins: Any) -> str:
    """``test TASK METRIC VALUE`` for the target (else the first task), in the primary
    metric its task type declares."""
    from mtl.sweep.analysis import primary_metric

    task = sweep.target if sweep.target in tasks else tasks[0]
    metrics = results.get("test", {}).get(task, {})
    info = primary_metric(metrics, plugins)
    if info is None or not isinstance(metrics.get(info.name), (int, float)):
        return ""
    return f"test {task} {info.name} {metrics[info.name]:.4f}"


class RunningElsewhere(UserError):
    """The item is claimed by another live process: not a failure of this one."""


def run_item(sweep: Sweep, index: int, plugins: Any) -> Outcome:
    """Run item ``index`` unless it finished; record done or failed (then re-raise).

    The item is claimed first (its lock, held until its status is final); an item
    another process holds raises :class:`RunningElsewhere`.
    """
    item = sweep.item(index)
    claim = FileLock(claim_file(sweep, index))
    if not claim.acquire():
        raise RunningElsewhere(
            f"item {index} is being run by another process ({claim.describe_holder()})"
        )
    try:
        return _run_claimed(sweep, item, plugins)
    finally:
        claim.release()


def _run_claimed(sweep: Sweep, item: Item, plugins: Any) -> Outcome:
    from mtl.core.runner import checkpoint_to_resume, resume_run, start_run
    from mtl.distributed.preempt import Preempted

    index = item.index
    status = read_status(sweep, index)
    if status is not None and status.get("config") not in (None, item_config(item)):
        raise UserError(
            f"item {index} in '{item.run_dir}' ran with another configuration (the sweep file "
            "or --set changed); remove that directory or give the sweep another name "
            "(--set name=NEW)"
        )
    state = item_state(sweep, item)
    if state.state == "done":
        return Outcome(index, "skipped", "finished before")
    # we hold the claim, so a "running" record is stale: its process died on this host,
    # or it is our own requeued SLURM job; one from another host may be a node without
    # cross-node locks, and is left alone
    own = slurm_job() is not None and status is not None and status.get("slurm_job") == slurm_job()
    elsewhere = status is not None and status.get("host") != platform.node()
    if state.state == "running" and elsewhere and not own:
        raise RunningElsewhere(f"item {index} is being run by another process ({state.reason})")
    write_status(sweep, item, "running")
    start, cpu = time.perf_counter(), time.process_time()
    try:
        run_dir = item.run_dir
        if (run_dir / CONFIG).is_file() and checkpoint_to_resume(RunDir(run_dir)):
            try:
                _, results = resume_run(run_dir, plugins)
            except AlreadyFinished:  # its status file was lost: the run is done
                results = RunDir(run_dir).results()
        else:
            if run_dir.exists():
                shutil.rmtree(run_dir)  # a partial run that never finished an epoch
            _, results = start_run(item.config, plugins)
    except Interrupted:
        write_status(sweep, item, "failed", reason="interrupted")
        raise
    except Preempted:
        write_status(
            sweep, item, "failed", reason="preempted; checkpointed, resumes when run again"
        )
        raise
    except Exception as exc:
        write_status(sweep, item, "failed", reason=one_line(exc))
        raise
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    line = summary(sweep, results, item.config.tasks, plugins)
    write_status(sweep, item, "done", seconds=seconds, cpu_seconds=cpu, summary=line)
    return Outcome(index, "done", seconds=seconds, summary=line, cpu_seconds=cpu)


def serve(sweep: Sweep, plugins: Any, threads: int | None) -> None:
    """Worker loop: read item numbers from stdin, answer one JSON line each on stdout."""
    from mtl.core.threads import override

    override(threads)  # every item of this worker (mtl.core.threads)
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a run prints goes to the worker's log, not into the protocol
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        index = int(line)
        try:
            out = run_item(sweep, index, plugins)
        except Interrupted:
            return
        except RunningElsewhere as exc:
            out = Outcome(index, "elsewhere", one_line(exc))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, the worker goes on
            out = Outcome(index, "failed", one_line(exc))
        answer.write(json.dumps(vars(out)) + "\n")
        answer.flush()


class Worker:
    def __init__(self, number: int, args: list[str], env: dict[str, str], log: Path):
        self.number = number
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.current: int | None = None
        self.started = 0.0

    def give(self, index: int) -> None:
        self.current, self.started = index, time.monotonic()
        self.proc.stdin.write(f"{index}\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):  # the worker is already gone
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _record_dead_worker(sweep: Sweep, index: int, reason: str) -> None:
    """Mark the item of a worker that died as failed, unless another process has claimed
    it since (the claim is taken to write, so no runner is overwritten)."""
    claim = FileLock(claim_file(sweep, index))
    if not claim.acquire():
        return
    try:
        item = sweep.items[index]
        if read_status(sweep, index) is None or item_state(sweep, item).state in (
            "running",
            "pending",
        ):
            write_status(sweep, item, "failed", reason=reason)
    finally:
        claim.release()


def worker_command(sweep: Sweep, sets: tuple[str, ...], threads: int) -> list[str]:
    args = [sys.executable, "-m", "mtl", "sweep", "run", str(sweep.path), "--serve"]
    for assignment in sets:
        args += ["--set", assignment]
    return args + ["--threads", str(threads)]


def run_local(
    sweep: Sweep,
    sets: tuple[str, ...],
    jobs: int,
    indices: list[int],
    on_event: Callable[[str, Any], None],
    threads: int | None = None,
) -> list[Outcome]:
    """Run ``indices`` with ``jobs`` workers of ``threads`` CPU threads each (default: the
    process's, divided among them); ``on_event(kind, payload)`` reports progress:
    ``("start", (worker, index))`` and ``("end", Outcome)``."""
    from mtl.core.threads import default_threads

    threads = threads or max(1, default_threads() // jobs)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
    }
    args = worker_command(sweep, sets, threads)
    queue = list(indices)
    outcomes: list[Outcome] = []
    sel = selectors.DefaultSelector()
    workers: list[Worker] = []

    def spawn(number: int) -> Worker:
        w = Worker(number, args, env, sweep.root / ".status" / f"worker-{number}.log")
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        workers.append(w)
        return w

    def feed(w: Worker) -> None:
        if queue:
            index = queue.pop(0)
            w.give(index)
            on_event("start", (w.number, index))
        else:
            w.current = None

    try:
        for number in range(min(jobs, len(queue))):
            feed(spawn(number))
        while any(w.current is not None for w in workers):
            for key, _ in sel.select(timeout=1.0):
                w: Worker = key.data
                line = w.proc.stdout.readline()
                if line:
                    out = Outcome(**json.loads(line))
                    outcomes.append(out)
                    on_event("end", out)
                    feed(w)
                    continue
                # the worker died: its item failed, a new worker takes the rest
                sel.unregister(w.proc.stdout)
                code = w.proc.wait()
                workers.remove(w)
                w.log.close()
                if w.current is not None:
                    reason = f"worker process exited with code {code} (see {w.log.name})"
                    _record_dead_worker(sweep, w.current, reason)
                    out = Outcome(w.current, "failed", reason)
                    outcomes.append(out)
                    on_event("end", out)
                if queue:
                    feed(spawn(w.number))
    finally:
        for w in workers:
            w.stop()
        sel.close()
    return outcomes


__all__ = ["Outcome", "RunningElsewhere", "run_item", "run_local", "serve", "status_file"]
