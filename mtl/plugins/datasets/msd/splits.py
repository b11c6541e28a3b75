"""Splits of the prepared set: musiXmatch's train/test, and an artist-disjoint validation set."""

from __future__ import annotations

import hashlib

import numpy as np

TRAIN, VAL, TEST = 0, 1, 2
NAMES = {TRAIN: "train", VAL: "val", TEST: "test"}


def carve_validation(
    split: np.ndarray, artists: list[str], fraction: float, seed: int = 0
) -> np.ndarray:
    """Move whole artists from train to val until about ``fraction`` of train tracks are moved.

    Artists are taken in the order of a hash of ``seed`` and their id, so the choice is
    deterministic, independent of file order, and no artist is on both sides.
    """
    out = np.where(split == VAL, TRAIN, split).astype(np.uint8)
    train_rows = np.flatnonzero(out == TRAIN)
    if fraction <= 0 or len(train_rows) < 2:
        return out
    keys = [artists[r] or f"track:{r}" for r in train_rows]
    uniq, inverse, counts = np.unique(np.asarray(keys), return_inverse=True, return_counts=True)
    if len(uniq) < 2:
        return out
    order = sorted(
        range(len(uniq)), key=lambda i: hashlib.sha1(f"{seed}:{uniq[i]}".encode()).digest()
    )
    target = fraction * len(train_rows)
    chosen = np.zeros(len(uniq), dtype=bool)
    total = 0
    for i in order[:-1]:  # leave at least one artist in train
        if total >= target:
            break
        chosen[i] = True
        total += counts[i]
    out[train_rows[chosen[inverse]]] = VAL
    return out
