"""cross-stitch: initial mixing, identity mixing equals independent columns (exactly the
TTTT network), the batched mixing against a hand loop, what it shares, its diagnostics."""

from __future__ import annotations

import pytest
import torch

from mtl.core.architecture import ModelSpec
from mtl.core.errors import UserError
from mtl.plugins.architectures.cross_stitch import CrossStitchArchitecture, initial_mixing
from mtl.plugins.architectures.sharing import SharingArchitecture

WIDTHS = [12, 10, 8]


def spec(tasks=3, **options):
    return ModelSpec(
        input_kind="dense",
        input_dim=9,
        task_names=[f"t{i}" for i in range(tasks)],
        output_dims=[1, 4, 2][:tasks],
        widths=WIDTHS,
        dropout=[0.0] * len(WIDTHS),
        options=options,
    )


def test_initial_mixing_is_near_identity_and_rows_sum_to_one():
    a = initial_mixing(3, 0.9)
    torch.testing.assert_close(a.diagonal(), torch.full((3,), 0.9))
    torch.testing.assert_close(a.sum(1), torch.ones(3))
    assert torch.allclose(a[0, 1:], torch.tensor([0.05, 0.05]))
    assert torch.equal(initial_mixing(1, 0.9), torch.ones(1, 1))
    net = CrossStitchArchitecture().build(spec())
    assert net.mixing.shape == (len(WIDTHS), 3, 3)
    assert all(torch.equal(m, a) for m in net.mixing.detach())


def test_identity_mixing_equals_independent_columns_exactly():
    torch.manual_seed(0)
    cross = CrossStitchArchitecture().build(spec(**{"self-weight": 1.0})).eval()
    columns = SharingArchitecture("TTT", "").build(spec()).eval()
    state = {k: v for k, v in cross.state_dict().items() if k != "mixing"}
    columns.load_state_dict(state)  # the same column weights, no mixing units
    x = torch.randn(6, 9)
    for got, want in zip(cross(x), columns(x), strict=True):
        assert torch.equal(got, want)


def reference(net, x):
    """A per-task loop over explicit weights and explicit mixing sums."""
    tasks, w0 = net.mixing.shape[1], WIDTHS[0]
    W, b = net.first.weight, net.first.bias
    h = [
        torch.relu(x @ W[:, t * w0 : (t + 1) * w0] + b[t * w0 : (t + 1) * w0]) for t in range(tasks)
    ]
    layers = [None, *net.hidden]
    for i, layer in enumerate(layers):
        if layer is not None:
            h = [torch.relu(ht @ layer.weight[t] + layer.bias[t, 0]) for t, ht in enumerate(h)]
        a = net.mixing[i]
        h = [sum(a[t, s] * h[s] for s in range(tasks)) for t in range(tasks)]
    return [
        (ht @ net.head.weight[t] + net.head.bias[t, 0])[:, :k]
        for t, (ht, k) in enumerate(zip(h, net.output_dims, strict=True))
    ]


def test_batched_mixing_equals_a_per_task_loop():
    torch.manual_seed(1)
    net = CrossStitchArchitecture().build(spec()).eval()
    with torch.no_grad():
        net.mixing.add_(0.2 * torch.randn_like(net.mixing))  # far from the identity
    x = torch.randn(5, 9)
    got = net(x)
    assert [tuple(g.shape) for g in got] == [(5, 1), (5, 4), (5, 2)]
    for g, w in zip(got, reference(net, x), strict=True):
        torch.testing.assert_close(g, w)
    # mixing couples the columns: changing task 1's first column changes task 0's output
    with torch.no_grad():
        net.first.weight[:, WIDTHS[0] : 2 * WIDTHS[0]] += 1.0
    assert not torch.allclose(net(x)[0], got[0])


def test_per_task_streams_are_read_one_per_column():
    torch.manual_seed(0)
    net = CrossStitchArchitecture().build(spec(**{"self-weight": 1.0})).eval()
    x = torch.randn(3, 4, 9)  # (tasks, batch, in): per-task encoder streams
    out = net(x)
    for t in range(3):  # identity mixing: column t depends on stream t only
        alone = net(x[t].expand(3, -1, -1))[t]
        assert torch.equal(out[t], alone)


def test_shares_the_mixing_units_and_records_them():
    net = CrossStitchArchitecture().build(spec())
    assert net.shared_parameters() == [net.mixing]
    assert not net.has_shared_representation()
    mixing = net.diagnostics()["mixing"]
    assert len(mixing) == len(WIDTHS) and all(len(m) == 3 and len(m[0]) == 3 for m in mixing)


def test_self_weight_out_of_range_is_one_clear_error():
    with pytest.raises(UserError, match="option 'self-weight' of architecture 'cross-stitch'"):
        CrossStitchArchitecture().build(spec(**{"self-weight": 1.5}))
