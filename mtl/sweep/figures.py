"""The report's figures (matplotlib, Agg), each written atomically as PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mtl.core.plotting import fit_title, pyplot, save_png
from mtl.core.runs import RunDir, atomic_write
from mtl.sweep.spec import TASK_SET

MAX_PANELS = 6
SINGLE = "single-task"


def _grid(n: int, width: float = 4.6, height: float = 3.4):
    plt = pyplot()
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:n]


def _spread(values: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` values, evenly spread and keeping both ends."""
    if len(values) <= limit:
        return list(values)
    picks = sorted({round(i * (len(values) - 1) / (limit - 1)) for i in range(limit)})
    return [values[i] for i in picks]


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def learning_curves(frame: Any, sweep: Any, target: str, metric: str, path: Path) -> Path | None:
    """Validation ``metric`` of the target by epoch, one line per architecture (mean over
    seeds), one panel per task set and training size (figures 3–5 of the founding study)."""
    if frame.empty:
        return None
    sizes = sorted(frame["train_size"].dropna().unique()) if "train_size" in frame else [None]
    sizes = _spread(sizes, 3)
    sets = [s for s in sweep.axes.get(TASK_SET, []) if s in set(frame[TASK_SET])]
    panels = [(s, n) for s in sets for n in sizes][:MAX_PANELS]
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    curves_cache: dict[str, list[tuple[int, float]]] = {}

    def curve(run_dir: str) -> list[tuple[int, float]]:
        if run_dir not in curves_cache:
            pts = []
            for r in RunDir(Path(run_dir)).metrics():
                v = r.get("tasks", {}).get(target, {}).get(metric) if r["split"] == "val" else None
                if isinstance(v, (int, float)):
                    pts.append((r["epoch"], float(v)))
            curves_cache[run_dir] = pts
        return curves_cache[run_dir]

    for ax, (task_set, size) in zip(axes, panels, strict=True):
        sel = frame[(frame[TASK_SET].isin([task_set, "-"]))]
        if size is not None:
            sel = sel[sel["train_size"] == size]
        sel = sel[(sel["kind"] == "multi") | (sel.get("task") == target)]
        for arch, runs in sel.groupby("arch", sort=False):
            by_epoch: dict[int, list[float]] = {}
            for run_dir in runs["run_dir"]:
                for epoch, v in curve(run_dir):
                    by_epoch.setdefault(epoch, []).append(v)
            if not by_epoch:
                continue
            epochs = sorted(by_epoch)
            means = [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
            style = "--" if arch == SINGLE else "-"
            ax.plot(epochs, means, style, marker="o", ms=2.5, label=f"{arch} ({len(runs)} seeds)")
        title = f"{task_set}" + (f", {_fmt(int(size))} examples" if size is not None else "")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(f"validation {target} {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fit_title(fig, f"{sweep.name}: learning curves of {target} (mean over seeds)")
    return save_png(fig, path)


def size_curves(compare: list[dict], cells: list[dict], target: str, path: Path) -> Path | None:
    """Target metric vs training-set size (log axis) with 95% CI bands, and the paired
    difference to single-task (figures 6–7 of the founding study)."""
    rows = [c for c in cells if c["task"] == target and "train_size" in c]
    sizes = sorted({c["train_size"] for c in rows})
    if len(sizes) < 2:
        return None
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    lines: dict[tuple, list[dict]] = {}
    for c in rows:
        lines.setdefault((c["arch"], c[TASK_SET]), []).append(c)
    metric = rows[0]["metric"]
    better = _better(compare, target)
    for (arch, task_set), pts in lines.items():
        pts = sorted(pts, key=lambda c: c["train_size"])
        xs = [c["train_size"] for c in pts]
        ys = [c["ci"].mean for c in pts]
        lo = [c["ci"].low if c["ci"].n > 1 else c["ci"].mean for c in pts]
        hi = [c["ci"].high if c["ci"].n > 1 else c["ci"].mean for c in pts]
        label = SINGLE if arch == SINGLE else f"{arch} · {task_set}"
        (line,) = left.plot(xs, ys, "--" if arch == SINGLE else "-", marker="o", ms=3, label=label)
        left.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
    diffs: dict[tuple, list[dict]] = {}
    for c in compare:
        if c["task"] == target and "train_size" in c:
            diffs.setdefault((c["arch"], c[TASK_SET]), []).append(c)
    for (arch, task_set), pts in diffs.items():
        pts = sorted(pts, key=lambda c: c["train_size"])
        xs = [c["train_size"] for c in pts]
        d = [c["test"].diff for c in pts]
        (line,) = right.plot(
            xs, [x.mean for x in d], marker="o", ms=3, label=f"{arch} · {task_set}"
        )
        right.fill_between(
            xs,
            [x.low if x.n > 1 else x.mean for x in d],
            [x.high if x.n > 1 else x.mean for x in d],
            color=line.get_color(),
            alpha=0.15,
        )
    right.axhline(0, color="black", lw=0.8)
    for ax, ylabel in (
        (left, f"test {target} {metric}"),
        (right, f"Δ {metric} vs single-task (paired)\n{better}"),
    ):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{int(x):,}" for x in sizes], rotation=45, fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("training examples")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    left.set_title("mean and 95% CI over seeds", fontsize=10)
    right.set_title("multi-task − single-task, 95% CI", fontsize=10)
    return save_png(fig, path)


def _better(compare: list[dict], target: str) -> str:
    """Which side of Δ = multi − single is better for the target's metric."""
    higher = next((c["higher_is_better"] for c in compare if c["task"] == target), True)
    return (
        "above 0: multi-task better" if higher else "below 0: multi-task better (lower is better)"
    )


def _other_axes(compare: list[dict]) -> list[str]:
    skip = {"arch", TASK_SET, "task", "metric", "higher_is_better", "multi", "single", "test"}
    return [k for k in compare[0] if k not in skip and k != "seeds"] if compare else []


def coupling_chart(compare: list[dict], target: str, path: Path) -> Path | None:
    """Δ target metric vs single-task, bars per architecture grouped by task set, 95% CI;
    one panel per value of the other coordinates (e.g. training size)."""
    rows = [c for c in compare if c["task"] == target]
    if not rows:
        return None
    others = _other_axes(rows)
    groups: dict[tuple, list[dict]] = {}
    for c in rows:
        groups.setdefault(tuple(c[k] for k in others), []).append(c)
    keys = _spread(sorted(groups, key=lambda k: tuple(str(v).zfill(12) for v in k)), MAX_PANELS)
    fig, axes = _grid(len(keys), width=5.2)
    for ax, key in zip(axes, keys, strict=True):
        pts = groups[key]
        archs = list(dict.fromkeys(c["arch"] for c in pts))
        sets = list(dict.fromkeys(c[TASK_SET] for c in pts))
        width = 0.8 / max(len(sets), 1)
        for j, task_set in enumerate(sets):
            xs, ys, errs = [], [], []
            for i, arch in enumerate(archs):
                match = [c for c in pts if c["arch"] == arch and c[TASK_SET] == task_set]
                if match:
                    d = match[0]["test"].diff
                    xs.append(i + (j - (len(sets) - 1) / 2) * width)
                    ys.append(d.mean)
                    errs.append(d.half if d.n > 1 else 0.0)
            ax.bar(xs, ys, width=width, yerr=errs, capsize=3, label=task_set, alpha=0.85)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(archs)), archs, fontsize=8)
        metric = pts[0]["metric"]
        ax.set_ylabel(f"Δ test {target} {metric} vs single-task\n{_better(rows, target)}")
        title = ", ".join(
            f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in zip(others, key, strict=True)
        )
        ax.set_title(title or "architecture × coupling", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, title="task set", title_fontsize=7, loc="best")
    fit_title(fig, "architecture × coupling: paired difference, 95% CI over seeds")
    return save_png(fig, path)


def sharing_chart(
    compare: list[dict], target: str, patterns: dict[str, str], path: Path
) -> Path | None:
    """Δ target metric vs single-task by degree of sharing (shared layers), per task set."""
    rows = [c for c in compare if c["task"] == target and c["arch"] in patterns]
    archs = list(dict.fromkeys(c["arch"] for c in rows))
    if len(archs) < 3:
        return None
    order = sorted(archs, key=lambda a: (patterns[a].count("S"), patterns[a]))
    others = _other_axes(rows)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(order) + 3), 4.2))
    series: dict[tuple, dict[str, Any]] = {}
    for c in rows:
        series.setdefault((c[TASK_SET], *(c[k] for k in others)), {})[c["arch"]] = c["test"].diff
    for key, by_arch in series.items():
        xs = [i for i, a in enumerate(order) if a in by_arch]
        d = [by_arch[order[i]] for i in xs]
        label = " · ".join(_fmt(v) for v in key)
        ax.errorbar(
            xs,
            [x.mean for x in d],
            yerr=[x.half if x.n > 1 else 0.0 for x in d],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(
        range(len(order)),
        [a if a == patterns[a] else f"{a}\n{patterns[a]}" for a in order],
        fontsize=7,
    )
    ax.set_xlabel("sharing pattern (S shared, T task-specific), fewer → more shared layers")
    ax.set_ylabel(f"Δ test {target} {rows[0]['metric']} vs single-task\n{_better(rows, target)}")
    ax.grid(alpha=0.3)
    ax.legend(  # beside the axes: with many series a legend inside covers the lines
        fontsize=7,
        title=" · ".join([TASK_SET, *others]).replace("_", " "),
        title_fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
    )
    ax.set_title("degree of sharing: paired difference, 95% CI over seeds", fontsize=10)
    return save_png(fig, path)


def correlation_heatmap(matrix: Any, names: list[str], title: str, path: Path) -> Path:
    from mtl.core.correlation import plot_heatmap

    atomic_write(path, lambda fh: plot_heatmap(fh, matrix, names, title), binary=True)
    return path
