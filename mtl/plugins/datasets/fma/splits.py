"""A validation split carved from train: seeded, stratified by class."""

from __future__ import annotations

import numpy as np


def carve_stratified(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask over ``labels`` choosing ``round(fraction × n)`` examples for validation.

    Classes contribute in proportion to their size (largest remainders get the odd
    examples, ties to the larger then the earlier class); every class keeps at least
    one example in train. Which examples go depends only on ``seed`` and the order of
    ``labels``; pass one class (all zeros) for an unstratified split.
    """
    labels = np.asarray(labels)
    val = np.zeros(len(labels), dtype=bool)
    if fraction <= 0 or not len(labels):
        return val
    classes, sizes = np.unique(labels, return_counts=True)
    exact = fraction * sizes
    take = np.minimum(np.floor(exact).astype(np.int64), sizes - 1)
    spare = int(round(fraction * len(labels))) - int(take.sum())
    order = sorted(
        range(len(classes)), key=lambda c: (-(exact[c] - np.floor(exact[c])), -sizes[c], c)
    )
    for c in order:
        if spare <= 0:
            break
        if take[c] < sizes[c] - 1:
            take[c] += 1
            spare -= 1
    rng = np.random.default_rng(seed)
    for c, k in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == c)
        chosen = rng.permutation(len(members))[:k]
        val[members[chosen]] = True
    return val
