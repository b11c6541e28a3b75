"""``mtl predict``: a run's predictions for a split, one CSV row per example."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import err, plugins, reports_errors


class Split(StrEnum):
    train = "train"
    val = "val"
    test = "test"
    all = "all"


@reports_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'mtl train'.")],
    split: Annotated[
        Split,
        typer.Option(help="Which split to predict; 'all' is every example of the dataset."),
    ] = Split.test,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="CSV file to write, or '-' for standard output. \\[default: RUN_DIR/predictions_SPLIT.csv]",
        ),
    ] = None,
    labels: Annotated[
        bool,
        typer.Option(
            "--labels/--no-labels", help="Add a TASK_true column with the known label, if any."
        ),
    ] = False,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda. \\[default: the run's]")
    ] = None,
) -> None:
    """Predict every example of a split with the run's selected (best validation) checkpoint.

    Unlabelled examples are predicted too. Columns: id, split, then per task: regression
    TASK (original units); binary TASK_prob and TASK (0/1 at 0.5); multiclass TASK (class
    name) and TASK_prob_CLASS per class.

    Example: mtl predict runs/my-run --split test --out predictions.csv
    """
    from mtl.core.predict import check_output, predict_run, summary, to_csv, write_csv

    if out not in (None, "-"):
        check_output(Path(out))  # before the model runs
    result = predict_run(run_dir, plugins(), split.value, device)
    if result.data_changed:
        err.print(
            "[yellow]warning:[/] the dataset changed since the run was trained (its fingerprint "
            "differs from manifest.json); predicting the data as it is now"
        )
    info = summary(result)
    if out == "-":
        typer.echo(to_csv(result, labels), nl=False)
        return
    path = Path(out) if out else run_dir / f"predictions_{split.value}.csv"
    write_csv(result, path, labels)
    labelled = ", ".join(f"{t} {n}" for t, n in info["labelled"].items())
    err.print(
        f"{info['rows']} rows ({split.value}; labelled: {labelled}) from the checkpoint of "
        f"epoch {info['selected_epoch']} → {path}",
        markup=False,
    )
