"""``mtl runs list``: a table of the runs under a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import err, reports_errors
from mtl.cli.tables import cell, human_bytes, print_json, show_table

MAX_TASKS_SHOWN = 4


def _tasks(tasks: list[str]) -> str:
    if len(tasks) <= MAX_TASKS_SHOWN:
        return ",".join(tasks)
    return f"{','.join(tasks[: MAX_TASKS_SHOWN - 1])} +{len(tasks) - MAX_TASKS_SHOWN + 1} more"


@reports_errors
def list_runs(
    directory: Annotated[
        Path, typer.Argument(help="A folder of runs (searched recursively) or one run.")
    ] = Path("runs"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Every run's summary as JSON (all metrics, config).")
    ] = False,
) -> None:
    """A table of runs: dataset, tasks, architecture, status, selected epoch, the
    selection metric on val and test, and size on disk. Damaged runs are listed as
    broken, with the reason.

    Example: mtl runs list runs/ ; in Python: mtl.runs.load_runs("runs") (a DataFrame)
    """
    from mtl.core.errors import UserError
    from mtl.runs.scan import scan_runs

    if not directory.exists():
        raise UserError(f"'{directory}' does not exist; give a folder of runs or a run directory")
    runs = scan_runs(directory)
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    if not runs:
        err.print(f"no runs under '{directory}'", markup=False)
        return
    weighted = any(r.weighting for r in runs)
    header = ["run", "dataset", "tasks", "arch", *(["weighting"] if weighted else []),
              "status", "epoch", "select by", "val", "test", "size", "note"]  # fmt: skip
    rows = []
    for r in runs:
        epoch = (
            f"{r.selected_epoch} of {r.epochs_run}"
            if r.selected_epoch is not None
            else f"{r.epochs_run or 0} done"
        )
        rows.append([
            r.run, cell(r.dataset), _tasks(r.tasks), cell(r.arch),
            *([cell(r.weighting)] if weighted else []),
            r.status, epoch if r.status != "broken" else "—", cell(r.select_by),
            cell(r.val), cell(r.test), human_bytes(r.bytes), r.reason,
        ])  # fmt: skip
    right = {header.index(c) for c in ("val", "test", "size")}
    total = sum(r.bytes for r in runs)
    show_table(header, rows, right)
    err.print(f"{len(runs)} runs, {human_bytes(total)}", markup=False)
