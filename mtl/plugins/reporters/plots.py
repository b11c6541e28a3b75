"""Learning curves per task (train vs validation) as PNG, written at the end of a run;
with a balancing method (``--weighting`` other than ``ew``), each task's mean weight by
epoch and the mean pairwise gradient cosine (gradient methods) in a second PNG; with a
gated architecture (mmoe, ple, dselect-k, ...), each gate's mean weight per expert in
the last epoch as heatmaps in a third."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mtl.core.plotting import fit_title, pyplot, save_png
from mtl.core.reporter import Reporter, RunInfo
from mtl.core.runs import RunDir

FILE = "learning_curves.png"
WEIGHTS_FILE = "task_weights.png"
GATES_FILE = "gate_weights.png"


def plot_learning_curves(
    records: list[dict[str, Any]],
    primaries: dict[str, str],
    path: Path,
    selected_epoch: int | None = None,
    title: str = "",
) -> Path:
    """Loss and each task's primary metric by epoch, train vs val, in one PNG."""
    plt = pyplot()

    panels = [("loss", None)] + [(task, metric) for task, metric in primaries.items()]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (task, metric) in zip(axes.flat, panels, strict=False):
        for split, style in (("train", "--"), ("val", "-")):
            rs = [r for r in records if r["split"] == split]
            ys = [r["loss"] if metric is None else r["tasks"][task].get(metric) for r in rs]
            xs = [r["epoch"] for r in rs]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker="o", ms=3, label=split)
        if selected_epoch:
            ax.axvline(selected_epoch, color="grey", lw=0.8, ls=":", label="selected")
        ax.set_title("loss (train and validation)" if metric is None else f"{task}: {metric}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if title:
        fit_title(fig, title)
    return save_png(fig, path)


def plot_task_weights(records: list[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Each task's mean weight by epoch and, where recorded, the mean pairwise cosine
    between task gradients; ``None`` (nothing written) when no epoch has either."""
    train = [r for r in records if r["split"] == "train"]
    weighted = [r for r in train if r.get("weights")]
    cosines = [
        (r["epoch"], r["gradient_cosine"]) for r in train if r.get("gradient_cosine") is not None
    ]
    if not weighted and not cosines:
        return None
    plt = pyplot()
    cols = 1 + bool(cosines)
    fig, axes = plt.subplots(1, cols, figsize=(4.8 * cols, 3.4), squeeze=False)
    ax = axes[0, 0]
    tasks = list(weighted[0]["weights"]) if weighted else []
    for task in tasks:
        pts = [(r["epoch"], r["weights"][task]) for r in weighted]
        ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=task)
    ax.set_title("mean task weight")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    if tasks:
        ax.legend(fontsize=8)
    if cosines:
        ax = axes[0, 1]
        ax.plot(*zip(*cosines, strict=True), marker="o", ms=3, color="black")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title("mean pairwise gradient cosine")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if title:
        fit_title(fig, title)
    return save_png(fig, path)


def plot_gate_weights(records: list[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Expert utilisation: per gate group (e.g. ``gates``, ``level1``), a heatmap of each
    gate row's (task's) mean weight per expert in the last recorded epoch; ``None``
    (nothing written) when no epoch recorded gates."""
    gated = [r for r in records if r["split"] == "train" and r.get("gates")]
    if not gated:
        return None
    plt = pyplot()
    last = gated[-1]
    groups = list(last["gates"])
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, groups, strict=False):
        labels = list(last["gates"][name])
        matrix = [last["gates"][name][row] for row in labels]
        im = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xticks(range(len(matrix[0])))
        ax.set_xlabel("expert")
        ax.set_title(f"{name} (epoch {last['epoch']})")
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title} · mean gate weight per expert" if title else "gate weights")
    return save_png(fig, path)


class PlotsReporter(Reporter):
    description = (
        f"learning curves per task, train vs validation ({FILE}); task weights by epoch "
        f"with a balancing method ({WEIGHTS_FILE}); expert utilisation of gated "
        f"architectures ({GATES_FILE})"
    )

    def on_start(self, info: RunInfo) -> None:
        self.info = info

    def on_end(self, results) -> None:
        run = RunDir(self.info.run_dir)
        title = f"{self.info.config['dataset']} · {self.info.config['arch']}"
        plot_learning_curves(
            run.metrics(),
            self.info.primary_metrics,
            run.file(FILE),
            results["selected_epoch"],
            title,
        )
        plot_gate_weights(run.metrics(), run.file(GATES_FILE), title)
        method = self.info.config.get("weighting", "ew")
        if method != "ew":
            plot_task_weights(run.metrics(), run.file(WEIGHTS_FILE), f"{title} · {method}")
