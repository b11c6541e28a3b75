"""Matplotlib for every figure: the Agg backend, imported on first use, PNGs written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl.core.runs import atomic_write


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported lazily."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fit_title(fig: Any, text: str, fontsize: float = 11) -> Any:
    """``fig.suptitle(text)``, wrapped onto more lines until it fits the figure's width.

    A figure title is centred over the whole figure, so it never runs into a colour bar
    beside the axes, and wrapping keeps a long sweep or task name from being clipped.
    """
    import textwrap

    title = fig.suptitle(text, fontsize=fontsize)
    renderer = fig.canvas.get_renderer()
    room = fig.bbox.width * 0.96
    chars = len(text)
    while title.get_window_extent(renderer).width > room and chars > 8:
        chars = max(8, int(chars * 0.85))
        title.set_text("\n".join(textwrap.wrap(text, chars)))
    return title


def save_png(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` atomically as PNG and close it."""
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi), binary=True)
    pyplot().close(fig)
    return path
