"""Encoders: outputs independent of padding, block structure, shared vs per-task encoders,
the stabilisation penalty against a direct loop, and inputs an encoder cannot read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mtl.core.batches import SequenceBatch
from mtl.core.config import TrainConfig
from mtl.core.encoder import EncoderSpec
from mtl.core.errors import UserError
from mtl.core.experiment import prepare
from mtl.core.options import resolve_options
from mtl.core.plugins import load_plugins
from mtl.plugins.encoders.lstm import stabilisation_penalty

FEATURES = 5


@pytest.fixture(scope="module")
def plugins():
    return load_plugins(env={"MTL_PLUGINS": ""})


def build(plugins, name: str, stabilise: float = 0.0, **options) -> nn.Module:
    encoder = plugins.registries.encoders.get(name)
    opts = resolve_options(encoder.options, options, name)
    torch.manual_seed(0)
    module = encoder.build(EncoderSpec("sequence", FEATURES, opts, stabilise=stabilise))
    return module.eval()


def padded(seqs: list[np.ndarray], total: int) -> SequenceBatch:
    x = np.zeros((len(seqs), total, FEATURES), dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    lengths = torch.as_tensor([len(s) for s in seqs])
    return SequenceBatch(torch.as_tensor(x), lengths, len(seqs))


@pytest.fixture
def seqs():
    rng = np.random.default_rng(3)
    return [rng.standard_normal((n, FEATURES)).astype(np.float32) for n in (7, 19, 1, 12, 19)]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_output_is_the_last_real_state_of_an_unpadded_reference(plugins, seqs, bidirectional):
    enc = build(plugins, "lstm", hidden=6, layers=2, bidirectional=bidirectional)
    with torch.no_grad():
        out = enc(padded(seqs, 19))
        further = enc(padded(seqs, 40))
        for i, s in enumerate(seqs):  # one example at a time, no padding, no packing
            _, (h_n, _) = enc.lstm(torch.as_tensor(s).unsqueeze(0))
            dirs = 2 if bidirectional else 1
            ref = torch.cat(list(h_n[-dirs:, 0]))
            torch.testing.assert_close(out[i], ref, atol=1e-6, rtol=1e-5)
    assert out.shape == (len(seqs), 12 if bidirectional else 6)
    torch.testing.assert_close(out, further, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 2.5])
def test_lstm_forget_gates_start_at_the_forget_bias(plugins, forget_bias):
    enc = build(plugins, "lstm", hidden=4, layers=2, bidirectional=True, forget_bias=forget_bias)
    torch.manual_seed(0)
    plain = nn.LSTM(FEATURES, 4, num_layers=2, bidirectional=True, batch_first=True)
    biases = dict(enc.lstm.named_parameters())
    for name, ref in plain.named_parameters():
        got = biases[name].detach()
        if not name.startswith("bias"):
            torch.testing.assert_close(got, ref.detach())  # weights: torch's own init
            continue
        # torch orders the gates input, forget, cell, output: rows 4..7 are the forget gate
        forget = forget_bias if name.startswith("bias_ih") else 0.0
        assert torch.equal(got[4:8], torch.full((4,), forget)), name
        torch.testing.assert_close(got[:4], ref.detach()[:4])
        torch.testing.assert_close(got[8:], ref.detach()[8:])


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("cnn1d", {"channels": "4,6", "kernel": 3}),
        ("cnn1d", {"channels": "4,6,5", "kernel": 5, "pool": "mean"}),
        ("cnn2d", {"channels": "3,4,5,6"}),
        ("cnn2d", {"channels": "3,4", "pool": "mean"}),
    ],
)
def test_cnn_output_does_not_depend_on_padding(plugins, seqs, name, options):
    enc = build(plugins, name, **options)
    with torch.no_grad():
        for block in getattr(enc, "blocks", []):  # non-trivial batch-norm statistics
            bn = block[1]
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
        a = enc(padded(seqs, 19))
        b = enc(padded(seqs, 33))
        alone = torch.cat([enc(padded([s], len(s))) for s in seqs])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, alone, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(a).all()


def test_cnn2d_has_the_labs_four_blocks(plugins):
    enc = build(plugins, "cnn2d")
    assert len(enc.blocks) == 4
    channels = []
    for block in enc.blocks:
        conv, bn, relu = block
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3)
        assert conv.padding == (1, 1)
        assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == conv.out_channels
        assert isinstance(relu, nn.ReLU)
        channels.append((conv.in_channels, conv.out_channels))
    assert channels == [(1, 32), (32, 64), (64, 128), (128, 256)]
    assert isinstance(enc.pool, nn.MaxPool2d) and enc.pool.kernel_size == 2
    x = padded([np.ones((40, FEATURES), dtype=np.float32)], 40)
    assert enc(x).shape == (1, 256)
    encoder = plugins.registries.encoders.get("cnn2d")
    spec = EncoderSpec("sequence", FEATURES, resolve_options(encoder.options, {}, "cnn2d"))
    assert encoder.output_dim(spec) == 256


def test_cnn_channels_option_is_checked(plugins):
    with pytest.raises(UserError, match="option 'channels' of encoder 'cnn2d'"):
        build(plugins, "cnn2d", channels="32,x")
    with pytest.raises(UserError, match="must be odd"):
        build(plugins, "cnn1d", kernel=4)


def reference_penalty(h: np.ndarray, lengths: np.ndarray, dirs: int) -> float:
    total = 0.0
    for i, n in enumerate(lengths):
        s = 0.0
        for t in range(1, n):
            for d in range(dirs):
                hidden = h.shape[2] // dirs
                now = np.linalg.norm(h[i, t, d * hidden : (d + 1) * hidden])
                before = np.linalg.norm(h[i, t - 1, d * hidden : (d + 1) * hidden])
                s += (now - before) ** 2
        total += s / max(n - 1, 1)
    return total / len(lengths)


@pytest.mark.parametrize("dirs", [1, 2])
def test_stabilisation_penalty_equals_a_direct_loop(dirs):
    rng = np.random.default_rng(0)
    lengths = np.array([5, 1, 9, 3])
    h = rng.standard_normal((4, 9, 4 * dirs)).astype(np.float32)
    for i, n in enumerate(lengths):
        h[i, n:] = 0.0
    got = stabilisation_penalty(torch.as_tensor(h), torch.as_tensor(lengths), dirs)
    assert float(got) == pytest.approx(reference_penalty(h, lengths, dirs), rel=1e-5)


def test_lstm_penalty_in_training_only_and_from_real_steps(plugins, seqs):
    enc = build(plugins, "lstm", stabilise=0.3, hidden=4, bidirectional=True).train()
    enc(padded(seqs, 25))
    with torch.no_grad():
        states = np.zeros((len(seqs), 19, 8), dtype=np.float32)
        for i, s in enumerate(seqs):
            out, _ = enc.lstm(torch.as_tensor(s).unsqueeze(0))
            states[i, : len(s)] = out[0].numpy()
    lengths = np.array([len(s) for s in seqs])
    assert float(enc.penalty.detach()) == pytest.approx(
        0.3 * reference_penalty(states, lengths, 2), rel=1e-4
    )
    enc.eval()
    enc(padded(seqs, 25))
    assert enc.penalty is None


# --- composed models ------------------------------------------------------------------

SEQ = {"n": 60, "features": 4, "min_length": 4, "max_length": 12}


def config(**kw) -> TrainConfig:
    base = dict(
        dataset="synthetic-seq",
        dataset_options=SEQ,
        encoder="lstm",
        encoder_options={"hidden": 6},
        arch="ST",
        widths=[8, 8],
        dropout=[0.0],
        tasks=["genre", "energy", "trend"],
        device="cpu",
        report=[],
    )
    return TrainConfig(**{**base, **kw})


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_shared_and_per_task_encoders(plugins):
    shared = prepare(config(), plugins).model
    per_task = prepare(config(encoder_sharing="per-task"), plugins).model
    assert params(per_task.encoder) == 3 * params(shared.encoder)
    assert params(per_task.body) == params(shared.body)
    for model in (shared, per_task):  # the contract transfer learning relies on
        keys = list(model.state_dict())
        enc_keys = [k for k in keys if k.startswith("encoder.")]
        assert enc_keys and all("lstm" in k for k in enc_keys)
        assert any("head" in k for k in keys)
    batch = SequenceBatch(torch.randn(3, 12, 4), torch.tensor([12, 4, 7]), 3)
    for model in (shared, per_task):
        outputs = model.eval()(batch)
        assert [tuple(o.shape) for o in outputs] == [(3, 4), (3, 1), (3, 1)]


@pytest.mark.parametrize("arch", ["TT", "SS", "ST", "TS"])
def test_per_task_encoders_feed_each_task_its_own_stream(plugins, arch):
    exp = prepare(config(encoder_sharing="per-task", arch=arch), plugins)
    model = exp.model.eval()
    batch = SequenceBatch(torch.randn(2, 12, 4), torch.tensor([12, 5]), 2)
    before = [o.detach().clone() for o in model(batch)]
    with torch.no_grad():  # changing task 1's encoder changes task 1's output only
        for p in model.encoder.encoders[1].parameters():
            p.add_(0.5)
    after = model(batch)
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.allclose(before[1], after[1])


def test_mlp_default_on_dense_builds_the_architecture_alone(plugins):
    exp = prepare(
        TrainConfig(
            dataset="synthetic",
            dataset_options={"n": 200, "dim": 30, "density": 1.0},
            widths=[8, 8, 4, 4],
            tasks=["pop"],
            device="cpu",
        ),
        plugins,
    )
    assert type(exp.model).__name__ == "SharingNet"
    assert exp.encoder_options == {} and exp.config.encoder == "mlp"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"encoder": "mlp", "encoder_options": {}}, "gives sequence inputs, which encoder 'mlp'"),
        ({"encoder": "cnn1d", "encoder_options": {}, "stabilise": 0.1}, "recurrent encoders"),
        ({"snippets": 5}, "the shortest of dataset 'synthetic-seq' has 4"),
        ({"encoder_options": {"hiden": 3}}, "unknown option 'hiden' for encoder 'lstm'"),
        ({"task_weights": {"genr": 2.0}}, "--task-weight names task 'genr'"),
        ({"aux": ["one-vs-rest"], "tasks": ["energy"]}, "needs a multiclass task"),
    ],
)
def test_bad_combinations_are_one_line_user_errors(plugins, kw, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prepare(config(**kw), plugins)


def test_sequence_encoder_on_dense_inputs_is_an_error(plugins):
    with pytest.raises(UserError, match="use --encoder mlp"):
        prepare(
            TrainConfig(
                dataset="synthetic",
                dataset_options={"n": 100, "dim": 20, "density": 1.0},
                encoder="lstm",
                tasks=["pop"],
                device="cpu",
            ),
            plugins,
        )


def test_learned_snippet_weights_train_on_the_combination_only(plugins):
    exp = prepare(config(snippets=3, combine="learned", tasks=["genre"]), plugins)
    model = exp.model.train()
    assert model.rows_per_example == 4
    batch = SequenceBatch(torch.randn(5, 12, 4), torch.tensor([12, 4, 7, 3, 9]), 5)
    out = model(batch)[0]
    assert out.shape == (5 * 4, 4)
    combined = out.view(5, 4, 4)[:, 3]  # the 4th row of each example is the combination
    torch.nn.functional.cross_entropy(combined, torch.tensor([0, 1, 2, 3, 0])).backward()
    assert model.combine_logits.grad.abs().sum() > 0
    assert all(p.grad is None or not p.grad.any() for p in model.encoder.parameters())
    model.eval()
    assert model.rows_per_example == 1 and model(batch)[0].shape == (5, 4)
    model.member = 2
    member = model(batch)[0]
    model.member = None
    assert member.shape == (5, 4) and not torch.allclose(member, model(batch)[0])


def test_toml_config_takes_encoder_options_and_task_weights(tmp_path):
    from mtl.core.config import build_config

    path = tmp_path / "c.toml"
    path.write_text(
        'encoder = "lstm"\nencoder-sharing = "per-task"\naux = "one-vs-rest"\n'
        'aux-weight = 0.5\nstabilise = 2\nsnippets = 2\ncombine = "max-product"\n'
        "[encoder-options]\nhidden = 32\n[task-weights]\ngenre = 2\n"
    )
    cfg = build_config(path, {"encoder_options": ["layers=2"], "task_weights": ["x=1"]})
    assert cfg.encoder == "lstm" and cfg.encoder_sharing == "per-task"
    assert cfg.encoder_options == {"hidden": 32, "layers": "2"}
    assert cfg.task_weights == {"genre": 2.0, "x": 1.0}
    assert (cfg.aux, cfg.aux_weight, cfg.stabilise) == (["one-vs-rest"], 0.5, 2.0)
    assert (cfg.snippets, cfg.combine) == (2, "max-product")
    with pytest.raises(UserError, match="'encoder-sharing' must be one of shared, per-task"):
        build_config(None, {"encoder_sharing": "pertask"})
    with pytest.raises(UserError, match="'task-weight x' must be a number"):
        build_config(None, {"task_weights": ["x=heavy"]})


def test_cnn2d_training_mode_batch_norm_ignores_padding(plugins, seqs):
    a, b = build(plugins, "cnn2d", channels="3,4").train(), build(plugins, "cnn2d", channels="3,4")
    b.train()
    out_a = a(padded(seqs, 19))
    out_b = b(padded(seqs, 40))
    torch.testing.assert_close(out_a, out_b, atol=1e-5, rtol=1e-5)
    for block_a, block_b in zip(a.blocks, b.blocks, strict=True):  # same running statistics
        torch.testing.assert_close(block_a[1].running_mean, block_b[1].running_mean)
        torch.testing.assert_close(block_a[1].running_var, block_b[1].running_var)


def test_masked_batch_norm_without_padding_is_batch_norm():
    from mtl.plugins.encoders.cnn import MaskedBatchNorm2d

    torch.manual_seed(0)
    h = torch.randn(4, 3, 6, 5) * 2 + 1
    ours, ref = MaskedBatchNorm2d(3), nn.BatchNorm2d(3)
    out = ours(h, torch.ones(4, 1, 6, 1, dtype=torch.bool))
    torch.testing.assert_close(out, ref(h), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    mask = torch.zeros(4, 1, 6, 1, dtype=torch.bool)
    mask[:, :, :4] = True  # the last two steps are padding: statistics of the rest
    ours(h, mask)
    real = h[:, :, :4]
    expected_mean = 0.9 * ref.running_mean + 0.1 * real.mean(dim=(0, 2, 3))
    torch.testing.assert_close(ours.running_mean, expected_mean, atol=1e-6, rtol=1e-5)
