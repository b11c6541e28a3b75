"""The runs browser: list, compare and prune run directories.

``load_runs(path)`` gives a pandas DataFrame of every run under ``path``;
``compare_frames(paths)`` the metrics and configuration differences of some runs.
``scan_runs``, ``compare_runs`` and ``plan_prune`` are the same without pandas (what the
``mtl runs`` commands use). Nothing here imports torch.
"""

from __future__ import annotations

from mtl.runs.compare import Comparison, compare_runs
from mtl.runs.frame import compare_frames, load_runs
from mtl.runs.prune import apply_prune, plan_prune
from mtl.runs.scan import RunSummary, scan_runs

__all__ = [
    "Comparison",
    "RunSummary",
    "apply_prune",
    "compare_frames",
    "compare_runs",
    "load_runs",
    "plan_prune",
    "scan_runs",
]
