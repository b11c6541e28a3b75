"""Task coupling (RQ3): Pearson correlation of task labels over tracks labelled for both.

Binary labels are 0/1 and regression labels their values; multiclass tasks have no
order and are left out. Tag tasks are correlated with the target from their CSR
positives, without building a dense label matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mtl.core.correlation import pearson
from mtl.core.errors import UserError
from mtl.plugins.datasets.msd.store import PreparedFile


@dataclass
class Correlation:
    task: str
    kind: str
    r: float
    n: int  # tracks labelled for both


def correlate_target(f: PreparedFile, target: str) -> tuple[list[Correlation], list[str]]:
    """Correlation of ``target`` with every other binary or regression task; and those left out."""
    table = {r["name"]: r for r in f.task_table()}
    if target not in table:
        from mtl.core.registry import did_you_mean

        raise UserError(
            f"'{f.path}' has no task '{target}'{did_you_mean(target, list(table))}; see mtl data tasks {f.path}"
        )
    if table[target]["kind"] == "multiclass":
        raise UserError(
            f"task '{target}' is multiclass: its class ids have no order to correlate; choose a binary or regression task"
        )
    y_t, m_t = f.labels([target])[target]
    out, skipped = [], []
    for name in f.f["labels"]:
        kind = table[name]["kind"]
        if name == target:
            continue
        if kind == "multiclass":
            skipped.append(name)
            continue
        y, m = f.labels([name])[name]
        both = m_t & m
        out.append(Correlation(name, kind, pearson(y_t[both], y[both]), int(both.sum())))
    for key in f.f["tags"]:
        g = f.f["tags"][key]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g["names"][:]]
        indptr, indices, known = g["indptr"][:], g["indices"][:], g["known"][:]
        both = m_t & known
        n = int(both.sum())
        rows = np.repeat(np.arange(len(known)), np.diff(indptr))
        sel = both[rows]
        pos = np.bincount(indices[sel], minlength=len(names)).astype(np.float64)
        sum_ty = np.bincount(indices[sel], weights=y_t[rows[sel]], minlength=len(names))
        yt = y_t[both]
        constant = n < 2 or np.ptp(yt) == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            p = pos / max(n, 1)
            mean_t = yt.mean() if n else np.nan
            cov = sum_ty / max(n, 1) - mean_t * p
            r = cov / np.sqrt(yt.var() * p * (1 - p))
        for j, name in enumerate(names):
            if name != target:
                value = float(r[j]) if not constant and np.isfinite(r[j]) else float("nan")
                out.append(Correlation(name, "binary", value, n))
    return out, skipped


def correlation_matrix(f: PreparedFile, tasks: list[str]) -> np.ndarray:
    """Pairwise Pearson correlations of ``tasks`` over tracks labelled for each pair."""
    kinds = {r["name"]: r["kind"] for r in f.task_table()}
    for t in tasks:
        if t not in kinds:
            raise UserError(f"'{f.path}' has no task '{t}'")
        if kinds[t] == "multiclass":
            raise UserError(f"task '{t}' is multiclass and cannot be correlated")
    labels = f.labels(tasks)
    k = len(tasks)
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            (yi, mi), (yj, mj) = labels[tasks[i]], labels[tasks[j]]
            both = mi & mj
            out[i, j] = out[j, i] = pearson(yi[both], yj[both])
    return out


def tight_and_loose(corrs: list[Correlation], top: int, min_overlap: int) -> dict[str, Any]:
    """The ``top`` most correlated tasks (by r) and the ``top`` least coupled (smallest |r|)."""
    usable = [c for c in corrs if np.isfinite(c.r) and c.n >= min_overlap]
    by_r = sorted(usable, key=lambda c: (-c.r, c.task))
    by_abs = sorted(usable, key=lambda c: (abs(c.r), c.task))
    return {"most": by_r[:top], "least": by_abs[:top], "usable": len(usable)}
