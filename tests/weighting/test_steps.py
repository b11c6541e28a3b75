"""The training step with a weighting: ew is the old trainer bit for bit, and each path
(losses, gradients, representation) gives the gradients a hand loop gives."""

import json

import pytest
import torch

from mtl.core.config import TrainConfig
from mtl.core.errors import RunFailure, UserError
from mtl.core.experiment import prepare
from mtl.core.losses import DeviceData
from mtl.core.runner import start_run
from mtl.core.step import TrainStep
from mtl.core.weighting import Combination, Weighting

SMALL = {"n": 300, "dim": 400, "density": 0.05}


def config(tmp_path=None, name="run", **kw):
    base = dict(
        dataset="synthetic",
        dataset_options=dict(SMALL),
        tasks=["pop", "pop_rock", "loudness"],
        widths=[16, 16, 8, 8],
        batch_size=32,
        epochs=2,
        report=[],
        device="cpu",
        run_dir=str(tmp_path / name) if tmp_path else None,
        keep_checkpoints="all",  # tests read last.pt of finished runs
    )
    return TrainConfig(**(base | kw))


# metrics.jsonl losses, then test pop roc_auc and loudness rmse, of these two runs with the
# trainer as it was before weightings (commit 9ed659c): ew must reproduce them exactly
BEFORE = {
    "plain": [2.3309832981654575, 2.3980143070220947, 2.281179973057338, 2.342663288116455,
              0.45905172413793105, 3.215617072614083],
    "weighted": [2.793668474469866, 2.697840690612793, 2.653418949672154, 2.575247287750244,
                 0.5237068965517241, 3.200186060682367],
}  # fmt: skip


@pytest.mark.parametrize("name", ["plain", "weighted"])
def test_ew_reproduces_the_trainer_before_weightings_bit_for_bit(tmp_path, plugins, name):
    kw = {"task_weights": {"pop_rock": 2.5, "loudness": 0.5}} if name == "weighted" else {}
    run, res = start_run(config(tmp_path, **kw), plugins)
    got = [r["loss"] for r in run.metrics()]
    got += [res["test"]["pop"]["roc_auc"], res["test"]["loudness"]["rmse"]]
    assert got == BEFORE[name]
    train = [r for r in run.metrics() if r["split"] == "train"]
    assert all(r["weights"] == {"pop": 1.0, "pop_rock": 1.0, "loudness": 1.0} for r in train)
    assert res["weighting"] == "ew" and json.loads(run.file("config.json").read_text())[
        "weighting"
    ] == ("ew")


def test_fixed_weights_equal_the_same_task_weights(tmp_path, plugins):
    fixed_run, fixed = start_run(
        config(tmp_path, "fixed", weighting="fixed", weighting_options={"weights": "1,2.5,0.5"}),
        plugins,
    )
    tw_run, tw = start_run(
        config(tmp_path, "tw", task_weights={"pop_rock": 2.5, "loudness": 0.5}), plugins
    )
    assert [r["loss"] for r in fixed_run.metrics()[::2]] == [
        r["loss"] for r in tw_run.metrics()[::2]
    ]
    assert fixed["test"] == tw["test"]
    assert fixed_run.metrics()[0]["weights"] == {"pop": 1.0, "pop_rock": 2.5, "loudness": 0.5}
    saved = json.loads(fixed_run.file("config.json").read_text())
    assert saved["weighting_options"] == {"weights": "1,2.5,0.5"}


@pytest.mark.parametrize(
    "weights, message",
    [
        ("1,2", "gives 2 weights for 3 tasks"),
        ("1,-1,2", "must be finite and non-negative"),
        ("1,x,2", "must be comma-separated numbers"),
        ("", "needs its weights"),
    ],
)
def test_fixed_weights_are_validated(plugins, weights, message):
    with pytest.raises(UserError, match=message):
        prepare(config(weighting="fixed", weighting_options={"weights": weights}), plugins)


def _unit(needs):
    class Unit(Weighting):
        def combine(self, info):
            return Combination(weights=info.present.float())

    Unit.needs = needs
    return Unit


def _grads(exp, idx, method=None):
    dd = DeviceData(exp)
    if method is not None:
        exp.weighting = method
    params = list(exp.model.parameters())
    step = TrainStep(exp, dd, exp.model, params, torch.optim.SGD(params, lr=0.1))
    exp.model.train()
    step(dd.splits["train"][idx], 1, 0)
    return [p.grad.clone() for p in params], step


@pytest.mark.parametrize("arch", ["low", "interspersed", "TTSS"])
@pytest.mark.parametrize("needs", ["losses", "gradients", "representation"])
def test_unit_weights_on_every_path_give_the_ew_gradient(plugins, arch, needs):
    if needs == "representation" and arch == "TTSS":
        pytest.skip("TTSS has no shared representation")
    cfg = config(arch=arch, dropout=[0.0], task_weights={"pop_rock": 3.0})
    idx = slice(0, 40)
    ew, _ = _grads(prepare(cfg, plugins), idx)
    exp = prepare(cfg, plugins)
    got, _ = _grads(exp, idx, _unit(needs)(3, {}))
    for a, b in zip(ew, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


def _hand_loop(exp, idx):
    """Per-task gradients of every parameter, one backward per task (the oracle)."""
    dd = DeviceData(exp)
    rows = dd.splits["train"][idx]
    exp.model.train()
    out = exp.model(dd.inputs.take(rows))
    c = exp.task_weights
    grads = []
    for t, tt in enumerate(exp.task_types):
        mask = dd.masks[t][rows]
        loss = (tt.loss(out[t], dd.targets[t][rows]) * mask).sum() / mask.sum().clamp(min=1)
        grads.append(
            torch.autograd.grad(c[t] * loss, list(exp.model.parameters()), retain_graph=True)
        )
    return grads


class Recorder(Weighting):
    """Gradient method with fixed unequal weights that keeps what it saw."""

    needs = "gradients"
    w = torch.tensor([0.2, 1.5, 0.7])

    def combine(self, info):
        self.seen = info
        return Combination(weights=self.w.clone())


def test_gradient_path_jacobian_rows_and_updates_match_a_hand_loop(plugins):
    cfg = config(arch="interspersed", dropout=[0.0], whiten=True, task_weights={"pop": 2.0})
    idx = slice(0, 48)
    oracle = _hand_loop(prepare(cfg, plugins), idx)
    exp = prepare(cfg, plugins)
    method = Recorder(3, {})
    got, step = _grads(exp, idx, method)
    params = list(exp.model.parameters())
    shared = {id(p) for p in exp.model.shared_parameters()}
    assert shared and len(shared) < len(params)
    # the Jacobian: one row per task, the shared parameters' gradients in declared order
    rows = [
        torch.cat([g.reshape(-1) for g, p in zip(o, params, strict=True) if id(p) in shared])
        for o in oracle
    ]
    torch.testing.assert_close(method.seen.jacobian, torch.stack(rows), rtol=1e-5, atol=1e-7)
    for i, p in enumerate(params):
        if id(p) in shared:  # the combination J^T w
            want = sum(Recorder.w[t] * oracle[t][i] for t in range(3))
        else:  # task-specific: the gradient of sum_i c_i loss_i
            want = sum(oracle[t][i] for t in range(3))
        torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-7)


class Exploding(Weighting):
    def combine(self, info):
        w = torch.ones_like(info.losses)
        if info.epoch == 2:
            w[0] = torch.nan
        return Combination(weights=w)


def test_a_non_finite_weight_stops_the_run_naming_method_and_epoch(tmp_path, plugins):
    from mtl import hookimpl
    from mtl.core.plugins import load_plugins

    class Plugin:
        @hookimpl
        def mtl_register_weightings(self, registry):
            registry.add("boom", Exploding)

    loaded = load_plugins(env={"MTL_PLUGINS": ""}, extra=[("boom", Plugin())])
    with pytest.raises(RunFailure, match=r"weighting 'boom' produced a non-finite .* epoch 2"):
        start_run(config(tmp_path, weighting="boom", epochs=3), loaded)
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1  # the last good checkpoint stays


def test_learnable_weights_train_in_their_own_group_without_weight_decay(tmp_path, plugins):
    run, res = start_run(
        config(tmp_path, weighting="t-learned", weight_decay=0.01, optimizer="adam"), plugins
    )
    state = torch.load(run.file("checkpoints/last.pt"), weights_only=True)
    groups = state["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0] and groups[1]["params"]
    log_var = state["weighting"]["log_var"]
    assert torch.all(log_var != 0)  # trained from Combination.loss
    assert len(state["weighting"]["_extra_state"]["history"]) == 2  # end_epoch per epoch
    train = [r for r in run.metrics() if r["split"] == "train"]
    assert all(set(r["weights"]) == {"pop", "pop_rock", "loudness"} for r in train)
    assert train[0]["weights"] != train[1]["weights"]
    assert res["weighting"] == "t-learned"


def test_gradient_methods_record_the_mean_pairwise_cosine(tmp_path, plugins):
    run, _ = start_run(config(tmp_path, weighting="t-grad", dropout=[0.0]), plugins)
    train = [r for r in run.metrics() if r["split"] == "train"]
    for r in train:
        assert -1 <= r["gradient_cosine"] <= 1
        assert sum(r["weights"].values()) == pytest.approx(3, rel=1e-3)
    direct, _ = start_run(config(tmp_path, "direct", weighting="t-grad-direct"), plugins)
    first = direct.metrics()[0]
    assert first["weights"] is None and -1 <= first["gradient_cosine"] <= 1


def test_plots_reporter_draws_task_weights_and_cosine(tmp_path, plugins):
    from mtl.plugins.reporters.plots import WEIGHTS_FILE

    run, _ = start_run(config(tmp_path, weighting="t-grad", report=["plots"]), plugins)
    assert run.file(WEIGHTS_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ew, _ = start_run(config(tmp_path, "ew", report=["plots"]), plugins)
    assert ew.file("learning_curves.png").exists() and not ew.file(WEIGHTS_FILE).exists()


@pytest.mark.parametrize("needs", ["losses", "gradients", "representation"])
def test_unit_weights_with_an_encoder_penalty_and_snippets_give_the_ew_gradient(plugins, needs):
    """A shared LSTM encoder with activation stabilisation (a penalty outside the task
    losses) and snippet rows: every path still equals ew with unit weights."""
    cfg = config(
        dataset="synthetic-seq",
        dataset_options={"n": 60, "features": 3, "min_length": 6, "max_length": 12},
        encoder="lstm",
        encoder_options={"hidden": 5},
        arch="S",
        widths=[6],
        tasks=["genre", "energy"],
        dropout=[0.0],
        stabilise=0.5,
        snippets=2,
    )
    ew, _ = _grads(prepare(cfg, plugins), slice(0, 16))
    exp = prepare(cfg, plugins)
    assert exp.model.penalty is None
    got, _ = _grads(exp, slice(0, 16), _unit(needs)(2, {}))
    assert exp.model.penalty is not None
    for a, b in zip(ew, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


def test_a_gradient_method_with_every_shared_layer_frozen_is_refused(tmp_path, plugins):
    start_run(config(tmp_path, "source", epochs=1), plugins)
    cfg = config(
        tmp_path,
        weighting="t-grad",
        init_from=str(tmp_path / "source"),
        init_part="all",
        freeze="all-but-heads",
    )
    with pytest.raises(UserError, match="shares no trainable parameter"):
        start_run(cfg, plugins)
    assert not (tmp_path / "run").exists()


class RepRecorder(Recorder):
    needs = "representation"


def test_representation_path_weights_the_shared_layers_only(plugins):
    cfg = config(arch="SSTS", dropout=[0.0], task_weights={"loudness": 2.0})
    idx = slice(0, 48)
    oracle = _hand_loop(prepare(cfg, plugins), idx)
    exp = prepare(cfg, plugins)
    method = RepRecorder(3, {})
    got, _ = _grads(exp, idx, method)
    rows = exp.model.shared_representation.shape[0]
    assert method.seen.jacobian.shape == (3, rows * 16)  # the second layer's activation
    below = {id(p) for m in (exp.model.first, exp.model.hidden[0]) for p in m.parameters()}
    for i, p in enumerate(exp.model.parameters()):
        if id(p) in below:  # under the representation: the method's combination
            want = sum(RepRecorder.w[t] * oracle[t][i] for t in range(3))
        else:  # above it (T layers, the S layer after them, heads): sum_i c_i loss_i
            want = sum(oracle[t][i] for t in range(3))
        torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-7)
