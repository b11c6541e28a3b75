"""What a run shows on the console: live progress on a terminal, plain lines in logs.

The form follows the run's ``log_format`` (``--log-format``): ``rich`` (a progress bar
with live metrics and rich tables), ``plain`` (one line per epoch, plain tables) or
``json`` (one JSON object per line); ``auto`` picks ``rich`` when both stdout and stderr
are terminals and ``plain`` otherwise (SLURM logs, ``nohup``, ``| tee``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from mtl.core.reporter import Reporter, RunInfo
from mtl.core.tables import fmt, results_tables
from mtl.plugins.reporters.log_lines import JsonLog, PlainLog

REFRESH_SECONDS = 0.25


def resolve_log_format(value: str | None) -> str:
    """``rich``, ``plain`` or ``json``; ``auto`` (or none) looks at the output streams."""
    if value and value != "auto":
        return value
    terminal = all(getattr(s, "isatty", lambda: False)() for s in (sys.stdout, sys.stderr))
    return "rich" if terminal else "plain"


def result_sections(
    results: dict[str, Any], primaries: dict[str, str]
) -> list[tuple[str, dict, dict]]:
    """(title, {split: {task: metrics}}, primary metrics) for each table of the end report."""
    title = (
        f"selected epoch {results['selected_epoch']} by validation {results['select_by']}"
        f" ({results['status']}, {results['epochs_run']} epochs)"
    )
    sections = [(title, {s: results[s] for s in ("val", "test") if s in results}, primaries)]
    aux = {s: results[f"{s}_aux"] for s in ("val", "test") if f"{s}_aux" in results}
    if aux:
        sections.append(("auxiliary tasks (not used for selection)", aux, primaries))
    if "test_members" in results:  # snippet ensembles: the ensemble, then each member
        members = {"test": dict(results["test"])}
        for k, scored in enumerate(results["test_members"], start=1):
            members["test"] |= {f"{t} #{k}": m for t, m in scored.items()}
        names = {f"{t} #{k}": primaries.get(t) for t in results["test"]
                 for k in range(1, len(results["test_members"]) + 1)}  # fmt: skip
        title = "snippet ensemble (task) and its members (task #k: snippet k alone), test"
        sections.append((title, members, {**primaries, **names}))
    return sections


class RichConsole:
    """A progress bar with live metrics on stderr, rich result tables on stdout."""

    def __init__(self) -> None:
        from rich.console import Console

        self.err = Console(stderr=True)
        self.out = Console()
        self.progress: Any = None
        self._last = 0.0

    def on_start(self, info: RunInfo) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.info = info
        sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
        tasks = ", ".join(f"{t['name']} ({t['kind']})" for t in info.tasks)
        self.err.print(f"[bold]run[/] {info.run_dir}")
        self.err.print(f"  dataset {info.config['dataset']} ({sizes}); arch {info.config['arch']}")
        self.err.print(f"  tasks {tasks}; selecting on validation {info.selection}")
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.err,
            transient=False,
            refresh_per_second=4,
        )
        self.progress.start()
        self.epochs_task = self.progress.add_task(
            "epochs", total=info.epochs, completed=info.start_epoch - 1, status=""
        )
        self.batch_task = self.progress.add_task(
            f"epoch {info.start_epoch}", total=info.steps_per_epoch, status=""
        )

    def on_batch(self, epoch: int, step: int, loss: Any) -> None:
        p = self.progress
        if p is None:
            return
        now = time.monotonic()
        if step == 0:
            p.reset(self.batch_task, description=f"epoch {epoch}", total=self.info.steps_per_epoch)
        if now - self._last >= REFRESH_SECONDS:
            self._last = now
            p.update(self.batch_task, completed=step + 1, status=f"loss {float(loss):.4f}")

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        p = self.progress
        if p is None:
            return
        val = next(r for r in records if r["split"] == "val")
        train = next(r for r in records if r["split"] == "train")
        parts = []
        for task, metrics in val["tasks"].items():
            name = self.info.primary_metrics.get(task)
            parts.append(f"{task} {name} {fmt(metrics.get(name))}")
        mark = " [green]*best[/]" if improved else ""
        p.update(
            self.batch_task, completed=self.info.steps_per_epoch, status=f"loss {train['loss']:.4f}"
        )
        p.update(self.epochs_task, completed=epoch, status=f"val: {'; '.join(parts)}{mark}")

    def on_end(self, results: dict[str, Any], sections: list[tuple[str, dict, dict]]) -> None:
        self.close()
        for title, by_split, primaries in sections:
            for table in results_tables(by_split, primaries, title):
                self.out.print(table)
        sps = results.get("samples_per_second")
        speed = f"; {sps:,.0f} training samples/s" if sps else ""
        self.out.print(f"run directory: {self.info.run_dir}{speed}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class ConsoleReporter(Reporter):
    description = "progress on a terminal, one line per epoch in logs (--log-format), results"

    def __init__(self) -> None:
        self.view: RichConsole | PlainLog | JsonLog | None = None

    def on_start(self, info: RunInfo) -> None:
        self.info = info
        mode = resolve_log_format(info.config.get("log_format"))
        self.view = {"rich": RichConsole, "plain": PlainLog, "json": JsonLog}[mode]()
        self.view.on_start(info)

    def on_batch(self, epoch: int, step: int, loss: Any) -> None:
        if isinstance(self.view, RichConsole):
            self.view.on_batch(epoch, step, loss)

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        if self.view is not None:
            self.view.on_epoch(epoch, records, improved)

    def on_end(self, results: dict[str, Any]) -> None:
        if self.view is not None:
            self.view.on_end(results, result_sections(results, self.info.primary_metrics))

    def close(self) -> None:
        if isinstance(self.view, RichConsole):
            self.view.close()
