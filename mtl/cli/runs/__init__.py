"""``mtl runs``: browse run directories — list, compare, prune."""

from __future__ import annotations

import typer

from mtl.cli.runs import compare, list_runs, prune

app = typer.Typer(
    help="Browse run directories: a table of runs, runs side by side, and pruning "
    "checkpoints of finished runs.",
    no_args_is_help=True,
)
app.command("list")(list_runs.list_runs)
app.command("compare")(compare.compare)
app.command("prune")(prune.prune)
