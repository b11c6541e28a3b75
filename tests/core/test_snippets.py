"""Snippet ensembles: the split and the combination rules against numpy references;
length-bucketed batch order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl.core.batches import SequenceBatch
from mtl.core.snippets import combine, split_snippets


def numpy_snippets(x: np.ndarray, lengths: np.ndarray, k: int) -> list[np.ndarray]:
    out = []
    for i, n in enumerate(lengths):
        cuts = [j * n // k for j in range(k + 1)]
        out.extend(x[i, cuts[j] : cuts[j + 1]] for j in range(k))
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_split_matches_a_numpy_reference(k):
    rng = np.random.default_rng(k)
    lengths = np.array([4, 11, 7, 9, 5])
    x = rng.standard_normal((5, 13, 3)).astype(np.float32)
    for i, n in enumerate(lengths):
        x[i, n:] = 0
    got = split_snippets(SequenceBatch(torch.as_tensor(x), torch.as_tensor(lengths), 5), k)
    ref = numpy_snippets(x, lengths, k)
    assert got.size == 5 * k
    assert got.lengths.tolist() == [len(r) for r in ref]
    assert sum(got.lengths.tolist()) == lengths.sum()  # the snippets cover every step
    for j, r in enumerate(ref):
        n = len(r)
        np.testing.assert_array_equal(got.x[j, :n].numpy(), r)
        assert (got.x[j, n:] == 0).all()  # padding stays zero


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture
def members():
    return np.random.default_rng(0).standard_normal((6, 4, 5))  # (batch, k, classes)


def test_multiclass_rules_match_numpy(members):
    p = softmax(members)
    w_logits = np.array([0.3, -1.0, 2.0, 0.0])
    w = softmax(w_logits)
    refs = {
        "max-mean": p.mean(axis=1),
        "max-product": softmax(np.log(p).sum(axis=1)),
        "learned": (p * w[None, :, None]).sum(axis=1),
    }
    for rule, ref in refs.items():
        out = combine(torch.as_tensor(members), "multiclass", rule, torch.as_tensor(w_logits))
        got = torch.softmax(out, dim=1).numpy()  # what the multiclass task decodes
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        assert (got.argmax(1) == ref.argmax(1)).all()


def test_binary_rules_match_numpy(members):
    z = members[:, :, :1]
    p = sigmoid(z[:, :, 0])
    w_logits = np.array([1.0, 0.0, -2.0, 0.5])
    w = softmax(w_logits)
    prod_pos, prod_neg = p.prod(axis=1), (1 - p).prod(axis=1)
    refs = {
        "max-mean": p.mean(axis=1),
        "max-product": prod_pos / (prod_pos + prod_neg),
        "learned": (p * w).sum(axis=1),
    }
    for rule, ref in refs.items():
        out = combine(torch.as_tensor(z), "binary", rule, torch.as_tensor(w_logits))
        np.testing.assert_allclose(torch.sigmoid(out[:, 0]).numpy(), ref, rtol=1e-10)


def test_other_kinds_average_outputs(members):
    w_logits = np.array([1.0, 0.0, -2.0, 0.5])
    for rule in ("max-mean", "max-product"):
        out = combine(torch.as_tensor(members), "regression", rule)
        np.testing.assert_allclose(out.numpy(), members.mean(axis=1), rtol=1e-12)
    out = combine(torch.as_tensor(members), "regression", "learned", torch.as_tensor(w_logits))
    ref = (members * softmax(w_logits)[None, :, None]).sum(axis=1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


def test_bucketed_order_is_a_permutation_with_less_padding():
    from mtl.core.train import bucket_by_length

    lengths = torch.as_tensor(np.random.default_rng(1).integers(1, 200, 1000))
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    order = bucket_by_length(lengths, perm, 32, seed=5)
    assert sorted(order.tolist()) == list(range(1000))
    assert torch.equal(order, bucket_by_length(lengths, perm, 32, seed=5))  # seeded
    assert torch.equal(bucket_by_length(None, perm, 32, seed=5), perm)  # not sequences

    def padded_steps(o):
        return sum(int(lengths[b].max()) * len(b) for b in torch.split(o, 32))

    real = int(lengths.sum())
    assert padded_steps(order) - real < 0.3 * (padded_steps(perm) - real)  # padding steps
