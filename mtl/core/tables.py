"""Tables of run results, shared by the console reporter and ``mtl evaluate``.

Rich tables for a terminal; plain, space-aligned text for logs (SLURM, ``nohup``,
``| tee``). Neither ever cuts a task or metric name short: rich columns fold instead
of ending in an ellipsis, and plain tables are as wide as their longest cell.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

MAX_METRICS = 6

Group = tuple[tuple[str, ...], list[tuple[str, str, dict[str, Any]]]]


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def result_groups(
    by_split: dict[str, dict[str, dict[str, Any]]], primaries: dict[str, str]
) -> list[Group]:
    """Tasks grouped by their metric names (primary first): rows task × split, in task order."""
    groups: dict[tuple[str, ...], list[tuple[str, str, dict[str, Any]]]] = {}
    for split, tasks in by_split.items():
        for task, metrics in tasks.items():
            names = [k for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n"]
            primary = primaries.get(task)
            if primary in names:
                names.remove(primary)
                names.insert(0, primary)
            groups.setdefault(tuple(names[:MAX_METRICS]), []).append((task, split, metrics))
    out = []
    for names, rows in groups.items():
        rows.sort(key=lambda r: list(primaries).index(r[0]) if r[0] in primaries else 0)
        out.append((names, rows))
    return out


def _cells(names: tuple[str, ...], rows: list[tuple[str, str, dict[str, Any]]]) -> list[list[str]]:
    return [
        [task, split, fmt(metrics.get("n")), *(fmt(metrics.get(n)) for n in names)]
        for task, split, metrics in rows
    ]


def results_tables(
    by_split: dict[str, dict[str, dict[str, Any]]], primaries: dict[str, str], title: str = ""
) -> list[Table]:
    """One rich table per group of tasks sharing a metric set: rows task × split."""
    from rich.table import Table

    tables = []
    for names, rows in result_groups(by_split, primaries):
        table = Table(title=title or None, title_justify="left")
        table.add_column("task", style="bold", overflow="fold")
        table.add_column("split")
        table.add_column("n", justify="right")
        for i, name in enumerate(names):
            table.add_column(
                name, justify="right", style="cyan" if i == 0 else None, overflow="fold"
            )
        for cells in _cells(names, rows):
            table.add_row(*cells)
        tables.append(table)
        title = ""
    return tables


def plain_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Space-aligned text, every column as wide as its widest cell (nothing is cut)."""
    right = right or set()
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def plain_results_tables(
    by_split: dict[str, dict[str, dict[str, Any]]], primaries: dict[str, str], title: str = ""
) -> list[str]:
    """The tables of :func:`results_tables` as plain text, for logs."""
    tables = []
    for names, rows in result_groups(by_split, primaries):
        header = ["task", "split", "n", *names]
        text = plain_table(header, _cells(names, rows), right=set(range(2, len(header))))
        tables.append(f"{title}\n{text}" if title else text)
        title = ""
    return tables
