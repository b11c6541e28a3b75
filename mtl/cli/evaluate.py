"""``mtl evaluate``: reload a run's selected checkpoint and score a split."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mtl.cli.common import ThreadsOpt, err, out, plugins, reports_errors, use_threads_option


class Split(StrEnum):
    train = "train"
    val = "val"
    test = "test"
    all = "all"


class Report(StrEnum):
    classification = "classification"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if a is None and isinstance(b, float) and math.isnan(b):
        return True
    return a == b


@reports_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'mtl train'.")],
    split: Annotated[Split, typer.Option(help="Which split to score.")] = Split.test,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda. \\[default: the run's]")
    ] = None,
    report: Annotated[
        Report | None,
        typer.Option(
            help="Also write a report: 'classification' gives per-class precision, recall, F1 "
            "and support, macro/weighted averages and accuracy for every binary and multiclass "
            "task (as scikit-learn's classification_report), saved as "
            "classification_report_SPLIT.json and confusion_matrix_SPLIT_TASK.png in the run."
        ),
    ] = None,
    normalise: Annotated[
        bool,
        typer.Option(
            "--normalise/--counts",
            help="Confusion matrix cells as fractions of the true class (recall), counts beneath.",
        ),
    ] = False,
    threads: ThreadsOpt = None,
) -> None:
    """Reload the run's selected (best validation) checkpoint and score a split.

    The numbers equal the run's results.json for val and test.

    Example: mtl evaluate runs/my-run --split test --report classification
    """
    from mtl.core.errors import UserError
    from mtl.core.runner import evaluate_run
    from mtl.core.runs import RESULTS, dumps
    from mtl.core.tables import fmt, plain_results_tables, results_tables

    use_threads_option(threads)
    splits = ("train", "val", "test") if split is Split.all else (split.value,)
    if as_json and report is not None:
        raise UserError("--json and --report cannot be combined; the report is saved as JSON")
    loaded = plugins()
    results = evaluate_run(run_dir, loaded, splits, device)
    by_split = {s: results[s] for s in splits}
    verdicts = _compare_saved(run_dir, results, splits)
    if as_json:  # the shape is documented in docs/evaluation.md
        document = {**results, "matches_results_json": verdicts}
        out.print(dumps(document), markup=False, soft_wrap=True)
        return
    config = json.loads((run_dir / "config.json").read_text())
    reg = loaded.registries
    dataset = reg.datasets.get(config["dataset"])
    kinds = {t.name: t.kind for t in dataset.offered_tasks(config["dataset_options"])}
    primaries = {t: reg.task_types.get(kinds[t]).primary for t in config["tasks"]}
    title = f"{run_dir} · selected epoch {results['selected_epoch']} by validation {results['select_by']}"
    if out.is_terminal:
        for table in results_tables(by_split, primaries, title):
            out.print(table)
    else:  # logs and pipes: plain text, no name cut short at 80 columns
        for text in plain_results_tables(by_split, primaries, title):
            out.print(text, markup=False, highlight=False, soft_wrap=True)
    for s in splits:
        if f"{s}_mean_spearman" in results:
            value = results[f"{s}_mean_spearman"]
            out.print(f"{s}: mean Spearman over regression tasks {fmt(value)}")
    if report is not None:
        _classification_report(run_dir, loaded, splits, device, normalise)
    for s, same in verdicts.items():
        if same is True:
            err.print(f"[green]{s}: identical to {RESULTS}[/]")
        elif same is False:
            err.print(f"[yellow]{s}: differs from {RESULTS}[/] (different device or versions?)")


def _compare_saved(
    run_dir: Path, results: dict[str, Any], splits: tuple[str, ...]
) -> dict[str, bool | None]:
    """Per split: True if the fresh metrics equal those in results.json, False if not,
    None where results.json has no such split (train) or no results.json exists."""
    from mtl.core.runs import RESULTS, RunDir, dumps

    saved = RunDir(run_dir).results() if (run_dir / RESULTS).exists() else {}
    verdicts: dict[str, bool | None] = {}
    for s in splits:
        if s in saved:
            verdicts[s] = _same(json.loads(dumps(results[s])), saved[s])
        else:
            verdicts[s] = None
    return verdicts


def _classification_report(
    run_dir: Path, loaded: Any, splits: tuple[str, ...], device: str | None, normalise: bool
) -> None:
    from mtl.core.predict import predict_run
    from mtl.core.reports import report_table, write_reports

    for s in splits:
        predictions = predict_run(run_dir, loaded, s, device)
        document, paths = write_reports(run_dir, predictions, s, normalise)
        for task, rep in document["tasks"].items():
            out.print(report_table(task, rep, f"classification report · {task} · {s}"))
        for path in paths:
            err.print(f"wrote {path}", markup=False)
