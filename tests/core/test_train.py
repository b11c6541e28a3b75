"""The training protocol: masked losses, validation-only selection, resume (also of
sequence models with every feature on), evaluate."""

import json
import math

import numpy as np
import pytest
import torch

from mtl.core.config import TrainConfig
from mtl.core.errors import AlreadyFinished, UserError
from mtl.core.experiment import prepare
from mtl.core.plugins import load_plugins
from mtl.core.reporter import TIMING_KEYS, Reporter
from mtl.core.runner import evaluate_run, resume_run, start_or_resume, start_run
from mtl.core.runs import RunDir
from mtl.core.train import DeviceData, batch_loss

SMALL = {"n": 600, "dim": 1000, "density": 0.05, "noise": 0.5}


@pytest.fixture(scope="module")
def plugins():
    return load_plugins(env={"MTL_PLUGINS": ""})


def config(tmp_path, name="run", **kw):
    base = dict(
        dataset="synthetic",
        dataset_options=dict(SMALL),
        arch="low",
        tasks=["pop", "pop_rock", "loudness"],
        epochs=4,
        widths=[32, 16, 16, 8],
        batch_size=64,
        report=[],
        device="cpu",
        run_dir=str(tmp_path / name),
        keep_checkpoints="all",  # these tests read last.pt of finished runs
    )
    base.update(kw)
    return TrainConfig(**base)


def records(run, split):
    return [r for r in run.metrics() if r["split"] == split]


def strip_timing(recs):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in recs]


def test_run_directory_layout_and_protocol(tmp_path, plugins):
    run, results = start_run(config(tmp_path), plugins)
    for f in ("config.json", "manifest.json", "metrics.jsonl", "results.json"):
        assert run.file(f).is_file(), f
    assert run.file("checkpoints/best.pt").is_file() and run.file("checkpoints/last.pt").is_file()
    assert not list(run.path.rglob("*.tmp"))
    manifest = run.manifest()
    for key in (
        "mtl_version",
        "torch_version",
        "python_version",
        "plugins",
        "data_fingerprint",
        "seed",
        "device",
    ):
        assert key in manifest
    assert {p["name"] for p in manifest["plugins"]} >= {"datasets", "tasks"}
    # one record per epoch and split; test is never scored during training
    splits = [(r["epoch"], r["split"]) for r in run.metrics()]
    assert splits == [(e, s) for e in range(1, 5) for s in ("train", "val")]
    train = records(run, "train")
    assert all(r["train_samples"] == 420 and r["train_seconds"] > 0 for r in train)
    assert set(train[0]["tasks"]) == {"pop", "pop_rock", "loudness"}
    # selection is the best validation epoch of the first task's primary metric
    val = [r["tasks"]["pop"]["roc_auc"] for r in records(run, "val")]
    assert results["selected_epoch"] == int(np.argmax(val)) + 1
    assert results["select_by"] == "pop:roc_auc" and results["higher_is_better"] is True
    assert results["val"]["pop"]["roc_auc"] == pytest.approx(max(val), abs=1e-12)
    assert set(results["test"]) == {"pop", "pop_rock", "loudness"}
    assert results["test"]["pop"]["n"] == 90
    # the resolved config records every default explicitly
    cfg = run.config()
    assert cfg["lr"] == 0.01 and cfg["dropout"] == [0.0, 0.0, 0.5, 0.5]
    assert cfg["dataset_options"]["n"] == 600 and cfg["dataset_options"]["coupling"] == 0.95


def test_training_learns(tmp_path, plugins):
    _, results = start_run(config(tmp_path, epochs=10, widths=[64, 32, 16, 8]), plugins)
    assert results["test"]["pop"]["roc_auc"] > 0.65
    assert results["test"]["loudness"]["pearson"] > 0.2


def test_regression_metrics_are_in_original_units(tmp_path, plugins):
    _, results = start_run(config(tmp_path, tasks=["year"], arch="none", epochs=2), plugins)
    # year is ~2001 ± 7: an RMSE in standardised units would be ~1
    assert 3 < results["test"]["year"]["rmse"] < 30


def test_select_by_lower_is_better_metric(tmp_path, plugins):
    run, results = start_run(config(tmp_path, select_by="loudness:rmse"), plugins)
    val = [r["tasks"]["loudness"]["rmse"] for r in records(run, "val")]
    assert results["selected_epoch"] == int(np.argmin(val)) + 1
    assert results["higher_is_better"] is False


def test_early_stopping_uses_patience(tmp_path, plugins):
    run, results = start_run(config(tmp_path, epochs=30, patience=1, lr=0.05), plugins)
    epochs = results["epochs_run"]
    assert results["status"] == "early_stopped" and epochs < 30
    assert epochs == results["selected_epoch"] + 1


def test_masked_labels_contribute_nothing(tmp_path, plugins):
    cfg = config(tmp_path, dataset_options={**SMALL, "missing": 0.5})
    exp = prepare(cfg, plugins)
    dd = DeviceData(exp)
    idx = dd.splits["train"][:64]
    outputs = exp.model(dd.inputs.take(idx))
    got = batch_loss(exp, dd, outputs, idx)
    want = 0.0
    for t, (spec, tt) in enumerate(zip(exp.specs, exp.task_types, strict=True)):
        m = exp.data.masks[spec.name][idx.numpy()]
        assert 0 < m.sum() < 64
        per = tt.loss(outputs[t], dd.targets[t][idx])
        want = want + per[torch.as_tensor(m)].mean()
    torch.testing.assert_close(got, want)
    # changing the stored value of a missing label changes nothing
    t0 = exp.specs[0].name
    missing = np.flatnonzero(~exp.data.masks[t0])
    dd.targets[0][torch.as_tensor(missing)] = 1 - dd.targets[0][torch.as_tensor(missing)]
    torch.testing.assert_close(batch_loss(exp, dd, outputs, idx), got)


def test_batch_without_labels_for_a_task_contributes_zero(tmp_path, plugins):
    exp = prepare(config(tmp_path), plugins)
    dd = DeviceData(exp)
    idx = dd.splits["train"][:8]
    dd.masks[1][idx] = False
    dd.masks[2][idx] = False
    outputs = exp.model(dd.inputs.take(idx))
    only_first = exp.task_types[0].loss(outputs[0], dd.targets[0][idx]).mean()
    torch.testing.assert_close(batch_loss(exp, dd, outputs, idx), only_first)


def test_train_size_subsets_are_deterministic_and_nested(tmp_path, plugins):
    small = prepare(config(tmp_path, train_size=50, seed=3), plugins).data.splits["train"]
    again = prepare(config(tmp_path, train_size=50, seed=3), plugins).data.splits["train"]
    large = prepare(config(tmp_path, train_size=200, seed=3), plugins).data.splits["train"]
    other = prepare(config(tmp_path, train_size=50, seed=4), plugins).data.splits["train"]
    assert len(small) == 50 and np.array_equal(small, again)
    assert set(small) <= set(large)
    assert not np.array_equal(small, other)
    with pytest.raises(
        UserError, match="--train-size 421 is larger than the training split \\(420"
    ):
        prepare(config(tmp_path, train_size=421), plugins)


class InterruptAt(Reporter):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch(self, epoch, records, improved):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("arch,optimizer", [("low", "adagrad"), ("interspersed", "adam")])
def test_resume_ends_where_uninterrupted_run_ends(tmp_path, plugins, arch, optimizer):
    kw = dict(arch=arch, optimizer=optimizer, epochs=5)
    full_run, full = start_run(config(tmp_path, "full", **kw), plugins)
    with pytest.raises(KeyboardInterrupt):
        start_run(config(tmp_path, "cut", **kw), plugins, extra_reporters=[InterruptAt(3)])
    cut = RunDir(tmp_path / "cut")
    assert not cut.file("results.json").exists()
    assert torch.load(cut.file("checkpoints/last.pt"), weights_only=True)["epoch"] == 2
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    for key in ("selected_epoch", "val", "test", "status", "epochs_run"):
        assert resumed[key] == full[key], key
    assert strip_timing(resumed_run.metrics()) == strip_timing(full_run.metrics())


def seq_config(tmp_path, name: str, **kw) -> TrainConfig:
    """A sequence run with every feature on: dropout RNG, bucketed order, snippets,
    auxiliary tasks, stabilisation."""
    base = dict(
        dataset="synthetic-seq",
        dataset_options={"n": 120, "features": 4, "min_length": 6, "max_length": 20},
        encoder="lstm",
        encoder_options={"hidden": 6, "layers": 2, "dropout": 0.3},
        arch="ST",
        widths=[8, 8],
        dropout=[0.2],
        tasks=["genre", "energy"],
        aux=["one-vs-rest", "autoencode"],
        aux_weight=0.3,
        stabilise=0.5,
        snippets=2,
        combine="learned",
        batch_order="bucketed",
        batch_size=16,
        epochs=4,
        optimizer="adam",
        device="cpu",
        report=[],
        run_dir=str(tmp_path / name),
    )
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("encoder", ["lstm", "cnn2d"])
def test_resume_ends_where_an_uninterrupted_sequence_run_ends(tmp_path, plugins, encoder):
    kw = {}
    if encoder == "cnn2d":
        kw = dict(encoder="cnn2d", encoder_options={"channels": "4,8"}, stabilise=0.0)
    full_run, full = start_run(seq_config(tmp_path, "full", **kw), plugins)
    with pytest.raises(KeyboardInterrupt):
        start_run(seq_config(tmp_path, "cut", **kw), plugins, extra_reporters=[InterruptAt(2)])
    cut = RunDir(tmp_path / "cut")
    assert torch.load(cut.file("checkpoints/last.pt"), weights_only=True)["epoch"] == 1
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    for key in ("selected_epoch", "val", "test", "val_aux", "test_aux", "test_members"):
        assert resumed[key] == full[key], key
    assert strip_timing(resumed_run.metrics()) == strip_timing(full_run.metrics())
    again = evaluate_run(full_run.path, plugins, ("val", "test"))
    for key in ("val", "test", "test_aux", "test_members", "test_loss"):
        assert again[key] == full[key], key


def test_resume_can_extend_epochs_but_not_change_the_model(tmp_path, plugins):
    run, first = start_run(config(tmp_path, epochs=2), plugins)
    with pytest.raises(UserError, match="--lr cannot change when resuming"):
        resume_run(run.path, plugins, {"lr": 0.5})
    with pytest.raises(AlreadyFinished, match=r"finished \(completed after 2 epochs\); nothing"):
        resume_run(run.path, plugins)  # finished: nothing to do, and it says how to extend
    _, longer = resume_run(run.path, plugins, {"epochs": 3})
    assert longer["epochs_run"] == 3
    assert [r["epoch"] for r in records(run, "val")] == [1, 2, 3]


def test_stop_file_stops_after_the_epoch_and_resume_continues(tmp_path, plugins):
    class Stop(Reporter):
        def on_epoch(self, epoch, records, improved):
            if epoch == 1:
                (tmp_path / "run" / "STOP").touch()

    run, res = start_run(config(tmp_path, epochs=3), plugins, extra_reporters=[Stop()])
    # the STOP file is checked when the epoch's checkpoint decision is made: stops after epoch 2
    assert res["status"] == "stopped" and res["epochs_run"] == 2
    _, res = resume_run(run.path, plugins)
    assert res["status"] == "completed" and res["epochs_run"] == 3


def test_evaluate_reproduces_results_exactly(tmp_path, plugins):
    run, results = start_run(config(tmp_path, tasks=["pop", "year"]), plugins)
    again = evaluate_run(run.path, plugins, ("val", "test"))
    saved = run.results()
    for split in ("val", "test"):
        for task in ("pop", "year"):
            for metric, value in again[split][task].items():
                assert value == saved[split][task][metric] or (
                    value is None or (isinstance(value, float) and math.isnan(value))
                ), (split, task, metric)


def test_corrupted_checkpoint_is_a_clear_error(tmp_path, plugins):
    run, _ = start_run(config(tmp_path, epochs=1), plugins)
    run.file("checkpoints/best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="corrupted or not an mtl checkpoint"):
        evaluate_run(run.path, plugins, ("test",))


def test_existing_run_directory_is_not_overwritten(tmp_path, plugins):
    start_run(config(tmp_path, epochs=1), plugins)
    with pytest.raises(UserError, match="already exists.*--resume"):
        start_run(config(tmp_path, epochs=1), plugins)


def test_bad_labels_are_reported_before_anything_is_written(tmp_path, plugins):
    with pytest.raises(
        UserError, match="dataset 'synthetic' offers no task 'nope'; available: pop, pop_rock"
    ):
        start_run(config(tmp_path, tasks=["pop", "nope"]), plugins)
    with pytest.raises(UserError, match="unknown architecture 'lw' \\(did you mean 'low'"):
        start_run(config(tmp_path, arch="lw"), plugins)
    assert not (tmp_path / "run").exists()


def test_multiclass_task_end_to_end(tmp_path, plugins):
    run, results = start_run(config(tmp_path, tasks=["genre", "pop"], epochs=3), plugins)
    test = results["test"]["genre"]
    assert results["select_by"] == "genre:accuracy"
    assert (
        len(test["confusion_matrix"]) == 5
        and sum(map(sum, test["confusion_matrix"])) == test["n"] == 90
    )
    assert test["per_class"]["support"] == [sum(row) for row in test["confusion_matrix"]]
    assert test["classes"] == ["pop", "rock", "electronic", "hip_hop", "folk"]
    # metrics.jsonl keeps scalars only; the details are in results.json
    val_record = records(run, "val")[0]["tasks"]["genre"]
    assert "confusion_matrix" not in val_record and "accuracy" in val_record
    again = evaluate_run(run.path, plugins, ("test",))
    assert again["test"]["genre"]["confusion_matrix"] == test["confusion_matrix"]
    assert again["test"]["genre"]["macro_f1"] == test["macro_f1"]


def test_optimisers_use_fused_kernels_where_torch_has_them():
    from mtl.core.train import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(4))]
    for name in ("adagrad", "adam", "sgd"):
        assert make_optimizer(TrainConfig(optimizer=name), params).defaults["fused"] is True
    assert make_optimizer(TrainConfig(optimizer="adadelta", lr=2.0), params).defaults["lr"] == 2.0


def test_only_reporters_overriding_on_batch_are_called_per_step(tmp_path, plugins):
    class Counter(Reporter):
        calls = 0

        def on_batch(self, epoch, step, loss):
            Counter.calls += 1

    start_run(config(tmp_path, epochs=2), plugins, extra_reporters=[Counter(), InterruptAt(99)])
    assert Counter.calls == 2 * 7  # 420 training rows / batch 64 = 7 steps per epoch


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    import os
    import stat

    from mtl.core.runs import atomic_write

    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "a.json", lambda fh: fh.write("{}"))
        (tmp_path / "b.json").write_text("{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o640


@pytest.mark.parametrize("clip", [None, 1e-3, 1e6])
def test_clip_grad_norm_bounds_the_step(tmp_path, plugins, clip):
    """One plain SGD step over the whole training split moves the weights by lr times the
    gradient, rescaled to norm ``clip`` when it is longer (a clip above the norm is a no-op)."""
    lr = 0.5
    kw = dict(optimizer="sgd", momentum=0.0, lr=lr, dropout=[0.0], epochs=1, batch_size=10_000)
    start = prepare(config(tmp_path, name="start", **kw), plugins).model
    before = {n: p.detach().clone() for n, p in start.named_parameters()}
    run, _ = start_run(config(tmp_path, clip_grad_norm=clip, **kw), plugins)
    after = run.load_checkpoint("checkpoints/last.pt")["model"]
    step = torch.sqrt(sum(((after[n] - b) ** 2).sum() for n, b in before.items()))
    if clip is None:
        assert step > lr * 1e-3 * 10  # the gradient is far longer than the small clip
    elif clip < 1:
        assert float(step) == pytest.approx(lr * clip, rel=1e-4)
    else:  # as without clipping
        ref, _ = start_run(config(tmp_path, name="ref", **kw), plugins)
        ref_after = ref.load_checkpoint("checkpoints/last.pt")["model"]
        for n in before:
            torch.testing.assert_close(after[n], ref_after[n], rtol=0, atol=0)


@pytest.mark.parametrize(
    "keep, files",
    [
        ("best", ["best.pt"]),
        ("last", ["best.pt", "last.pt"]),
        ("all", ["best.pt", "last.prev.pt", "last.pt"]),
    ],
)
def test_a_finished_run_keeps_the_checkpoints_it_was_told_to(tmp_path, plugins, keep, files):
    cfg = config(tmp_path, epochs=2, keep_checkpoints=keep)
    run, res = start_run(cfg, plugins)
    assert sorted(p.name for p in (run.path / "checkpoints").iterdir()) == files
    assert evaluate_run(run.path, plugins, ("test",))["test"] == res["test"]
    if keep == "best":
        # resume: finished, and it cannot be extended (more epochs asked: an error)
        with pytest.raises(AlreadyFinished, match="cannot be resumed or extended"):
            resume_run(run.path, plugins)
        with pytest.raises(UserError, match="kept only best.pt"):
            resume_run(run.path, plugins, {"epochs": 3})
        with pytest.raises(AlreadyFinished, match="cannot be resumed"):
            start_or_resume(cfg, plugins)  # --resume auto (a requeued job): nothing to do
        assert json.loads(run.file("results.json").read_text()) == res


def test_a_stopped_run_keeps_its_resume_checkpoint(tmp_path, plugins):
    class Stop(Reporter):
        def on_epoch(self, epoch, records, improved):
            (tmp_path / "run" / "STOP").touch()

    cfg = config(tmp_path, epochs=3, keep_checkpoints="best")
    run, res = start_run(cfg, plugins, extra_reporters=[Stop()])
    assert res["status"] == "stopped" and run.file("checkpoints/last.pt").is_file()
    _, res = resume_run(run.path, plugins)  # continues, then finishes lean
    assert res["status"] == "completed" and not run.file("checkpoints/last.pt").exists()


def test_combine_learned_needs_snippets(tmp_path, plugins):
    cfg = config(tmp_path, combine="learned")
    with pytest.raises(UserError, match="--combine learned .* needs --snippets 2 or more"):
        start_run(cfg, plugins)
    assert not (tmp_path / "run").exists()
