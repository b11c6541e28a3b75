"""The factored Gramian (no Jacobian) equals J Jᵀ, and Gramian methods' updates equal the
Jacobian path's, on every layer kind the factorisation covers and on the rest."""

import pytest
import torch

from mtl.core.config import TrainConfig
from mtl.core.experiment import prepare
from mtl.core.layer_gramian import LayerGramian
from mtl.core.losses import DeviceData
from mtl.core.step import TrainStep
from mtl.core.weighting import Combination, Weighting


def config(**kw):
    base = dict(
        dataset="synthetic",
        dataset_options={"n": 300, "dim": 400, "density": 0.05},
        tasks=["pop", "pop_rock", "loudness"],
        widths=[16, 16, 8, 8],
        batch_size=32,
        report=[],
        device="cpu",
    )
    return TrainConfig(**(base | kw))


def _grads(exp, idx, method):
    """Every parameter's gradient after one step of ``method`` on training rows ``idx``."""
    dd = DeviceData(exp)
    exp.weighting = method
    params = list(exp.model.parameters())
    step = TrainStep(exp, dd, exp.model, params, torch.optim.SGD(params, lr=0.1))
    exp.model.train()
    step(dd.splits["train"][idx], 1, 0)
    return [p.grad.clone() for p in params], step


class Jacobian(Weighting):
    """Fixed unequal weights; keeps the Gramian it saw (computed from the Jacobian)."""

    needs = "gradients"

    def combine(self, info):
        self.seen = info.gram.clone()
        self.had_jacobian = info.jacobian is not None
        return Combination(weights=torch.linspace(0.3, 1.7, len(info.losses)))


class Factored(Jacobian):
    gramian_only = True


CASES = {
    "low sparse": dict(arch="low"),
    "low sparse whitened": dict(arch="low", whiten=True),
    "interspersed whitened": dict(arch="interspersed", whiten=True, task_weights={"pop": 2.0}),
    "TTSS": dict(arch="TTSS"),
    "SSSS dense": dict(arch="SSSS", dataset_options={"n": 200, "dim": 12, "density": 1.0}),
    "low dense whitened": dict(
        arch="low", whiten=True, dataset_options={"n": 200, "dim": 30, "density": 1.0}
    ),
    "lstm encoder": dict(
        dataset="synthetic-seq",
        dataset_options={"n": 60, "features": 3, "min_length": 6, "max_length": 12},
        encoder="lstm",
        encoder_options={"hidden": 5},
        arch="SS",
        widths=[6, 4],
        tasks=["genre", "energy", "trend"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_factored_gramian_and_update_equal_the_jacobian_path(plugins, case, monkeypatch):
    # the LSTM's parameters are not affine layers: the trainer takes the Jacobian path
    # there by default (faster); the mixed path is forced here to check it stays exact
    monkeypatch.setattr("mtl.core.step.FACTOR_BESIDE_OTHERS", True)
    cfg = config(dropout=[0.0], **CASES[case])
    idx = slice(0, 40)
    want, _ = _grads(prepare(cfg, plugins), idx, reference := Jacobian(3, {}))
    exp = prepare(cfg, plugins)
    got, step = _grads(exp, idx, method := Factored(3, {}))
    assert step.factored is not None and not method.had_jacobian and reference.had_jacobian
    scale = reference.seen.abs().max()
    torch.testing.assert_close(method.seen / scale, reference.seen / scale, rtol=0, atol=2e-6)
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7)


def test_the_jacobian_path_is_kept_beside_shared_parameters_it_cannot_factor(plugins):
    lstm = config(dropout=[0.0], **CASES["lstm encoder"])
    _, step = _grads(prepare(lstm, plugins), slice(0, 40), method := Factored(3, {}))
    assert step.factored is None and method.had_jacobian
    _, step = _grads(
        prepare(config(dropout=[0.0], arch="low"), plugins), slice(0, 40), Factored(3, {})
    )
    assert step.factored is not None and not step.factored.rest


def test_a_layer_called_twice_counts_both_calls():
    torch.manual_seed(0)
    layer, head = torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)
    shared = list(layer.parameters())
    factored = LayerGramian.build(torch.nn.ModuleList([layer, head]), shared)
    x, y = torch.randn(5, 4), torch.randn(5, 4)
    with factored.recording():
        out = head(torch.tanh(layer(x)) + layer(y).square())
    losses = out.square().mean(0)
    jac = torch.stack(
        [
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared, retain_graph=True)])
            for loss in losses
        ]
    )
    torch.testing.assert_close(factored.gram(losses, torch.eye(2)), jac @ jac.T)
