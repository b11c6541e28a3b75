"""``mtl dummy``: a smoke run in seconds on the built-in dummy dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import ThreadsOpt, plugins, reports_errors, use_threads_option


@reports_errors
def dummy(
    epochs: Annotated[int, typer.Option(help="Epochs to train.")] = 10,
    arch: Annotated[str, typer.Option(help="Sharing architecture.")] = "low",
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory. \\[default: runs/dummy-low-<time>]")
    ] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    threads: ThreadsOpt = None,
) -> None:
    """Smoke run: train a 3-task low-level-sharing net on the dummy set in seconds.

    Two regression tasks and one binary task, 750/100/150 examples; prints a results
    table. Checks that the installation works end to end.
    """
    from mtl.core.config import TrainConfig
    from mtl.core.runner import start_run

    use_threads_option(threads)

    config = TrainConfig(
        dataset="dummy",
        arch=arch,
        epochs=epochs,
        seed=seed,
        run_dir=str(run_dir) if run_dir else None,
        device="cpu",
    )
    start_run(config, plugins())
