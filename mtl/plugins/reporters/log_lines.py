"""Console output for logs without a terminal: plain lines, or one JSON object per line.

Both write to stdout and flush after every line, so a SLURM log, ``nohup.out`` or
``| tee`` shows each epoch as it ends. ``plain``: a header, one line per epoch (epoch,
training loss, validation loss, each task's primary metric and the selection metric,
seconds), and space-aligned result tables that never cut a name short. ``json``: events
``start``, ``epoch`` and ``end`` (the ``results.json`` content), one object per line.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from mtl.core.reporter import RunInfo
from mtl.core.runs import dumps
from mtl.core.tables import fmt, plain_results_tables


def epoch_seconds(records: list[dict[str, Any]]) -> float:
    """Training plus evaluation seconds of one epoch's records."""
    train = next((r for r in records if r["split"] == "train"), {})
    return float(train.get("train_seconds") or 0.0) + float(train.get("eval_seconds") or 0.0)


def shown_metrics(info: RunInfo, val: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(task, metric, value): each task's primary metric, and the selection metric."""
    shown = [(t, m, val.get(t, {}).get(m)) for t, m in info.primary_metrics.items()]
    task, _, metric = (info.config.get("select_by") or "").partition(":")
    if task in val and (task, metric) not in {(t, m) for t, m, _ in shown}:
        shown.append((task, metric, val[task].get(metric)))
    return shown


def _nested(shown: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for task, metric, value in shown:
        out.setdefault(task, {})[metric] = value
    return out


class PlainLog:
    """One plain line per epoch, plain tables at the end."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _print(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def on_start(self, info: RunInfo) -> None:
        self.info = info
        sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
        tasks = ", ".join(f"{t['name']} ({t['kind']})" for t in info.tasks)
        self._print(f"run {info.run_dir}")
        self._print(f"  dataset {info.config['dataset']} ({sizes}); arch {info.config['arch']}")
        self._print(f"  tasks {tasks}; selecting on validation {info.selection}")
        if info.start_epoch > 1:
            self._print(f"  resuming at epoch {info.start_epoch} of {info.epochs}")

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        train = next(r for r in records if r["split"] == "train")
        val = next(r for r in records if r["split"] == "val")
        metrics = ", ".join(
            f"{t} {m} {fmt(v)}" for t, m, v in shown_metrics(self.info, val["tasks"])
        )
        best = " *best" if improved else ""
        self._print(
            f"epoch {epoch}/{self.info.epochs}  loss {fmt(train['loss'])}  "
            f"val loss {fmt(val.get('loss'))}  val: {metrics}{best}  "
            f"{epoch_seconds(records):.1f}s"
        )

    def on_end(self, results: dict[str, Any], sections: list[tuple[str, dict, dict]]) -> None:
        for title, by_split, primaries in sections:
            for table in plain_results_tables(by_split, primaries, title):
                self._print(table)
        sps = results.get("samples_per_second")
        speed = f"; {sps:,.0f} training samples/s" if sps else ""
        self._print(f"run directory: {self.info.run_dir}{speed}")


class JsonLog:
    """One JSON object per line: ``start``, one ``epoch`` per epoch, ``end``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, event: str, **fields: Any) -> None:
        self.stream.write(dumps({"event": event, **fields}, indent=None) + "\n")
        self.stream.flush()

    def on_start(self, info: RunInfo) -> None:
        self.info = info
        self._emit(
            "start",
            run_dir=str(info.run_dir),
            dataset=info.config["dataset"],
            arch=info.config["arch"],
            tasks=info.tasks,
            split_sizes=info.split_sizes,
            epochs=info.epochs,
            start_epoch=info.start_epoch,
            selection=info.selection,
            primary_metrics=info.primary_metrics,
        )

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        train = next(r for r in records if r["split"] == "train")
        val = next(r for r in records if r["split"] == "val")
        self._emit(
            "epoch",
            epoch=epoch,
            epochs=self.info.epochs,
            loss=train["loss"],
            val_loss=val.get("loss"),
            val=_nested(shown_metrics(self.info, val["tasks"])),
            improved=improved,
            seconds=epoch_seconds(records),
        )

    def on_end(self, results: dict[str, Any], sections: list[tuple[str, dict, dict]]) -> None:
        self._emit("end", run_dir=str(self.info.run_dir), results=results)
