"""The prepared MSD file: one HDF5 file holding everything ``mtl train --dataset msd`` needs.

Layout (``format_version`` 1)::

    /                    attrs: mtl_format="msd", format_version, created, mtl_version,
                         provenance (JSON: inputs with sizes, options, counts)
    /vocab               the words (UTF-8 strings), column j of the bag-of-words
    /tracks/msd_id       MSD track ids (S18)        /tracks/mxm_id   musiXmatch ids (int64)
    /tracks/artist_id    MSD artist ids             /tracks/artist_name, /tracks/title
    /tracks/split        0 train, 1 val, 2 test (uint8)
    /bow/indptr, /bow/indices, /bow/counts          CSR word counts (int64, int32, int32)
    /labels/<task>       float64 per track, NaN = missing; attrs kind, source, units, classes
    /tags/<family>/      binary tag tasks of one source as CSR of positives: indptr,
                         indices (into names), names, terms, known (bool: track is labelled)
    /task_table          compound: name, kind, source, labelled, positives (-1: not binary)

Written to a temporary file in the output's directory, fsynced, then renamed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtl.core.data import TaskSpec
from mtl.core.errors import UserError

FORMAT = "msd"
FORMAT_VERSION = 1
PREPARE_HINT = (
    "prepare it with: mtl data prepare msd --mxm mxm_dataset_train.txt "
    "--mxm mxm_dataset_test.txt --msd /path/to/MillionSong --out {path}"
)


@dataclass
class ScalarTask:
    """A task stored as one value per track (NaN = missing)."""

    name: str
    kind: str
    source: str
    values: np.ndarray
    units: str | None = None
    classes: tuple[str, ...] | None = None
    description: str = ""


@dataclass
class PreparedData:
    """Everything written to the prepared file."""

    vocab: list[str]
    msd_ids: list[str]
    mxm_ids: np.ndarray
    artist_ids: list[str]
    artist_names: list[str]
    titles: list[str]
    split: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    scalars: list[ScalarTask]
    tag_families: dict[str, Any]  # family name → TagFamily
    provenance: dict[str, Any] = field(default_factory=dict)


def task_rows(data: PreparedData) -> list[dict[str, Any]]:
    """The task table: name, kind, source, labelled count, positives (-1 if not binary)."""
    rows = []
    for t in data.scalars:
        labelled = ~np.isnan(t.values)
        positives = int((t.values[labelled] == 1).sum()) if t.kind == "binary" else -1
        rows.append(
            {
                "name": t.name,
                "kind": t.kind,
                "source": t.source,
                "labelled": int(labelled.sum()),
                "positives": positives,
            }
        )
    for family in data.tag_families.values():
        labelled = int(family.known.sum())
        for name, pos in zip(family.names, family.positives().tolist(), strict=True):
            rows.append(
                {
                    "name": name,
                    "kind": "binary",
                    "source": family.source,
                    "labelled": labelled,
                    "positives": int(pos),
                }
            )
    return rows


def _strings(group: Any, name: str, values: list[str]) -> None:
    import h5py

    group.create_dataset(name, data=np.array(values, dtype=object), dtype=h5py.string_dtype())


def write_prepared(path: Path, data: PreparedData) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    import h5py

    from mtl import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["mtl_format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["created"] = data.provenance.get("created", "")
            f.attrs["mtl_version"] = __version__
            f.attrs["provenance"] = json.dumps(data.provenance)
            _strings(f, "vocab", data.vocab)
            tracks = f.create_group("tracks")
            tracks.create_dataset("msd_id", data=np.array(data.msd_ids, dtype="S18"))
            tracks.create_dataset("mxm_id", data=data.mxm_ids.astype(np.int64))
            _strings(tracks, "artist_id", data.artist_ids)
            _strings(tracks, "artist_name", data.artist_names)
            _strings(tracks, "title", data.titles)
            tracks.create_dataset("split", data=data.split.astype(np.uint8))
            bow = f.create_group("bow")
            bow.attrs["dim"] = len(data.vocab)
            kw = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
            bow.create_dataset("indptr", data=data.indptr.astype(np.int64))
            bow.create_dataset("indices", data=data.indices.astype(np.int32), chunks=True, **kw)
            bow.create_dataset("counts", data=data.counts.astype(np.int32), chunks=True, **kw)
            labels = f.create_group("labels")
            for t in data.scalars:
                ds = labels.create_dataset(t.name, data=t.values.astype(np.float64))
                ds.attrs["kind"] = t.kind
                ds.attrs["source"] = t.source
                ds.attrs["units"] = t.units or ""
                ds.attrs["description"] = t.description
                ds.attrs["classes"] = json.dumps(list(t.classes) if t.classes else None)
            tags = f.create_group("tags")
            for key, family in data.tag_families.items():
                g = tags.create_group(key)
                g.attrs["source"] = family.source
                _strings(g, "names", family.names)
                _strings(g, "terms", family.terms)
                g.create_dataset("indptr", data=family.indptr.astype(np.int64))
                g.create_dataset("indices", data=family.indices.astype(np.int32))
                g.create_dataset("known", data=family.known.astype(bool))
            rows = task_rows(data)
            dtype = np.dtype(
                [
                    ("name", "S128"),
                    ("kind", "S16"),
                    ("source", "S64"),
                    ("labelled", "<i8"),
                    ("positives", "<i8"),
                ]
            )
            table = np.array(
                [
                    (
                        r["name"].encode(),
                        r["kind"].encode(),
                        r["source"].encode(),
                        r["labelled"],
                        r["positives"],
                    )
                    for r in rows
                ],
                dtype=dtype,
            )
            f.create_dataset("task_table", data=table)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _text(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


class PreparedFile:
    """Read access to a prepared file; every failure to open it is a :class:`UserError`."""

    def __init__(self, path: Path):
        import h5py

        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise UserError(
                f"no prepared MSD file at '{self.path}'; " + PREPARE_HINT.format(path=self.path)
            )
        try:
            self.f = h5py.File(self.path, "r")
        except OSError:
            raise UserError(
                f"'{self.path}' is not a readable HDF5 file; " + PREPARE_HINT.format(path=self.path)
            ) from None
        if self.f.attrs.get("mtl_format") != FORMAT:
            self.f.close()
            raise UserError(f"'{self.path}' is not a file written by 'mtl data prepare msd'")
        version = int(self.f.attrs.get("format_version", 0))
        if version != FORMAT_VERSION:
            self.f.close()
            raise UserError(
                f"'{self.path}' has format version {version}, this mtl reads {FORMAT_VERSION}; prepare it again"
            )

    def __enter__(self) -> PreparedFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.f.close()

    @property
    def n(self) -> int:
        return len(self.f["tracks/split"])

    @property
    def dim(self) -> int:
        return int(self.f["bow"].attrs["dim"])

    def provenance(self) -> dict[str, Any]:
        return json.loads(self.f.attrs.get("provenance", "{}"))

    def vocab(self) -> list[str]:
        return _text(self.f["vocab"][:])

    def msd_ids(self) -> np.ndarray:
        return np.array(_text(self.f["tracks/msd_id"][:]))

    def split(self) -> np.ndarray:
        return self.f["tracks/split"][:]

    def artist_ids(self) -> list[str]:
        return _text(self.f["tracks/artist_id"][:])

    def track_info(self, row: int) -> dict[str, Any]:
        t = self.f["tracks"]
        return {
            "msd_id": _text([t["msd_id"][row]])[0],
            "mxm_id": int(t["mxm_id"][row]),
            "artist_id": _text([t["artist_id"][row]])[0],
            "artist_name": _text([t["artist_name"][row]])[0],
            "title": _text([t["title"][row]])[0],
            "split": int(t["split"][row]),
        }

    def bow(self, index_dtype: type = np.int32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR ``indptr``, column ``indices`` (read as ``index_dtype``) and word ``counts``."""
        b = self.f["bow"]
        indices = np.empty(b["indices"].shape, dtype=index_dtype)
        if len(indices):
            b["indices"].read_direct(indices)
        return b["indptr"][:], indices, b["counts"][:]

    def bow_row(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        b = self.f["bow"]
        lo, hi = b["indptr"][row : row + 2]
        return b["indices"][lo:hi], b["counts"][lo:hi]

    def task_table(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.f["task_table"][:]:
            rows.append(
                {
                    "name": r["name"].decode(),
                    "kind": r["kind"].decode(),
                    "source": r["source"].decode(),
                    "labelled": int(r["labelled"]),
                    "positives": int(r["positives"]) if r["kind"].decode() == "binary" else None,
                }
            )
        return rows

    def task_specs(self) -> list[TaskSpec]:
        specs = []
        for r in self.task_table():
            classes = units = None
            description = f"{r['source']}"
            if r["name"] in self.f["labels"]:
                attrs = self.f["labels"][r["name"]].attrs
                loaded = json.loads(attrs.get("classes", "null"))
                classes = tuple(loaded) if loaded else None
                units = attrs.get("units") or None
                description = attrs.get("description") or description
            specs.append(
                TaskSpec(
                    r["name"], r["kind"], classes=classes, units=units, description=description
                )
            )
        return specs

    def _tag_location(self) -> dict[str, tuple[str, int]]:
        out = {}
        for key in self.f["tags"]:
            for col, name in enumerate(_text(self.f["tags"][key]["names"][:])):
                out[name] = (key, col)
        return out

    def labels(self, names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``name → (values, mask)`` for scalar and tag tasks; values are NaN where missing."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        tags = self._tag_location()
        wanted_by_family: dict[str, dict[int, str]] = {}
        for name in names:
            if name in self.f["labels"]:
                y = self.f["labels"][name][:].astype(np.float64)
                out[name] = (y, ~np.isnan(y))
            elif name in tags:
                key, col = tags[name]
                wanted_by_family.setdefault(key, {})[col] = name
            else:
                raise UserError(f"'{self.path}' has no task '{name}'")
        for key, cols in wanted_by_family.items():
            g = self.f["tags"][key]
            indptr, indices, known = g["indptr"][:], g["indices"][:], g["known"][:]
            rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            for col, name in cols.items():
                y = np.where(known, 0.0, np.nan)
                y[rows[indices == col]] = 1.0
                out[name] = (y, known.copy())
        return {name: out[name] for name in names}
