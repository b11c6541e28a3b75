"""Small files in the sequence datasets' real layouts, for tests.

- :func:`fma_layout`: the FMA spectrogram lab layout (``train/``, ``test/``,
  ``train_labels.txt``, ``test_labels.txt``) with (140, T) arrays of varying T,
  ``.npy`` or ``.npy.gz``, and label rows whose file names differ from the array
  files (zero padding, ``full.fused`` vs ``fused.full``, ``.gz``): only the numeric
  id matches, as in the lab's copies. ``kind="genre"`` writes the tab-separated
  genre lists, ``kind="multitask"`` the valence/energy/danceability CSV.
- :func:`msd_genre_files`: MSD-10/25 ``.npz`` files in either naming scheme, with
  ``inputs`` flat (N×L·25) or 3-D, optional ``label_map``, or the var-length
  buckets ``inputs_<n>``/``targets_<n>``/``indices_<n>`` padded with NaN.

Both return what they wrote, so tests compare loaded values exactly. Import with
``import seqfiles`` (``tests/plugins/datasets/conftest.py`` puts this folder on the path).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GENRES = (
    "Rock",
    "Punk",
    "Electronic",
    "Hip-Hop",
    "Folk",
    "Pop",
    "Experimental",
    "Instrumental",
    "Jazz",
    "Classical",
    "Soul-RnB",
    "Soundtrack",
)


@dataclass
class FmaLayout:
    """What :func:`fma_layout` wrote: per split, clip id → (140, T) array and label."""

    root: Path
    arrays: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    labels: dict[str, dict[int, object]] = field(default_factory=dict)
    files: dict[str, dict[int, Path]] = field(default_factory=dict)


def write_array(path: Path, array: np.ndarray) -> Path:
    """``np.save`` to ``path``, gzip-compressed when the name ends in ``.gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            np.save(f, array)
    else:
        with open(path, "wb") as f:
            np.save(f, array)
    return path


def fma_layout(
    root: Path,
    *,
    kind: str = "genre",
    per_class: int = 4,
    test_per_class: int = 2,
    genres: tuple[str, ...] = GENRES,
    frames: tuple[int, int] = (3, 9),
    gz: bool = False,
    beat: bool = False,
    test_labels: bool = True,
    seed: int = 0,
) -> FmaLayout:
    """Write a tiny lab layout under ``root``; clip ids are 7, 12, 17, ... (every 5th)."""
    rng = np.random.default_rng(seed)
    out = FmaLayout(root)
    clip = 7
    suffix = "beatsync.fused.npy" if beat else "fused.full.npy"
    for split, per in (("train", per_class), ("test", test_per_class)):
        out.arrays[split], out.labels[split], out.files[split] = {}, {}, {}
        rows = []
        for g, genre in enumerate(genres):
            for _ in range(per):
                t = int(rng.integers(frames[0], frames[1] + 1))
                array = rng.normal(-40 + g, 10, size=(140, t)).astype(np.float32)
                name = f"{clip:06d}.{suffix}" + (".gz" if gz else "")
                out.files[split][clip] = write_array(root / split / name, array)
                out.arrays[split][clip] = array
                if kind == "genre":
                    out.labels[split][clip] = genre
                    rows.append(f"{clip}.full.fused.npy.gz\t{genre}")
                else:
                    affect = tuple(np.round(rng.uniform(0, 1, 3), 4))
                    out.labels[split][clip] = affect
                    rows.append(f"{clip},{affect[0]},{affect[1]},{affect[2]}")
                clip += 5
        if split == "test" and not test_labels:
            continue
        header = "filename\tgenre" if kind == "genre" else "id,valence,energy,danceability"
        (root / f"{split}_labels.txt").write_text("\n".join([header, *rows]) + "\n")
    return out


def write_mapping(path: Path, mapping: dict[str, str], drop=(), classes=None) -> Path:
    """A genre mapping TOML file: ``classes``, ``drop`` and the ``[map]`` table."""
    lines = []
    if classes is not None:
        lines.append("classes = [" + ", ".join(f'"{c}"' for c in classes) + "]")
    lines.append("drop = [" + ", ".join(f'"{g}"' for g in drop) + "]")
    lines.append("[map]")
    lines += [f'"{raw}" = "{target}"' for raw, target in mapping.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _sequences(rng, n: int, length: int, lengths=None) -> np.ndarray:
    x = rng.normal(size=(n, length, 25)).astype(np.float32)
    if lengths is not None:
        for i, t in enumerate(lengths):
            x[i, t:] = np.nan
    return x


def msd_genre_files(
    root: Path,
    *,
    k: int = 10,
    sizes: tuple[int, int, int] = (30, 10, 10),
    scheme: str = "long",
    length: int = 6,
    flat: bool = False,
    label_map: bool = True,
    var_length: tuple[int, ...] | None = None,
    test_targets: bool = True,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MSD-``k`` files under ``root``; returns split → (x with NaN padding, targets) in file order.

    ``scheme="long"``: ``msd-10-genre-{train,valid}.npz`` and
    ``msd-10-genre-test-{inputs,targets}.npz``; ``"short"``: ``msd10-{train,valid,test}.npz``.
    ``flat`` stores inputs as N×(length·25); ``var_length=(4, 8)`` writes
    ``…-var-length.npz`` files with buckets ``inputs_4``/``inputs_8`` (sequences up to n
    segments, NaN-padded) and ``indices_<n>`` giving each track's position; the returned
    ``x`` is then in position order, padded with NaN to the largest bucket.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = np.array([f"class {i}" for i in range(k)])
    written = {}
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        if n == 0:
            continue
        y = np.arange(n) % k
        rng.shuffle(y)
        if var_length is None:
            x = _sequences(rng, n, length)
            arrays = {"inputs": x.reshape(n, -1) if flat else x, "targets": y}
        else:
            top = max(var_length)
            x = np.full((n, top, 25), np.nan, dtype=np.float32)
            positions = rng.permutation(n)
            arrays = {}
            chunks = np.array_split(positions, len(var_length))
            for size, rows in zip(sorted(var_length), chunks, strict=True):
                lengths = rng.integers(1, size + 1, size=len(rows))
                xb = _sequences(rng, len(rows), size, lengths)
                x[rows, :size] = xb
                arrays[f"inputs_{size}"] = xb.reshape(len(rows), -1) if flat else xb
                arrays[f"targets_{size}"] = y[rows]
                arrays[f"indices_{size}"] = rows
        if label_map:
            arrays["label_map"] = names
        written[split] = (x, y)
        tail = "-var-length" if var_length is not None else ""
        if scheme == "short":
            np.savez(root / f"msd{k}-{split}{tail}.npz", **arrays)
        elif split != "test":
            np.savez(root / f"msd-{k}-genre-{split}{tail}.npz", **arrays)
        else:
            targets = {key: v for key, v in arrays.items() if key.startswith("targets")}
            inputs = {key: v for key, v in arrays.items() if not key.startswith("targets")}
            np.savez(root / f"msd-{k}-genre-test-inputs{tail}.npz", **inputs)
            if test_targets:
                np.savez(root / f"msd-{k}-genre-test-targets{tail}.npz", **targets)
    return written
