"""Item states and run_item in this process: skip, refuse, resume after a SLURM requeue."""

import json

import pytest

from mtl.core.errors import UserError
from mtl.core.plugins import load_plugins
from mtl.sweep import load_sweep
from mtl.sweep.execute import run_item
from mtl.sweep.state import item_config, item_state, status_file

STUDY = """
[base]
dataset = "synthetic"
epochs = 2
widths = "8,8"
dataset-options = { n = 200, dim = 100, density = 0.1 }
[task-sets]
tight = "pop,pop_rock"
[axes]
arch = ["SS"]
seed = [0, 1]
"""


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "s.toml").write_text(STUDY)
    return load_sweep(tmp_path / "s.toml")


def running_elsewhere(sweep, index, job):
    path = status_file(sweep, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    item = sweep.items[index]
    record = {"index": index, "state": "running", "config": item_config(item)}
    path.write_text(json.dumps(record | {"host": "node-b", "pid": 1, "slurm_job": job}))


def test_run_item_records_done_then_skips(sweep):
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    assert item_state(sweep, sweep.items[0]).state == "pending"
    out = run_item(sweep, 0, plugins)
    assert out.state == "done" and out.cpu_seconds > 0
    assert item_state(sweep, sweep.items[0]).state == "done"
    assert run_item(sweep, 0, plugins).state == "skipped"
    status = json.loads(status_file(sweep, 0).read_text())
    assert status["state"] == "done" and status["config"]["seed"] == 0


def test_an_item_running_elsewhere_is_refused_unless_it_is_our_requeued_job(sweep, monkeypatch):
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    running_elsewhere(sweep, 1, "77_1")
    assert item_state(sweep, sweep.items[1]).state == "running"
    with pytest.raises(UserError, match="item 1 is being run by another process"):
        run_item(sweep, 1, plugins)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert run_item(sweep, 1, plugins).state == "done"


def test_a_changed_sweep_file_is_not_mixed_with_finished_items(sweep, tmp_path):
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    run_item(sweep, 0, plugins)
    changed = load_sweep(tmp_path / "s.toml", ("epochs=3",))
    assert item_state(changed, changed.items[0]).state == "failed"
    with pytest.raises(UserError, match="ran with another configuration"):
        run_item(changed, 0, plugins)
