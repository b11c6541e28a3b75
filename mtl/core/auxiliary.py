"""Auxiliary tasks derived from the data: one-vs-rest of a multiclass target, autoencoding.

``one-vs-rest`` adds, for every multiclass task among ``--tasks``, one binary task per
class, named ``TASK.CLASS``, labelled where the multiclass label is. ``autoencode`` adds
the task ``autoencode`` of kind ``reconstruction``: the input summary to reproduce,
for sequences the per-feature mean over an example's real steps, for dense inputs the
input row itself. Auxiliary tasks are trained with weight α (``--aux-weight``), are
reported apart from the main tasks and never select the epoch.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mtl.core.data import DenseInputs, MultiTaskData, SequenceInputs, TaskSpec
from mtl.core.errors import UserError

AUTOENCODE = "autoencode"


def input_summary(data: MultiTaskData) -> np.ndarray:
    """``(n, features)``: per-feature mean over real steps (sequences) or the dense rows."""
    inputs = data.inputs
    if isinstance(inputs, SequenceInputs):
        steps = np.arange(inputs.max_len)[None, :, None] < inputs.lengths[:, None, None]
        total = np.where(steps, inputs.x, 0.0).sum(axis=1, dtype=np.float64)
        return total / inputs.lengths[:, None]
    if isinstance(inputs, DenseInputs):
        return inputs.x.astype(np.float64)
    raise UserError(
        "--aux autoencode needs dense or sequence inputs; this dataset gives "
        f"{inputs.kind} inputs (reconstructing a bag-of-words row is not supported)"
    )


def add_auxiliary_tasks(data: MultiTaskData, aux: list[str]) -> tuple[MultiTaskData, list[str]]:
    """``data`` with the auxiliary tasks appended, and their names."""
    tasks, targets, masks = list(data.tasks), dict(data.targets), dict(data.masks)
    added: list[str] = []

    def add(spec: TaskSpec, y: np.ndarray, m: np.ndarray) -> None:
        if spec.name in targets:
            raise UserError(
                f"auxiliary task '{spec.name}' has the name of a task already selected; "
                "rename or drop that task"
            )
        tasks.append(spec)
        targets[spec.name], masks[spec.name] = y, m
        added.append(spec.name)

    if "one-vs-rest" in aux:
        multiclass = [s for s in data.tasks if s.kind == "multiclass"]
        if not multiclass:
            raise UserError(
                "--aux one-vs-rest needs a multiclass task among --tasks (e.g. genre); "
                f"the selected tasks are {', '.join(data.task_names)}"
            )
        for spec in multiclass:
            y, m = data.targets[spec.name], data.masks[spec.name]
            for c, cls in enumerate(spec.classes or ()):
                add(
                    TaskSpec(
                        f"{spec.name}.{cls}",
                        "binary",
                        description=f"auxiliary: {spec.name} is {cls} (one-vs-rest)",
                    ),
                    np.where(m, (y == c).astype(np.float64), np.nan),
                    m.copy(),
                )
    if "autoencode" in aux:
        summary = input_summary(data)
        kind = "per-feature mean over real steps" if data.inputs.kind == "sequence" else "input"
        add(
            TaskSpec(
                AUTOENCODE,
                "reconstruction",
                classes=tuple(f"f{i}" for i in range(summary.shape[1])),
                description=f"auxiliary: reconstruct the {kind}",
            ),
            summary,
            np.ones(data.n, dtype=bool),
        )
    return replace(data, tasks=tasks, targets=targets, masks=masks), added
