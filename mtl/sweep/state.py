"""Where each item of a sweep stands: done, running, failed or pending.

Each item has a small status file, ``<root>/.status/<i>.json``, written atomically:
the item's configuration (to notice a changed sweep file), its state, the process
running it and, for a failure, the one-line reason. An item counts as *done* only if
its run directory holds a readable ``results.json`` with test metrics: a corrupt or
partial run directory is *failed*, never averaged.

A process claims an item by taking its lock, ``<root>/.status/<i>.lock`` (an OS file
lock, see :mod:`mtl.core.locks`), and holds it until the item's status is final; the
claim is one system call, so two sweep processes never run one item. An item whose
lock is held is *running*; a "running" record on this host whose lock is free was
left by a process that died.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl.core.locks import held_elsewhere
from mtl.core.runs import CONFIG, RESULTS, dumps, write_json
from mtl.sweep.spec import Item, Sweep

STATUS_DIR = ".status"
STATES = ("done", "running", "failed", "pending")


@dataclass
class ItemState:
    index: int
    state: str  # one of STATES
    reason: str = ""
    seconds: float | None = None


def status_file(sweep: Sweep, index: int) -> Path:
    return sweep.root / STATUS_DIR / f"{index}.json"


def item_config(item: Item) -> dict[str, Any]:
    """The configuration an item is identified by (JSON-normalised; not where it runs)."""
    config = json.loads(dumps(item.config.to_dict()))
    config.pop("run_dir", None)
    return config


def claim_file(sweep: Sweep, index: int) -> Path:
    """The lock a process holds while it runs item ``index``."""
    return sweep.root / STATUS_DIR / f"{index}.lock"


def read_status(sweep: Sweep, index: int) -> dict[str, Any] | None:
    path = status_file(sweep, index)
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"state": "failed", "reason": f"status file '{path}' is damaged"}
    return value if isinstance(value, dict) else None


def slurm_job() -> str | None:
    """This process's SLURM job (array job and task) id, if it runs under SLURM."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def write_status(sweep: Sweep, item: Item, state: str, **extra: Any) -> None:
    write_json(
        status_file(sweep, item.index),
        {
            "index": item.index,
            "state": state,
            "config": item_config(item),
            "host": platform.node(),
            "pid": os.getpid(),
            "slurm_job": slurm_job(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        },
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def results_problem(run_dir: Path) -> str | None:
    """Why ``run_dir`` does not hold a finished run's results, or None if it does."""
    path = run_dir / RESULTS
    if not path.is_file():
        return f"no {RESULTS} in '{run_dir}'"
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"'{path}' is not valid JSON ({exc})"
    if not isinstance(results, dict) or not isinstance(results.get("test"), dict):
        return f"'{path}' holds no test metrics"
    if not (run_dir / CONFIG).is_file():
        return f"no {CONFIG} in '{run_dir}'"
    return None


def item_state(sweep: Sweep, item: Item) -> ItemState:
    status = read_status(sweep, item.index)
    run_dir = item.run_dir
    if status is None:
        if (run_dir / RESULTS).exists():
            problem = results_problem(run_dir)
            if problem:
                return ItemState(item.index, "failed", problem)
            return ItemState(item.index, "done")
        if run_dir.exists() and any(run_dir.iterdir()):
            return ItemState(item.index, "failed", f"partial run directory '{run_dir}'")
        return ItemState(item.index, "pending")
    state = status.get("state")
    if status.get("config") not in (None, item_config(item)):
        return ItemState(
            item.index, "failed", "ran with another configuration (the sweep file changed)"
        )
    if state == "done":
        problem = results_problem(run_dir)
        if problem:
            return ItemState(item.index, "failed", problem)
        return ItemState(item.index, "done", seconds=status.get("seconds"))
    if state == "running":
        pid, host = status.get("pid"), status.get("host")
        held = held_elsewhere(claim_file(sweep, item.index))
        if held is None and isinstance(pid, int):  # the lock cannot be probed: ask the pid
            held = host != platform.node() or _alive(pid)
        if not held and host == platform.node():  # a live runner holds the claim
            return ItemState(item.index, "failed", f"interrupted (process {pid} is gone)")
        return ItemState(item.index, "running", f"pid {pid} on {host}")
    if state == "failed":
        return ItemState(item.index, "failed", str(status.get("reason", "")))
    return ItemState(item.index, "pending")


def sweep_states(sweep: Sweep) -> list[ItemState]:
    return [item_state(sweep, item) for item in sweep.items]
