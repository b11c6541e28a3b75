"""Runs side by side: their metrics (val and test of the selected epoch) and the
configuration keys whose values differ."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl.core.errors import UserError
from mtl.runs.scan import RunSummary, is_run, summarise

IGNORED_KEYS = ("run_dir", "log_format")  # where a run lives and how it printed


@dataclass
class Comparison:
    """``runs``: the summaries; ``metrics``: rows ``(split, task, metric, [value per run])``;
    ``config``: rows ``(key, [value per run])`` for keys that differ (missing = None)."""

    runs: list[RunSummary]
    metrics: list[tuple[str, str, str, list[Any]]]
    config: list[tuple[str, list[Any]]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [
                {k: v for k, v in r.to_dict().items() if k not in ("metrics", "config")}
                for r in self.runs
            ],
            "metrics": [
                {"split": s, "task": t, "metric": m, "values": v} for s, t, m, v in self.metrics
            ],
            "config": [{"key": k, "values": v} for k, v in self.config],
        }


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_rows(runs: Sequence[RunSummary]) -> list[tuple[str, str, str, list[Any]]]:
    """Every scalar metric any run has, in first-seen order; ``None`` where a run lacks it."""
    keys: dict[tuple[str, str, str], None] = {}
    for run in runs:
        for split, tasks in run.metrics.items():
            for task, metrics in tasks.items():
                for metric, value in (metrics or {}).items():
                    if metric != "n" and _scalar(value):
                        keys[(split, task, metric)] = None
    order = {"val": 0, "test": 1}
    rows = sorted(keys, key=lambda k: order.get(k[0], 2))  # stable: task order kept
    return [(s, t, m, [r.metrics.get(s, {}).get(t, {}).get(m) for r in runs]) for s, t, m in rows]


def config_rows(runs: Sequence[RunSummary]) -> list[tuple[str, list[Any]]]:
    """Configuration keys whose values are not the same in every run."""
    keys = list(dict.fromkeys(k for r in runs for k in r.config if k not in IGNORED_KEYS))
    rows = []
    for key in keys:
        values = [r.config.get(key) for r in runs]
        if any(v != values[0] for v in values[1:]):
            rows.append((key, values))
    return rows


def compare_runs(paths: Sequence[Path | str]) -> Comparison:
    """Compare runs; a path that is not a readable run is a :class:`UserError`."""
    if len(paths) < 2:
        raise UserError("give at least two run directories to compare")
    runs = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise UserError(f"run directory '{p}' does not exist")
        if not is_run(p):
            raise UserError(f"'{p}' is not an mtl run directory (no config.json / manifest.json)")
        summary = summarise(p)
        if summary.status == "broken" and not summary.config:
            raise UserError(f"cannot compare '{p}': {summary.reason}")
        runs.append(summary)
    return Comparison(runs, metric_rows(runs), config_rows(runs))
