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


def save_png(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` atomically as PNG and close it."""
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi), binary=True)
    pyplot().close(fig)
    return path
