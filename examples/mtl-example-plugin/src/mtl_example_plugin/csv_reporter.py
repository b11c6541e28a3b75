"""``long-csv``: every metric of a run as one long table, ``metrics_long.csv`` in the run directory.

One row per epoch × split × task × metric, columns ``epoch,split,task,metric,value``:

- after every epoch, the ``train`` and ``val`` rows of that epoch (the summed
  training loss is the row with an empty ``task`` and metric ``loss``);
- at the end of the run, the ``test`` rows, scored once with the selected
  checkpoint; their ``epoch`` is the selected epoch.

Non-finite or absent values are empty cells. The file is rewritten atomically
after every epoch (temp file, fsync, rename), so a reader never sees half a file
and an interrupted run keeps every finished epoch; a resumed run keeps the rows
of the epochs before it restarts.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from mtl.core.reporter import Reporter, RunInfo
from mtl.core.runs import atomic_write

FILE = "metrics_long.csv"
COLUMNS = ("epoch", "split", "task", "metric", "value")


def cell(value: Any) -> str:
    """A metric value as CSV text: exact floats, empty for missing or non-finite."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def metric_rows(epoch: int, split: str, record: dict[str, Any]) -> list[list[str]]:
    """Rows of one ``metrics.jsonl``-style record: its loss, then each task's scalar metrics."""
    rows = []
    if "loss" in record:
        rows.append([str(epoch), split, "", "loss", cell(record["loss"])])
    for task, metrics in record.get("tasks", {}).items():
        for metric, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append([str(epoch), split, task, metric, cell(value)])
    return rows


def read_rows(path: Path) -> list[list[str]]:
    """The data rows of an existing ``metrics.csv`` (none if absent or foreign)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        return []
    if not rows or tuple(rows[0]) != COLUMNS:
        return []
    return rows[1:]


class CsvReporter(Reporter):
    description = f"{FILE}: one row per epoch, split, task and metric (tidy, for pandas/R)"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.rows: list[list[str]] = []

    def on_start(self, info: RunInfo) -> None:
        self.path = Path(info.run_dir) / FILE
        # Resuming: keep the epochs before the restart, drop test rows of an earlier end.
        self.rows = [
            r
            for r in read_rows(self.path)
            if r[1] != "test" and r[0].isdigit() and int(r[0]) < info.start_epoch
        ]

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        for record in records:
            self.rows.extend(metric_rows(epoch, record["split"], record))
        self._write()

    def on_end(self, results: dict[str, Any]) -> None:
        epoch = results["selected_epoch"]
        if "test" in results:
            record = {"loss": results.get("test_loss"), "tasks": results["test"]}
            self.rows.extend(metric_rows(epoch, "test", record))
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return

        def write(fh: Any) -> None:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(self.rows)

        atomic_write(self.path, write)
