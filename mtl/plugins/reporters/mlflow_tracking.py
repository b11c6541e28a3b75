"""MLflow tracking: the resolved config as params, every epoch's metrics, and at the end
``results.json``, the config, the manifest and the run's figures as artifacts.

The store is ``--mlflow-uri`` (TOML ``mlflow_uri``), else ``MLFLOW_TRACKING_URI``, else a
SQLite store inside the run directory (``mlflow.db``, artifacts in ``mlflow-artifacts/``),
so nothing lands outside the run unless asked. The experiment is
``MLFLOW_EXPERIMENT_NAME`` or ``mtl``; the MLflow run is named after the run directory.
Metrics are named like TensorBoard's tags (``<split>/loss``, ``<split>/<task>/<metric>``)
with the epoch as step; the test split is logged once, at the selected epoch (again
only if a run extended by ``--resume --epochs`` selects a later epoch).
``mlflow.json`` in the run directory remembers the MLflow run, so a resumed run continues
it. Needs the ``mlflow`` package (``pip install 'mtl[mlflow]'``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

from mtl.core.errors import UserError
from mtl.core.reporter import Reporter, RunInfo
from mtl.core.runs import CONFIG, MANIFEST, METRICS, RESULTS, RunDir, write_json

STATE_FILE = "mlflow.json"
DEFAULT_DB = "mlflow.db"
ARTIFACTS_DIR = "mlflow-artifacts"
EXPERIMENT = "mtl"
ARTIFACTS = (RESULTS, CONFIG, MANIFEST, METRICS, "metrics.csv")
MAX_PARAM = 6000  # MLflow's limit on a parameter value
BATCH = 100  # params per log_batch call (MLflow's limit; metrics allow 1000)


def metric_name(*parts: str) -> str:
    """An MLflow-safe metric name: characters MLflow refuses become ``_``."""
    return "/".join(re.sub(r"[^\w.\- ]", "_", p) or "_" for p in parts)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Config as MLflow params: nested tables as ``key.sub``, lists and None as JSON."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


def record_metrics(split: str, record: dict[str, Any], step: int) -> list[tuple[str, float, int]]:
    """(name, value, step) for the loss and every numeric task metric of one record."""
    out = []
    if _number(record.get("loss")):
        out.append((metric_name(split, "loss"), float(record["loss"]), step))
    for task, metrics in (record.get("tasks") or {}).items():
        for metric, value in (metrics or {}).items():
            if metric != "n" and _number(value):
                out.append((metric_name(split, task, metric), float(value), step))
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def tracking_uri(config: dict[str, Any], run_dir: Path) -> str:
    """Where the run is tracked: the config's ``mlflow_uri``, the environment, or the run dir."""
    uri = config.get("mlflow_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    return uri or f"sqlite:///{(Path(run_dir) / DEFAULT_DB).resolve()}"


class MlflowReporter(Reporter):
    description = "MLflow tracking: params, metrics per epoch, results and figures (needs mlflow)"

    def __init__(self) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise UserError(
                "the mlflow reporter needs the mlflow package: "
                "pip install 'mtl[mlflow]' (or pip install mlflow)"
            ) from None
        self._client_class = MlflowClient
        for chatter in ("mlflow.store.db.utils", "alembic"):  # store creation's INFO lines
            logging.getLogger(chatter).setLevel(logging.WARNING)
        self.client: Any = None
        self.run_id: str | None = None
        self.ended = False

    def check(self, config: dict[str, Any]) -> None:
        """A tracking store named by --mlflow-uri or MLFLOW_TRACKING_URI must answer before
        anything is written (the run directory's own store is created by on_start)."""
        uri = config.get("mlflow_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            self._connect(uri, lambda client: client.search_experiments(max_results=1))

    def _connect(self, uri: str, use: Any) -> Any:
        """``use(client)`` for a client of ``uri``; any store failure is one UserError."""
        try:
            return use(self._client_class(tracking_uri=uri))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any store failure reads the same to a user
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                f"the mlflow reporter cannot use tracking store '{uri}': {reason}; "
                "check --mlflow-uri / MLFLOW_TRACKING_URI"
            ) from None

    # --- start: one MLflow run per run directory, continued on resume ----------------
    def on_start(self, info: RunInfo) -> None:
        self.info = info
        self.uri = tracking_uri(info.config, info.run_dir)
        self.own_store = not (
            info.config.get("mlflow_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        )
        self._connect(self.uri, self._begin)

    def _begin(self, client: Any) -> None:
        self.client = client
        state = self._saved_state()
        if state is not None:
            self.run_id = state["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self._create_run()
        self._log_params(self.info.config)

    def _saved_state(self) -> dict[str, Any] | None:
        path = Path(self.info.run_dir) / STATE_FILE
        if self.info.start_epoch <= 1 or not path.is_file():
            return None
        try:
            state = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return state if state.get("tracking_uri") == self.uri and state.get("run_id") else None

    def _create_run(self) -> None:
        run_dir = Path(self.info.run_dir)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            # the run's own store keeps its artifacts in the run directory too
            location = (run_dir / ARTIFACTS_DIR).resolve().as_uri() if self.own_store else None
            experiment_id = self.client.create_experiment(name, artifact_location=location)
        run = self.client.create_run(
            experiment_id,
            run_name=run_dir.name,
            tags={
                "mtl.run_dir": str(run_dir.resolve()),
                "mtl.dataset": self.info.config["dataset"],
                "mtl.arch": str(self.info.config["arch"]),
            },  # fmt: skip
        )
        self.run_id = run.info.run_id
        write_json(
            run_dir / STATE_FILE,
            {"tracking_uri": self.uri, "experiment_id": experiment_id, "run_id": self.run_id},
        )
        # a run resumed into a new store: the epochs before the restart, from metrics.jsonl
        earlier = [
            r for r in RunDir(run_dir).metrics() if r.get("epoch", 0) < self.info.start_epoch
        ]
        for record in earlier:
            self._log(record_metrics(record["split"], record, record["epoch"]))

    def _log_params(self, config: dict[str, Any]) -> None:
        """Params once; values changed on resume (e.g. epochs) become ``resumed.<key>`` tags,
        as MLflow params cannot change."""
        from mlflow.entities import Param, RunTag

        logged = self.client.get_run(self.run_id).data.params
        params, tags = [], []
        for key, value in flatten(config).items():
            if len(value) > MAX_PARAM:
                value = f"(longer than {MAX_PARAM} characters; see the {CONFIG} artifact)"
            if key not in logged:
                params.append(Param(key, value))
            elif logged[key] != value:
                tags.append(RunTag(f"resumed.{key}", value))
        for i in range(0, max(len(params), len(tags)), BATCH):
            self.client.log_batch(
                self.run_id, params=params[i : i + BATCH], tags=tags[i : i + BATCH]
            )

    # --- metrics -----------------------------------------------------------------
    def _log(self, metrics: list[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entities = [Metric(name, value, now, step) for name, value, step in metrics]
        for i in range(0, len(entities), 1000):
            self.client.log_batch(self.run_id, metrics=entities[i : i + 1000])

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        if self.run_id is None:
            return
        metrics = []
        for record in records:
            metrics += record_metrics(record["split"], record, epoch)
        train = next((r for r in records if r["split"] == "train"), {})
        for key in ("train_seconds", "samples_per_second"):
            if _number(train.get(key)):
                metrics.append((metric_name("train", key), float(train[key]), epoch))
        self._log(metrics)

    def on_end(self, results: dict[str, Any]) -> None:
        if self.run_id is None:
            return
        step = results["selected_epoch"]
        state_path = Path(self.info.run_dir) / STATE_FILE
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        if state.get("test_logged_at") != step:  # an extended run that kept its epoch: once
            record = {"loss": results.get("test_loss"), "tasks": results.get("test", {})}
            self._log(
                record_metrics("test", record, step) + [("selected_epoch", float(step), step)]
            )
            write_json(state_path, state | {"test_logged_at": step})
        self.client.set_tag(self.run_id, "mtl.status", results.get("status", ""))
        self.ended = True

    # --- the end: artifacts (after every reporter's on_end, so figures exist) -----------
    def close(self) -> None:
        if self.run_id is None:
            return
        run_id, self.run_id = self.run_id, None
        if not self.ended:  # failed, interrupted or preempted: a resume reopens it
            self.client.set_terminated(run_id, status="KILLED")
            return
        run_dir = Path(self.info.run_dir)
        for name in ARTIFACTS:
            if (run_dir / name).is_file():
                self.client.log_artifact(run_id, str(run_dir / name))
        for figure in sorted(run_dir.glob("*.png")):
            self.client.log_artifact(run_id, str(figure), artifact_path="figures")
        self.client.set_terminated(run_id, status="FINISHED")
