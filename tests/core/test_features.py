"""Intermediate features (mtl.core.features): the levels each built-in encoder exposes,
their shapes and masks, padding kept out of them, and the MLP trunk's levels over dense
and sparse inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtl.core.batches import SequenceBatch, SparseBatch
from mtl.core.encoder import Encoder, EncoderSpec
from mtl.core.features import Feature, MlpTrunk
from mtl.core.options import resolve_options
from mtl.core.plugins import load_plugins
from mtl.plugins.encoders.masking import time_mask

FEATURES = 6
LENGTHS = (7, 13, 1, 10)


@pytest.fixture(scope="module")
def encoders():
    return load_plugins(env={"MTL_PLUGINS": ""}).registries.encoders


def build(encoders, name, **options):
    encoder = encoders.get(name)
    spec = EncoderSpec("sequence", FEATURES, resolve_options(encoder.options, options, name))
    torch.manual_seed(0)
    return encoder, spec, encoder.build(spec).eval()


def padded(total: int) -> SequenceBatch:
    rng = np.random.default_rng(5)
    x = np.zeros((len(LENGTHS), total, FEATURES), dtype=np.float32)
    for i, n in enumerate(LENGTHS):
        x[i, :n] = rng.standard_normal((n, FEATURES))
    return SequenceBatch(torch.as_tensor(x), torch.as_tensor(LENGTHS), len(LENGTHS))


def expected_shapes(name: str, options: dict, total: int) -> list[tuple[int, ...]]:
    b = len(LENGTHS)
    if name == "lstm":
        dirs = 2 if options.get("bidirectional") else 1
        return [(b, total, options["hidden"] * dirs)]
    chans = [int(c) for c in options["channels"].split(",")]
    out, t, f = [], total, FEATURES
    for c in chans:
        t, f = math.ceil(t / 2), math.ceil(f / 2)
        out.append((b, t * f, c) if name == "cnn2d" else (b, t, c))
    return out


CASES = [
    ("lstm", {"hidden": 5}),
    ("lstm", {"hidden": 4, "layers": 2, "bidirectional": True}),
    ("cnn1d", {"channels": "4,3,5"}),
    ("cnn2d", {"channels": "3,4"}),
]


@pytest.mark.parametrize("name,options", CASES)
def test_levels_have_the_documented_shapes_masks_and_zero_padding(encoders, name, options):
    encoder, spec, module = build(encoders, name, **options)
    batch = padded(13)
    with torch.no_grad():
        plain = module(batch)
        out, levels = module(batch, with_features=True)
    assert torch.equal(out, plain)  # asking for features changes nothing else
    assert [lv.x.shape[-1] for lv in levels] == encoder.feature_dims(spec)
    assert [tuple(lv.x.shape) for lv in levels] == expected_shapes(name, options, 13)
    lengths = torch.as_tensor(LENGTHS)
    for b, lv in enumerate(levels, start=1):
        steps = 13 if name == "lstm" else math.ceil(13 / 2**b)
        real = time_mask(lengths if name == "lstm" else -(-lengths // 2**b), steps)
        if name == "cnn2d":  # time-major grid: every bin of a real step is real
            real = real.repeat_interleave(lv.x.shape[1] // steps, dim=1)
        assert torch.equal(lv.mask, real)
        assert lv.x[~lv.mask].abs().max() == 0  # padding holds zeros


@pytest.mark.parametrize("name,options", CASES)
def test_real_positions_do_not_depend_on_padding(encoders, name, options):
    _, _, module = build(encoders, name, **options)
    with torch.no_grad():
        _, short = module(padded(13), with_features=True)
        _, long = module(padded(29), with_features=True)
    for a, b in zip(short, long, strict=True):
        # time-major positions: the short batch's positions are a prefix of the long one's
        b_x = b.x[:, : a.x.shape[1]]
        assert torch.equal(b.mask[:, : a.x.shape[1]], a.mask)
        torch.testing.assert_close(a.x * a.mask.unsqueeze(-1), b_x * a.mask.unsqueeze(-1))


def test_mlp_exposes_no_levels_of_its_own_and_third_party_encoders_none(encoders):
    spec = EncoderSpec("sparse", 20, {})
    assert encoders.get("mlp").feature_dims(spec) == []

    class Plain(Encoder):
        def output_dim(self, spec):
            return 3

        def build(self, spec):
            return None

    assert Plain().feature_dims(spec) is None


def test_mlp_trunk_levels_over_dense_and_sparse_inputs_agree():
    rng = np.random.default_rng(0)
    dense = (rng.random((5, 20)) < 0.2) * rng.random((5, 20))
    rows, cols = np.nonzero(dense)
    counts = np.bincount(rows, minlength=5)
    sparse = SparseBatch(
        torch.as_tensor(cols),
        torch.as_tensor(dense[rows, cols], dtype=torch.float32),
        torch.as_tensor(np.concatenate([[0], np.cumsum(counts)[:-1]])),
        5,
    )
    torch.manual_seed(0)
    trunk = MlpTrunk(20, [8, 6, 4], [0.0, 0.0, 0.0])
    a = trunk(torch.as_tensor(dense, dtype=torch.float32))
    b = trunk(sparse)
    assert [tuple(lv.x.shape) for lv in a] == [(5, 1, 8), (5, 1, 6), (5, 1, 4)]
    assert all(lv.mask is None for lv in a)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x.x, y.x)


def test_feature_mean_is_over_real_positions():
    x = torch.arange(24, dtype=torch.float32).view(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    mean = Feature(x, mask).mean()
    torch.testing.assert_close(mean[0], x[0, :2].mean(0))
    torch.testing.assert_close(mean[1], x[1].mean(0))
    torch.testing.assert_close(Feature(x).mean(), x.mean(1))
