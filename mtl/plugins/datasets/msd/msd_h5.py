"""Million Song Dataset HDF5 files: per-track files, aggregate files and the summary file.

Each file has three groups, ``metadata``, ``analysis`` and ``musicbrainz``, each with a
compound table ``songs`` (one row per track; fields in alphabetical order, always
read by name). Per-song slices of the array datasets (``artist_terms``,
``artist_mbtags``) run from ``idx_<array>[i]`` to ``idx_<array>[i+1]`` (to the end for
the last row); a per-track file is a one-row aggregate. The summary file has the
tables but no arrays. Strings are fixed-length bytes, decoded as UTF-8.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = {
    "metadata": (
        "artist_familiarity",
        "artist_hotttnesss",
        "artist_id",
        "artist_name",
        "song_hotttnesss",
        "song_id",
        "title",
    ),
    "analysis": ("duration", "key", "loudness", "mode", "tempo", "time_signature", "track_id"),
    "musicbrainz": ("year",),
}
ARRAYS = {"terms": ("metadata", "artist_terms"), "mbtags": ("musicbrainz", "artist_mbtags")}
# numeric attributes kept per track, in this order
VALUES = (
    "loudness",
    "tempo",
    "duration",
    "year",
    "song_hotttnesss",
    "artist_hotttnesss",
    "artist_familiarity",
    "key",
    "mode",
    "time_signature",
)


class BadFile(Exception):
    """A file that cannot be used: ``kind`` is the summary's category."""

    def __init__(self, kind: str, what: str):
        super().__init__(what)
        self.kind = kind


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00")
    return str(value)


def number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def clean_values(raw: dict[str, Any]) -> list[float]:
    """Numeric attributes with missing values as NaN (year 0, tempo or duration 0, NaN)."""
    out = {name: number(raw[name]) for name in VALUES}
    for name in ("year", "tempo", "duration"):
        if out[name] <= 0:
            out[name] = math.nan
    if not 0 <= out["key"] <= 11:
        out["key"] = math.nan
    if out["mode"] not in (0.0, 1.0):
        out["mode"] = math.nan
    if out["time_signature"] < 0:
        out["time_signature"] = math.nan
    return [out[name] for name in VALUES]


def _tables(f: Any) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """Each group's ``songs`` table and its field names (read once: h5py rebuilds dtypes)."""
    tables = {}
    for group, fields in FIELDS.items():
        ds = f.get(f"{group}/songs")
        if ds is None:
            raise BadFile("missing group or field", f"no /{group}/songs table")
        names = ds.dtype.names or ()
        missing = [x for x in fields if x not in names]
        if missing:
            raise BadFile(
                "missing group or field", f"/{group}/songs lacks field {', '.join(missing)}"
            )
        tables[group] = (ds, names)
    return tables


def _slices(
    f: Any, group: str, name: str, idx: np.ndarray | None, n_rows: int, stop: int
) -> list[list[str]] | None:
    """Per-row slices of array ``group/name`` for rows with offsets ``idx`` (None: one row)."""
    arr = f.get(f"{group}/{name}")
    if arr is None:
        return None
    if idx is None:
        return [[text(v) for v in arr[()]]]
    ends = list(idx[1:]) + [len(arr)] if stop >= n_rows else list(idx[1:])
    starts = idx[: len(ends)]
    lo, hi = (int(starts[0]), int(ends[-1])) if ends else (0, 0)
    values = [text(v) for v in arr[lo:hi]] if hi > lo else []
    return [values[int(a) - lo : int(b) - lo] for a, b in zip(starts, ends, strict=True)]


def read_rows(f: Any, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """Rows ``start:stop`` of an open MSD HDF5 file as plain records."""
    tables = _tables(f)
    n_rows = min(len(ds) for ds, _ in tables.values())
    stop = n_rows if stop is None else min(stop, n_rows)
    if n_rows == 0 or start >= stop:
        return []
    columns: dict[str, Any] = {}
    offsets: dict[str, np.ndarray | None] = {}
    for group, fields in FIELDS.items():
        ds, names = tables[group]
        extra = min(stop + 1, n_rows)  # one more row: where the last row's arrays end
        rows = ds[start:extra]
        for name in fields:
            columns[name] = rows[name]
        for key, (g, array) in ARRAYS.items():
            if g == group:
                if n_rows == 1:
                    offsets[key] = None
                elif f"idx_{array}" in names:
                    offsets[key] = rows[f"idx_{array}"].astype(np.int64)
                elif array in f[group]:
                    raise BadFile(
                        "missing group or field", f"/{group}/songs lacks field idx_{array}"
                    )
                else:
                    offsets[key] = None
    arrays = {}
    for key, (group, name) in ARRAYS.items():
        idx = offsets[key]
        arrays[key] = _slices(f, group, name, idx, n_rows, stop)
    records = []
    for i in range(stop - start):
        raw = {name: col[i] for name, col in columns.items()}
        terms = arrays["terms"][i] if arrays["terms"] is not None else None
        mbtags = arrays["mbtags"][i] if arrays["mbtags"] is not None else None
        records.append(_record(raw, terms, mbtags))
    return records


def _record(
    raw: dict[str, Any], terms: list[str] | None, mbtags: list[str] | None
) -> dict[str, Any]:
    return {
        "track_id": text(raw["track_id"]),
        "artist_id": text(raw["artist_id"]),
        "artist_name": text(raw["artist_name"]),
        "title": text(raw["title"]),
        "song_id": text(raw["song_id"]),
        "values": clean_values(raw),
        "terms": terms,
        "mbtags": mbtags,
    }


# what is read of each table: HDF5 converts the file's fields (by name) into these types
STRING_FIELDS = {
    "artist_id": "S64",
    "artist_name": "S1024",
    "song_id": "S64",
    "title": "S1024",
    "track_id": "S64",
}
MEMORY_TYPES = {
    group: np.dtype([(name, STRING_FIELDS.get(name, "<f8")) for name in fields])
    for group, fields in FIELDS.items()
}


def _exists(fid: Any, name: str) -> bool:
    """Whether ``name`` (``group/dataset``) exists, checking each level as HDF5 requires."""
    parts = name.split("/")
    return all(fid.links.exists("/".join(parts[:k]).encode()) for k in range(1, len(parts) + 1))


def _read_table(fid: Any, group: str) -> np.ndarray:
    """The fields of ``group/songs`` that mtl uses, converted by HDF5 (low-level API: fast)."""
    import h5py

    if not _exists(fid, f"{group}/songs"):
        raise BadFile("missing group or field", f"no /{group}/songs table")
    dsid = h5py.h5d.open(fid, f"{group}/songs".encode())
    ftype = dsid.get_type()
    if not isinstance(ftype, h5py.h5t.TypeCompoundID):
        raise BadFile("missing group or field", f"/{group}/songs is not a table")
    names = {ftype.get_member_name(i).decode() for i in range(ftype.get_nmembers())}
    missing = [x for x in FIELDS[group] if x not in names]
    if missing:
        raise BadFile("missing group or field", f"/{group}/songs lacks field {', '.join(missing)}")
    if dsid.shape != (1,):
        raise BadFile(
            "missing group or field", f"/{group}/songs has shape {dsid.shape}, not one row"
        )
    dtype = MEMORY_TYPES[group]
    out = np.empty(1, dtype=dtype)
    dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=h5py.h5t.py_create(dtype))
    return out


def _read_strings(fid: Any, name: str) -> list[str] | None:
    import h5py

    if not _exists(fid, name):
        return None
    dsid = h5py.h5d.open(fid, name.encode())
    arr = np.empty(dsid.shape, dtype=dsid.dtype)
    if arr.size:
        dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
    return [text(v) for v in arr.reshape(-1)]


def _read_one(path: str | Path) -> dict[str, Any]:
    """The fast path for a per-track file: three tables and two arrays, low-level reads."""
    import h5py

    fid = h5py.h5f.open(str(path).encode(), h5py.h5f.ACC_RDONLY)
    try:
        raw: dict[str, Any] = {}
        for group, fields in FIELDS.items():
            row = _read_table(fid, group)
            for name in fields:
                raw[name] = row[name][0]
        terms = _read_strings(fid, "metadata/artist_terms")
        mbtags = _read_strings(fid, "musicbrainz/artist_mbtags")
    finally:
        fid.close()
    return _record(raw, terms, mbtags)


def read_track_file(path: str | Path) -> dict[str, Any]:
    """The record of one per-track file; :class:`BadFile` when it cannot be used."""
    try:
        records = [_read_one(path)]
    except BadFile:
        raise
    except OSError as exc:
        raise BadFile(
            "unreadable HDF5", f"cannot read HDF5 ({str(exc).splitlines()[0][:120]})"
        ) from None
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise BadFile(
            "unreadable HDF5", f"malformed HDF5 ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    record = records[0]
    stem = Path(path).stem
    if not record["track_id"]:
        record["track_id"] = stem
    elif record["track_id"] != stem:
        raise BadFile("track id mismatch", f"holds track {record['track_id']}, not {stem}")
    if record["terms"] is None:
        raise BadFile("missing group or field", "no /metadata/artist_terms array")
    if record["mbtags"] is None:
        record["mbtags"] = []
    return record


def read_track_files(paths: list[str]) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """Records of many per-track files, and ``(kind, path, what)`` for those skipped.

    Runs in worker processes: plain data in, plain data out.
    """
    records, problems = [], []
    for path in paths:
        try:
            records.append(read_track_file(path))
        except BadFile as exc:
            problems.append((exc.kind, path, str(exc)))
    return records, problems


def find_track_files(root: Path) -> Iterator[tuple[str, str]]:
    """``(track_id, path)`` of every ``TR….h5`` file under ``root`` (``root/data`` if present)."""
    base = root / "data" if (root / "data").is_dir() else root
    stack = [str(base)]
    while stack:
        top = stack.pop()
        try:
            entries = sorted(os.scandir(top), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=True):
                stack.append(entry.path)
            elif entry.name.endswith(".h5"):
                yield entry.name[:-3], entry.path


def open_aggregate(path: Path) -> tuple[Any, int]:
    """An aggregate or summary file, open, and its number of rows."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise BadFile(
            "unreadable HDF5", f"cannot read HDF5 ({str(exc).splitlines()[0][:120]})"
        ) from None
    try:
        tables = _tables(f)
    except BadFile:
        f.close()
        raise
    return f, min(len(ds) for ds, _ in tables.values())
