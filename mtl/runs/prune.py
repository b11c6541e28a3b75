"""``mtl runs prune``: delete the resume checkpoints of finished runs.

``best.pt`` (the selected model, from which ``mtl evaluate`` and ``mtl predict`` work)
is never deleted. What else is kept follows ``--keep-checkpoints``:

- ``best``: delete ``last.pt`` and ``last.prev.pt`` (the run can no longer be resumed
  or extended with more epochs);
- ``last``: delete ``last.prev.pt`` only (the run can still be extended);
- ``all``: delete nothing.

Only finished runs (status ``completed`` or ``early_stopped``) are touched; unfinished,
stopped and broken runs keep every file. A run does the same itself when it finishes,
following its own ``--keep-checkpoints`` (default ``best``): prune is for runs kept
with ``last`` or ``all``, or from before that option.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mtl.core.errors import UserError
from mtl.core.runs import DROPPED as KEEP
from mtl.core.runs import FINISHED
from mtl.runs.scan import find_runs, summarise


@dataclass
class Removal:
    """A file to delete and the bytes that frees (0 for a second link to one file)."""

    run: str
    file: Path
    bytes: int


def plan_prune(root: Path | str, keep: str = "best") -> list[Removal]:
    """The files ``prune`` deletes under ``root`` (nothing is deleted here)."""
    if keep not in KEEP:
        raise UserError(f"--keep-checkpoints must be one of {', '.join(KEEP)}; got '{keep}'")
    root = Path(root)
    if not root.exists():
        raise UserError(f"'{root}' does not exist; give a run directory or a folder of runs")
    plan: list[Removal] = []
    for path in find_runs(root):
        summary = summarise(path, root)
        if summary.status not in FINISHED:
            continue
        files = [(path / n, os.lstat(path / n)) for n in KEEP[keep] if (path / n).is_file()]
        removed: dict[tuple[int, int], int] = {}  # inode -> how many of its links go
        for _, st in files:
            removed[(st.st_dev, st.st_ino)] = removed.get((st.st_dev, st.st_ino), 0) + 1
        counted: set[tuple[int, int]] = set()
        for file, st in files:
            inode = (st.st_dev, st.st_ino)
            # a hard-linked file frees its bytes once, and only when every link goes
            frees = inode not in counted and st.st_nlink <= removed[inode]
            counted.add(inode)
            plan.append(Removal(summary.run, file, st.st_size if frees else 0))
    return plan


def apply_prune(plan: list[Removal]) -> int:
    """Delete the planned files; the bytes freed."""
    for removal in plan:
        removal.file.unlink(missing_ok=True)
    return sum(r.bytes for r in plan)
