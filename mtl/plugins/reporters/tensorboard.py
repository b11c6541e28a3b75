"""TensorBoard event files: every epoch's loss and metrics, and the test metrics at the end.

Writes ``<run>/tensorboard/`` (``tensorboard --logdir runs`` shows every run). Scalars
are tagged ``<split>/loss``, ``train/lr`` and ``<split>/<task>/<metric>`` with the epoch
as step; the test split's metrics are logged once, at the selected epoch. At the end the
run's configuration goes to TensorBoard's HParams tab (``tensorboard/hparams/``: every
config value, lists and tables as text, against the selected epoch's validation and test
metrics, tagged ``hparam/<split>/<task>/<metric>``), so runs can be compared by option,
and the run's figures go to the Images tab: the learning curves (``figures/learning_curves``),
the task weights with a balancing method and the gate weights of a gated architecture, the
same figures the plots reporter writes as PNG. A resumed run purges the events from the
epoch it restarts at. Needs the ``tensorboard`` package
(``pip install 'mtl[tensorboard]'``).
"""

from __future__ import annotations

from typing import Any

from mtl.core.errors import UserError
from mtl.core.reporter import Reporter, RunInfo

DIR = "tensorboard"


class TensorBoardReporter(Reporter):
    description = f"TensorBoard event files in {DIR}/ (needs the tensorboard package)"

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "the tensorboard reporter needs the tensorboard package: "
                "pip install 'mtl[tensorboard]' (or pip install tensorboard)"
            ) from None
        self._writer_class = SummaryWriter
        self.writer: Any = None
        self.config: dict[str, Any] = {}
        self.info: RunInfo | None = None

    def on_start(self, info: RunInfo) -> None:
        purge = info.start_epoch if info.start_epoch > 1 else None
        self.writer = self._writer_class(log_dir=str(info.run_dir / DIR), purge_step=purge)
        self.config = dict(info.config)
        self.info = info
        lines = [f"- **{k}**: `{v}`" for k, v in info.config.items()]
        self.writer.add_text("config", "\n".join(lines), global_step=info.start_epoch)

    def _scalars(self, split: str, record: dict[str, Any], step: int) -> None:
        for key in ("loss", "lr"):
            if isinstance(record.get(key), (int, float)):
                self.writer.add_scalar(f"{split}/{key}", record[key], step)
        for task, metrics in (record.get("tasks") or {}).items():
            for metric, value in metrics.items():
                if (
                    metric != "n"
                    and isinstance(value, (int, float))
                    and not isinstance(value, bool)
                ):
                    self.writer.add_scalar(f"{split}/{task}/{metric}", value, step)

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        if self.writer is None:
            return
        for record in records:
            self._scalars(record["split"], record, epoch)
        self.writer.flush()

    def on_end(self, results: dict[str, Any]) -> None:
        if self.writer is None:
            return
        record = {"loss": results.get("test_loss"), "tasks": results.get("test", {})}
        self._scalars("test", record, results["selected_epoch"])
        self.writer.add_hparams(
            {k: _hparam(v) for k, v in self.config.items()},
            {
                f"hparam/{split}/{task}/{metric}": value
                for split in ("val", "test")
                for task, metrics in (results.get(split) or {}).items()
                for metric, value in metrics.items()
                if metric != "n" and isinstance(value, (int, float)) and not isinstance(value, bool)
            },
            run_name="hparams",
            global_step=results["selected_epoch"],
        )
        self._figures(results["selected_epoch"])
        self.writer.flush()

    def _figures(self, step: int) -> None:
        """The plots reporter's figures, drawn into a scratch folder and logged as images."""
        import tempfile
        from pathlib import Path

        from matplotlib.image import imread

        from mtl.core.runs import RunDir
        from mtl.plugins.reporters import plots

        if self.info is None:
            return
        records = RunDir(self.info.run_dir).metrics()
        title = f"{self.config.get('dataset')} · {self.config.get('arch')}"
        with tempfile.TemporaryDirectory(prefix="mtl-tb-") as tmp:
            drawn = {
                "learning_curves": plots.plot_learning_curves(
                    records, self.info.primary_metrics, Path(tmp) / "curves.png", step, title
                ),
                "gate_weights": plots.plot_gate_weights(records, Path(tmp) / "gates.png", title),
            }
            if self.config.get("weighting", "ew") != "ew":
                path = Path(tmp) / "weights.png"
                drawn["task_weights"] = plots.plot_task_weights(records, path, title)
            for name, path in drawn.items():
                if path is not None and Path(path).is_file():
                    image = imread(path)[..., :3]  # RGB, floats in [0, 1]
                    self.writer.add_image(f"figures/{name}", image, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _hparam(value: Any) -> Any:
    """A config value as TensorBoard's HParams take it: numbers, bools and strings as they
    are, anything else (lists, tables, None) as text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)
