"""The runs browser as pandas DataFrames (pandas is imported only here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtl.runs.compare import compare_runs
from mtl.runs.scan import RunSummary, scan_runs

COLUMNS = (
    "run", "path", "status", "reason", "dataset", "tasks", "arch", "weighting", "epochs",
    "epochs_run", "selected_epoch", "select_by", "val", "test", "created", "bytes",
)  # fmt: skip


def summary_row(summary: RunSummary) -> dict[str, Any]:
    """A flat row: the summary's fields, then ``<split>.<task>.<metric>`` for every metric."""
    row = {c: getattr(summary, c) for c in COLUMNS}
    row["tasks"] = ",".join(summary.tasks)
    for split, tasks in summary.metrics.items():
        for task, metrics in tasks.items():
            for metric, value in (metrics or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    row[f"{split}.{task}.{metric}"] = value
    return row


def load_runs(path: Path | str = "runs") -> Any:
    """A DataFrame with one row per run at or under ``path``.

    Columns: ``run`` (path relative to ``path``), ``path``, ``status`` (``completed``,
    ``early_stopped``, ``stopped``, ``unfinished`` or ``broken``), ``reason``, ``dataset``,
    ``tasks`` (comma-separated), ``arch``, ``weighting``, ``epochs``, ``epochs_run``,
    ``selected_epoch``, ``select_by`` and its ``val``/``test`` values, ``created``,
    ``bytes`` (on disk), then ``val.<task>.<metric>`` and ``test.<task>.<metric>``.
    """
    import pandas as pd

    rows = [summary_row(s) for s in scan_runs(path)]
    return pd.DataFrame(rows, columns=list(COLUMNS) if not rows else None)


def compare_frames(paths: Sequence[Path | str]) -> tuple[Any, Any]:
    """(metrics, config differences) as DataFrames with one column per run.

    ``metrics`` is indexed by (split, task, metric); ``config`` by the differing key.
    """
    import pandas as pd

    cmp = compare_runs(paths)
    names = [r.path for r in cmp.runs]
    metrics = pd.DataFrame(
        [v for *_, v in cmp.metrics],
        index=pd.MultiIndex.from_tuples(
            [(s, t, m) for s, t, m, _ in cmp.metrics], names=["split", "task", "metric"]
        ),
        columns=names,
    )
    config = pd.DataFrame(
        [v for _, v in cmp.config],
        index=pd.Index([k for k, _ in cmp.config], name="key"),
        columns=names,
    )
    return metrics, config
