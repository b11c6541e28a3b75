"""Preemption: signals set a flag; the trainer stops every rank at the same step.

The warning signal (``MTL_PREEMPT_SIGNAL``, default USR2, sent by SLURM ahead of
the time limit or a preemption) asks for checkpoint-and-requeue; SIGTERM (scancel,
hard limit) asks for checkpoint-and-exit without requeue. Handlers only record
what was asked; the trainer reads the flag at step boundaries (all-reduced across
ranks) and does the work from ordinary code.

Tests put a signal at a known step with ``MTL_TEST_SIGNAL_AT`` (see :func:`signal_hook`),
never after a sleep: under load a timed signal lands at an unknown step.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtl.core.errors import MtlError

NONE, WARN, TERM = 0, 1, 2
EXIT_TERM = 143  # 128 + SIGTERM, what a killed job reports


class Preempted(MtlError):  # noqa: N818 - an outcome, not a failure
    """Training stopped on a signal after a checkpoint; ``kind`` is WARN or TERM.

    An :class:`MtlError`, so that any command (e.g. ``mtl sweep run``) reports it in
    one line with :attr:`exit_code`: 0 after the warning signal, 143 after SIGTERM.
    """

    def __init__(self, kind: int, run_dir: object, epoch: int, step: int):
        super().__init__(
            f"preempted in epoch {epoch} at step {step}; checkpointed to {run_dir}, "
            "continue with --resume auto"
        )
        self.kind, self.run_dir, self.epoch, self.step = kind, run_dir, epoch, step
        self.requeued: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.kind == WARN else EXIT_TERM


class Flag:
    """The latest request (NONE, WARN or TERM); TERM is never downgraded."""

    def __init__(self) -> None:
        self.value = NONE
        self._previous: dict[int, Any] = {}

    def _on_warn(self, signum: int, frame: Any) -> None:
        self.value = max(self.value, WARN)

    def _on_term(self, signum: int, frame: Any) -> None:
        self.value = TERM

    def install(self, warn_signal: str = "USR2") -> Flag:
        """Install the handlers (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        warn = getattr(signal, f"SIG{warn_signal}")
        for sig, handler in ((warn, self._on_warn), (signal.SIGTERM, self._on_term)):
            self._previous[sig] = signal.signal(sig, handler)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def requeue_id(env: dict[str, str] | None = None) -> str | None:
    """The id to requeue: ``ARRAYJOB_TASK`` inside an array, else the job id."""
    env = dict(os.environ) if env is None else env
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return env.get("SLURM_JOB_ID") or None


def requeue(env: dict[str, str] | None = None, where: str = "") -> str | None:
    """``scontrol requeue`` this job (array-aware); the id, or None outside SLURM.
    ``where`` (e.g. ``in epoch 2 at step 7``) goes into the line said before it."""
    job = requeue_id(env)
    scontrol = shutil.which("scontrol")
    if job is None or scontrol is None or os.environ.get("MTL_REQUEUE", "1") == "0":
        return None
    # said first: SLURM may kill this step as soon as the requeue is accepted
    print(
        f"mtl: preempted{' ' + where if where else ''}; checkpoint written, "
        f"requeueing SLURM job {job}",
        file=sys.stderr,
        flush=True,
    )
    out = subprocess.run(
        [scontrol, "requeue", job], capture_output=True, text=True, timeout=30, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"scontrol requeue {job} failed: {out.stderr.strip()}")
    return job


TEST_SIGNAL_AT = "MTL_TEST_SIGNAL_AT"
TEST_SIGNAL_READY = "MTL_TEST_SIGNAL_READY"
TEST_WAIT_SECONDS = 300


def _no_hook(epoch: int, step: int) -> None:
    """The training loop's per-step test hook when ``MTL_TEST_SIGNAL_AT`` is unset."""


def signal_hook(
    rank: int, flag: Flag, env: dict[str, str] | None = None
) -> Callable[[int, int], None]:
    """A test hook called once per training step with ``(epoch, step)`` (a no-op unless set).

    ``MTL_TEST_SIGNAL_AT=EPOCH:STEP:ACTION[:RANK]`` (epochs from 1, steps of the epoch
    from 0, rank 0 by default): when the loop reaches that step, before the step runs,
    ACTION happens in that rank's process. ACTION is a signal name (``USR2``, ``TERM``,
    ``INT``, ``HUP``, ``KILL``, ...), which the process sends itself (``os.kill``), or
    ``wait``: the process waits there until a signal from outside reaches it (its
    handler sets the preemption flag or raises) -- the real path, at a known step.
    With ``MTL_TEST_SIGNAL_READY=FILE`` the process first writes its pid to FILE, and a
    process that finds FILE already there does nothing (one-shot across restarts, e.g.
    a requeued job). The action is taken once per process.
    """
    env = dict(os.environ) if env is None else env
    spec = env.get(TEST_SIGNAL_AT, "").strip()
    if not spec:
        return _no_hook
    parts = spec.split(":")
    try:
        epoch, step = int(parts[0]), int(parts[1])
        action = parts[2].upper()
        target = int(parts[3]) if len(parts) > 3 else 0
        if len(parts) > 4 or (action != "WAIT" and not hasattr(signal, f"SIG{action}")):
            raise ValueError
    except (IndexError, ValueError):
        raise MtlError(
            f"{TEST_SIGNAL_AT}={spec!r} must be EPOCH:STEP:SIGNAL[:RANK] or EPOCH:STEP:wait[:RANK]"
        ) from None
    ready = Path(env[TEST_SIGNAL_READY]) if env.get(TEST_SIGNAL_READY) else None
    if rank != target or (ready is not None and ready.exists()):
        return _no_hook
    fired = False

    def hook(at_epoch: int, at_step: int) -> None:
        nonlocal fired
        if fired or (at_epoch, at_step) != (epoch, step):
            return
        fired = True
        if ready is not None:
            tmp = ready.with_name(f".{ready.name}.tmp")
            tmp.write_text(f"{os.getpid()}\n")
            tmp.replace(ready)
        if action != "WAIT":
            os.kill(os.getpid(), getattr(signal, f"SIG{action}"))
            return
        end = time.monotonic() + TEST_WAIT_SECONDS
        while flag.value == NONE:  # a handler that raises (SIGINT, ...) ends it too
            if time.monotonic() > end:
                raise RuntimeError(f"{TEST_SIGNAL_AT}: no signal came in {TEST_WAIT_SECONDS} s")
            time.sleep(0.01)

    return hook
