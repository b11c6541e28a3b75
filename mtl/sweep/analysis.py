"""From a sweep's runs to the numbers a report states.

- per cell (every coordinate but the seed) and task: mean and 95% t-interval over seeds
  of the task's primary test metric;
- per multi-task cell and task: the paired comparison with the single-task baseline of
  that task (same seed, same training size and other coordinates): mean difference,
  its 95% t-interval and the paired t-test's two-sided p-value;
- per multi-task cell: Δm, the mean over the set's tasks of the relative improvement
  over single-task (sign flipped for lower-is-better metrics), averaged over seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mtl.sweep.items import axis_label
from mtl.sweep.spec import TASK_SET, WEIGHTING_PREFIX, Sweep
from mtl.sweep.stats import mean_ci, paired_test, relative_improvement


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool


def primary_metric(have: set[str] | dict[str, Any], plugins: Any) -> MetricInfo | None:
    """The primary metric of the task type whose metrics best match ``have`` (a task's
    metric names), with its direction; None if no task type's primary is among them."""
    reg = plugins.registries.task_types
    types = [reg.get(n) for n in reg.names()]
    have = set(have)
    if not types:
        return None
    best = max(types, key=lambda tt: (len({m.name for m in tt.metrics} & have), tt.primary in have))
    if best.primary not in have:
        return None
    return MetricInfo(best.primary, best.direction(best.primary))


def task_metrics(frame: Any, plugins: Any) -> dict[str, MetricInfo]:
    """Each task's primary metric and its direction, from the task types' declarations."""
    tasks = sorted({c.split(".")[1] for c in frame.columns if c.startswith("test.")})
    out = {}
    for task in tasks:
        have = {c.split(".", 2)[2] for c in frame.columns if c.startswith(f"test.{task}.")}
        info = primary_metric(have, plugins)
        if info is not None:
            out[task] = info
    return out


WEIGHTING = axis_label(WEIGHTING_PREFIX)  # the label prefix of weighting-option axes


def axis_columns(sweep: Sweep) -> list[str]:
    return [axis_label(a) for a in sweep.axes]


def cell_columns(sweep: Sweep) -> list[str]:
    """What identifies a multi-task cell: every coordinate but the seed."""
    rest = [c for c in axis_columns(sweep) if c not in ("seed", "arch", TASK_SET)]
    return ["arch", TASK_SET, *rest]


def baseline_columns(sweep: Sweep) -> list[str]:
    """What a single-task baseline shares with its multi-task cell (besides the task):
    not the architecture, task set or weighting (a single task has nothing to balance)."""
    skip = ("arch", TASK_SET, "weighting")
    return [c for c in cell_columns(sweep) if c not in skip and not c.startswith(WEIGHTING)]


def _key(row: Any, cols: list[str]) -> tuple:
    return tuple(row[c] for c in cols)


def _value(row: Any, task: str, metric: str) -> float:
    v = row.get(f"test.{task}.{metric}") if hasattr(row, "get") else None
    return float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else math.nan


def summarise(sweep: Sweep, frame: Any, metrics: dict[str, MetricInfo]) -> dict[str, list[dict]]:
    """``cells`` (mean ± CI per cell and task), ``compare`` (paired vs single-task), ``delta_m``."""
    cells_cols = cell_columns(sweep)
    base_cols = baseline_columns(sweep)
    records = frame.to_dict("records")
    multi = [r for r in records if r["kind"] == "multi"]
    single: dict[tuple, dict[int, dict]] = {}
    for r in records:
        if r["kind"] == "single":
            single.setdefault((*_key(r, base_cols), r["task"]), {})[r["seed"]] = r
    groups: dict[tuple, list[dict]] = {}
    for r in multi:
        groups.setdefault(_key(r, cells_cols), []).append(r)

    cells, compare, delta_m = [], [], []
    for key, runs in groups.items():
        coords = dict(zip(cells_cols, key, strict=True))
        tasks = runs[0]["tasks"].split(",")
        bkey = tuple(coords[c] for c in base_cols)
        per_seed_rel: dict[int, list[float]] = {}
        for task in tasks:
            info = metrics.get(task)
            if info is None:
                continue
            values = {r["seed"]: _value(r, task, info.name) for r in runs}
            ci = mean_ci(list(values.values()))
            cells.append({**coords, "task": task, "metric": info.name, "ci": ci})
            base = single.get((*bkey, task), {})
            seeds = sorted(s for s in values if s in base)
            if not seeds:
                continue
            a = [values[s] for s in seeds]
            b = [_value(base[s], task, info.name) for s in seeds]
            test = paired_test(a, b)
            compare.append(
                {
                    **coords,
                    "task": task,
                    "metric": info.name,
                    "higher_is_better": info.higher_is_better,
                    "multi": mean_ci(a),
                    "single": mean_ci(b),
                    "test": test,
                    "seeds": seeds,
                }
            )
            for s, x, y in zip(seeds, a, b, strict=True):
                per_seed_rel.setdefault(s, []).append(
                    relative_improvement(x, y, info.higher_is_better)
                )
        complete = [
            sum(v) / len(v)
            for v in per_seed_rel.values()
            if len(v) == len(tasks) and all(math.isfinite(x) for x in v)
        ]
        if complete:
            delta_m.append({**coords, "tasks": ",".join(tasks), "ci": mean_ci(complete)})
    singles: dict[tuple, list[dict]] = {}
    for r in records:
        if r["kind"] == "single":
            singles.setdefault((*_key(r, base_cols), r["task"]), []).append(r)
    for key, runs in singles.items():
        task = key[-1]
        info = metrics.get(task)
        if info is None:
            continue
        coords = dict(zip(base_cols, key[:-1], strict=True))
        coords |= {"arch": "single-task", TASK_SET: "-"}
        ci = mean_ci([_value(r, task, info.name) for r in runs])
        cells.append({**coords, "task": task, "metric": info.name, "ci": ci})
    return {"cells": cells, "compare": compare, "delta_m": delta_m}
