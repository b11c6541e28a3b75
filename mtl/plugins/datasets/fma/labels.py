"""Label files of the FMA lab layout: genre lists and the multitask affect CSV.

Genre labels: a header line, then ``<filename><TAB><genre>``; multitask labels: a CSV
with a header, rows ``<id>,<valence>,<energy>,<danceability>``. Rows are keyed by the
numeric clip id (see :func:`~mtl.plugins.datasets.fma.arrays.numeric_id`); a first line
whose id field has no digits is the header, so files without one read as well.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from mtl.core.errors import UserError
from mtl.plugins.datasets.fma.arrays import ArrayFile, numeric_id

AFFECT = ("valence", "energy", "danceability")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(
            f"missing label file {path}: the layout has train_labels.txt and test_labels.txt "
            "beside the train/ and test/ directories"
        )
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read label file {path} ({exc})") from None


def _is_header(first_field: str) -> bool:
    """A first line whose id field has no digits (``filename``, ``id``) is a header."""
    return numeric_id(first_field.strip()) is None


def read_genres(path: Path) -> dict[int, str]:
    """Clip id → raw genre, from a header line and ``<filename><TAB><genre>`` rows."""
    out: dict[int, str] = {}
    lines = _lines(path)
    skip = 1 if lines and _is_header(lines[0].split("\t")[0].split(" ")[0]) else 0
    for number, line in enumerate(lines[skip:], start=1 + skip):
        if not line.strip():
            continue
        name, sep, genre = line.partition("\t")
        if not sep:
            name, _, genre = line.strip().partition(" ")
        name, genre = name.strip(), genre.strip()
        clip = numeric_id(name)
        if clip is None or not genre:
            raise UserError(
                f"{path}:{number}: expected '<filename><TAB><genre>' with a numeric id, "
                f"got '{line.strip()}'"
            )
        if clip in out and out[clip] != genre:
            raise UserError(
                f"{path}:{number}: clip {clip} is labelled twice ({out[clip]}, {genre})"
            )
        out[clip] = genre
    if not out:
        raise UserError(f"label file {path} has no label rows after its header line")
    return out


def read_affect(path: Path) -> dict[int, tuple[float, float, float]]:
    """Clip id → (valence, energy, danceability); NaN where a cell is empty or 'nan'.

    The header names the columns (any order; the id column is the first one not named
    after a task); without those names the columns are taken as id, valence, energy,
    danceability.
    """
    rows = [r for r in csv.reader(_lines(path)) if any(c.strip() for c in r)]
    if not rows:
        raise UserError(
            f"label file {path} is empty; expected a header line and id,valence,energy,danceability rows"
        )
    header = [h.strip().lower() for h in rows[0]] if _is_header(rows[0][0]) else []
    if all(t in header for t in AFFECT):
        cols = [header.index(t) for t in AFFECT]
        id_col = next(i for i in range(len(header)) if i not in cols)
    else:
        id_col, cols = 0, [1, 2, 3]
    width = max([id_col, *cols]) + 1
    out: dict[int, tuple[float, float, float]] = {}
    skip = 1 if header else 0
    for number, row in enumerate(rows[skip:], start=1 + skip):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < width:
            raise UserError(
                f"{path}:{number}: expected {width} comma-separated columns "
                f"(id,{','.join(AFFECT)}), got {len(row)}"
            )
        clip = numeric_id(row[id_col].strip())
        if clip is None:
            raise UserError(f"{path}:{number}: '{row[id_col]}' has no numeric clip id")
        values = []
        for task, c in zip(AFFECT, cols, strict=True):
            cell = row[c].strip()
            try:
                value = float(cell) if cell else math.nan
            except ValueError:
                raise UserError(f"{path}:{number}: {task} '{cell}' is not a number") from None
            if math.isinf(value):
                raise UserError(f"{path}:{number}: {task} is infinite")
            values.append(value)
        out[clip] = (values[0], values[1], values[2])
    if not out:
        raise UserError(f"label file {path} has no label rows after its header line")
    return out


def check_covered(files: list[ArrayFile], labels: dict, label_path: Path) -> int:
    """Every array file has a label row; returns the number of label rows without an array."""
    missing = [f for f in files if f.clip not in labels]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise UserError(
            f"{missing[0].path} (clip {missing[0].clip}){more} has no row in {label_path}; "
            "label rows are matched to array files by the numeric id before the first dot"
        )
    return len(set(labels) - {f.clip for f in files})
