"""Rich tables of run results, shared by the console reporter and ``mtl evaluate``."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

MAX_METRICS = 6


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def results_tables(
    by_split: dict[str, dict[str, dict[str, Any]]], primaries: dict[str, str], title: str = ""
) -> list[Table]:
    """One table per group of tasks sharing a metric set: rows task × split."""
    groups: dict[tuple[str, ...], list[tuple[str, str, dict[str, Any]]]] = {}
    for split, tasks in by_split.items():
        for task, metrics in tasks.items():
            names = [k for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n"]
            primary = primaries.get(task)
            if primary in names:
                names.remove(primary)
                names.insert(0, primary)
            groups.setdefault(tuple(names[:MAX_METRICS]), []).append((task, split, metrics))
    tables = []
    for names, rows in groups.items():
        table = Table(title=title or None, title_justify="left")
        table.add_column("task", style="bold")
        table.add_column("split")
        table.add_column("n", justify="right")
        for i, name in enumerate(names):
            table.add_column(name, justify="right", style="cyan" if i == 0 else None)
        rows.sort(key=lambda r: list(primaries).index(r[0]) if r[0] in primaries else 0)
        for task, split, metrics in rows:
            table.add_row(task, split, fmt(metrics.get("n")), *(fmt(metrics.get(n)) for n in names))
        tables.append(table)
        title = ""
    return tables
