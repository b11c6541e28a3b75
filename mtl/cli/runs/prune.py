"""``mtl runs prune``: free disk space by deleting finished runs' resume checkpoints."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import err, reports_errors
from mtl.cli.tables import human_bytes, print_json, show_table


class Keep(StrEnum):
    best = "best"
    last = "last"
    all = "all"


@reports_errors
def prune(
    directory: Annotated[
        Path, typer.Argument(help="A folder of runs (searched recursively) or one run.")
    ] = Path("runs"),
    keep_checkpoints: Annotated[
        Keep,
        typer.Option(
            help="best: keep only best.pt (drop last.pt and last.prev.pt); last: also keep "
            "last.pt (the run can still be extended); all: delete nothing.",
        ),
    ] = Keep.best,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List what would be deleted and the bytes; delete nothing."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="What was (or would be) deleted, as JSON.")
    ] = False,
) -> None:
    """Delete the resume checkpoints of finished runs (completed or early-stopped).

    best.pt, the selected model, is always kept: 'mtl evaluate' and 'mtl predict' keep
    working. Unfinished, stopped and broken runs are not touched.

    Example: mtl runs prune runs/ --dry-run
    """
    from mtl.runs.prune import apply_prune, plan_prune

    plan = plan_prune(directory, keep_checkpoints.value)
    total = sum(r.bytes for r in plan)
    if not dry_run:
        apply_prune(plan)
    if as_json:
        files = [{"run": r.run, "file": str(r.file), "bytes": r.bytes} for r in plan]
        print_json({"dry_run": dry_run, "files": files, "bytes": total})
        return
    if plan:
        rows = [[r.run, str(r.file), human_bytes(r.bytes)] for r in plan]
        show_table(["run", "file", "size"], rows, {2})
    verb = "would free" if dry_run else "freed"
    err.print(f"{verb} {human_bytes(total)} ({total} bytes) in {len(plan)} files", markup=False)
