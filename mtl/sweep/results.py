"""A sweep's finished runs as one tidy table (pandas): one row per run.

Columns: ``item``, ``kind`` (multi / single), the item's coordinates (``arch``,
``task_set``, ``train_size``, ``seed`` (the base seed when it is no axis), other axes,
``task`` for single-task runs),
``tasks``, ``selected_epoch``, ``epochs_run``, ``status``, ``train_seconds``,
``parameters`` and ``shared_parameters`` (the model's size, from ``results.json``),
``run_dir``, then one column per test metric named ``test.<task>.<metric>``
(``val.<task>.<metric>`` for the selected epoch's validation metrics).

Only finished runs are rows; a corrupt or partial run directory is listed by
:func:`failed_items` instead, never averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl.core.runs import RESULTS, read_json
from mtl.sweep.folder import open_sweep
from mtl.sweep.spec import Sweep
from mtl.sweep.state import item_state


def _rows(items: list[dict[str, Any]], ok: set[int]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        if item["index"] not in ok:
            continue
        run_dir = Path(item["run_dir"])
        results = read_json(run_dir / RESULTS)
        row: dict[str, Any] = {"item": item["index"], "kind": item["kind"]}
        row |= item["labels"]
        row.setdefault("seed", item["seed"])  # no seed axis: every run has the base seed
        row |= {
            "selected_epoch": results.get("selected_epoch"),
            "epochs_run": results.get("epochs_run"),
            "status": results.get("status"),
            "train_seconds": results.get("train_seconds"),
            "parameters": (results.get("parameters") or {}).get("total"),
            "shared_parameters": (results.get("parameters") or {}).get("shared"),
            "run_dir": str(run_dir),
        }
        for split in ("test", "val"):
            for task, metrics in (results.get(split) or {}).items():
                for metric, value in metrics.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        row[f"{split}.{task}.{metric}"] = value
        rows.append(row)
    return rows


def finished(sweep: Sweep) -> tuple[set[int], dict[int, str]]:
    """Item numbers that finished, and the failed ones with their reasons."""
    ok, failed = set(), {}
    for item in sweep.items:
        state = item_state(sweep, item)
        if state.state == "done":
            ok.add(item.index)
        elif state.state == "failed":
            failed[item.index] = state.reason
    return ok, failed


def load_results(path: Path | str | Sweep, sets: tuple[str, ...] = ()) -> Any:
    """One row per finished run of a sweep, as a ``pandas.DataFrame``.

    ``path`` is a sweep file (``.toml``, with ``sets`` as ``--set`` overrides; without
    them, those its run folder records), a sweep's run folder (``runs/<name>``, read
    through its ``sweep.json``), or a :class:`Sweep`.
    """
    import pandas as pd

    sweep = path if isinstance(path, Sweep) else open_sweep(path, sets)
    ok, _ = finished(sweep)
    items = [
        {
            "index": i.index,
            "kind": i.kind,
            "labels": i.labels,
            "seed": i.seed,
            "run_dir": str(i.run_dir),
        }
        for i in sweep.items
    ]
    frame = pd.DataFrame(_rows(items, ok))
    if frame.empty:
        return frame
    labels = list(dict.fromkeys(k for i in sweep.items for k in i.labels))
    front = ["item", "kind", "arch", "task_set", "task"] + [k for k in labels if k != "tasks"]
    front += ["seed"]
    front = [c for c in dict.fromkeys(front + ["tasks"]) if c in frame.columns]
    frame = frame[front + [c for c in frame.columns if c not in front]]
    return frame.sort_values("item").reset_index(drop=True)
