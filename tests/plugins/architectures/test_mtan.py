"""mtan: attention masks per level and task (shapes, range, tasks differ), the batched
attention against a per-task loop, padding kept out, what it shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl.core.architecture import ModelSpec
from mtl.core.batches import SequenceBatch
from mtl.core.encoded import EncodedModel
from mtl.core.encoder import EncoderSpec
from mtl.core.options import resolve_options
from mtl.core.plugins import load_plugins
from mtl.plugins.architectures.mtan import MtanArchitecture

TASKS = 3
OUT = [1, 4, 2]


def spec(input_dim=9, features=(), widths=(10, 6)):
    return ModelSpec(
        input_kind="dense",
        input_dim=input_dim,
        task_names=[f"t{i}" for i in range(TASKS)],
        output_dims=OUT,
        widths=list(widths),
        dropout=[0.0] * len(widths),
        features=list(features),
    )


@pytest.fixture(scope="module")
def encoders():
    return load_plugins(env={"MTL_PLUGINS": ""}).registries.encoders


def encoded(encoders, name, **options):
    enc = encoders.get(name)
    espec = EncoderSpec("sequence", 5, resolve_options(enc.options, options, name))
    torch.manual_seed(0)
    body = MtanArchitecture().build(
        spec(enc.output_dim(espec), enc.feature_dims(espec), widths=(8,))
    )
    return EncodedModel(enc.build(espec), body, ["regression"] * TASKS, features=True).eval()


def sequences(total, lengths=(6, 11, 3)):
    rng = np.random.default_rng(2)
    x = np.zeros((len(lengths), total, 5), dtype=np.float32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.standard_normal((n, 5))
    return SequenceBatch(torch.as_tensor(x), torch.as_tensor(lengths), len(lengths))


def test_masks_per_level_and_task_without_an_encoder():
    torch.manual_seed(0)
    net = MtanArchitecture().build(spec()).eval()
    x = torch.randn(7, 9)
    summary, masks = net.attend(x)
    assert summary.shape == (TASKS, 7, 6)
    assert [tuple(m.shape) for m in masks] == [(TASKS, 7, 1, 10), (TASKS, 7, 1, 6)]
    for m in masks:
        assert m.min() > 0 and m.max() < 1
        assert not torch.allclose(m[0], m[1]) and not torch.allclose(m[1], m[2])
    out = net(x)
    assert [tuple(o.shape) for o in out] == [(7, k) for k in OUT]


@pytest.mark.parametrize(
    "name,options,levels",
    [
        ("lstm", {"hidden": 6}, [(11, 6)]),
        ("cnn1d", {"channels": "4,3"}, [(6, 4), (3, 3)]),
        ("cnn2d", {"channels": "3,4"}, [(6 * 3, 3), (3 * 2, 4)]),
    ],
)
def test_attention_over_encoder_levels_then_layers(encoders, name, options, levels):
    model = encoded(encoders, name, **options)
    batch = sequences(11)
    z, feats = model.encoder(batch, with_features=True)
    summary, masks = model.body.attend(z, feats)
    shapes = [(TASKS, 3, p, c) for p, c in levels] + [(TASKS, 3, 1, 8)]
    assert [tuple(m.shape) for m in masks] == shapes
    assert summary.shape == (TASKS, 3, 8)
    outs = model(batch)
    assert [tuple(o.shape) for o in outs] == [(3, k) for k in OUT]
    assert not torch.allclose(summary[0], summary[1])  # tasks attend differently


@pytest.mark.parametrize("name,options", [("lstm", {"hidden": 6}), ("cnn2d", {"channels": "3,4"})])
def test_outputs_do_not_depend_on_padding(encoders, name, options):
    model = encoded(encoders, name, **options)
    with torch.no_grad():
        short, long = model(sequences(11)), model(sequences(30))
    for a, b in zip(short, long, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_batched_attention_equals_a_per_task_loop():
    torch.manual_seed(3)
    net = MtanArchitecture().build(spec(input_dim=4, features=[5], widths=(6,))).eval()
    z = torch.randn(2, 4)
    f = torch.randn(2, 3, 5)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    from mtl.core.features import Feature

    summary, _ = net.attend(z, [Feature(f * mask.unsqueeze(-1), mask)])
    levels = [f * mask.unsqueeze(-1), torch.relu(net.trunk.first(z)).unsqueeze(1)]
    masks = [mask, torch.ones(2, 1, dtype=torch.bool)]
    for t in range(TASKS):
        below = None
        for att, x, m in zip(net.attention, levels, masks, strict=True):
            u = x @ att.w_shared[t] + att.b_hidden[t, 0]
            if below is not None:
                u = u + (below @ att.w_below[t]).unsqueeze(1)
            a = torch.sigmoid(torch.relu(u) @ att.w_mask[t] + att.b_mask[t, 0]) * x
            w = m.float().unsqueeze(-1)
            below = (a * w).sum(1) / w.sum(1)
        torch.testing.assert_close(summary[t], below)


def test_shares_the_trunk_and_has_no_shared_representation(encoders):
    net = MtanArchitecture().build(spec())
    assert net.shared_parameters() == list(net.trunk.parameters())
    assert not net.has_shared_representation()
    model = encoded(encoders, "lstm", hidden=4)
    shared = {id(p) for p in model.shared_parameters()}
    assert {id(p) for p in model.encoder.parameters()} <= shared
    assert not model.has_shared_representation()
    model(sequences(12))
    assert model.shared_representation is None
