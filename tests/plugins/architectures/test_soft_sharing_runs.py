"""cross-stitch and mtan end to end: one epoch over every input kind and encoder with
partial labels, with gradient and loss-level weightings, the mixing matrices in
metrics.jsonl, exact resume, and the refusals (one line, exit 2, no run directory)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from interrupts import InterruptAfter, SignalAt, strip

from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.runner import resume_run, start_run
from mtl.distributed.preempt import Preempted

ARCHS = ["cross-stitch", "mtan"]
SPARSE = {"n": 160, "dim": 120, "density": 0.05, "missing": 0.3}
SEQ = {"n": 60, "features": 6, "min_length": 4, "max_length": 12}
INPUTS = {
    "sparse": dict(dataset_options=SPARSE, tasks=["pop", "ballad", "loudness"]),
    "dense": dict(dataset_options={**SPARSE, "dim": 12, "density": 1.0}, tasks=["pop", "loudness"]),
    "lstm": dict(
        dataset="synthetic-seq",
        dataset_options=SEQ,
        tasks=["genre", "energy"],
        encoder="lstm",
        encoder_options={"hidden": 6},
    ),
    "cnn1d": dict(
        dataset="synthetic-seq",
        dataset_options=SEQ,
        tasks=["genre", "trend"],
        encoder="cnn1d",
        encoder_options={"channels": "4,4"},
    ),
    "cnn2d": dict(
        dataset="synthetic-seq",
        dataset_options=SEQ,
        tasks=["genre", "energy", "trend"],
        encoder="cnn2d",
        encoder_options={"channels": "3,4"},
    ),
}


@pytest.fixture(scope="module")
def plugins():
    return load_plugins(env={"MTL_PLUGINS": ""})


def config(tmp_path, name, arch, inputs="sparse", **kw):
    return TrainConfig(
        **{
            "widths": [8, 6],
            "batch_size": 32,
            "epochs": 1,
            "report": [],
            "device": "cpu",
            "keep_checkpoints": "all",  # the tests read last.pt of finished runs
            "arch": arch,
            "run_dir": str(tmp_path / name),
            **INPUTS[inputs],
            **kw,
        }
    )


def losses_finite(run) -> bool:
    return all(math.isfinite(r["loss"]) for r in run.metrics())


@pytest.mark.parametrize("inputs", list(INPUTS))
@pytest.mark.parametrize("arch", ARCHS)
def test_one_epoch_over_every_input_kind(tmp_path, plugins, arch, inputs):
    run, results = start_run(config(tmp_path, "run", arch, inputs), plugins)
    assert results["status"] == "completed" and losses_finite(run)
    assert set(results["test"]) == set(INPUTS[inputs]["tasks"])


@pytest.mark.parametrize("weighting", ["pcgrad", "uw"])
@pytest.mark.parametrize("arch", ARCHS)
def test_with_weighting_methods(tmp_path, plugins, arch, weighting):
    run, results = start_run(config(tmp_path, "run", arch, weighting=weighting), plugins)
    assert results["status"] == "completed" and losses_finite(run)
    train = [r for r in run.metrics() if r["split"] == "train"]
    assert all(r["weights"] for r in train)


def test_mixing_matrices_are_recorded_per_epoch(tmp_path, plugins):
    run, _ = start_run(config(tmp_path, "run", "cross-stitch", epochs=2), plugins)
    records = run.metrics()
    train = [r for r in records if r["split"] == "train"]
    assert [r["epoch"] for r in train] == [1, 2]
    for r in train:
        mixing = r["diagnostics"]["mixing"]
        assert torch.tensor(mixing).shape == (2, 3, 3)  # layers, tasks, tasks
    assert train[0]["diagnostics"] != train[1]["diagnostics"]  # learned
    assert torch.tensor(train[0]["diagnostics"]["mixing"]).diagonal(dim1=1, dim2=2).gt(0.5).all()
    assert all("diagnostics" not in r for r in records if r["split"] == "val")
    # the same as the checkpoint's mixing parameter at the last epoch
    state = torch.load(run.file("checkpoints/last.pt"), weights_only=True)["model"]
    torch.testing.assert_close(state["mixing"], torch.tensor(train[-1]["diagnostics"]["mixing"]))


@pytest.mark.parametrize("arch", ARCHS)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, plugins, monkeypatch, arch):
    monkeypatch.setenv("MTL_REQUEUE", "0")
    kw = {"epochs": 3, "dataset_options": {**SPARSE, "n": 240}, "dropout": [0.2, 0.2]}
    full_run, full = start_run(config(tmp_path, "full", arch, **kw), plugins)
    with pytest.raises(Preempted):  # mid-epoch 1
        start_run(config(tmp_path, "cut", arch, **kw), plugins, extra_reporters=[SignalAt(1, 2)])
    with pytest.raises(KeyboardInterrupt):  # after epoch 2
        resume_run(tmp_path / "cut", plugins, extra_reporters=[InterruptAfter(2)])
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    assert strip(resumed_run.metrics()) == strip(full_run.metrics())
    for key in ("selected_epoch", "val", "test", "epochs_run"):
        assert resumed[key] == full[key], key
    a = torch.load(full_run.file("checkpoints/last.pt"), weights_only=True)["model"]
    b = torch.load(resumed_run.file("checkpoints/last.pt"), weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# an encoder that exposes no intermediate features, registered as a third party would
NO_FEATURES = """
import sys, torch
from torch import nn
from mtl import hookimpl
from mtl.core.encoder import Encoder
import mtl.plugins.encoders as builtin

class MeanModule(nn.Module):
    def forward(self, batch):
        return batch.x.sum(1) / batch.lengths.unsqueeze(1)

class MeanEncoder(Encoder):
    def output_dim(self, spec):
        return spec.input_dim
    def build(self, spec):
        return MeanModule()

register = builtin.mtl_register_encoders

@hookimpl
def mtl_register_encoders(registry):
    register(registry)
    registry.add("mean", MeanEncoder())

builtin.mtl_register_encoders = mtl_register_encoders
from mtl.cli.main import app
app(sys.argv[1:])
"""


def cli(tmp_path, *args, code=None):
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "mtl"]
    return subprocess.run(
        [*argv, "train", "--dataset", "synthetic-seq", "-o", "n=60", "--widths", "8",
         "--epochs", "1", "--run-dir", str(tmp_path / "run"), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "MTL_PLUGINS": "", "COLUMNS": "300"},
    )  # fmt: skip


def test_mtan_over_an_encoder_without_features_is_one_line_exit_2(tmp_path):
    ok = cli(tmp_path, "--encoder", "mean", "--arch", "S", code=NO_FEATURES)
    assert ok.returncode == 0, ok.stderr  # the encoder itself works
    out = cli(tmp_path / "x", "--encoder", "mean", "--arch", "mtan", code=NO_FEATURES)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == [
        "error: architecture 'mtan' needs the encoder's intermediate features, but encoder "
        "'mean' exposes none; choose one that does (lstm, cnn1d, cnn2d, or mlp for dense "
        "and sparse inputs)"
    ]
    assert not (tmp_path / "x").exists()


def test_mtan_over_per_task_encoders_is_refused(tmp_path):
    out = cli(tmp_path, "--encoder", "lstm", "--encoder-sharing", "per-task", "--arch", "mtan")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: architecture 'mtan' reads the features of one shared encoder; drop "
        "--encoder-sharing per-task"
    ]
    assert not (tmp_path / "run").exists()


def test_results_of_a_cross_stitch_run_read_back(tmp_path, plugins):
    run, _ = start_run(config(tmp_path, "run", "cross-stitch", "lstm"), plugins)
    first = json.loads(run.file("metrics.jsonl").read_text().splitlines()[0])
    assert first["split"] == "train" and "mixing" in first["diagnostics"]
