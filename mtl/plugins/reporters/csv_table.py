"""``metrics.csv``: one row per epoch and split, one column per task metric.

Columns ``epoch, split, loss`` then ``<task>.<metric>`` for every scalar metric (the
naming of a sweep's ``results.csv``), so ``pandas.read_csv`` gives a frame ready to
plot. The test split is one last row at the selected epoch. The file is rewritten
atomically after every epoch; a resumed run keeps the rows before its restart.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from mtl.core.reporter import Reporter, RunInfo
from mtl.core.runs import atomic_write

FILE = "metrics.csv"
FIXED = ("epoch", "split", "loss")


def _cell(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _row(epoch: int, split: str, record: dict[str, Any]) -> dict[str, str]:
    row = {"epoch": str(epoch), "split": split, "loss": _cell(record.get("loss"))}
    for task, metrics in (record.get("tasks") or {}).items():
        for metric, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[f"{task}.{metric}"] = _cell(value)
    return row


class CsvReporter(Reporter):
    description = f"{FILE}: a row per epoch and split, a column per task metric"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.rows: list[dict[str, str]] = []

    def on_start(self, info: RunInfo) -> None:
        self.path = Path(info.run_dir) / FILE
        self.rows = []
        if info.start_epoch > 1 and self.path.is_file():
            with open(self.path, newline="") as fh:
                self.rows = [
                    r
                    for r in csv.DictReader(fh)
                    if r.get("split") != "test"
                    and (r.get("epoch") or "").isdigit()
                    and int(r["epoch"]) < info.start_epoch
                ]

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        self.rows += [_row(epoch, r["split"], r) for r in records]
        self._write()

    def on_end(self, results: dict[str, Any]) -> None:
        record = {"loss": results.get("test_loss"), "tasks": results.get("test", {})}
        self.rows.append(_row(results["selected_epoch"], "test", record))
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        columns = list(FIXED)
        for row in self.rows:
            columns += [c for c in row if c not in columns]

        def write(fh: Any) -> None:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)

        atomic_write(self.path, write)
