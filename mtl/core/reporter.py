"""The reporter component interface: how a run is shown or recorded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# keys of records and results that measure time: they differ between identical runs
TIMING_KEYS = frozenset({"train_seconds", "samples_per_second", "eval_seconds"})


@dataclass
class RunInfo:
    """What reporters learn at the start of a run."""

    run_dir: Path
    config: dict[str, Any]
    tasks: list[dict[str, Any]]
    split_sizes: dict[str, int]
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    selection: str
    primary_metrics: dict[str, str]


class Reporter:
    """Base class with no-op hooks; subclasses override what they need.

    Instantiated once per run with no arguments. ``on_batch`` is called after every
    training step (keep it cheap: ``loss`` is a tensor, read it only when you show
    it); ``on_epoch`` receives the epoch's ``metrics.jsonl`` records; ``close`` is
    always called, also when the run fails.
    """

    description: str = ""

    def check(self, config: dict[str, Any]) -> None:
        """Refuse settings that cannot work (raise ``UserError``) before the run directory
        is created; ``config`` is the run's configuration (``config.json``'s keys)."""

    def on_start(self, info: RunInfo) -> None:
        """The run begins (or resumes at ``info.start_epoch``)."""

    def on_batch(self, epoch: int, step: int, loss: Any) -> None:
        """A training step finished; only reporters that override this are called."""

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        """An epoch was scored; ``improved`` says whether it is the new best."""

    def on_end(self, results: dict[str, Any]) -> None:
        """``results.json`` was written; ``results`` is its content."""

    def close(self) -> None:
        """Release resources; always called, also when the run fails."""
