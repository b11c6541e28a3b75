import numpy as np
import pytest
import torch
from torch import nn

from mtl.core.architecture import ModelSpec
from mtl.core.errors import UserError
from mtl.plugins.architectures.sharing import NAMED_PATTERNS, SharingArchitecture, pattern_resolver

WIDTHS = [12, 10, 8, 6]


def spec(tasks=3, kind="dense", dims=(1, 1, 4)):
    return ModelSpec(
        input_kind=kind,
        input_dim=9,
        task_names=[f"t{i}" for i in range(tasks)],
        output_dims=list(dims[:tasks]),
        widths=WIDTHS,
        dropout=[0.0, 0.0, 0.5, 0.5],
    )


def reference_forward(net, x, pattern, tasks):
    """Per-task Python loop over explicit weights: what the batched model must equal."""
    W, b, w0 = net.first.weight, net.first.bias, WIDTHS[0]
    if pattern[0] == "S":
        h = [torch.relu(x @ W + b)] * tasks
    else:
        h = [
            torch.relu(x @ W[:, t * w0 : (t + 1) * w0] + b[t * w0 : (t + 1) * w0])
            for t in range(tasks)
        ]
    for layer in net.hidden:
        if isinstance(layer, nn.Linear):
            h = [torch.relu(layer(ht)) for ht in h]
        else:
            h = [torch.relu(ht @ layer.weight[t] + layer.bias[t, 0]) for t, ht in enumerate(h)]
    return [
        (ht @ net.head.weight[t] + net.head.bias[t, 0])[:, :k]
        for t, (ht, k) in enumerate(zip(h, net.output_dims, strict=True))
    ]


@pytest.mark.parametrize("pattern", ["SSSS", "TTTT", "SSTT", "TTSS", "STTS", "TSTS", "STST"])
def test_batched_model_equals_per_task_loop(pattern):
    torch.manual_seed(0)
    net = SharingArchitecture(pattern, "").build(spec()).eval()
    x = torch.randn(5, 9)
    got = net(x)
    want = reference_forward(net, x, pattern, 3)
    assert [g.shape for g in got] == [(5, 1), (5, 1), (5, 4)]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_shared_layers_have_one_copy_and_task_layers_one_per_task():
    one = SharingArchitecture("SSSS", "").build(spec())
    none = SharingArchitecture("TTTT", "").build(spec())
    assert none.first.weight.shape == (9, 3 * WIDTHS[0])
    assert one.first.weight.shape == (9, WIDTHS[0])
    # all-task-specific has exactly 3x the hidden parameters of all-shared (heads are per task in both)
    head = n_params(one.head)
    assert n_params(none) - head == 3 * (n_params(one) - head)


def test_shared_layer_after_task_layers_uses_same_weights_for_every_task():
    torch.manual_seed(1)
    net = SharingArchitecture("TTSS", "").build(spec(dims=(1, 1, 1))).eval()
    assert isinstance(net.hidden[1], nn.Linear)  # layer 3 shared
    # make the task-specific layers identical: then the streams must be identical
    with torch.no_grad():
        w0 = WIDTHS[0]
        for t in (1, 2):
            net.first.weight[:, t * w0 : (t + 1) * w0] = net.first.weight[:, :w0]
            net.first.bias[t * w0 : (t + 1) * w0] = net.first.bias[:w0]
            net.hidden[0].weight[t] = net.hidden[0].weight[0]
            net.hidden[0].bias[t] = net.hidden[0].bias[0]
            net.head.weight[t] = net.head.weight[0]
            net.head.bias[t] = net.head.bias[0]
    out = net(torch.randn(4, 9))
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(out[0], out[2])


def test_dropout_follows_spec_placement():
    net = SharingArchitecture("SSTT", "").build(spec())
    kinds = [type(d).__name__ for d in net.dropout]
    assert kinds == ["Identity", "Identity", "Dropout", "Dropout"]


def test_named_patterns_and_resolver():
    assert {k: v[0] for k, v in NAMED_PATTERNS.items()} == {
        "none": "TTTT",
        "low": "SSTT",
        "high": "TTSS",
        "interspersed": "STTS",
    }
    assert pattern_resolver("STST").pattern == "STST"
    assert pattern_resolver("SXTT") is None
    assert pattern_resolver("low") is None


def test_pattern_length_must_match_widths():
    with pytest.raises(UserError, match="has 3 layers but --widths gives 4"):
        SharingArchitecture("SST", "").build(spec())


def test_sparse_and_dense_inputs_give_same_outputs():
    from mtl.core.batches import DeviceSparse
    from mtl.core.data import SparseInputs

    rng = np.random.default_rng(0)
    x = (rng.random((6, 9)) < 0.3) * rng.integers(1, 4, (6, 9))
    rows, cols = np.nonzero(x)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=6))])
    sparse = DeviceSparse(SparseInputs(indptr, cols, x[rows, cols], 9), torch.device("cpu"))
    torch.manual_seed(0)
    net = SharingArchitecture("STTS", "").build(spec(kind="sparse")).eval()
    a = net(sparse.take(torch.arange(6)))
    b = net(torch.as_tensor(x, dtype=torch.float32))
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)
