"""Bag-of-words lyrics as read from musiXmatch files: CSR rows, one per track."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

TRACK_ID = re.compile(r"TR[A-Z0-9]{16}")


@dataclass
class Lyrics:
    """Tracks with their word counts; ``indices`` are 0-based into ``vocab``."""

    vocab: list[str]
    track_ids: list[str]
    mxm_ids: np.ndarray  # int64
    is_test: np.ndarray  # bool
    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int32, nnz
    counts: np.ndarray  # int32, nnz
    sources: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.track_ids)

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def take(self, rows: np.ndarray) -> Lyrics:
        """The rows ``rows``, in that order (CSR gathered without densifying)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        pos = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Lyrics(
            vocab=self.vocab,
            track_ids=[self.track_ids[i] for i in rows],
            mxm_ids=self.mxm_ids[rows],
            is_test=self.is_test[rows],
            indptr=indptr,
            indices=self.indices[pos],
            counts=self.counts[pos],
            sources=self.sources,
        )


def csr_from_rows(row_lengths: list[int] | np.ndarray) -> np.ndarray:
    """``indptr`` for rows of the given lengths."""
    indptr = np.zeros(len(row_lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(row_lengths, dtype=np.int64), out=indptr[1:])
    return indptr


def row_problems(
    indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray, vocab_size: int
) -> dict[int, str]:
    """Rows whose word index is outside 1..V (1-based), count is not positive, or word repeats."""
    bad: dict[int, str] = {}
    n = len(indptr) - 1
    if not len(indices):
        return bad
    if indices.min() >= 1 and indices.max() <= vocab_size and counts.min() >= 1:
        # fast path without per-non-zero row numbers: where the index does not rise, a
        # new row must start (words ascending within rows, as published)
        falls = np.flatnonzero(indices[1:] <= indices[:-1]) + 1
        if np.isin(falls, indptr[1:-1]).all():
            return bad
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    for where, what in (
        ((indices < 1) | (indices > vocab_size), "word index {v} outside 1.." + str(vocab_size)),
        (counts < 1, "count {v} is not positive"),
    ):
        for pos in np.flatnonzero(where):
            row = int(rows[pos])
            if row not in bad:
                value = indices[pos] if "index" in what else counts[pos]
                bad[row] = what.format(v=int(value))
    key = rows * (vocab_size + 2) + np.clip(indices, 0, vocab_size + 1)
    if np.all(key[1:] > key[:-1]):  # words ascending within each row, as published: no repeats
        return bad
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(np.diff(key[order]) == 0)
    for d in dup:
        pos = order[d + 1]
        row = int(rows[pos])
        bad.setdefault(row, f"word index {int(indices[pos])} appears twice")
    return bad


def drop_rows(
    indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR without the rows where ``keep`` is False."""
    lengths = np.diff(indptr)
    keep_nz = np.repeat(keep, lengths)
    return csr_from_rows(lengths[keep]), indices[keep_nz], counts[keep_nz]
