"""Opening the SQLite side files read-only, with one clear error when they are unusable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mtl.core.errors import UserError


def open_db(path: Path, tables: dict[str, set[str]], what: str) -> sqlite3.Connection:
    """Open ``path`` read-only and check that ``tables`` (name → needed columns) exist."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} '{path}' does not exist")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table, columns in tables.items():
            if table not in names:
                raise UserError(f"{what} '{path}' has no table '{table}'")
            have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
            missing = sorted(columns - have)
            if missing:
                raise UserError(
                    f"{what} '{path}': table '{table}' lacks column(s) {', '.join(missing)}"
                )
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot read {what} '{path}': {exc}") from None
    return con


def query(con: sqlite3.Connection, sql: str, path: Path, what: str, params: tuple = ()):
    """Rows of ``sql``; a database error becomes a :class:`UserError` naming the file."""
    try:
        yield from con.execute(sql, params)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot read {what} '{path}': {exc}") from None
