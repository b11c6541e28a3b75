"""Spectrogram array files of the FMA lab layout: discovery, numeric ids, headers, padding.

One file per clip, ``<id>.fused.full.npy`` (or ``.npy.gz``), shape (140, T): rows
0–127 mel spectrogram in dB, rows 128–139 chroma. Frequency is the first axis, so
every clip is transposed to time-major frames before it is padded.
"""

from __future__ import annotations

import gzip
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtl.core.data import SequenceInputs
from mtl.core.errors import UserError

MEL_ROWS = 128
CHROMA_ROWS = 12
FUSED_ROWS = MEL_ROWS + CHROMA_ROWS
VIEWS = ("mel", "chroma", "fused")
ROWS = {"mel": slice(0, MEL_ROWS), "chroma": slice(MEL_ROWS, FUSED_ROWS), "fused": slice(None)}
SUFFIXES = (".npy", ".npy.gz")
CROPS = ("start", "centre")
_DIGITS = re.compile(r"\d+")


def numeric_id(name: str) -> int | None:
    """The clip id of a file name: the last run of digits before the first dot.

    ``000123.fused.full.npy``, ``123.full.fused.npy.gz`` and ``fma_123.beatsync.fused.npy``
    all give 123, so label files and array files match whatever their prefixes,
    zero padding and suffixes.
    """
    runs = _DIGITS.findall(name.split(".", 1)[0])
    return int(runs[-1]) if runs else None


def file_view(name: str) -> str:
    """``mel`` or ``chroma`` for single-view files (a ``.mel.``/``.chroma.`` part), else ``fused``."""
    parts = name.lower().split(".")
    for view in ("mel", "chroma"):
        if view in parts:
            return view
    return "fused"


@dataclass(frozen=True)
class ArrayFile:
    """One clip's array file and what it holds (``kind``: fused, mel or chroma rows)."""

    path: Path
    clip: int
    kind: str

    @property
    def rows(self) -> int:
        return {"fused": FUSED_ROWS, "mel": MEL_ROWS, "chroma": CHROMA_ROWS}[self.kind]

    def view_rows(self, view: str) -> slice:
        return ROWS[view] if self.kind == "fused" else slice(None)


def find_arrays(directory: Path, view: str) -> list[ArrayFile]:
    """The files of ``directory`` that give ``view``, sorted by clip id; one per clip."""
    if not directory.is_dir():
        raise UserError(
            f"{directory} does not exist: the layout has train/ and test/ directories of "
            "<id>.fused.full.npy (or .npy.gz) arrays beside train_labels.txt and test_labels.txt"
        )
    found: dict[str, list[ArrayFile]] = {"fused": [], "mel": [], "chroma": []}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.name.endswith(SUFFIXES) or not path.is_file():
            continue
        clip = numeric_id(path.name)
        if clip is None:
            raise UserError(f"{path}: the file name has no numeric clip id before its first dot")
        found[file_view(path.name)].append(ArrayFile(path, clip, file_view(path.name)))
    if not any(found.values()):
        raise UserError(f"no .npy or .npy.gz array files in {directory}")
    files = found[view] if view != "fused" and found[view] else found["fused"]
    if not files:
        have = ", ".join(k for k, v in found.items() if v)
        raise UserError(
            f"no array files for view '{view}' in {directory} (it holds {have} files only): "
            "the mel and chroma views are sliced from <id>.fused.full.npy files"
        )
    by_clip: dict[int, ArrayFile] = {}
    for f in files:
        if f.clip in by_clip:
            raise UserError(
                f"two array files for clip {f.clip} in {directory}: "
                f"{by_clip[f.clip].path.name} and {f.path.name}; keep one"
            )
        by_clip[f.clip] = f
    return [by_clip[c] for c in sorted(by_clip)]


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_shape(path: Path) -> tuple[int, ...]:
    """The array shape from the ``.npy`` header alone (the data is not read)."""
    try:
        with _open(path) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npy array ({exc})") from None
    if dtype.kind not in "fiu":
        raise UserError(f"{path} holds {dtype} values; expected numbers")
    return tuple(shape)


def read_array(path: Path) -> np.ndarray:
    try:
        with _open(path) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npy array ({exc})") from None


def crop_window(length: int, limit: int | None, crop: str) -> tuple[int, int]:
    """``(start, stop)`` of at most ``limit`` steps of ``length``, from the start or the centre."""
    if limit is None or length <= limit:
        return 0, length
    start = 0 if crop == "start" else (length - limit) // 2
    return start, start + limit


def load_frames(
    files: list[ArrayFile],
    view: str,
    max_frames: int | None = None,
    crop: str = "start",
    workers: int = 4,
) -> SequenceInputs:
    """Every file's ``view`` as time-major frames, zero-padded to the longest (cropped) clip.

    Shapes are checked from the headers first, so a bad file fails before anything is
    read and the padded array is allocated once.
    """
    frames = []
    for f in files:
        shape = read_shape(f.path)
        if len(shape) != 2 or shape[0] != f.rows:
            raise UserError(
                f"{f.path} has shape {shape}; expected ({f.rows}, frames): "
                + (
                    f"{MEL_ROWS} mel rows then {CHROMA_ROWS} chroma rows"
                    if f.kind == "fused"
                    else f"{f.rows} {f.kind} rows"
                )
            )
        if shape[1] < 1:
            raise UserError(f"{f.path} has no frames (shape {shape})")
        frames.append(shape[1])
    windows = [crop_window(t, max_frames, crop) for t in frames]
    lengths = np.array([b - a for a, b in windows], dtype=np.int64)
    width = len(range(FUSED_ROWS)[ROWS[view]])
    x = np.zeros((len(files), int(lengths.max(initial=1)), width), dtype=np.float32)

    def fill(i: int) -> None:
        f = files[i]
        a, b = windows[i]
        arr = read_array(f.path)
        if arr.shape != (f.rows, frames[i]):
            raise UserError(f"{f.path}: data do not match the header's shape {(f.rows, frames[i])}")
        block = arr[f.view_rows(view), a:b].T
        if not np.isfinite(block).all():
            bad = np.argwhere(~np.isfinite(block))[0]
            raise UserError(
                f"{f.path} holds NaN or infinite values (frame {a + int(bad[0])}); "
                "spectrogram files have no padding"
            )
        x[i, : b - a] = block

    if workers > 1 and len(files) > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, range(len(files))))
    else:
        for i in range(len(files)):
            fill(i)
    return SequenceInputs(x, np.maximum(lengths, 1))
