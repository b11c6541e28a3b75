"""Auxiliary tasks (one-vs-rest, autoencode), the reconstruction task type, task weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from mtl.core.auxiliary import add_auxiliary_tasks
from mtl.core.config import TrainConfig
from mtl.core.data import MultiTaskData, SequenceInputs, SparseInputs, TaskSpec
from mtl.core.errors import UserError
from mtl.core.experiment import prepare
from mtl.core.plugins import load_plugins
from mtl.core.train import DeviceData, batch_loss
from mtl.plugins.tasks.reconstruction import ReconstructionTask


def seq_data(n=9, t=6, f=3, seed=0) -> MultiTaskData:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, t + 1, n)
    x = rng.standard_normal((n, t, f))
    for i, length in enumerate(lengths):
        x[i, length:] = 0
    y = rng.integers(0, 3, n).astype(float)
    m = rng.random(n) > 0.3
    y[~m] = np.nan
    return MultiTaskData(
        inputs=SequenceInputs(x, lengths),
        tasks=[
            TaskSpec("genre", "multiclass", classes=("a", "b", "c")),
            TaskSpec("r", "regression"),
        ],
        targets={"genre": y, "r": rng.standard_normal(n)},
        masks={"genre": m, "r": np.ones(n, bool)},
        splits={"train": np.arange(n)},
        ids=np.arange(n).astype(str),
    )


def test_one_vs_rest_and_autoencode_targets():
    data = seq_data()
    out, added = add_auxiliary_tasks(data, ["one-vs-rest", "autoencode"])
    assert added == ["genre.a", "genre.b", "genre.c", "autoencode"]
    assert [t.kind for t in out.tasks] == ["multiclass", "regression"] + ["binary"] * 3 + [
        "reconstruction"
    ]
    m = data.masks["genre"]
    for c, name in enumerate(added[:3]):
        np.testing.assert_array_equal(out.masks[name], m)
        np.testing.assert_array_equal(out.targets[name][m], (data.targets["genre"][m] == c) * 1.0)
    x, lengths = data.inputs.x, data.inputs.lengths
    ref = np.stack([x[i, : lengths[i]].astype(np.float64).mean(axis=0) for i in range(data.n)])
    np.testing.assert_allclose(out.targets["autoencode"], ref, rtol=1e-6)
    assert out.task("autoencode").classes == ("f0", "f1", "f2")
    assert out.fingerprint() != data.fingerprint()  # 2-D targets hash too


def test_autoencode_of_sparse_inputs_is_an_error():
    data = seq_data()
    sparse = SparseInputs(np.arange(data.n + 1), np.zeros(data.n, int), np.ones(data.n), 4)
    data = MultiTaskData(sparse, data.tasks, data.targets, data.masks, data.splits, data.ids)
    with pytest.raises(UserError, match="--aux autoencode needs dense or sequence inputs"):
        add_auxiliary_tasks(data, ["autoencode"])


def test_reconstruction_loss_and_metrics_against_references():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((50, 4)) * [1, 2, 3, 4] + [0, 1, 2, 3]
    tt = ReconstructionTask()
    spec = TaskSpec("autoencode", "reconstruction", classes=("a", "b", "c", "d"))
    assert tt.validate(spec, y) is None and tt.output_dim(spec) == 4
    assert "shape" in tt.validate(spec, y[:, :3])
    stats = tt.fit(spec, y)
    target = tt.encode(spec, y, stats)
    out = torch.as_tensor(rng.standard_normal((50, 4)), dtype=torch.float32)
    z = (y - y.mean(0)) / y.std(0)
    np.testing.assert_allclose(
        tt.loss(out, target).numpy(), ((out.numpy() - z) ** 2).mean(axis=1), rtol=1e-5
    )
    pred = tt.decode(spec, out, stats)
    np.testing.assert_allclose(pred, out.numpy() * y.std(0) + y.mean(0), rtol=1e-6)
    metrics = tt.evaluate(spec, y, pred)
    assert metrics["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, pred)))
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert metrics["r2"] == pytest.approx(r2_score(y, pred))


@torch.no_grad()
def test_task_weights_and_aux_weight_scale_each_task_loss():
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    cfg = dict(
        dataset="synthetic-seq",
        dataset_options={"n": 40, "features": 3, "max_length": 8, "min_length": 2},
        encoder="lstm",
        encoder_options={"hidden": 4},
        arch="S",
        widths=[4],
        tasks=["genre", "energy"],
        aux=["one-vs-rest", "autoencode"],
        device="cpu",
    )
    unit = prepare(TrainConfig(**cfg, aux_weight=1.0), plugins)
    weighted = prepare(
        TrainConfig(**cfg, aux_weight=0.25, task_weights={"energy": 3.0, "genre.rock": 0.0}),
        plugins,
    )
    names = [s.name for s in weighted.specs]
    assert names[:2] == ["genre", "energy"] and weighted.aux_tasks == names[2:]
    assert weighted.main_task_names == ["genre", "energy"]
    expected = [1.0, 3.0] + [0.0 if n == "genre.rock" else 0.25 for n in names[2:]]
    assert weighted.task_weights == expected
    weighted.model.load_state_dict(unit.model.state_dict())
    idx = torch.arange(20)
    per_task = []
    for t in range(len(names)):  # each task's loss alone, all weights 1
        unit.task_weights = [1.0 if i == t else 0.0 for i in range(len(names))]
        dd = DeviceData(unit)
        per_task.append(float(batch_loss(unit, dd, unit.model.eval()(dd.inputs.take(idx)), idx)))
    dd = DeviceData(weighted)
    total = float(batch_loss(weighted, dd, weighted.model.eval()(dd.inputs.take(idx)), idx))
    assert total == pytest.approx(
        sum(w * v for w, v in zip(expected, per_task, strict=True)), rel=1e-5
    )
