"""Training with encoders end to end in-process: resume reproduces an uninterrupted run
with every sequence feature on (dropout RNG, bucketed order, snippets, aux tasks,
stabilisation), and the results of evaluation equal results.json."""

from __future__ import annotations

import pytest
import torch

from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.reporter import TIMING_KEYS, Reporter
from mtl.core.runner import evaluate_run, resume_run, start_run
from mtl.core.runs import RunDir


@pytest.fixture(scope="module")
def plugins():
    return load_plugins(env={"MTL_PLUGINS": ""})


class InterruptAt(Reporter):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch(self, epoch, records, improved):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def config(tmp_path, name: str, **kw) -> TrainConfig:
    base = dict(
        dataset="synthetic-seq",
        dataset_options={"n": 120, "features": 4, "min_length": 6, "max_length": 20},
        encoder="lstm",
        encoder_options={"hidden": 6, "layers": 2, "dropout": 0.3},
        arch="ST",
        widths=[8, 8],
        dropout=[0.2],
        tasks=["genre", "energy"],
        aux=["one-vs-rest", "autoencode"],
        aux_weight=0.3,
        stabilise=0.5,
        snippets=2,
        combine="learned",
        batch_order="bucketed",
        batch_size=16,
        epochs=4,
        optimizer="adam",
        device="cpu",
        report=[],
        run_dir=str(tmp_path / name),
    )
    return TrainConfig(**{**base, **kw})


def strip_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


@pytest.mark.parametrize("encoder", ["lstm", "cnn2d"])
def test_resume_ends_where_an_uninterrupted_sequence_run_ends(tmp_path, plugins, encoder):
    kw = {}
    if encoder == "cnn2d":
        kw = dict(encoder="cnn2d", encoder_options={"channels": "4,8"}, stabilise=0.0)
    full_run, full = start_run(config(tmp_path, "full", **kw), plugins)
    with pytest.raises(KeyboardInterrupt):
        start_run(config(tmp_path, "cut", **kw), plugins, extra_reporters=[InterruptAt(2)])
    cut = RunDir(tmp_path / "cut")
    assert torch.load(cut.file("checkpoints/last.pt"), weights_only=True)["epoch"] == 1
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    for key in ("selected_epoch", "val", "test", "val_aux", "test_aux", "test_members"):
        assert resumed[key] == full[key], key
    assert strip_timing(resumed_run.metrics()) == strip_timing(full_run.metrics())
    again = evaluate_run(full_run.path, plugins, ("val", "test"))
    for key in ("val", "test", "test_aux", "test_members", "test_loss"):
        assert again[key] == full[key], key
