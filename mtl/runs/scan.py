"""Finding run directories under a folder and summarising each without loading a model.

A folder is a run when it holds ``config.json`` or ``manifest.json`` (what ``mtl train``
writes first); a folder with ``checkpoints/`` or ``metrics.jsonl`` but neither is a run
whose configuration was lost. Runs are not searched for further runs. Reading a run
never fails: whatever cannot be read makes the run ``broken``, with the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mtl.core.runs import BEST, CONFIG, FINISHED, LAST, MANIFEST, METRICS, RESULTS  # noqa: F401

MARKERS = (CONFIG, MANIFEST)
TRACES = ("checkpoints", METRICS)


@dataclass
class RunSummary:
    """One row of ``mtl runs list``: what a run is, where it stands and what it scored."""

    run: str
    path: str
    status: str
    reason: str = ""
    dataset: str | None = None
    tasks: list[str] = field(default_factory=list)
    arch: str | None = None
    weighting: str | None = None
    epochs: int | None = None
    epochs_run: int | None = None
    selected_epoch: int | None = None
    select_by: str | None = None
    val: float | None = None
    test: float | None = None
    created: str | None = None
    bytes: int = 0
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Broken(Exception):
    """A file of the run cannot be read; the message says which and why."""


def is_run(path: Path) -> bool:
    return any((path / m).is_file() for m in MARKERS)


def looks_like_run(path: Path) -> bool:
    return is_run(path) or any((path / t).exists() for t in TRACES)


def find_runs(root: Path) -> Iterator[Path]:
    """Run directories at or under ``root``, sorted by path; runs are not searched further."""
    root = Path(root)
    if looks_like_run(root):
        yield root
        return
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        if here != root and looks_like_run(here):
            dirnames.clear()
            yield here


def disk_bytes(path: Path) -> int:
    """Bytes of the files under ``path``, each hard-linked file counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise Broken(f"{path.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Broken(f"{path.name} is not valid JSON ({exc})") from None


def _object(path: Path) -> dict[str, Any]:
    value = read_json_file(path)
    if not isinstance(value, dict):
        raise Broken(f"{path.name} does not hold a JSON object")
    return value


def epochs_recorded(path: Path) -> int:
    """The last epoch in ``metrics.jsonl`` (0 when there is none)."""
    file = path / METRICS
    if not file.is_file():
        return 0
    last = 0
    for i, line in enumerate(file.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            last = max(last, int(json.loads(line).get("epoch", 0)))
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise Broken(f"{METRICS} line {i} is not a JSON record") from None
    return last


def _weighting(config: dict[str, Any]) -> str | None:
    value = config.get("weighting")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):  # e.g. {"name": ..., "options": ...}
        return str(value.get("name", value))
    return str(value)


def _metrics(results: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{split: {task: {metric: value}}}`` of val and test; a malformed results file is
    :class:`Broken`."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for split in ("val", "test"):
        tasks = results.get(split)
        if tasks is None:
            continue
        if not isinstance(tasks, dict) or not all(isinstance(m, dict) for m in tasks.values()):
            raise Broken(f"{RESULTS} has no task metrics under '{split}'")
        out[split] = tasks
    return out


def _selection(metrics: dict[str, dict[str, dict[str, Any]]], select_by: Any, split: str) -> Any:
    task, _, metric = str(select_by or "").partition(":")
    value = metrics.get(split, {}).get(task, {}).get(metric)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarise(path: Path, root: Path | None = None) -> RunSummary:
    """Everything ``mtl runs list`` shows of one run; ``broken`` with a reason when unreadable."""
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None and path != root else str(path)
    summary = RunSummary(run=name or ".", path=str(path), status="broken")
    summary.bytes = disk_bytes(path)
    try:
        config = _object(path / CONFIG)
        summary.config = config
        summary.dataset = config.get("dataset")
        tasks = config.get("tasks") or []
        summary.tasks = [str(t) for t in tasks] if isinstance(tasks, list) else [str(tasks)]
        summary.arch = config.get("arch")
        summary.weighting = _weighting(config)
        summary.epochs = config.get("epochs")
        summary.created = _object(path / MANIFEST).get("created")
        if (path / RESULTS).exists():
            results = _object(path / RESULTS)
            summary.status = str(results.get("status", "completed"))
            summary.epochs_run = results.get("epochs_run")
            summary.selected_epoch = results.get("selected_epoch")
            summary.select_by = results.get("select_by")
            summary.metrics = _metrics(results)
            summary.val = _selection(summary.metrics, summary.select_by, "val")
            summary.test = _selection(summary.metrics, summary.select_by, "test")
            if not (path / BEST).is_file():
                raise Broken(f"{BEST} is missing (the selected model is gone)")
        else:
            summary.epochs_run = epochs_recorded(path)
            summary.status = "unfinished"
            summary.reason = (
                f"no {RESULTS}; continue with: mtl train --resume {path}"
                if (path / LAST).is_file()
                else f"no {RESULTS} and no finished epoch"
            )
    except Broken as exc:
        summary.status, summary.reason = "broken", str(exc)
    except (AttributeError, TypeError, ValueError) as exc:  # JSON of an unexpected shape
        summary.status, summary.reason = "broken", f"unexpected content ({exc})"
    return summary


def scan_runs(root: Path | str) -> list[RunSummary]:
    """A summary of every run at or under ``root`` (sorted by path)."""
    root = Path(root)
    return [summarise(p, root) for p in find_runs(root)]
