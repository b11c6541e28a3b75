"""Every figure the reports make, read as a reader would: no text cut off at the figure's
edge, no title over a colour bar, legends and labels that say what they show.

Each figure is drawn at the size its report uses (the functions the reports call, with
long but realistic names); ``Figure.savefig`` is wrapped so each one is checked after
its layout, exactly as written.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from mtl.core.correlation import plot_heatmap
from mtl.core.reports import plot_confusion
from mtl.plugins.reporters.plots import plot_learning_curves, plot_task_weights
from mtl.sweep import figures
from mtl.sweep.stats import Interval


def text_problems(fig: Figure) -> list[str]:
    """Texts whose box leaves the figure; titles that overlap a colour bar."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    problems = []
    undrawn = set()  # labels of ticks outside the view: matplotlib does not draw them
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = {id(t) for t in axis._update_ticks()}
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if id(tick) not in drawn:
                    undrawn |= {id(tick.label1), id(tick.label2)}
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in undrawn:
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        e = text.get_window_extent(renderer)
        if e.x0 < box.x0 - 1 or e.x1 > box.x1 + 1 or e.y0 < box.y0 - 1 or e.y1 > box.y1 + 1:
            problems.append(
                f"text {text.get_text()!r} at {e.bounds} leaves the figure {box.bounds}"
            )
    bars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    titles = [t for t in [fig._suptitle, *(ax.title for ax in fig.axes)] if t and t.get_text()]
    for title in titles:
        e = title.get_window_extent(renderer)
        for bar in bars:
            if e.overlaps(bar.get_tightbbox(renderer)):
                problems.append(f"title {title.get_text()!r} overlaps a colour bar")
    return problems


@pytest.fixture
def checked(monkeypatch):
    """Every figure saved while the test runs, checked just before it is written."""
    seen: list[tuple[list[str], Figure]] = []
    save = Figure.savefig

    def savefig(fig, *args, **kwargs):
        seen.append((text_problems(fig), fig))
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


def ci(mean, half=0.01, n=3):
    return Interval(n=n, mean=mean, sd=half, half=half)


SETS = ("tightly_coupled_genres", "loosely_coupled_mixture")
ARCHS = ("SSSS", "SSST", "SSTT", "STTT", "TTTT", "STTS", "TSST", "interspersed")
SIZES = (250, 1_000, 4_000, 16_000)


def sweep_inputs(tmp_path, higher: bool):
    metric = "roc_auc" if higher else "rmse"
    compare, cells, rows = [], [], []
    for s_i, task_set in enumerate(SETS):
        for a_i, arch in enumerate(ARCHS):
            for size in SIZES:
                diff = ci(0.01 * (a_i - 3) + 0.001 * s_i)
                compare.append({"arch": arch, "task_set": task_set, "train_size": size,
                                "task": "pop_rock", "metric": metric, "higher_is_better": higher,
                                "test": {"diff": diff}})  # fmt: skip
                cells.append({"arch": arch, "task_set": task_set, "train_size": size,
                              "task": "pop_rock", "metric": metric, "ci": ci(0.7)})  # fmt: skip
                run = tmp_path / f"{arch}-{task_set}-{size}"
                run.mkdir()
                lines = [{"epoch": e, "split": "val", "loss": 1.0 / e,
                          "tasks": {"pop_rock": {metric: 0.6 + 0.01 * e}}} for e in range(1, 6)]  # fmt: skip
                (run / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
                rows.append({"kind": "multi", "arch": arch, "task_set": task_set,
                             "train_size": size, "task": None, "run_dir": str(run)})  # fmt: skip
    for c in compare:  # the charts read .diff of the "test" entry
        c["test"] = type("T", (), c["test"])
    sweep = type("S", (), {"name": "rq4_degree_of_sharing-msd", "axes": {"task_set": list(SETS)}})
    return compare, cells, pd.DataFrame(rows), sweep, metric


@pytest.mark.parametrize("higher", [True, False])
def test_sweep_report_figures_keep_their_text_inside(tmp_path, checked, higher):
    compare, cells, frame, sweep, metric = sweep_inputs(tmp_path, higher)
    out = tmp_path / "report"
    out.mkdir()
    patterns = {a: (a if set(a) <= {"S", "T"} else "STTS") for a in ARCHS}
    assert figures.learning_curves(frame, sweep, "pop_rock", metric, out / "l.png")
    one = frame[(frame.task_set == SETS[0]) & (frame.train_size == SIZES[0])]  # one panel
    assert figures.learning_curves(one, sweep, "pop_rock", metric, out / "l1.png")
    assert figures.size_curves(compare, cells, "pop_rock", out / "s.png")
    assert figures.coupling_chart(compare, "pop_rock", out / "c.png")
    assert figures.sharing_chart(compare, "pop_rock", patterns, out / "d.png")
    names = ["pop_rock", "loudness", "year", "ballad", "singer_songwriter"]
    matrix = np.eye(len(names))
    figures.correlation_heatmap(matrix, names, "msd: label correlations (train split)",
                                out / "correlations.png")  # fmt: skip
    assert len(checked) == 6
    for problems, _ in checked:
        assert not problems, problems
    # Δ plots say which side is better; the degree-of-sharing legend sits beside the axes
    side = (
        "above 0: multi-task better" if higher else "below 0: multi-task better (lower is better)"
    )
    for _, fig in checked[2:5]:
        labels = [ax.get_ylabel() for ax in fig.axes if "Δ" in ax.get_ylabel()]
        assert labels and all(side in label for label in labels), labels
    sharing = checked[4][1]
    [ax] = sharing.axes
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # outside the plotting area


def test_run_and_evaluation_figures_keep_their_text_inside(tmp_path, checked):
    records = [
        {"epoch": e, "split": split, "loss": 1.0 / e,
         "tasks": {"singer_songwriter": {"roc_auc": 0.6}, "loudness": {"rmse": 3.0}},
         "weights": {"singer_songwriter": 0.5, "loudness": 0.5}, "grad_cosine": 0.1}
        for e in range(1, 4) for split in ("train", "val")
    ]  # fmt: skip
    title = "synthetic-seq · interspersed"
    plot_learning_curves(records, {"singer_songwriter": "roc_auc", "loudness": "rmse"},
                         tmp_path / "l.png", 2, title)  # fmt: skip
    plot_task_weights(records, tmp_path / "w.png", f"{title} · nash-mtl")
    classes = ["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International"]
    k = len(classes)
    plot_confusion(np.eye(k) * 5 + 1, classes, tmp_path / "cm.png", True,
                   "genre_top_level · test (n=1200)")  # fmt: skip
    with open(tmp_path / "h.png", "wb") as fh:  # 'mtl correlate' writes this one
        plot_heatmap(fh, np.eye(3), ["pop", "pop_rock", "loudness"],
                     "label correlations (target pop)")  # fmt: skip
    assert len(checked) >= 3
    for problems, _ in checked:
        assert not problems, problems
    loss_panel = checked[0][1].axes[0]
    assert loss_panel.get_title() == "loss (train and validation)"
    assert {t.get_text() for t in loss_panel.get_legend().get_texts()} >= {"train", "val"}


def test_the_check_finds_clipped_text_and_a_title_on_a_colour_bar():
    from mtl.core.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3, 3))
    image = ax.imshow(np.eye(3))
    fig.colorbar(image, ax=ax)
    ax.set_title("a long title over the axes that runs into the colour bar and beyond")
    fig.tight_layout()
    problems = text_problems(fig)
    plt.close(fig)
    assert any("leaves the figure" in p for p in problems)
    assert any("overlaps a colour bar" in p for p in problems)
    assert math.isfinite(len(problems))
