"""The data contract: task specs, inputs, targets with missing-label masks, splits.

Inputs come as a dense matrix (:class:`DenseInputs`) or sparse CSR rows
(:class:`SparseInputs`, bag-of-words: never densified as a whole). Padded sequences
(tensor + lengths) join the same way as a third input kind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TaskSpec:
    """One prediction task: ``kind`` names a registered task type."""

    name: str
    kind: str
    classes: tuple[str, ...] | None = None
    units: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "classes": list(self.classes) if self.classes is not None else None,
            "units": self.units,
            "description": self.description,
        }


@dataclass
class DenseInputs:
    """A dense ``(n, dim)`` float32 matrix."""

    x: np.ndarray
    kind: str = field(default="dense", init=False)

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        if self.x.ndim != 2:
            raise ValueError(f"dense inputs must be 2-D, got shape {self.x.shape}")

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def column_stats(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-column mean and standard deviation over ``rows``."""
        sub = self.x[rows].astype(np.float64)
        return sub.mean(axis=0), sub.std(axis=0)

    def hash_into(self, h: Any) -> None:
        h.update(b"dense")
        h.update(np.asarray(self.x.shape, dtype=np.int64).tobytes())
        h.update(self.x.tobytes())


@dataclass
class SparseInputs:
    """CSR rows: ``indptr`` (n+1), ``indices`` and ``data`` (nnz), and the column count."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    dim: int
    kind: str = field(default="sparse", init=False)

    def __post_init__(self) -> None:
        self.indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(self.indices, dtype=np.int64)
        self.data = np.ascontiguousarray(self.data, dtype=np.float32)
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[0] != 0:
            raise ValueError("CSR indptr must be 1-D and start at 0")
        if np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != len(self.indices):
            raise ValueError("CSR indptr must be non-decreasing and end at nnz")
        if len(self.indices) != len(self.data):
            raise ValueError("CSR indices and data differ in length")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= self.dim):
            raise ValueError(f"CSR column index out of range 0..{self.dim - 1}")

    @classmethod
    def from_scipy(cls, matrix: Any) -> SparseInputs:
        csr = matrix.tocsr()
        return cls(csr.indptr, csr.indices, csr.data, csr.shape[1])

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Column indices, values and per-row lengths of ``rows`` (vectorised)."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        total = int(lengths.sum())
        row_offsets = np.cumsum(lengths) - lengths
        pos = np.repeat(starts - row_offsets, lengths) + np.arange(total)
        return self.indices[pos], self.data[pos], lengths

    def column_stats(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-column mean and standard deviation over ``rows``, zeros included."""
        cols, vals, _ = self.gather(rows)
        n = max(len(rows), 1)
        v = vals.astype(np.float64)
        mean = np.bincount(cols, weights=v, minlength=self.dim) / n
        sq = np.bincount(cols, weights=v * v, minlength=self.dim) / n
        return mean, np.sqrt(np.maximum(sq - mean * mean, 0.0))

    def hash_into(self, h: Any) -> None:
        h.update(b"csr")
        h.update(np.asarray([self.n, self.dim], dtype=np.int64).tobytes())
        for arr in (self.indptr, self.indices, self.data):
            h.update(arr.tobytes())


@dataclass
class SequenceInputs:
    """Padded sequences: ``x`` is ``(n, max_len, features)`` float32, ``lengths`` is ``(n,)``.

    Step ``t`` of example ``i`` is real when ``t < lengths[i]``; later steps are padding
    and hold zeros. Spectrograms are sequences of frames (time x frequency bins), so a
    2-D CNN reads ``x[i, :lengths[i]]`` as a one-channel image.
    """

    x: np.ndarray
    lengths: np.ndarray
    kind: str = field(default="sequence", init=False)

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        self.lengths = np.ascontiguousarray(self.lengths, dtype=np.int64)
        if self.x.ndim != 3:
            raise ValueError(f"sequence inputs must be 3-D (n, time, features), got {self.x.shape}")
        if self.lengths.shape != (self.x.shape[0],):
            raise ValueError(f"{len(self.lengths)} lengths for {self.x.shape[0]} sequences")
        if len(self.lengths) and (self.lengths.min() < 1 or self.lengths.max() > self.x.shape[1]):
            raise ValueError(f"sequence lengths must lie in 1..{self.x.shape[1]}")

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def max_len(self) -> int:
        return self.x.shape[1]

    @property
    def dim(self) -> int:
        """Features per step."""
        return self.x.shape[2]

    def column_stats(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and standard deviation over the real steps of ``rows``."""
        total = np.zeros(self.dim)
        sq = np.zeros(self.dim)
        count = 0
        for i in rows:
            steps = self.x[i, : self.lengths[i]].astype(np.float64)
            total += steps.sum(axis=0)
            sq += (steps * steps).sum(axis=0)
            count += len(steps)
        count = max(count, 1)
        mean = total / count
        return mean, np.sqrt(np.maximum(sq / count - mean * mean, 0.0))

    def hash_into(self, h: Any) -> None:
        h.update(b"sequence")
        h.update(np.asarray(self.x.shape, dtype=np.int64).tobytes())
        h.update(self.lengths.tobytes())
        h.update(self.x.tobytes())


Inputs = DenseInputs | SparseInputs | SequenceInputs


@dataclass
class MultiTaskData:
    """Inputs, per-task targets with missing-label masks, splits, ids and provenance.

    ``targets[name]`` is a float64 array of length ``n`` (class ids for multiclass
    tasks); ``masks[name]`` is True where the label is present. ``splits`` maps
    ``train``/``val``/``test`` to index arrays.
    """

    inputs: Inputs
    tasks: list[TaskSpec]
    targets: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    splits: dict[str, np.ndarray]
    ids: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.inputs.n
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} examples")
        for spec in self.tasks:
            y = self.targets.get(spec.name)
            m = self.masks.get(spec.name)
            if y is None or m is None:
                raise ValueError(f"task '{spec.name}' has no targets or mask")
            if len(y) != n or len(m) != n:
                raise ValueError(f"task '{spec.name}' has {len(y)} targets for {n} examples")
            self.targets[spec.name] = np.asarray(y, dtype=np.float64)
            self.masks[spec.name] = np.asarray(m, dtype=bool)
        seen = np.zeros(n, dtype=bool)
        for split in SPLITS:
            idx = np.asarray(self.splits.get(split, np.zeros(0)), dtype=np.int64)
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"split '{split}' indexes outside 0..{n - 1}")
            if seen[idx].any():
                raise ValueError(f"split '{split}' overlaps another split")
            seen[idx] = True
            self.splits[split] = idx

    @property
    def n(self) -> int:
        return self.inputs.n

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> TaskSpec:
        for spec in self.tasks:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def select(self, names: list[str]) -> MultiTaskData:
        """The same data with only the tasks ``names``, in that order."""
        tasks = [self.task(n) for n in names]
        return replace(
            self,
            tasks=tasks,
            targets={n: self.targets[n] for n in names},
            masks={n: self.masks[n] for n in names},
            splits=dict(self.splits),
        )

    def with_train_subset(self, rows: np.ndarray) -> MultiTaskData:
        splits = dict(self.splits)
        splits["train"] = np.asarray(rows, dtype=np.int64)
        return replace(self, splits=splits, targets=dict(self.targets), masks=dict(self.masks))

    def fingerprint(self) -> str:
        """SHA-256 of inputs, selected targets, masks and splits."""
        h = hashlib.sha256()
        self.inputs.hash_into(h)
        for spec in self.tasks:
            h.update(spec.name.encode())
            y = self.targets[spec.name]
            mask = self.masks[spec.name].reshape(-1, *([1] * (y.ndim - 1)))
            y = np.where(mask, y, 0.0)
            h.update(y.tobytes())
            h.update(self.masks[spec.name].tobytes())
        for split in SPLITS:
            h.update(split.encode())
            h.update(self.splits[split].tobytes())
        return h.hexdigest()
