"""Expert architectures in the trainer: one epoch over sparse inputs with missing labels
and over an LSTM encoder's output, with a gradient weighting; gate records; parameter
counts; the training-only penalty (absent from evaluation losses, present with an
encoder); exact resume of a gated model preempted mid-epoch."""

from __future__ import annotations

import pytest
import torch
from interrupts import SignalAt, strip

from mtl.core.config import TrainConfig
from mtl.core.experiment import prepare
from mtl.core.losses import DeviceData, batch_loss
from mtl.core.penalty import training_penalty
from mtl.core.plugins import load_plugins
from mtl.core.runner import resume_run, start_run
from mtl.core.scoring import evaluate_split
from mtl.distributed.preempt import Preempted

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

SPARSE = dict(
    dataset="synthetic",
    dataset_options={"n": 160, "dim": 200, "density": 0.05, "missing": 0.3},
    tasks=["pop", "ballad", "loudness"],
    widths=[8, 6],
    batch_size=32,
    epochs=1,
    report=[],
    device="cpu",
)
SEQ = dict(
    dataset="synthetic-seq",
    dataset_options={"n": 80, "max_length": 12, "min_length": 4},
    encoder="lstm",
    encoder_options={"hidden": 8},
    widths=[8, 6],
    batch_size=16,
    epochs=1,
    report=[],
    device="cpu",
)
ARCHS = {
    "mmoe": {"experts": "3"},
    "omoe": {"experts": "2"},
    "cgc": {"shared-experts": "2"},
    "ple": {"levels": "2"},
    "dselect-k": {"experts": "4", "k": "2", "entropy": "0.1"},
}


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("inputs", ["sparse", "encoder"])
def test_each_architecture_trains_an_epoch_and_records_gates_and_size(
    tmp_path, plugins, arch, inputs
):
    base = SPARSE if inputs == "sparse" else SEQ
    cfg = TrainConfig(**base, arch=arch, arch_options=ARCHS[arch], run_dir=str(tmp_path / "run"))
    run, results = start_run(cfg, plugins)
    assert results["status"] == "completed"
    assert results["arch_options"] == run.config()["arch_options"]
    sizes = results["parameters"]
    assert 0 < sizes["shared"] < sizes["total"]
    train = [r for r in run.metrics() if r["split"] == "train"][0]
    tasks = run.config()["tasks"]
    for rows in train["gates"].values():
        assert set(rows) <= {*tasks, "shared"}
        for weights in rows.values():
            assert sum(weights) == pytest.approx(1.0, abs=1e-6)


def test_a_gradient_weighting_combines_over_the_experts(tmp_path, plugins):
    cfg = TrainConfig(
        **SPARSE,
        arch="mmoe",
        weighting="pcgrad",
        arch_options={"experts": "3"},
        run_dir=str(tmp_path / "r"),
    )
    _, results = start_run(cfg, plugins)
    assert results["weighting"] == "pcgrad"


def test_the_penalty_is_in_training_losses_only(plugins):
    cfg = TrainConfig(**SPARSE, arch="dselect-k", arch_options={"entropy": "5"})
    exp = prepare(cfg, plugins)
    dd = DeviceData(exp)
    idx = dd.splits["train"][:32]
    exp.model.train()
    out = exp.model(dd.inputs.take(idx))
    penalty = training_penalty(exp.model)
    assert penalty is not None and float(penalty.detach()) > 0
    with_penalty = batch_loss(exp, dd, out, idx)
    exp.model.eval()
    without = batch_loss(exp, dd, out, idx)
    assert float(with_penalty - without) == pytest.approx(float(penalty), rel=1e-5)
    # evaluation losses: the same whatever the penalty's weight
    _, val_loss = evaluate_split(exp, dd, dd.splits["val"])
    exp.model.gates.entropy = 0.0
    _, val_plain = evaluate_split(exp, dd, dd.splits["val"])
    assert val_loss == val_plain


def test_an_architecture_penalty_reaches_the_loss_under_an_encoder(plugins):
    cfg = TrainConfig(**SEQ, arch="dselect-k", arch_options={"entropy": "5"})
    exp = prepare(cfg, plugins)
    dd = DeviceData(exp)
    exp.model.train()
    exp.model(dd.inputs.take(dd.splits["train"][:8]))
    body = exp.model.body.gates.penalty
    assert body is not None
    assert torch.equal(training_penalty(exp.model), body)
    assert torch.equal(exp.model.penalty, body)


def test_a_gated_run_preempted_mid_epoch_resumes_exactly(tmp_path, plugins, monkeypatch):
    monkeypatch.setenv("MTL_REQUEUE", "0")
    base = dict(SPARSE, epochs=2, dropout=[0.2])

    def cfg(name):
        return TrainConfig(
            **base,
            arch="ple",
            arch_options={"levels": "2"},
            run_dir=str(tmp_path / name),
        )

    full_run, full = start_run(cfg("full"), plugins)
    with pytest.raises(Preempted):
        start_run(cfg("cut"), plugins, extra_reporters=[SignalAt(1, 2)])
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    assert strip(resumed_run.metrics()) == strip(full_run.metrics())
    assert "gates" in resumed_run.metrics()[-2]
    for key in ("selected_epoch", "val", "test", "parameters"):
        assert resumed[key] == full[key], key
