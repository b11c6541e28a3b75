"""``csv-features``: numeric features and labelled targets from one CSV file.

The file has a header line and one row per example:

- an id column (``id`` by default; ``-o id_column=...``), unique per row;
- feature columns, every column whose name starts with ``f_`` (``-o features=...``),
  all numbers;
- target columns, declared with ``-o targets=NAME:KIND,...`` where KIND is a
  registered task type (``regression``, ``binary``, ``multiclass``, ...). An empty
  cell is a missing label. Multiclass targets hold class names (any text); the
  classes are the column's distinct values, sorted (numerically if all are
  numbers). Other kinds hold numbers;
- optionally a split column (``split`` by default) holding ``train``, ``val`` or
  ``test`` on every row; without it the rows are split at random with ``seed``.

Every other column is ignored. Mistakes end in a :class:`UserError` naming the
file, the line and the column.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mtl.core.data import SPLITS, DenseInputs, MultiTaskData, TaskSpec
from mtl.core.dataset import Dataset
from mtl.core.errors import UserError
from mtl.core.options import Option
from mtl.core.registry import did_you_mean

NAME = "csv-features"
CATEGORICAL_KINDS = ("multiclass",)


@dataclass(frozen=True)
class Target:
    """One ``NAME:KIND`` item of the ``targets`` option."""

    column: str
    kind: str


def parse_targets(value: str | None) -> list[Target]:
    """``'valence:regression,genre:multiclass'`` → targets; malformed items are errors."""
    if not value:
        raise UserError(
            f"dataset '{NAME}' needs -o targets=NAME:KIND,..., "
            "e.g. -o targets=valence:regression,genre:multiclass"
        )
    out: list[Target] = []
    for item in value.split(","):
        column, sep, kind = (s.strip() for s in item.partition(":"))
        if not sep or not column or not kind:
            raise UserError(
                f"option 'targets' of dataset '{NAME}': malformed item '{item.strip()}'; "
                "write NAME:KIND, e.g. valence:regression"
            )
        if any(t.column == column for t in out):
            raise UserError(f"option 'targets' of dataset '{NAME}' names column '{column}' twice")
        out.append(Target(column, kind))
    return out


@dataclass
class Table:
    """The cells of a CSV file as text, column by column, and each row's line number."""

    path: Path
    header: list[str]
    columns: list[np.ndarray]  # one array of stripped str per column, each n long
    lines: np.ndarray  # (n,) line number of each row in the file
    sha256: str

    @property
    def n(self) -> int:
        return len(self.lines)

    def column(self, name: str, role: str) -> int:
        if name not in self.header:
            raise UserError(
                f"'{self.path}' has no {role} column '{name}'{did_you_mean(name, self.header)}; "
                f"columns: {', '.join(self.header)}"
            )
        return self.header.index(name)

    def where(self, row: int, col: int) -> str:
        return f"'{self.path}' line {self.lines[row]}, column '{self.header[col]}'"

    def numbers(self, col: int, allow_empty: bool) -> np.ndarray:
        """Column ``col`` as float64; empty cells become NaN if allowed."""
        raw = self.columns[col]
        empty = raw == ""
        if empty.any() and not allow_empty:
            row = int(np.flatnonzero(empty)[0])
            raise UserError(
                f"{self.where(row, col)}: empty cell; feature values may not be missing"
            )
        filled = np.where(empty, "nan", raw)
        try:
            values = filled.astype(np.float64)
        except ValueError:  # slow path: Python's float(), naming the first bad cell
            values = np.empty(len(raw), dtype=np.float64)
            for row, cell in enumerate(filled):
                try:
                    values[row] = float(cell)
                except ValueError:
                    raise UserError(f"{self.where(row, col)}: '{cell}' is not a number") from None
        bad = ~np.isfinite(values) & ~empty
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"{self.where(row, col)}: '{raw[row]}' is not a finite number")
        return values


def read_table(path: Path) -> Table:
    """Every cell of ``path`` as text; ragged rows and unreadable files are errors."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"dataset '{NAME}': file '{path}' does not exist; give it with -o path=FILE.csv"
        ) from None
    except IsADirectoryError:
        raise UserError(f"dataset '{NAME}': '{path}' is a directory, not a CSV file") from None
    except OSError as exc:
        raise UserError(f"dataset '{NAME}': cannot read '{path}': {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    try:
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue  # blank line
            if header is None:
                header = [c.strip() for c in row]
                seen = set()
                for name in header:
                    if not name:
                        raise UserError(f"'{path}' line {reader.line_num}: empty column name")
                    if name in seen:
                        raise UserError(
                            f"'{path}' line {reader.line_num}: column '{name}' appears twice"
                        )
                    seen.add(name)
                continue
            if len(row) != len(header):
                raise UserError(
                    f"'{path}' line {reader.line_num}: {len(row)} fields, "
                    f"but the header has {len(header)}"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(f"'{path}' line {reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        raise UserError(f"'{path}' is empty; it needs a header line and one row per example")
    if not rows:
        raise UserError(f"'{path}' has a header but no rows")
    return Table(
        path=path,
        header=header,
        columns=[np.char.strip(np.array(column, dtype=str)) for column in zip(*rows, strict=True)],
        lines=np.array(lines, dtype=np.int64),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def class_names(values: np.ndarray) -> tuple[str, ...]:
    """Distinct non-empty values, sorted numerically if all are numbers, else as text."""
    distinct = sorted({v for v in values if v})
    try:
        return tuple(sorted(distinct, key=float))
    except ValueError:
        return tuple(distinct)


class CsvFeaturesDataset(Dataset):
    description = "numeric f_* features and declared targets from a CSV file (-o path=...)"
    options = (
        Option("path", str, None, "the CSV file (required)"),
        Option(
            "targets",
            str,
            None,
            "target columns and their task kinds, e.g. valence:regression,genre:multiclass "
            "(required)",
        ),
        Option("features", str, "f_", "prefix of the feature columns"),
        Option("id_column", str, "id", "column of unique example ids"),
        Option(
            "split_column",
            str,
            "split",
            "column of train/val/test per row; without it rows are split at random",
        ),
        Option("val_fraction", float, 0.15, "random split: validation fraction", min=0, max=0.5),
        Option("test_fraction", float, 0.15, "random split: test fraction", min=0, max=0.5),
        Option("seed", int, 0, "random split: seed", min=0),
    )
    # Tasks depend on -o targets, so there is no default: pass --tasks.
    default_tasks = ()

    def __init__(self) -> None:
        self._cache: tuple[tuple[str, int, int], Table] | None = None

    # --- reading -------------------------------------------------------------------
    def table(self, options: dict[str, Any]) -> Table:
        """The parsed file, re-read only when it changes on disk."""
        if not options.get("path"):
            raise UserError(f"dataset '{NAME}' needs -o path=FILE.csv")
        path = Path(options["path"]).expanduser()
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key is not None and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        table = read_table(path)
        if key is not None:
            self._cache = (key, table)
        return table

    def _checked_targets(self, options: dict[str, Any], table: Table) -> list[Target]:
        targets = parse_targets(options.get("targets"))
        reserved = {options["id_column"], options["split_column"]}
        for t in targets:
            table.column(t.column, "target")
            if t.column.startswith(options["features"]) or t.column in reserved:
                raise UserError(
                    f"target column '{t.column}' is also a feature, id or split column; "
                    "rename it or change -o features=/id_column=/split_column="
                )
        return targets

    # --- the Dataset interface -----------------------------------------------------
    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        table = self.table(options)
        specs = []
        for t in self._checked_targets(options, table):
            classes = None
            if t.kind in CATEGORICAL_KINDS:
                col = table.column(t.column, "target")
                classes = class_names(table.columns[col])
            specs.append(
                TaskSpec(
                    t.column, t.kind, classes=classes, description=f"column of {table.path.name}"
                )
            )
        return specs

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        table = self.table(options)
        n = table.n
        id_col = table.column(options["id_column"], "id")
        ids = table.columns[id_col]
        self._check_ids(table, id_col, ids)

        prefix = options["features"]
        feature_cols = [i for i, name in enumerate(table.header) if name.startswith(prefix)]
        if not feature_cols:
            raise UserError(
                f"'{table.path}' has no feature columns (names starting with '{prefix}'); "
                f"columns: {', '.join(table.header)}"
            )
        x = np.empty((n, len(feature_cols)), dtype=np.float32)
        for j, col in enumerate(feature_cols):
            x[:, j] = table.numbers(col, allow_empty=False)

        specs = {s.name: s for s in self.offered_tasks(options)}
        targets: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        for name in tasks:
            spec = specs[name]
            col = table.column(name, "target")
            if spec.classes is not None:
                cells = table.columns[col]
                index = {c: float(i) for i, c in enumerate(spec.classes)}
                y = np.array([index.get(c, np.nan) for c in cells], dtype=np.float64)
            else:
                y = table.numbers(col, allow_empty=True)
            masks[name] = ~np.isnan(y)
            targets[name] = y

        splits, how = self._splits(options, table)
        return MultiTaskData(
            inputs=DenseInputs(x),
            tasks=[specs[name] for name in tasks],
            targets=targets,
            masks=masks,
            splits=splits,
            ids=ids,
            provenance={
                "dataset": NAME,
                "path": str(table.path.resolve()),
                "sha256": table.sha256,
                "rows": n,
                "features": [table.header[c] for c in feature_cols],
                "split": how,
            },
        )

    # --- helpers -------------------------------------------------------------------
    @staticmethod
    def _check_ids(table: Table, col: int, ids: np.ndarray) -> None:
        first: dict[str, int] = {}
        for row, value in enumerate(ids):
            if not value:
                raise UserError(f"{table.where(row, col)}: empty id")
            if value in first:
                raise UserError(
                    f"{table.where(row, col)}: id '{value}' already used on line "
                    f"{table.lines[first[value]]}"
                )
            first[value] = row

    @staticmethod
    def _splits(options: dict[str, Any], table: Table) -> tuple[dict[str, np.ndarray], str]:
        n = table.n
        name = options["split_column"]
        if name in table.header:
            col = table.header.index(name)
            cells = np.char.lower(table.columns[col])
            bad = ~np.isin(cells, SPLITS)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise UserError(
                    f"{table.where(row, col)}: '{table.columns[col][row]}' is not one of "
                    f"{', '.join(SPLITS)}"
                )
            splits = {s: np.flatnonzero(cells == s) for s in SPLITS}
            for s in ("train", "val"):
                if len(splits[s]) == 0:
                    raise UserError(
                        f"'{table.path}': no row has '{s}' in column '{name}'; training needs "
                        "train rows and model selection needs val rows"
                    )
            return splits, f"column '{name}'"
        n_val = round(n * options["val_fraction"])
        n_test = round(n * options["test_fraction"])
        if n_val < 1 or n - n_val - n_test < 1:
            raise UserError(
                f"'{table.path}' has {n} rows: too few for a train and a val split with val_fraction "
                f"{options['val_fraction']} and test_fraction {options['test_fraction']}"
            )
        order = np.random.default_rng(options["seed"]).permutation(n)
        splits = {
            "val": np.sort(order[:n_val]),
            "test": np.sort(order[n_val : n_val + n_test]),
            "train": np.sort(order[n_val + n_test :]),
        }
        return splits, f"random, seed {options['seed']}"
