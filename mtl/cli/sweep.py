"""``mtl sweep``: run a study's items (locally or one per SLURM array task), see where
they stand, and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mtl.cli.common import err, out, plugins, reports_errors

app = typer.Typer(
    help="Sweeps: a study's runs crossed from a TOML file, their status and their report.",
    no_args_is_help=True,
)

SweepArg = Annotated[
    Path,
    typer.Argument(
        help="Sweep file, e.g. experiments/rq1_mtl_vs_stl.toml, or its run folder (runs/<name>)."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override KEY=VALUE (repeatable): a [base] key (dataset=msd, epochs=3), "
        "dataset-options.KEY, weighting-options.KEY, arch-options.KEY, axes.NAME=v1,v2, "
        "task-sets.NAME=a,b, target, name. Recorded in runs/<name>/sweep.json: later commands "
        "reuse them; other overrides than recorded are an error (use --set name=NEW for a "
        "separate sweep).",
    ),
]


def _load(path: Path, sets: list[str] | None, check: bool = True) -> Any:
    """The sweep from its file or run folder; the folder's recorded overrides apply."""
    from mtl.sweep.folder import open_sweep, show_sets

    loaded = plugins()  # every sweep command warns (or, with --strict, fails) on broken plugins
    sweep = open_sweep(path, tuple(sets or ()))
    if sweep.sets and not sets:
        err.print(
            f"overrides recorded in {escape(str(sweep.root))}: {escape(show_sets(sweep.sets))}",
            highlight=False,
        )
    if check:
        sweep.validate(loaded)
    return sweep


@app.command("run")
@reports_errors
def run(
    path: SweepArg,
    index: Annotated[
        int | None,
        typer.Option(help="Run exactly this item (0-based), e.g. $SLURM_ARRAY_TASK_ID."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(help="Parallel local runs; the CPU threads are divided among them.", min=1),
    ] = 1,
    sets: SetOpt = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed/--skip-failed",
            help="Run failed items again (a preempted item resumes where it stopped).",
        ),
    ] = True,
    serve: Annotated[bool, typer.Option("--serve", hidden=True)] = False,
    threads: Annotated[
        str | None,
        typer.Option(
            "--threads",
            help="CPU threads of each run. \\[default: $OMP_NUM_THREADS, else the CPUs this "
            "process may use (affinity, capped by $SLURM_CPUS_PER_TASK), divided among --jobs]",
        ),
    ] = None,
) -> None:
    """Run every unfinished item of a sweep, or exactly one with --index.

    Items write runs/<sweep>/<i>/; finished items are skipped, interrupted ones resume
    from their last checkpoint, and a failing item is recorded without stopping the
    others. Example: mtl sweep run experiments/rq1_mtl_vs_stl.toml --jobs 2
    """
    from mtl.core.threads import check_threads
    from mtl.sweep.execute import run_item
    from mtl.sweep.execute import serve as serve_items
    from mtl.sweep.folder import write_index
    from mtl.sweep.state import sweep_states

    n_threads = None if threads is None else check_threads(threads)
    sweep = _load(path, sets)
    if index is not None:
        sweep.item(index)  # out of range: an error before anything is written
    write_index(sweep)
    if serve:
        serve_items(sweep, plugins(), n_threads)
        return
    if index is not None:
        item = sweep.item(index)
        err.print(f"[bold]item {index}[/] of {len(sweep.items)}: {escape(item.describe())}")
        from mtl.core.threads import override
        from mtl.distributed.launch import Preempted, report_preempted

        override(n_threads)
        try:
            outcome = run_item(sweep, index, plugins())
        except Preempted as exc:  # checkpointed (and requeued on SLURM): not a failure
            raise typer.Exit(report_preempted(exc)) from None
        if outcome.state == "skipped":
            err.print(f"item {index} finished before: {escape(str(item.run_dir))}")
        else:
            err.print(
                f"[green]done[/] item {index} in {outcome.seconds:.1f} s; "
                f"{escape(outcome.summary)}; {escape(str(item.run_dir))}"
            )
        return
    states = sweep_states(sweep)
    wanted = [
        s.index for s in states if s.state == "pending" or (s.state == "failed" and retry_failed)
    ]
    done = sum(s.state == "done" for s in states)
    running = sum(s.state == "running" for s in states)
    err.print(
        f"[bold]sweep[/] {escape(sweep.name)}: {len(sweep.items)} items, {done} finished, "
        f"{running} running elsewhere, {len(wanted)} to run with {jobs} job(s) "
        f"→ {escape(str(sweep.root))}"
    )
    if not wanted:
        return
    failed = _run_with_progress(sweep, sweep.sets, jobs, wanted, done, n_threads)
    if failed:
        err.print(f"[red]{failed} item(s) failed[/]; see 'mtl sweep status {escape(str(path))}'")
        raise typer.Exit(1)


def _run_with_progress(
    sweep: Any, sets: tuple[str, ...], jobs: int, wanted: list[int], done: int, threads: int | None
) -> int:
    from rich.console import Group
    from rich.live import Live
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mtl.sweep.execute import run_local

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    job_view = Progress(TextColumn("  {task.description}"), TextColumn("{task.fields[status]}"))
    failed = 0
    with Live(Group(progress, job_view), console=err, refresh_per_second=2) as live:
        overall = progress.add_task("items", total=len(sweep.items), completed=done)
        slots = {
            n: job_view.add_task(f"job {n}", total=None, status="starting")
            for n in range(min(jobs, len(wanted)))
        }
        current: dict[int, int] = {}

        def on_event(kind: str, payload: Any) -> None:
            nonlocal failed
            if kind == "start":
                number, index = payload
                current[index] = number
                item = sweep.items[index]
                job_view.update(slots[number], status=f"item {index}: {escape(item.describe())}")
                return
            o = payload
            number = current.pop(o.index, None)
            if number is not None:
                job_view.update(slots[number], status="idle")
            progress.advance(overall)
            desc = escape(sweep.items[o.index].describe())
            if o.state == "failed":
                failed += 1
                live.console.print(f"[red]failed[/] {o.index:>4} {desc}: {escape(o.reason)}")
            elif o.state == "elsewhere":  # another process claimed it first: not a failure
                live.console.print(
                    f"[cyan]running elsewhere[/] {o.index:>4} {desc}: {escape(o.reason)}"
                )
            elif o.state == "done":
                live.console.print(
                    f"[green]done[/]   {o.index:>4} {desc} ({o.seconds:.0f} s) {escape(o.summary)}"
                )

        run_local(sweep, sets, jobs, wanted, on_event, threads)
    return failed


@app.command("status")
@reports_errors
def status(
    path: SweepArg,
    sets: SetOpt = None,
    all_items: Annotated[
        bool, typer.Option("--all", help="List every item, not only unfinished ones.")
    ] = False,
) -> None:
    """Done / running / failed / pending per item, and the counts."""
    from mtl.sweep.state import STATES, sweep_states

    sweep = _load(path, sets, check=False)
    states = sweep_states(sweep)
    table = Table(
        title=f"sweep {escape(sweep.name)} ({escape(str(sweep.root))})", title_justify="left"
    )
    table.add_column("item", justify="right")
    table.add_column("state")
    table.add_column("configuration")
    table.add_column("note")
    colour = {"done": "green", "running": "cyan", "failed": "red", "pending": "white"}
    for s in states:
        if s.state == "done" and not all_items:
            continue
        item = sweep.items[s.index]
        note = s.reason or (f"{s.seconds:.0f} s" if s.seconds else "")
        table.add_row(
            str(s.index),
            f"[{colour[s.state]}]{s.state}[/]",
            escape(item.describe()),
            escape(note),
        )
    if table.row_count:
        out.print(table)
    counts = {k: sum(s.state == k for s in states) for k in STATES}
    out.print(
        f"{len(states)} items: " + ", ".join(f"{counts[k]} {k}" for k in STATES),
        markup=False,
    )


@app.command("report")
@reports_errors
def report(path: SweepArg, sets: SetOpt = None) -> None:
    """Write runs/<sweep>/report/: report.md, results.csv (one row per run) and PNG figures.

    Per cell: mean and 95% CI over seeds; paired comparison with the single-task
    baselines (difference, CI, paired t-test p-value); Δm across tasks.
    """
    from mtl.sweep.report import write_report

    sweep = _load(path, sets, check=False)
    written = write_report(sweep, plugins())
    err.print(f"report: {escape(str(written))}")
