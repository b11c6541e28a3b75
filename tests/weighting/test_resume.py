"""Exact resume with a weighting's state: preempted mid-epoch at a known step, then
interrupted after an epoch, then finished == uninterrupted (every weighting with
parameters, buffers, extra state or random draws; parametrised over the registry)."""

import pytest
import torch
from interrupts import InterruptAfter, strip

from mtl.core.config import TrainConfig
from mtl.core.runner import resume_run, start_run
from mtl.distributed.preempt import Preempted

SMALL = {"n": 200, "dim": 300, "density": 0.05}


def config(tmp_path, name, method, **kw):
    return TrainConfig(
        dataset="synthetic",
        dataset_options=dict(SMALL),
        tasks=["pop", "ballad", "loudness"],
        widths=[12, 12, 6, 6],
        batch_size=32,
        epochs=3,
        report=[],
        device="cpu",
        weighting=method,
        run_dir=str(tmp_path / name),
        keep_checkpoints="all",  # the end states are compared
        **kw,
    )


def test_interrupted_and_resumed_equals_uninterrupted(
    tmp_path, plugins, stateful_method, monkeypatch, required
):
    monkeypatch.setenv("MTL_REQUEUE", "0")
    opts = required(stateful_method, 3)
    full_run, full = start_run(
        config(tmp_path, "full", stateful_method, weighting_options=opts), plugins
    )
    cut = config(tmp_path, "cut", stateful_method, weighting_options=opts)
    # the preemption warning (as SLURM sends it) before step 3 of epoch 1
    monkeypatch.setenv("MTL_TEST_SIGNAL_AT", "1:3:USR2")
    with pytest.raises(Preempted):
        start_run(cut, plugins)
    monkeypatch.delenv("MTL_TEST_SIGNAL_AT")
    state = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert state["partial"]["position"] == 3 * 32 and "stats" in state["partial"]
    with pytest.raises(KeyboardInterrupt):  # after epoch 2
        resume_run(tmp_path / "cut", plugins, extra_reporters=[InterruptAfter(2)])
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    assert strip(resumed_run.metrics()) == strip(full_run.metrics())
    for key in ("selected_epoch", "val", "test", "epochs_run", "weighting"):
        assert resumed[key] == full[key], key
    end_full = torch.load(full_run.file("checkpoints/last.pt"), weights_only=True)["weighting"]
    end_cut = torch.load(resumed_run.file("checkpoints/last.pt"), weights_only=True)["weighting"]
    assert end_full.keys() == end_cut.keys()
    for key, value in end_full.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, end_cut[key]), key
        else:
            assert repr(value) == repr(end_cut[key]), key
