import numpy as np
import pytest
import scipy.sparse as sp

from mtl.core.data import DenseInputs, MultiTaskData, SparseInputs, TaskSpec


def random_csr(n=50, dim=30, density=0.2, seed=0):
    m = sp.random(n, dim, density=density, format="csr", random_state=seed, dtype=np.float32)
    m.data = np.ceil(m.data * 5)
    return m


def test_sparse_gather_matches_scipy_rows():
    m = random_csr()
    x = SparseInputs.from_scipy(m)
    rows = np.array([7, 0, 49, 7, 12])
    cols, vals, lengths = x.gather(rows)
    dense = np.zeros((len(rows), m.shape[1]), dtype=np.float32)
    np.add.at(dense, (np.repeat(np.arange(len(rows)), lengths), cols), vals)
    np.testing.assert_array_equal(dense, m[rows].toarray())


def test_sparse_column_stats_match_dense():
    m = random_csr()
    rows = np.arange(0, 50, 2)
    mean, std = SparseInputs.from_scipy(m).column_stats(rows)
    d = m[rows].toarray().astype(np.float64)
    np.testing.assert_allclose(mean, d.mean(0), atol=1e-12)
    np.testing.assert_allclose(std, d.std(0), atol=1e-9)
    dmean, dstd = DenseInputs(m.toarray()).column_stats(rows)
    np.testing.assert_allclose(dmean, mean, atol=1e-6)
    np.testing.assert_allclose(dstd, std, atol=1e-6)


@pytest.mark.parametrize(
    "indptr,indices,message",
    [
        ([0, 2, 1], [0, 1], "non-decreasing"),
        ([0, 1, 2], [0, 9], "out of range"),
        ([1, 2], [0], "start at 0"),
    ],
)
def test_sparse_rejects_malformed_csr(indptr, indices, message):
    with pytest.raises(ValueError, match=message):
        SparseInputs(np.array(indptr), np.array(indices), np.ones(len(indices)), dim=5)


def make_data(n=10):
    rng = np.random.default_rng(0)
    y = rng.random(n)
    return MultiTaskData(
        inputs=DenseInputs(rng.random((n, 3))),
        tasks=[TaskSpec("a", "regression"), TaskSpec("b", "binary")],
        targets={"a": y, "b": (y > 0.5).astype(float)},
        masks={"a": np.ones(n, bool), "b": np.arange(n) % 2 == 0},
        splits={"train": np.arange(6), "val": np.arange(6, 8), "test": np.arange(8, 10)},
        ids=np.arange(n).astype(str),
    )


def test_multitask_data_select_and_fingerprint():
    data = make_data()
    sub = data.select(["b"])
    assert sub.task_names == ["b"] and list(sub.targets) == ["b"]
    assert data.fingerprint() == make_data().fingerprint()
    changed = make_data()
    changed.targets["a"][0] += 1
    assert changed.fingerprint() != data.fingerprint()
    # a missing label's stored value does not matter to the fingerprint
    masked = make_data()
    masked.targets["b"][1] = 7.0
    assert masked.fingerprint() == data.fingerprint()


def test_multitask_data_rejects_overlapping_splits():
    data = make_data()
    with pytest.raises(ValueError, match="overlaps"):
        MultiTaskData(
            data.inputs,
            data.tasks,
            data.targets,
            data.masks,
            {"train": np.arange(6), "val": np.arange(5, 8), "test": np.arange(8, 10)},
            data.ids,
        )


def test_multitask_data_rejects_wrong_target_length():
    data = make_data()
    with pytest.raises(ValueError, match="targets for 10 examples"):
        MultiTaskData(
            data.inputs,
            data.tasks,
            {**data.targets, "a": np.zeros(3)},
            data.masks,
            data.splits,
            data.ids,
        )


def test_sequence_inputs_validate_and_batch_to_the_longest():
    import torch

    from mtl.core.batches import to_device
    from mtl.core.data import SequenceInputs

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 3, 1])
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    seq = SequenceInputs(x, lengths)
    assert (seq.n, seq.max_len, seq.dim) == (4, 6, 3)
    mean, std = seq.column_stats(np.array([1, 2]))
    real = np.concatenate([x[1, :2], x[2, :3]]).astype(np.float64)
    np.testing.assert_allclose(mean, real.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, real.std(axis=0), rtol=1e-6)
    batch = to_device(seq, torch.device("cpu")).take(torch.tensor([1, 3]))
    assert batch.x.shape == (2, 2, 3) and batch.lengths.tolist() == [2, 1]
    np.testing.assert_array_equal(batch.x[0].numpy(), x[1, :2])
    with pytest.raises(ValueError, match="lengths must lie"):
        SequenceInputs(x, np.array([7, 1, 1, 1]))
    with pytest.raises(ValueError, match="3-D"):
        SequenceInputs(x[:, :, 0], lengths)
