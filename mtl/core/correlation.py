"""Task coupling: Pearson correlation of task labels over examples labelled for both.

Binary labels are 0/1 and regression labels their values; multiclass class ids have no
order and are not correlated. Used by ``mtl correlate`` and by sweep reports.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mtl.core.metrics import pearson
from mtl.core.plotting import fit_title, pyplot

__all__ = ["label_correlations", "pearson", "plot_heatmap"]


def label_correlations(labels: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Pairwise correlations of ``{task: (values, labelled mask)}``, in the dict's order."""
    names = list(labels)
    out = np.eye(len(names))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            (yi, mi), (yj, mj) = labels[names[i]], labels[names[j]]
            both = mi & mj
            out[i, j] = out[j, i] = pearson(yi[both], yj[both])
    return out


def plot_heatmap(fh: Any, matrix: np.ndarray, names: list[str], title: str) -> None:
    """A correlation heatmap as PNG into the open binary file ``fh``."""
    plt = pyplot()

    k = len(names)
    size = max(4.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if math.isfinite(matrix[i, j]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="Pearson r")
    fit_title(fig, title)  # over the figure, not the axes: clear of the colour bar
    fig.tight_layout()
    fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)
