"""The mlflow reporter in real training runs, read back with MLflow's own client.

Creating a SQLite tracking store runs MLflow's schema migrations (several seconds on a
busy machine): the whole file trains one run, in one store, once, and resumes it."""

import json
import sys
from pathlib import Path

import pytest

from mtl.core.config import TrainConfig
from mtl.core.errors import UserError
from mtl.core.plugins import load_plugins
from mtl.core.runner import resume_run, start_run
from mtl.plugins.reporters.mlflow_tracking import MlflowReporter, flatten, tracking_uri

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One epoch, then resumed to two: an MLflow run in the run directory's own store."""
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    base = tmp_path_factory.mktemp("mlflow")
    cwd = base / "cwd"
    cwd.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        config = TrainConfig(
            dataset="synthetic",
            dataset_options={"n": 300, "dim": 200, "density": 0.08},
            arch="SS",
            tasks=["pop", "loudness"],
            widths=[16, 8],
            epochs=1,
            batch_size=64,
            report=["mlflow", "plots"],  # plots writes its figure after mlflow's on_end
            device="cpu",
            run_dir=str(base / "run"),
            keep_checkpoints="last",  # extended below
        )
        run, _ = start_run(config, plugins)
        first_id = json.loads(run.file("mlflow.json").read_text())["run_id"]
        _, results = resume_run(run.path, plugins, {"epochs": 2})
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{run.path / 'mlflow.db'}")
    return run.path, cwd, results, first_id, client


def test_one_finished_mlflow_run_named_after_the_run_continued_by_resume(tracked):
    run_dir, cwd, _, first_id, client = tracked
    (experiment,) = [e for e in client.search_experiments() if e.name == "mtl"]
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_id == first_id  # the resume continued the same MLflow run
    assert found.info.run_name == "run" and found.info.status == "FINISHED"
    assert found.data.tags["mtl.status"] == "completed"
    assert list(cwd.iterdir()) == []  # nothing written where the command ran


def test_params_are_the_resolved_config_and_a_resumed_change_is_a_tag(tracked):
    run_dir, _, _, first_id, client = tracked
    run = client.get_run(first_id)
    config = json.loads((run_dir / "config.json").read_text())
    started = flatten({**config, "epochs": 1})
    assert run.data.params == started
    assert run.data.params["dataset_options.n"] == "300"
    assert run.data.params["tasks"] == '["pop", "loudness"]'
    assert run.data.tags["resumed.epochs"] == "2"


def test_metrics_per_epoch_and_test_equal_the_run_record(tracked):
    run_dir, _, results, first_id, client = tracked
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for split in ("train", "val"):
        history = client.get_metric_history(first_id, f"{split}/pop/roc_auc")
        expected = [
            (r["epoch"], r["tasks"]["pop"]["roc_auc"]) for r in records if r["split"] == split
        ]
        assert sorted((m.step, m.value) for m in history) == expected
        loss = client.get_metric_history(first_id, f"{split}/loss")
        assert sorted(m.value for m in loss) == sorted(
            r["loss"] for r in records if r["split"] == split
        )
    test = client.get_metric_history(first_id, "test/loudness/rmse")
    assert [(m.step, m.value) for m in test] == [
        (results["selected_epoch"], results["test"]["loudness"]["rmse"])
    ]
    assert client.get_run(first_id).data.metrics["selected_epoch"] == results["selected_epoch"]


def test_results_config_and_figures_are_artifacts_in_the_run_directory(tracked, tmp_path):
    run_dir, _, _, first_id, client = tracked
    names = {a.path for a in client.list_artifacts(first_id)}
    assert {"results.json", "config.json", "manifest.json", "metrics.jsonl", "figures"} <= names
    assert [a.path for a in client.list_artifacts(first_id, "figures")] == [
        "figures/learning_curves.png"
    ]
    got = Path(client.download_artifacts(first_id, "results.json", str(tmp_path)))
    assert got.read_bytes() == (run_dir / "results.json").read_bytes()
    uri = client.get_run(first_id).info.artifact_uri
    assert uri.startswith((run_dir / "mlflow-artifacts").resolve().as_uri())


def test_tracking_uri_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri({}, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert tracking_uri({}, tmp_path) == "http://tracking:5000"
    assert tracking_uri({"mlflow_uri": "sqlite:///x.db"}, tmp_path) == "sqlite:///x.db"


def test_a_store_that_cannot_be_used_is_refused_before_the_run_directory_exists(tmp_path):
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    config = TrainConfig(
        dataset="dummy", widths=[8, 8, 8, 8], epochs=1, device="cpu", report=["mlflow"],
        mlflow_uri="nosuchscheme://x", run_dir=str(tmp_path / "run"),
    )  # fmt: skip
    with pytest.raises(UserError, match="cannot use tracking store 'nosuchscheme://x'"):
        start_run(config, plugins)
    assert not (tmp_path / "run").exists()


def test_without_mlflow_installed_the_reporter_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(UserError, match=r"pip install 'mtl\[mlflow\]'"):
        MlflowReporter()
