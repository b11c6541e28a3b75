"""Classification reports and confusion-matrix plots of a run's predictions.

The per-class numbers come from :func:`mtl.core.metrics.multiclass_metrics` (the same
code that fills ``results.json``); this module adds the macro and weighted averages
and the accuracy, laid out as scikit-learn's ``classification_report`` (labels
``0..K-1``, ``zero_division=0``), a rich table and a PNG of the confusion matrix.
Binary tasks are reported as two classes, ``0`` and ``1``, at threshold 0.5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from mtl.core.errors import UserError
from mtl.core.metrics import multiclass_metrics
from mtl.core.plotting import fit_title, pyplot, save_png
from mtl.core.predict import Predictions, predicted_labels
from mtl.core.tables import fmt

BINARY_CLASSES = ("0", "1")


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support; macro/weighted averages; accuracy.

    ``y_true`` and ``y_pred`` are class ids ``0..K-1``; classes that never occur (in
    the truth or the predictions) get zeros and still count in the macro average.
    """
    k = len(classes)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    # a one-hot "probability" makes the arg-max of multiclass_metrics the prediction itself
    m = multiclass_metrics(y_true, np.eye(k)[y_pred].reshape(-1, k), list(classes))
    per = {key: np.asarray(v, dtype=np.float64) for key, v in m["per_class"].items()}
    support = per["support"]
    total = int(support.sum())

    def average(weights: np.ndarray | None) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for key in ("precision", "recall", "f1"):
            if weights is None:
                row[key] = float(per[key].mean())
            else:
                row[key] = float(per[key] @ weights / total) if total else 0.0
        row["support"] = total
        return row

    return {
        "classes": [
            {
                "class": name,
                "precision": float(per["precision"][i]),
                "recall": float(per["recall"][i]),
                "f1": float(per["f1"][i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        ],
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else float("nan"),
        "macro_avg": average(None),
        "weighted_avg": average(support),
        "confusion_matrix": m["confusion_matrix"],
        "n": total,
    }


def class_names(spec: Any, values: np.ndarray) -> tuple[str, ...]:
    if spec.kind == "binary":
        return BINARY_CLASSES
    return tuple(spec.classes or (str(i) for i in range(values.shape[1])))


def reports_of(p: Predictions) -> dict[str, dict[str, Any]]:
    """A classification report per binary or multiclass task, over its labelled rows."""
    out = {}
    for spec, values, y, m in zip(p.specs, p.values, p.targets, p.masks, strict=True):
        pred = predicted_labels(spec, values)
        if pred is None:
            continue
        out[spec.name] = classification_report(
            y[m].astype(np.int64), pred[m], class_names(spec, values)
        )
    if not out:
        kinds = ", ".join(f"{s.name} ({s.kind})" for s in p.specs)
        raise UserError(
            f"--report classification needs a binary or multiclass task; this run has {kinds}"
        )
    return out


def report_table(task: str, report: dict[str, Any], title: str = "") -> Table:
    """The report as a rich table, laid out as scikit-learn prints it."""
    table = Table(title=title or None, title_justify="left")
    table.add_column(task, style="bold")
    for name in ("precision", "recall", "f1", "support"):
        table.add_column(name, justify="right")
    for row in report["classes"]:
        table.add_row(
            row["class"], *(fmt(row[k]) for k in ("precision", "recall", "f1")), str(row["support"])
        )
    table.add_section()
    table.add_row("accuracy", "", "", fmt(report["accuracy"]), str(report["n"]))
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        row = report[key]
        table.add_row(
            label, *(fmt(row[k]) for k in ("precision", "recall", "f1")), str(row["support"])
        )
    return table


def plot_confusion(
    matrix: list[list[int]],
    classes: list[str] | tuple[str, ...],
    path: Path,
    normalise: bool = False,
    title: str = "",
) -> Path:
    """A PNG of the confusion matrix: true class by row, predicted by column, counts annotated.

    With ``normalise`` each row is divided by its support (the cells are recalls) and
    the count is shown under the fraction.
    """
    plt = pyplot()

    cm = np.asarray(matrix, dtype=np.float64)
    k = len(classes)
    rows = cm.sum(axis=1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalise else cm
    size = max(3.5, 0.55 * k + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else max(cm.max(), 1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    high = shown.max() / 2 if shown.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}\n({int(cm[i, j])})" if normalise else str(int(cm[i, j]))
            colour = "white" if shown[i, j] > high else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    if title:
        fit_title(fig, title)  # over the figure, not the axes: clear of the colour bar
    return save_png(fig, path)


def report_file(split: str) -> str:
    return f"classification_report_{split}.json"


def confusion_file(split: str, task: str, normalise: bool = False) -> str:
    return f"confusion_matrix_{split}_{task}{'_normalised' if normalise else ''}.png"


def write_reports(
    run_dir: Path, p: Predictions, split: str, normalise: bool = False
) -> tuple[dict[str, Any], list[Path]]:
    """Reports of ``p``'s classification tasks: ``classification_report_SPLIT.json`` and one
    confusion-matrix PNG per task in ``run_dir``; the report and the files written."""
    from mtl.core.runs import write_json

    reports = reports_of(p)
    document = {"split": split, "selected_epoch": p.selected_epoch, "tasks": reports}
    paths = []
    for spec, values in zip(p.specs, p.values, strict=True):
        if spec.name in reports:
            path = run_dir / confusion_file(split, spec.name, normalise)
            title = f"{spec.name} · {split} (n={reports[spec.name]['n']})"
            plot_confusion(
                reports[spec.name]["confusion_matrix"],
                class_names(spec, values),
                path,
                normalise,
                title,
            )
            paths.append(path)
    json_path = run_dir / report_file(split)
    write_json(json_path, document)
    return document, [json_path, *paths]
