"""Task weights over epochs in a sweep: what each balancing method did.

Every run records, per training epoch in ``metrics.jsonl``, each task's mean weight over
the steps it took part in. Methods scale their weights differently (``ew`` gives 1 to
every task, MGDA weights sum to 1, UW's are ``1/(2σ²)``), so the report shows each
task's **share**, ``w_i / Σ_j w_j``, averaged over seeds: a method that leaves the
balance alone gives every task ``1/k``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mtl.core.plotting import pyplot, save_png
from mtl.core.runs import RunDir
from mtl.sweep.analysis import cell_columns
from mtl.sweep.spec import Sweep

MAX_ROWS, MAX_COLS = 4, 10


def _shares(run_dir: str) -> list[dict[str, float]]:
    """Per training epoch (in order), each task's share of the summed weights."""
    out = []
    for r in RunDir(Path(run_dir)).metrics(torn_tail_ok=True):
        w = r.get("weights") if r.get("split") == "train" else None
        if not isinstance(w, dict) or not w:
            continue
        total = math.fsum(v for v in w.values() if isinstance(v, (int, float)))
        if not total or not math.isfinite(total):
            continue
        out.append({t: float(v) / total for t, v in w.items()})
    return out


def weight_curves(sweep: Sweep, frame: Any) -> list[dict]:
    """Per multi-task cell: ``tasks`` and ``curve`` (per epoch, each task's share, mean over
    the seeds still training), ``final`` (each task's share in its last epoch, mean over seeds);
    none when every cell weighted its tasks equally."""
    cols = cell_columns(sweep)
    groups: dict[tuple, list[dict]] = {}
    for r in frame.to_dict("records"):
        if r["kind"] == "multi":
            groups.setdefault(tuple(r[c] for c in cols), []).append(r)
    cells = []
    for key, runs in groups.items():
        tasks = runs[0]["tasks"].split(",")
        per_run = [s for s in (_shares(r["run_dir"]) for r in runs) if s]
        if not per_run:
            continue
        epochs = max(len(s) for s in per_run)
        curve = []
        for e in range(epochs):
            at = [s[e] for s in per_run if len(s) > e]
            curve.append({t: sum(a.get(t, 0.0) for a in at) / len(at) for t in tasks})
        final = {t: sum(s[-1].get(t, 0.0) for s in per_run) / len(per_run) for t in tasks}
        cells.append(
            {**dict(zip(cols, key, strict=True)), "tasks": tasks, "curve": curve, "final": final}
        )
    if all(_equal(c) for c in cells):
        return []  # every cell weighted its tasks equally: nothing to show
    return cells


def _equal(cell: dict) -> bool:
    """Every epoch's shares are 1/k (equal weighting, or fixed weights all alike)."""
    k = len(cell["tasks"])
    return all(abs(v - 1 / k) < 1e-9 for epoch in cell["curve"] for v in epoch.values())


def markdown(sweep: Sweep, cells: list[dict]) -> list[str]:
    """A table of final shares, one row per cell, one column per task."""
    if not cells:
        return []
    coords = [c for c in cell_columns(sweep) if c != "arch" or len(sweep.axes.get("arch", [])) > 1]
    tasks = list(dict.fromkeys(t for c in cells for t in c["tasks"]))
    lines = [
        "## Task weights",
        "",
        "Each task's share of the summed task weights, w_i / Σ w_j, in the last training "
        "epoch (mean over the epoch's steps, then over seeds; — = not in the set). Equal "
        "weighting gives every task 1/k.",
        "",
        "| " + " | ".join([c.replace("_", " ") for c in coords] + tasks) + " |",
        "|" + "|".join(["---"] * len(coords) + ["---:"] * len(tasks)) + "|",
    ]
    for c in cells:
        values = [f"{c['final'][t]:.3f}" if t in c["final"] else "—" for t in tasks]
        lines.append("| " + " | ".join([str(c[k]) for k in coords] + values) + " |")
    return lines + [""]


def figure(sweep: Sweep, cells: list[dict], path: Path) -> Path | None:
    """One panel per cell (rows: task sets; columns: the other coordinates), one line per
    task: its weight share by epoch. ``None`` when no run recorded varying weights."""
    if not cells or all(len(c["curve"]) < 2 for c in cells):
        return None
    cols = cell_columns(sweep)
    row_key = "task_set" if "task_set" in cols else cols[0]
    rows = list(dict.fromkeys(c[row_key] for c in cells))[:MAX_ROWS]
    other = [c for c in cols if c != row_key]
    names = list(dict.fromkeys(tuple(c[k] for k in other) for c in cells))[:MAX_COLS]
    plt = pyplot()
    fig, axes = plt.subplots(
        len(rows), len(names), figsize=(2.6 * len(names), 2.2 * len(rows)), squeeze=False
    )
    tasks = list(dict.fromkeys(t for c in cells for t in c["tasks"]))
    palette = plt.get_cmap("tab20" if len(tasks) > 10 else "tab10")
    colours = {t: palette(i % palette.N) for i, t in enumerate(tasks)}
    for c in cells:
        if c[row_key] not in rows or tuple(c[k] for k in other) not in names:
            continue
        ax = axes[rows.index(c[row_key])][names.index(tuple(c[k] for k in other))]
        epochs = range(1, len(c["curve"]) + 1)
        for t in c["tasks"]:
            ax.plot(epochs, [e[t] for e in c["curve"]], color=colours[t], label=t, lw=1.3)
        ax.set_title(f"{' '.join(map(str, (c[k] for k in other)))} · {c[row_key]}", fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], color=colours[t], label=t) for t in tasks]
    axes[0][0].legend(handles=handles, fontsize=6, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    for row in axes:
        row[0].set_ylabel("weight share", fontsize=8)
    return save_png(fig, path)
