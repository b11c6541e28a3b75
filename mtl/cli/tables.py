"""Tables on stdout for commands: rich on a terminal, plain text (nothing cut) in pipes and logs."""

from __future__ import annotations

import json
from typing import Any

from mtl.cli.common import out
from mtl.core.tables import fmt, plain_table


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def cell(value: Any) -> str:
    """A value as a table cell: numbers as in result tables, lists and dicts as JSON."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if value is None:
        return "—"
    return fmt(value)


def show_table(header: list[str], rows: list[list[str]], right: set[int], title: str = "") -> None:
    """A table on stdout that never cuts a cell short."""
    if not out.is_terminal:
        text = plain_table(header, rows, right)
        out.print(
            f"{title}\n{text}" if title else text, markup=False, highlight=False, soft_wrap=True
        )
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="right" if i in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(c) for c in row))  # names are shown as they are, no markup
    out.print(table)


def print_json(value: Any) -> None:
    from mtl.core.runs import dumps

    out.print(dumps(value), markup=False, highlight=False, soft_wrap=True)
