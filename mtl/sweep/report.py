"""``report.md``, ``results.csv`` and the figures of a sweep, in ``<root>/report/``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mtl.core.errors import MtlError, UserError
from mtl.core.runs import RunDir, atomic_write
from mtl.sweep import figures, reference, task_weights
from mtl.sweep.analysis import MetricInfo, cell_columns, summarise, task_metrics
from mtl.sweep.folder import normalise_sets
from mtl.sweep.results import finished, load_results
from mtl.sweep.spec import TASK_SET, Sweep
from mtl.sweep.stats import format_ci, format_p, format_pct

REPORT_DIR = "report"

FOOTNOTE = """\
**Statistics.** Each cell's value is the mean over seeds with a 95% Student-t
confidence interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n). Multi-task runs are compared with the
single-task run of the same task, seed and training subset (the seed fixes both the
subset and the initialisation), so the comparison is *paired*: Δ is the mean of the
per-seed differences, with its 95% t-interval, and *p* is the two-sided **paired
t-test** on those differences. We use the t-test because sweeps have few seeds
(typically 5–10): the Wilcoxon signed-rank test cannot reach p < 0.05 with 5 pairs
(its smallest two-sided p is 2/2⁵ = 0.0625), and a sign test is weaker still; the
t-test assumes roughly normal differences, which a difference of two test-set
metrics usually is. Δm is the mean over the set's tasks of the relative improvement
over single-task, (multi − single)/|single| for higher-is-better metrics and
(single − multi)/|single| for lower-is-better ones (e.g. RMSE), per seed, then
averaged over seeds with its t-interval. Every metric is on the test split, scored
once with the epoch selected on validation by the first task's primary metric (the
target). *p*-values are not corrected for multiple comparisons; read them with the
number of rows in mind."""


def _v(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict(c: dict) -> str:
    d = c["test"].diff
    if d.n < 2 or math.isnan(d.half):
        return "too few seeds"
    if not d.excludes_zero():
        return "no difference shown"
    better = (d.mean > 0) == c["higher_is_better"]
    return "**multi-task better**" if better else "**multi-task worse**"


def _compare_table(sweep: Sweep, compare: list[dict], task: str, coords: list[str]) -> str:
    rows = []
    for c in compare:
        if c["task"] != task:
            continue
        rows.append(
            [_v(c[k]) for k in coords]
            + [
                str(len(c["seeds"])),
                format_ci(c["single"]),
                format_ci(c["multi"]),
                format_ci(c["test"].diff, sign="+"),
                format_p(c["test"].p),
                _verdict(c),
            ]
        )
    header = [k.replace("_", " ") for k in coords]
    header += ["seeds", "single-task", "multi-task", "Δ (95% CI)", "p", "reading"]
    return _table(header, rows, ["---"] * len(coords) + ["---:"] * 5 + ["---"])


def _correlations(sweep: Sweep, plugins: Any, out: Path) -> tuple[Path | None, str]:
    """The task-correlation heatmap of the sweep's tasks, on the base dataset's train split."""
    from mtl.core.correlation import label_correlations
    from mtl.core.options import resolve_options

    try:
        cfg = sweep.items[0].config
        dataset = plugins.registries.datasets.get(cfg.dataset)
        options = dataset.resolve(
            resolve_options(dataset.options, cfg.dataset_options, f"dataset '{cfg.dataset}'")
        )
        specs = {t.name: t for t in dataset.offered_tasks(options)}
        tasks = [t for t in sweep.tasks() if t in specs and specs[t].kind != "multiclass"]
        if len(tasks) < 2:
            return None, "fewer than two tasks to correlate"
        data = dataset.load(options, tasks)
        train = data.splits["train"]
        labels = {t: (data.targets[t][train], data.masks[t][train]) for t in tasks}
        matrix = label_correlations(labels)
    except (MtlError, OSError) as exc:
        return None, f"no heatmap: {exc}"
    path = figures.correlation_heatmap(
        matrix, tasks, f"{cfg.dataset}: label correlations (train split)", out / "correlations.png"
    )
    text = ", ".join(f"{tasks[0]}–{t} {matrix[0, j]:+.2f}" for j, t in enumerate(tasks) if j > 0)
    return path, f"Pearson r with the target on the training split: {text}."


def write_report(sweep: Sweep, plugins: Any) -> Path:
    """Write the report; a :class:`UserError` (and nothing on disk) without finished runs."""
    frame = load_results(sweep)
    ok, failed = finished(sweep)
    if frame.empty:
        raise UserError(
            f"sweep '{sweep.name}' has no finished runs in '{sweep.root}'; run "
            f"'mtl sweep run {sweep.path}' first"
        )
    for run_dir in frame["run_dir"]:  # the learning curves read them: check before writing
        RunDir(Path(run_dir)).metrics()
    metrics = task_metrics(frame, plugins)
    target = sweep.target
    info = metrics.get(target, MetricInfo("?", True))
    summary = summarise(sweep, frame, metrics)
    out = sweep.root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)

    coords = cell_columns(sweep)
    figs: list[tuple[str, Path | None, str]] = []
    figs.append(
        (
            "Learning curves",
            figures.learning_curves(frame, sweep, target, info.name, out / "learning_curves.png"),
            f"Validation {info.name} of {target} by epoch, mean over seeds; with early "
            "stopping, later epochs average over the runs still training.",
        )
    )
    figs.append(
        (
            "Training-set size",
            figures.size_curves(
                summary["compare"], summary["cells"], target, out / "training_size.png"
            ),
            "Test metric and paired difference to single-task vs number of training examples "
            "(log axis), 95% CI bands.",
        )
    )
    figs.append(
        (
            "Architecture × coupling",
            figures.coupling_chart(summary["compare"], target, out / "architecture_coupling.png"),
            "Paired difference to single-task on the target, 95% CI over seeds.",
        )
    )
    patterns = _patterns(plugins, {c["arch"] for c in summary["compare"]})
    figs.append(
        (
            "Degree of sharing",
            figures.sharing_chart(
                summary["compare"], target, patterns, out / "degree_of_sharing.png"
            ),
            "Paired difference to single-task by sharing pattern, ordered by shared layers.",
        )
    )
    heat, heat_note = _correlations(sweep, plugins, out)
    figs.append(("Task correlations", heat, heat_note))
    weights = task_weights.weight_curves(sweep, frame)
    figs.append(
        (
            "Task weights",
            task_weights.figure(sweep, weights, out / "task_weights.png"),
            "Each task's share of the summed weights by training epoch, mean over seeds; "
            "one panel per cell.",
        )
    )
    ref_compare, ref_delta_m = reference.compare_reference(sweep, frame, metrics)

    n_runs = len(sweep.items)
    lines = [f"# Sweep `{sweep.name}`", ""]
    if sweep.sets:  # first: a shortened study must never pass for the full one
        shown = ", ".join(f"`{k}={v}`" for k, v in normalise_sets(sweep.sets).items())
        lines += [
            f"**Overrides:** {shown} (`--set`): this is the sweep file's study as modified "
            "by these overrides, not the study as written.",
            "",
        ]
    else:
        lines += ["Overrides: none (the sweep file as written).", ""]
    if sweep.description:
        lines += [sweep.description, ""]
    lines += [
        f"- sweep file: `{sweep.path}`; dataset `{sweep.dataset}`; target task `{target}` "
        f"(primary metric {info.name}, {'higher' if info.higher_is_better else 'lower'} is better)",
        "- task sets: " + "; ".join(f"**{k}** = {','.join(v)}" for k, v in sweep.task_sets.items()),
        "- axes: "
        + "; ".join(
            f"{k.replace('_', '-')} = {', '.join(map(_v, v))}" for k, v in sweep.axes.items()
        ),
        f"- runs: {len(ok)} of {n_runs} finished, {len(failed)} failed, "
        f"{n_runs - len(ok) - len(failed)} pending or running; table of every run: "
        "[results.csv](results.csv)",
        "",
    ]
    wall, cpu = _compute(sweep, ok)
    if wall:
        lines[-1:-1] = [
            f"- compute: the finished runs took {wall / 60:.1f} min of wall-clock time in all "
            f"({cpu / 60:.1f} CPU-minutes), as their status files record"
        ]
    if failed:
        lines += ["Failed items (left out of every statistic):", ""]
        lines += [f"- item {i}: {reason}" for i, reason in sorted(failed.items())[:30]]
        if len(failed) > 30:
            lines.append(f"- … and {len(failed) - 30} more (see `mtl sweep status`)")
        lines.append("")
    if summary["compare"]:
        lines += [
            f"## Multi-task vs single-task on `{target}`",
            "",
            f"Test {info.name}, mean ± 95% CI over seeds; Δ = multi-task − single-task, "
            "paired by seed.",
            "",
            _compare_table(sweep, summary["compare"], target, coords),
            "",
        ]
    else:
        lines += [
            'No single-task baselines in this sweep (`baselines = "none"`), so no paired '
            "comparison; the cells are compared in the table below.",
            "",
        ]
    lines += [
        "## Every cell",
        "",
        "Test metric of every task, mean ± 95% CI over seeds (single-task baselines as "
        "`arch = single-task`).",
        "",
        _table(
            [k.replace("_", " ") for k in coords] + ["task", "metric", "seeds", "mean (95% CI)"],
            [
                [_v(c.get(k, "")) for k in coords]
                + [c["task"], c["metric"], str(c["ci"].n), format_ci(c["ci"])]
                for c in summary["cells"]
            ],
            ["---"] * (len(coords) + 2) + ["---:", "---:"],
        ),
        "",
    ]
    if summary["delta_m"]:
        rows = [
            [_v(d[k]) for k in coords] + [d["tasks"], str(d["ci"].n), format_pct(d["ci"])]
            for d in summary["delta_m"]
        ]
        lines += [
            "## Δm: mean relative improvement over single-task across the set's tasks",
            "",
            _table(
                [k.replace("_", " ") for k in coords] + ["tasks", "seeds", "Δm (95% CI)"],
                rows,
                ["---"] * (len(coords) + 1) + ["---:", "---:"],
            ),
            "",
        ]
    lines += reference.markdown(sweep, ref_compare, ref_delta_m)
    lines += task_weights.markdown(sweep, weights)
    others = [
        t for t in sweep.tasks() if t != target and any(c["task"] == t for c in summary["compare"])
    ]
    if others:
        lines += ["## The other tasks", ""]
        for task in others:
            if True:
                m = metrics[task]
                lines += [
                    f"### `{task}` (test {m.name}, {'higher' if m.higher_is_better else 'lower'} is better)",
                    "",
                    _compare_table(sweep, summary["compare"], task, coords),
                    "",
                ]
    lines += _sizes(frame, coords)
    lines += ["## Figures", ""]
    for title, path, caption in figs:
        if path is not None:
            lines += [f"### {title}", "", f"![{title}]({path.name})", "", caption, ""]
    skipped = [t for t, p, _ in figs if p is None]
    if skipped:
        lines += [
            "Not drawn (the sweep does not vary what they show): " + ", ".join(skipped) + ".",
            "",
        ]
    lines += ["---", "", FOOTNOTE, ""]
    # results.csv and report.md last, one after the other: both are written or neither
    atomic_write(out / "results.csv", lambda fh: frame.to_csv(fh, index=False))
    path = out / "report.md"
    atomic_write(path, lambda fh: fh.write("\n".join(lines)))
    return path


def _compute(sweep: Sweep, ok: set[int]) -> tuple[float, float]:
    from mtl.sweep.state import read_status

    wall = cpu = 0.0
    for i in ok:
        status = read_status(sweep, i) or {}
        wall += float(status.get("seconds") or 0.0)
        cpu += float(status.get("cpu_seconds") or 0.0)
    return wall, cpu


def _sizes(frame: Any, coords: list[str]) -> list[str]:
    """'Model size': parameters (total, shared, per task) of each architecture and task set,
    so capacity differences between architectures are in view."""
    if "parameters" not in frame.columns or frame["parameters"].isna().all():
        return []
    keys = [k for k in ("arch", TASK_SET) if k in frame.columns]
    keys += [k for k in coords if k.startswith("arch_options") and k in frame.columns]
    rows, seen = [], set()
    for _, r in frame.iterrows():
        key = tuple(str(r[k]) for k in keys)
        if key in seen or r["parameters"] != r["parameters"]:  # NaN: an older run
            continue
        seen.add(key)
        shared = r.get("shared_parameters")
        n = max(len(str(r.get("tasks", "")).split(",")), 1)
        specific = r["parameters"] - (0 if shared != shared or shared is None else shared)
        rows.append(
            [_v(r[k]) for k in keys]
            + [
                _v(int(r["parameters"])),
                "—" if shared is None or shared != shared else _v(int(shared)),
                _v(round(specific / n)),
            ]
        )
    header = [k.replace("_", " ") for k in keys] + ["parameters", "shared", "per task"]
    return [
        "## Model size",
        "",
        "Parameters of each architecture (total; declared shared; the rest per task).",
        "",
        _table(header, rows, ["---"] * len(keys) + ["---:"] * 3),
        "",
    ]


def _patterns(plugins: Any, archs: set[str]) -> dict[str, str]:
    out = {}
    for arch in archs:
        try:
            component = plugins.registries.architectures.get(arch)
        except MtlError:
            continue
        pattern = getattr(component, "pattern", None)
        if isinstance(pattern, str):
            out[arch] = pattern
    return out


__all__ = ["write_report", "REPORT_DIR", "TASK_SET"]
