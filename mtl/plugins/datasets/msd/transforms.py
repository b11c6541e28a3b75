"""Input transforms of the bag-of-words, applied to the CSR values only (never densified)."""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("counts", "binary", "log1p", "tfidf")


def transform_counts(
    kind: str,
    indptr: np.ndarray,
    indices: np.ndarray,
    counts: np.ndarray,
    dim: int,
    train_rows: np.ndarray,
) -> np.ndarray:
    """The float32 CSR values for ``kind``.

    ``counts``: raw counts; ``binary``: 1 for every word present; ``log1p``: log(1 + count);
    ``tfidf``: count × idf with the smoothed idf ``ln((1 + n) / (1 + df)) + 1`` of the
    training rows, each row then scaled to unit L2 norm.
    """
    counts = counts.astype(np.float32)
    if kind == "counts":
        return counts
    if kind == "binary":
        return np.ones_like(counts)
    if kind == "log1p":
        return np.log1p(counts)
    if kind == "tfidf":
        lengths = np.diff(indptr)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        in_train = np.zeros(len(lengths), dtype=bool)
        in_train[train_rows] = True
        df = np.bincount(indices[in_train[rows]], minlength=dim)
        idf = np.log((1.0 + len(train_rows)) / (1.0 + df)) + 1.0
        values = counts * idf[indices].astype(np.float32)
        norms = np.sqrt(
            np.bincount(rows, weights=values.astype(np.float64) ** 2, minlength=len(lengths))
        )
        norms[norms == 0] = 1.0
        return (values / norms[rows]).astype(np.float32)
    raise ValueError(f"unknown transform '{kind}'")
