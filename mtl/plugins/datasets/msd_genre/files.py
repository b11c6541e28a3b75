"""MSD-10 / MSD-25 genre sequence files (``.npz``): finding them and reading their arrays.

Per track, 120 segments × 25 features (12 timbre, 12 chroma, 1 loudness). ``inputs``
is stored as N×3000 (segment-major: 120 blocks of 25 features) or N×120×25;
``targets`` holds class ids 0..K−1; ``label_map`` optionally names the classes.
File names follow ``msd-10-genre-{train,valid}.npz`` with the test split in
``msd-10-genre-test-inputs.npz`` and ``…-test-targets.npz``, or ``msd10-{train,valid,test}.npz``.
Variable-length files (``…-var-length.npz``) hold ``inputs_<n>``, ``targets_<n>``
and ``indices_<n>`` buckets padded with NaN segments up to ``n``.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from mtl.core.errors import UserError

FEATURES = 25
FILE_SPLITS = ("train", "valid", "test")
NAME = re.compile(
    r"^msd-?(?P<k>10|25)(?:-genre)?-(?P<split>train|valid|test)(?P<v1>-var-length)?"
    r"(?:-(?P<part>inputs|targets))?(?P<v2>-var-length)?\.npz$",
    re.IGNORECASE,
)
MSD10_CLASSES = (
    "Rap",
    "Rock",
    "RnB",
    "Electronic",
    "Metal",
    "Blues",
    "Pop",
    "Jazz",
    "Country",
    "Reggae",
)


def default_classes(k: int) -> tuple[str, ...]:
    return MSD10_CLASSES if k == 10 else tuple(f"style_{i:02d}" for i in range(k))


def find_files(root: Path, k: int, var_length: bool) -> dict[str, list[Path]]:
    """Split → its files (one combined file, or inputs and targets files) for MSD-``k``."""
    out: dict[str, list[Path]] = {s: [] for s in FILE_SPLITS}
    for path in sorted(root.iterdir()):
        m = NAME.match(path.name)
        if not m or int(m["k"]) != k or bool(m["v1"] or m["v2"]) != var_length:
            continue
        out[m["split"].lower()].append(path)
    return out


class NpzReader:
    """Reads the keys of a few ``.npz`` files as one mapping, with errors that name the file."""

    def __init__(self, paths: list[Path]):
        self.files: dict[str, Path] = {}
        self.handles = []
        for path in paths:
            try:
                handle = np.load(path, allow_pickle=False)  # data never runs code
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise UserError(f"{path} is not a readable .npz file ({exc})") from None
            if not hasattr(handle, "files"):
                raise UserError(
                    f"{path} holds a single array; expected an .npz archive of named arrays"
                )
            self.handles.append(handle)
            for key in handle.files:
                self.files.setdefault(key, path)
        self.paths = paths

    def __contains__(self, key: str) -> bool:
        return key in self.files

    def keys(self) -> list[str]:
        return list(self.files)

    def where(self, key: str) -> Path:
        return self.files[key]

    def get(self, key: str) -> np.ndarray:
        path = self.files.get(key)
        if path is None:
            names = " or ".join(str(p) for p in self.paths)
            raise UserError(
                f"{names} has no array '{key}' (it has: {', '.join(sorted(self.files))})"
            )
        handle = self.handles[self.paths.index(path)]
        try:
            return handle[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise UserError(
                    f"{path}: '{key}' is stored as pickled Python objects, which mtl never "
                    "unpickles (a data file must not run code); store it as an array of "
                    "strings or numbers, e.g. label_map=np.array(names)"
                ) from None
            raise UserError(f"{path}: cannot read '{key}' ({exc})") from None

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def as_sequences(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """``(n, len*25)`` or ``(n, len, 25)`` → ``(n, len, 25)`` float32."""
    if x.dtype.kind not in "fiu":
        raise UserError(f"{path}: '{key}' holds {x.dtype} values; expected numbers")
    if x.ndim == 2 and x.shape[1] % FEATURES == 0 and x.shape[1]:
        x = x.reshape(x.shape[0], x.shape[1] // FEATURES, FEATURES)
    if x.ndim != 3 or x.shape[2] != FEATURES or x.shape[1] < 1:
        raise UserError(
            f"{path}: '{key}' has shape {x.shape}; expected N×3000 or N×120×25 "
            f"(segments × {FEATURES} features)"
        )
    return x.astype(np.float32, copy=False)


def padded_lengths(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Lengths from trailing all-NaN segments; NaN anywhere else is an error."""
    nan = np.isnan(x)
    nan_rows = nan.all(axis=2)
    partial = nan.any(axis=2) & ~nan_rows
    real = ~nan_rows
    lengths = np.where(real.any(axis=1), x.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)
    inside = nan_rows & (np.arange(x.shape[1])[None, :] < lengths[:, None])
    bad = partial | inside
    if bad.any():
        track, seg = (int(v) for v in np.argwhere(bad)[0])
        raise UserError(
            f"{path}: '{key}' has NaN outside the padding (track {track}, segment {seg}); "
            "NaN may only fill whole segments at the end of a sequence"
        )
    if (lengths == 0).any():
        track = int(np.flatnonzero(lengths == 0)[0])
        raise UserError(f"{path}: '{key}' track {track} has no segment that is not NaN")
    if np.isinf(x).any():
        track = int(np.argwhere(np.isinf(x))[0][0])
        raise UserError(f"{path}: '{key}' track {track} holds infinite values")
    return lengths.astype(np.int64)


def as_targets(y: np.ndarray, n: int, k: int, path: Path, key: str) -> np.ndarray:
    """Class ids 0..k−1 from ids (n,) or (n, 1), or one-hot rows (n, k)."""
    if y.ndim == 2 and y.shape == (n, k) and k > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != n:
        raise UserError(
            f"{path}: '{key}' has shape {y.shape}; expected {n} class ids (one per track)"
        )
    if y.dtype.kind not in "fiu" or not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
        raise UserError(f"{path}: '{key}' must hold integer class ids 0..{k - 1}")
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise UserError(
            f"{path}: '{key}' holds class id {int(y.min() if y.min() < 0 else y.max())}, "
            f"outside 0..{k - 1} for MSD-{k}; check -o classes"
        )
    return y.astype(np.int64)


def as_label_map(value: np.ndarray, k: int, path: Path) -> tuple[str, ...]:
    """Class names from an array of K names or (K, 2) name/id pairs (never pickled objects:
    :class:`NpzReader` refuses those unread)."""
    if value.ndim == 2 and value.shape[1] == 2:
        pairs = []
        for a, b in value.tolist():
            pairs.append((str(b), a) if str(a).strip().lstrip("-").isdigit() else (str(a), b))
    elif value.ndim == 1:
        names = tuple(str(v.decode() if isinstance(v, bytes) else v) for v in value.tolist())
        if len(names) != k:
            raise UserError(f"{path}: label_map names {len(names)} classes; MSD-{k} has {k}")
        return names
    else:
        raise UserError(f"{path}: label_map has shape {value.shape}; expected {k} class names")
    try:
        by_id = {int(i): (n.decode() if isinstance(n, bytes) else n) for n, i in pairs}
    except (TypeError, ValueError):
        raise UserError(f"{path}: label_map pairs must be class name and integer id") from None
    if sorted(by_id) != list(range(k)):
        raise UserError(f"{path}: label_map ids must be 0..{k - 1}; got {sorted(by_id)}")
    return tuple(by_id[i] for i in range(k))


def _window(lengths: np.ndarray, limit: int | None, crop: str) -> tuple[np.ndarray, np.ndarray]:
    """Per track, the first kept segment and how many are kept."""
    if limit is None:
        return np.zeros_like(lengths), lengths
    kept = np.minimum(lengths, limit)
    start = np.zeros_like(lengths) if crop == "start" else (lengths - kept) // 2
    return start, kept


def _place(
    out: np.ndarray,
    rows: np.ndarray,
    x: np.ndarray,
    starts: np.ndarray,
    kept: np.ndarray,
    chunk: int = 512,
) -> None:
    """Copy each track's kept segments to the front of its ``out`` row; the rest stays zero.

    Works through ``chunk`` tracks at a time, so the temporaries stay small.
    """
    width = out.shape[1]
    steps = np.arange(min(width, x.shape[1]))
    for a in range(0, len(rows), chunk):
        b = min(a + chunk, len(rows))
        simple = np.flatnonzero(starts[a:b] == 0) + a
        if len(simple):
            block = x[simple, : len(steps)]
            real = steps[None, :, None] < kept[simple][:, None, None]
            out[rows[simple], : len(steps)] = np.where(real, block, np.float32(0))
        for j in np.flatnonzero(starts[a:b] != 0) + a:
            out[rows[j], : kept[j]] = x[j, starts[j] : starts[j] + kept[j]]


class SplitReader:
    """One split's files, read in two passes so that only one bucket is in memory at a time.

    Construction reads every bucket once for its lengths (from the NaN padding), crop
    windows, targets and track positions; :meth:`fill` reads them again and copies the
    kept segments into rows of a caller's array, so several splits share one padded
    array without a concatenating copy.
    """

    def __init__(
        self,
        paths: list[Path],
        k: int,
        var_length: bool,
        limit: int | None,
        crop: str,
    ):
        self.paths = paths
        self.reader = reader = NpzReader(paths)
        try:
            self._plan(k, var_length, limit, crop)
        except BaseException:
            reader.close()
            raise

    def _plan(self, k: int, var_length: bool, limit: int | None, crop: str) -> None:
        reader, paths = self.reader, self.paths
        self.label_map = (
            as_label_map(reader.get("label_map"), k, reader.where("label_map"))
            if "label_map" in reader
            else None
        )
        if not var_length:
            buckets = [("inputs", "targets", None)]
        else:
            sizes = sorted(
                int(key.split("_", 1)[1])
                for key in reader.keys()
                if re.fullmatch(r"inputs_\d+", key)
            )
            if not sizes:
                raise UserError(
                    f"{', '.join(map(str, paths))} has no inputs_<n> arrays; "
                    "variable-length files hold inputs_<n>, targets_<n> and indices_<n>"
                )
            buckets = [(f"inputs_{n}", f"targets_{n}", f"indices_{n}") for n in sizes]
        has_targets = [t in reader for _, t, _ in buckets]
        if any(has_targets) and not all(has_targets):
            missing = buckets[has_targets.index(False)][1]
            raise UserError(
                f"{', '.join(map(str, paths))} has no '{missing}' but has other targets"
            )
        windows, targets_of = [], []
        for ikey, tkey, _ in buckets:
            x = self._inputs(ikey)
            lengths = padded_lengths(x, reader.where(ikey), ikey)
            windows.append(_window(lengths, limit, crop))
            if tkey in reader:
                targets_of.append(as_targets(reader.get(tkey), len(x), k, reader.where(tkey), tkey))
            del x
        sizes_of = [len(kept) for _, kept in windows]
        total = sum(sizes_of)
        use_indices = var_length and all(i in reader for _, _, i in buckets)
        rows_of, placed = [], 0
        for (_, _, xkey), m in zip(buckets, sizes_of, strict=True):
            if use_indices:
                rows = np.asarray(reader.get(xkey)).reshape(-1)
                if len(rows) != m or rows.dtype.kind not in "iu":
                    raise UserError(
                        f"{reader.where(xkey)}: '{xkey}' must hold {m} integer track indices"
                    )
                rows = rows.astype(np.int64)
            else:
                rows = np.arange(placed, placed + m)
            placed += m
            rows_of.append(rows)
        if use_indices:
            every = np.sort(np.concatenate(rows_of)) if rows_of else np.zeros(0, np.int64)
            if not np.array_equal(every, np.arange(total)):
                raise UserError(
                    f"{', '.join(map(str, paths))}: the indices_<n> arrays must together hold "
                    f"each of 0..{total - 1} once"
                )
        self.lengths = np.zeros(total, dtype=np.int64)
        self.targets: np.ndarray | None = np.zeros(total, dtype=np.int64) if targets_of else None
        for b, rows in enumerate(rows_of):
            self.lengths[rows] = windows[b][1]
            if self.targets is not None:
                self.targets[rows] = targets_of[b]
        self._buckets = list(zip([b[0] for b in buckets], rows_of, windows, strict=True))

    def _inputs(self, key: str) -> np.ndarray:
        path = self.reader.where(key) if key in self.reader else self.paths[0]
        return as_sequences(self.reader.get(key), path, key)

    @property
    def n(self) -> int:
        return len(self.lengths)

    @property
    def width(self) -> int:
        """The longest kept sequence."""
        return int(self.lengths.max(initial=1))

    def fill(self, out: np.ndarray) -> None:
        """Copy the kept segments into ``out`` (``n`` zero rows at least ``width`` long)."""
        for ikey, rows, (starts, kept) in self._buckets:
            _place(out, rows, self._inputs(ikey), starts, kept)

    def close(self) -> None:
        self.reader.close()
