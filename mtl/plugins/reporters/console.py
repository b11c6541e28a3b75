"""Live progress with metrics while training, and a results table at the end."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mtl.core.reporter import Reporter, RunInfo
from mtl.core.tables import fmt, results_tables

REFRESH_SECONDS = 0.25


class ConsoleReporter(Reporter):
    description = "progress bar with live metrics, per-epoch summary, results table"

    def __init__(self) -> None:
        self.err = Console(stderr=True)
        self.out = Console()
        self.progress: Progress | None = None
        self._last = 0.0
        self.status = ""

    def on_start(self, info: RunInfo) -> None:
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

    def on_batch(self, epoch, step, loss) -> None:
        p = self.progress
        if p is None:
            return
        now = time.monotonic()
        if step == 0:
            p.reset(self.batch_task, description=f"epoch {epoch}", total=self.info.steps_per_epoch)
        if now - self._last >= REFRESH_SECONDS:
            self._last = now
            p.update(self.batch_task, completed=step + 1, status=f"loss {float(loss):.4f}")

    def on_epoch(self, epoch, records, improved) -> None:
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
        self.status = f"val: {'; '.join(parts)}{mark}"
        p.update(
            self.batch_task, completed=self.info.steps_per_epoch, status=f"loss {train['loss']:.4f}"
        )
        p.update(self.epochs_task, completed=epoch, status=self.status)

    def on_end(self, results) -> None:
        self.close()
        primaries = self.info.primary_metrics if hasattr(self, "info") else {}
        title = (
            f"selected epoch {results['selected_epoch']} by validation {results['select_by']}"
            f" ({results['status']}, {results['epochs_run']} epochs)"
        )
        by_split = {s: results[s] for s in ("val", "test") if s in results}
        for table in results_tables(by_split, primaries, title):
            self.out.print(table)
        aux = {s: results[f"{s}_aux"] for s in ("val", "test") if f"{s}_aux" in results}
        if aux:
            for table in results_tables(aux, primaries, "auxiliary tasks (not used for selection)"):
                self.out.print(table)
        if "test_members" in results:  # snippet ensembles: the ensemble, then each member
            members = {"test": dict(results["test"])}
            for k, scored in enumerate(results["test_members"], start=1):
                members["test"] |= {f"{t} #{k}": m for t, m in scored.items()}
            names = {f"{t} #{k}": primaries.get(t) for t in results["test"]
                     for k in range(1, len(results["test_members"]) + 1)}  # fmt: skip
            title = "snippet ensemble (task) and its members (task #k: snippet k alone), test"
            for table in results_tables(members, {**primaries, **names}, title):
                self.out.print(table)
        sps = results.get("samples_per_second")
        speed = f"; {sps:,.0f} training samples/s" if sps else ""
        self.out.print(f"run directory: {self.info.run_dir}{speed}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
