"""``mtl correlate``: task coupling by Pearson correlation of labels (RQ3)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mtl.cli.common import err, out, reports_errors


@reports_errors
def correlate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Prepared file (default: $MTL_MSD, else $MTL_DATA/msd.h5, else ~/.cache/mtl/msd.h5).",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str, typer.Option(help="The task to correlate every other task with.")
    ] = "pop",
    top: Annotated[
        int, typer.Option(help="How many most and least correlated tasks to list.", min=1)
    ] = 5,
    min_overlap: Annotated[
        int,
        typer.Option(help="Ignore tasks labelled together with the target on fewer tracks.", min=2),
    ] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print as JSON (every task included).")
    ] = False,
    heatmap: Annotated[
        Path | None,
        typer.Option(help="Write a PNG heatmap of the pairwise correlations of --heatmap-tasks."),
    ] = None,
    heatmap_tasks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated tasks of the heatmap (default: the target, the most and the least correlated)."
        ),
    ] = None,
) -> None:
    """Pearson correlation between the target task and every other task, over tracks labelled for both.

    Lists the most correlated (a tightly coupled set) and the least correlated (|r|
    smallest: a loosely coupled set), each as a line you can paste into --tasks.
    Multiclass tasks have no order and are left out.
    """
    from mtl.core.runs import atomic_write, dumps
    from mtl.plugins.datasets.msd.coupling import (
        correlate_target,
        correlation_matrix,
        tight_and_loose,
    )
    from mtl.plugins.datasets.msd.location import resolve_path
    from mtl.plugins.datasets.msd.store import PreparedFile

    with PreparedFile(resolve_path(str(path) if path else None)) as f:
        corrs, skipped = correlate_target(f, target)
        chosen = tight_and_loose(corrs, top, min_overlap)
        tight = [target] + [c.task for c in chosen["most"]]
        loose = [target] + [c.task for c in chosen["least"]]
        matrix_tasks = (
            heatmap_tasks.split(",") if heatmap_tasks else list(dict.fromkeys(tight + loose[1:]))
        )
        matrix = correlation_matrix(f, matrix_tasks) if heatmap else None
    if heatmap is not None:
        atomic_write(heatmap, lambda fh: _plot(fh, matrix, matrix_tasks, target), binary=True)
        err.print(f"heatmap of {len(matrix_tasks)} tasks: {escape(str(heatmap))}")
    if as_json:
        rows = sorted(corrs, key=lambda c: (-c.r if math.isfinite(c.r) else math.inf, c.task))
        out.print(
            dumps(
                {
                    "target": target,
                    "min_overlap": min_overlap,
                    "most": [vars(c) for c in chosen["most"]],
                    "least": [vars(c) for c in chosen["least"]],
                    "tight": tight,
                    "loose": loose,
                    "correlations": [vars(c) for c in rows],
                    "skipped_multiclass": skipped,
                }
            ),
            markup=False,
            soft_wrap=True,
        )
        return
    for title, items in (
        ("most correlated", chosen["most"]),
        ("least correlated (smallest |r|)", chosen["least"]),
    ):
        table = Table(title=f"{title} with {escape(target)}", title_justify="left")
        table.add_column("task")
        table.add_column("kind")
        table.add_column("r", justify="right")
        table.add_column("tracks", justify="right")
        for c in items:
            table.add_row(escape(c.task), c.kind, f"{c.r:+.3f}", f"{c.n:,}")
        out.print(table)
    out.print(
        f"{chosen['usable']:,} tasks compared; left out: multiclass {', '.join(skipped) or 'none'}"
    )
    out.print(f"tight: {','.join(tight)}", markup=False, soft_wrap=True)
    out.print(f"loose: {','.join(loose)}", markup=False, soft_wrap=True)


def _plot(fh, matrix, names: list[str], target: str) -> None:
    from mtl.core.correlation import plot_heatmap

    plot_heatmap(fh, matrix, names, f"label correlations (target {target})")
