"""Writes ``metrics.jsonl``: one JSON object per epoch and split. Always on."""

from __future__ import annotations

from mtl.core.reporter import Reporter, RunInfo
from mtl.core.runs import RunDir


class JsonlReporter(Reporter):
    description = "metrics.jsonl, one record per epoch and split (always on)"

    def on_start(self, info: RunInfo) -> None:
        self.run = RunDir(info.run_dir)

    def on_epoch(self, epoch, records, improved) -> None:
        self.run.append_metrics(records)
