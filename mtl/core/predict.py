"""Predictions of a run's selected checkpoint, one row per example, as a submission CSV.

Every example of the asked split is predicted, labelled or not (a test split whose
labels are absent still gets predictions). Columns per task, in original units:

- regression: ``TASK`` (the value);
- binary: ``TASK_prob`` (probability of 1) and ``TASK`` (the label at threshold 0.5);
- multiclass: ``TASK`` (the predicted class name) and ``TASK_prob_CLASS`` per class;
- other task types with one value per example: ``TASK``.

With ``labels=True`` a ``TASK_true`` column holds the known label (empty if absent).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtl.core.batches import to_device
from mtl.core.data import SPLITS, TaskSpec
from mtl.core.errors import UserError
from mtl.core.experiment import Experiment
from mtl.core.plugins import Plugins
from mtl.core.runs import RunDir, atomic_write
from mtl.core.scoring import load_best

THRESHOLD = 0.5
ALL = "all"


@dataclass
class Predictions:
    """Decoded predictions of ``rows`` (dataset row numbers), with their ids and labels."""

    rows: np.ndarray
    ids: np.ndarray
    split: np.ndarray
    specs: list[TaskSpec]
    values: list[np.ndarray]
    targets: list[np.ndarray]
    masks: list[np.ndarray]
    selected_epoch: int
    data_changed: bool = False  # the dataset's fingerprint differs from the run's

    def task(self, name: str) -> int:
        return [s.name for s in self.specs].index(name)


def split_rows(exp: Experiment, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of ``split`` and the split name of each row (``all``: every example)."""
    splits = exp.data.splits
    if split == ALL:
        names = np.full(exp.data.n, "", dtype=object)
        for name in SPLITS:
            names[splits[name]] = name
        return np.arange(exp.data.n), names
    if split not in splits:
        raise UserError(f"unknown split '{split}'; choose train, val, test or all")
    rows = np.asarray(splits[split], dtype=np.int64)
    return rows, np.full(len(rows), split, dtype=object)


@torch.no_grad()
def decode_rows(exp: Experiment, rows: np.ndarray) -> list[np.ndarray]:
    """The model's decoded outputs (original units) for ``rows``, one array per task."""
    model = exp.model
    model.eval()
    inputs = to_device(exp.data.inputs, exp.device)
    idx_all = torch.as_tensor(rows, dtype=torch.int64).to(exp.device)
    chunks: list[list[torch.Tensor]] = [[] for _ in exp.specs]
    bs = exp.config.eval_batch_size
    for start in range(0, len(rows), bs):
        outputs = model(inputs.take(idx_all[start : start + bs]))
        for t, out in enumerate(outputs):
            chunks[t].append(out)
    decoded = []
    for t, (spec, tt, st) in enumerate(zip(exp.specs, exp.task_types, exp.stats, strict=True)):
        out = torch.cat(chunks[t]) if chunks[t] else torch.zeros(0, tt.output_dim(spec))
        decoded.append(np.asarray(tt.decode(spec, out, st)))
    return decoded


def predict(exp: Experiment, run: RunDir, split: str) -> Predictions:
    """Load the selected checkpoint and predict every example of ``split`` (main tasks only:
    auxiliary tasks exist for training)."""
    epoch = load_best(exp, run)
    rows, names = split_rows(exp, split)
    data = exp.data
    main = [t for t, s in enumerate(exp.specs) if s.name in exp.main_task_names]
    specs = [exp.specs[t] for t in main]
    values = decode_rows(exp, rows)
    return Predictions(
        rows=rows,
        ids=np.asarray(data.ids)[rows],
        split=names,
        specs=specs,
        values=[values[t] for t in main],
        targets=[data.targets[s.name][rows] for s in specs],
        masks=[data.masks[s.name][rows] for s in specs],
        selected_epoch=epoch,
    )


def predict_run(path: Path, plugins: Plugins, split: str, device: str | None = None) -> Predictions:
    """Rebuild a run's experiment from its saved configuration and predict ``split``."""
    from mtl.core.runner import load_experiment

    run, exp = load_experiment(path, plugins, device)
    result = predict(exp, run, split)
    result.data_changed = exp.data.fingerprint() != run.manifest().get("data_fingerprint")
    return result


def predicted_labels(spec: TaskSpec, values: np.ndarray) -> np.ndarray | None:
    """Predicted class ids of a binary (threshold 0.5) or multiclass (arg-max) task."""
    if spec.kind == "binary":
        return (values >= THRESHOLD).astype(np.int64)
    if spec.kind == "multiclass":
        return values.argmax(axis=1) if len(values) else np.zeros(0, dtype=np.int64)
    return None


def _num(x: float) -> str:
    return repr(float(x)) if np.isfinite(x) else ""


def _true(spec: TaskSpec, y: float, labelled: bool) -> str:
    if not labelled:
        return ""
    if spec.kind == "multiclass" and spec.classes:
        return spec.classes[int(y)]
    if spec.kind in ("binary", "multiclass"):
        return str(int(y))
    return _num(y)


def columns(p: Predictions, labels: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and value columns (as strings) of the CSV."""
    header = ["id", "split"]
    cols: list[list[str]] = [[str(i) for i in p.ids], [str(s) for s in p.split]]
    for spec, values, y, m in zip(p.specs, p.values, p.targets, p.masks, strict=True):
        name = spec.name
        if spec.kind == "multiclass":
            classes = list(spec.classes or [str(k) for k in range(values.shape[1])])
            pred = predicted_labels(spec, values)
            header.append(name)
            cols.append([classes[k] for k in pred])
            for k, cls in enumerate(classes):
                header.append(f"{name}_prob_{cls}")
                cols.append([_num(v) for v in values[:, k]])
        elif spec.kind == "binary":
            header += [f"{name}_prob", name]
            cols.append([_num(v) for v in values])
            cols.append([str(v) for v in predicted_labels(spec, values)])
        elif values.ndim == 1:
            header.append(name)
            cols.append([_num(v) for v in values])
        else:
            header += [f"{name}_{j}" for j in range(values.shape[1])]
            cols += [[_num(v) for v in values[:, j]] for j in range(values.shape[1])]
        if labels:
            header.append(f"{name}_true")
            cols.append([_true(spec, yi, mi) for yi, mi in zip(y, m, strict=True)])
    return header, cols


def to_csv(p: Predictions, labels: bool = False) -> str:
    header, cols = columns(p, labels)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*cols, strict=True))
    return buf.getvalue()


def check_output(path: Path) -> None:
    """A :class:`UserError` unless ``path`` can be written as a file: not a directory, in a
    directory that exists and is writable."""
    if path.is_dir():
        raise UserError(f"--out '{path}' is a directory; give a file name, e.g. {path}/pred.csv")
    parent = path.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise UserError(f"--out '{path}': the directory '{parent}' {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out '{path}': the directory '{parent}' is not writable")


def write_csv(p: Predictions, path: Path, labels: bool = False) -> None:
    text = to_csv(p, labels)
    atomic_write(path, lambda fh: fh.write(text))


def summary(p: Predictions) -> dict[str, Any]:
    """How many rows were predicted and how many carry each task's label."""
    return {
        "rows": len(p.rows),
        "labelled": {s.name: int(m.sum()) for s, m in zip(p.specs, p.masks, strict=True)},
        "selected_epoch": p.selected_epoch,
    }
