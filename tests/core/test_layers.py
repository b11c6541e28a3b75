import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mtl.core.batches import DeviceSparse
from mtl.core.data import SparseInputs
from mtl.core.layers import InputLayer, TaskLinear


def csr(n=40, dim=25, seed=1):
    m = sp.random(n, dim, density=0.3, format="csr", random_state=seed, dtype=np.float32)
    m.data = np.ceil(m.data * 4)
    return m


def test_device_sparse_take_equals_dense_rows():
    m = csr()
    dev = DeviceSparse(SparseInputs.from_scipy(m), torch.device("cpu"))
    idx = torch.tensor([3, 0, 39, 3])
    b = dev.take(idx)
    dense = torch.zeros(4, m.shape[1])
    rows = torch.repeat_interleave(
        torch.arange(4), torch.diff(torch.cat([b.offsets, torch.tensor([len(b.cols)])]))
    )
    dense.index_put_((rows, b.cols), b.vals, accumulate=True)
    np.testing.assert_array_equal(dense.numpy(), m[idx.numpy()].toarray())


def test_sparse_batch_is_in_embedding_bag_form_as_documented():
    # docs/plugins.md: offsets is batch long (no trailing nnz), starts at 0, empty rows
    # repeat the next offset; cols int64, vals float32; embedding_bag gives the product
    m = csr(n=6, dim=5).tolil()
    m[2, :] = 0
    m[5, :] = 0
    m = m.tocsr()
    m.eliminate_zeros()
    b = DeviceSparse(SparseInputs.from_scipy(m), torch.device("cpu")).take(torch.arange(6))
    assert b.offsets.shape == (6,) and b.size == 6 and int(b.offsets[0]) == 0
    assert b.cols.dtype == torch.int64 and b.vals.dtype == torch.float32
    assert b.offsets.tolist() == m.indptr[:-1].tolist() and len(b.cols) == m.nnz
    weight = torch.randn(5, 3, dtype=torch.float64)
    got = torch.nn.functional.embedding_bag(
        b.cols, weight, b.offsets, mode="sum", per_sample_weights=b.vals.double()
    )
    np.testing.assert_allclose(got.numpy(), m.toarray() @ weight.numpy(), atol=1e-12)


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("groups", [1, 3])
def test_input_layer_sparse_matches_dense_reference(whiten, groups):
    m = csr()
    x = SparseInputs.from_scipy(m)
    mean, std = x.column_stats(np.arange(m.shape[0]))
    std[0] = 0.0  # a constant column must not blow up
    torch.manual_seed(0)
    layer = InputLayer(m.shape[1], 6, groups, mean if whiten else None, std if whiten else None)
    idx = torch.arange(10)
    out = layer(DeviceSparse(x, torch.device("cpu")).take(idx))
    dense_layer_out = layer(torch.as_tensor(m[:10].toarray()))
    d = torch.as_tensor(m[:10].toarray(), dtype=torch.float64)
    if whiten:
        s = torch.as_tensor(np.where(std > 1e-12, 1 / np.maximum(std, 1e-12), 1.0))
        d = (d - torch.as_tensor(mean)) * s
    ref = d @ layer.weight.double() + layer.bias.double()
    if groups > 1:
        ref = ref.view(10, groups, 6).transpose(0, 1)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(dense_layer_out.double(), ref, rtol=1e-5, atol=1e-4)


def test_whitening_never_densifies_sparse_input():
    # gradients flow to the weight only through the batch's columns and the centring term
    m = csr()
    x = SparseInputs.from_scipy(m)
    mean, std = x.column_stats(np.arange(m.shape[0]))
    layer = InputLayer(m.shape[1], 4, 1, mean, std)
    batch = DeviceSparse(x, torch.device("cpu")).take(torch.arange(5))
    assert batch.cols.numel() == m[:5].nnz  # only the non-zeros travel
    layer(batch).sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape


def test_task_linear_equals_loop_over_tasks():
    torch.manual_seed(0)
    lin = TaskLinear(3, 5, 4)
    h3 = torch.randn(3, 7, 5)
    h2 = torch.randn(7, 5)
    out3, out2 = lin(h3), lin(h2)
    for t in range(3):
        torch.testing.assert_close(out3[t], h3[t] @ lin.weight[t] + lin.bias[t, 0])
        torch.testing.assert_close(out2[t], h2 @ lin.weight[t] + lin.bias[t, 0])
