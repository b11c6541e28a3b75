"""Comparisons with a reference cell: ``reference = { weighting = "ew" }`` in a sweep file.

Every multi-task cell whose reference coordinates differ from the reference values is
compared with the cell that has the reference values and the same other coordinates
(task set, training size, ...), task by task and paired by seed: the mean difference
with its 95% t-interval and the paired t-test's p-value, as for single-task baselines.
Δm against the reference is the mean over the set's tasks of the relative improvement
over the reference run of the same seed (sign flipped for lower-is-better metrics),
then averaged over seeds with its t-interval.
"""

from __future__ import annotations

import math
from typing import Any

from mtl.sweep.analysis import MetricInfo, _value, cell_columns
from mtl.sweep.spec import Sweep
from mtl.sweep.stats import (
    Interval,
    format_ci,
    format_p,
    format_pct,
    mean_ci,
    paired_test,
    relative_improvement,
)


def compare_reference(
    sweep: Sweep, frame: Any, metrics: dict[str, MetricInfo]
) -> tuple[list[dict], list[dict]]:
    """``(compare, delta_m)`` against the sweep's reference cells (empty without one)."""
    ref = sweep.reference
    if not ref or frame.empty:
        return [], []
    cols = cell_columns(sweep)
    groups: dict[tuple, dict[int, dict]] = {}
    for r in frame.to_dict("records"):
        if r["kind"] == "multi":
            groups.setdefault(tuple(r[c] for c in cols), {})[r["seed"]] = r
    compare, delta_m = [], []
    for key, runs in groups.items():
        coords = dict(zip(cols, key, strict=True))
        if all(coords[c] == v for c, v in ref.items()):
            continue
        base_key = tuple(ref.get(c, coords[c]) for c in cols)
        base = groups.get(base_key)
        if base is None:
            continue
        seeds = sorted(s for s in runs if s in base)
        tasks = next(iter(runs.values()))["tasks"].split(",")
        per_seed: dict[int, list[float]] = {s: [] for s in seeds}
        for task in tasks:
            info = metrics.get(task)
            if info is None or not seeds:
                continue
            a = [_value(runs[s], task, info.name) for s in seeds]
            b = [_value(base[s], task, info.name) for s in seeds]
            compare.append(
                {
                    **coords,
                    "task": task,
                    "metric": info.name,
                    "higher_is_better": info.higher_is_better,
                    "cell": mean_ci(a),
                    "reference": mean_ci(b),
                    "test": paired_test(a, b),
                    "seeds": seeds,
                }
            )
            for s, x, y in zip(seeds, a, b, strict=True):
                per_seed[s].append(relative_improvement(x, y, info.higher_is_better))
        complete = [
            sum(v) / len(v)
            for v in per_seed.values()
            if len(v) == len(tasks) and all(math.isfinite(x) for x in v)
        ]
        if complete:
            delta_m.append({**coords, "tasks": ",".join(tasks), "ci": mean_ci(complete)})
    return compare, delta_m


def _reading(c: dict, name: str) -> str:
    d = c["test"].diff
    if d.n < 2 or math.isnan(d.half):
        return "too few seeds"
    if not d.excludes_zero():
        return "no difference shown"
    better = (d.mean > 0) == c["higher_is_better"]
    return f"**better than {name}**" if better else f"**worse than {name}**"


def _table(header: list[str], rows: list[list[str]], align: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown(sweep: Sweep, compare: list[dict], delta_m: list[dict]) -> list[str]:
    """The report's sections on the reference comparison (nothing without one)."""
    if not sweep.reference or not (compare or delta_m):
        return []
    name = ", ".join(f"{k.replace('_', '-')} = {v}" for k, v in sweep.reference.items())
    coords = [c for c in cell_columns(sweep) if c != "arch" or len(sweep.axes.get("arch", [])) > 1]
    head = [c.replace("_", " ") for c in coords]
    lines = [
        f"## Against the reference ({name})",
        "",
        f"Each cell is compared with the cell that has {name} and the same other coordinates, "
        "paired by seed. Δm = mean over the set's tasks of the relative improvement over the "
        "reference run of the same seed; Δ = cell − reference on each task's test metric.",
        "",
        _table(
            [*head, "tasks", "seeds", "Δm vs reference (95% CI)", "reading"],
            [
                [str(d[c]) for c in coords]
                + [
                    d["tasks"],
                    str(d["ci"].n),
                    format_pct(d["ci"]),
                    _reading_m(d["ci"], name),
                ]
                for d in delta_m
            ],
            ["---"] * len(coords) + ["---:", "---:", "---:", "---"],
        ),
        "",
        "Per task:",
        "",
        _table(
            [*head, "task", "metric", "reference", "cell", "Δ (95% CI)", "p", "reading"],
            [
                [str(c[k]) for k in coords]
                + [
                    c["task"],
                    c["metric"],
                    format_ci(c["reference"]),
                    format_ci(c["cell"]),
                    format_ci(c["test"].diff, sign="+"),
                    format_p(c["test"].p),
                    _reading(c, name),
                ]
                for c in compare
            ],
            ["---"] * (len(coords) + 2) + ["---:"] * 4 + ["---"],
        ),
        "",
    ]
    return lines


def _reading_m(ci: Interval, name: str) -> str:
    if ci.n < 2 or math.isnan(ci.half):
        return "too few seeds"
    if not ci.excludes_zero():
        return "no difference shown"
    return f"**better than {name}**" if ci.mean > 0 else f"**worse than {name}**"
