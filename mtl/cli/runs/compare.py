"""``mtl runs compare``: runs side by side, metrics and configuration differences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import reports_errors
from mtl.cli.tables import cell, print_json, show_table


def _labels(paths: list[str]) -> list[str]:
    """Column labels: the runs' folder names, or full paths where two names collide."""
    names = [Path(p).name for p in paths]
    return names if len(set(names)) == len(names) else paths


@reports_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run directories.")],
    as_json: Annotated[bool, typer.Option("--json", help="The comparison as JSON.")] = False,
) -> None:
    """Runs side by side: each val and test metric of the selected epoch, then every
    configuration key whose value differs.

    Example: mtl runs compare runs/synthetic-low-1 runs/synthetic-none-1
    """
    from mtl.runs.compare import compare_runs

    cmp = compare_runs(runs)
    if as_json:
        print_json(cmp.to_dict())
        return
    labels = _labels([r.path for r in cmp.runs])
    n = len(labels)
    right = set(range(1, n + 1))
    status = [
        ["status", *(r.status for r in cmp.runs)],
        ["selected epoch", *(cell(r.selected_epoch) for r in cmp.runs)],
        ["select by", *(cell(r.select_by) for r in cmp.runs)],
    ]
    show_table(["run", *labels], status, right)
    metric_rows = [[s, t, m, *(cell(v) for v in values)] for s, t, m, values in cmp.metrics]
    if metric_rows:
        show_table(
            ["split", "task", "metric", *labels], metric_rows, set(range(3, n + 3)), "metrics"
        )
    config_rows = [[key, *(cell(v) for v in values)] for key, values in cmp.config]
    if config_rows:
        show_table(["key", *labels], config_rows, set(), "configuration differences")
    else:
        show_table(["key", *labels], [["(none)", *[""] * n]], set(), "configuration differences")
