"""The csv and tensorboard reporters in real training runs, read back with pandas and
with TensorBoard's own event reader."""

import io
import json

import pandas as pd
import pytest

from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.runner import resume_run, start_run


@pytest.fixture(scope="module")
def plugins():
    return load_plugins(env={"MTL_PLUGINS": ""})


def config(tmp_path, report, **kw):
    base = dict(
        dataset="synthetic",
        dataset_options={"n": 300, "dim": 200, "density": 0.08},
        arch="SS",
        tasks=["pop", "loudness"],
        widths=[16, 8],
        epochs=3,
        batch_size=64,
        report=report,
        device="cpu",
        run_dir=str(tmp_path / "run"),
        keep_checkpoints="last",  # finished runs are extended
    )
    return TrainConfig(**{**base, **kw})


def test_csv_has_a_row_per_epoch_and_split_matching_the_run_record(tmp_path, plugins):
    run, results = start_run(config(tmp_path, ["csv"]), plugins)
    frame = pd.read_csv(run.file("metrics.csv"))
    assert list(frame.columns[:3]) == ["epoch", "split", "loss"]
    assert list(zip(frame.epoch, frame.split, strict=True)) == [
        (1, "train"), (1, "val"), (2, "train"), (2, "val"), (3, "train"), (3, "val"),
        (results["selected_epoch"], "test"),
    ]  # fmt: skip
    for record in run.metrics():
        row = frame[(frame.epoch == record["epoch"]) & (frame.split == record["split"])].iloc[0]
        assert row["loss"] == pytest.approx(record["loss"], rel=1e-15)
        for task, metrics in record["tasks"].items():
            for metric, value in metrics.items():
                assert row[f"{task}.{metric}"] == pytest.approx(value, rel=1e-15)
    test = frame[frame.split == "test"].iloc[0]
    assert test["pop.roc_auc"] == pytest.approx(results["test"]["pop"]["roc_auc"], rel=1e-15)
    assert test["loudness.rmse"] == pytest.approx(results["test"]["loudness"]["rmse"], rel=1e-15)
    assert not list(run.path.glob("*.tmp")) and not list(run.path.glob(".*.tmp"))


def test_csv_keeps_the_epochs_before_a_resume(tmp_path, plugins):
    run, _ = start_run(config(tmp_path, ["csv"], epochs=2), plugins)
    resume_run(run.path, plugins, {"epochs": 4})
    frame = pd.read_csv(run.file("metrics.csv"))
    assert list(frame[frame.split == "val"].epoch) == [1, 2, 3, 4]
    assert (frame.split == "test").sum() == 1


def test_tensorboard_event_files_read_back_with_tensorboard(tmp_path, plugins):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    run, results = start_run(config(tmp_path, ["tensorboard"]), plugins)
    acc = event_accumulator.EventAccumulator(str(run.path / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/pop/roc_auc", "val/loudness/rmse"} <= tags
    assert "test/pop/roc_auc" in tags and "val/pop/n" not in tags
    records = {(r["epoch"], r["split"]): r for r in run.metrics()}
    val_auc = acc.Scalars("val/pop/roc_auc")
    assert [e.step for e in val_auc] == [1, 2, 3]
    for event in val_auc:  # float32 in the event file
        assert event.value == pytest.approx(
            records[(event.step, "val")]["tasks"]["pop"]["roc_auc"], rel=1e-6
        )
    [test] = acc.Scalars("test/pop/roc_auc")
    assert test.step == results["selected_epoch"]
    assert test.value == pytest.approx(results["test"]["pop"]["roc_auc"], rel=1e-6)
    config_text = (
        acc.Tensors("config/text_summary")
        if "config/text_summary" in acc.Tags().get("tensors", [])
        else None
    )
    if config_text is not None:
        assert b"synthetic" in config_text[0].tensor_proto.string_val[0]
    assert json.loads(run.file("results.json").read_text())["status"] == "completed"
    assert [e.value for e in acc.Scalars("train/lr")] == pytest.approx([0.01] * 3)
    # the configuration against the selected epoch's metrics, in the HParams tab
    hp = event_accumulator.EventAccumulator(str(run.path / "tensorboard" / "hparams"))
    hp.Reload()
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = hp.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["dataset"].string_value == "synthetic"
    assert hparams["batch_size"].number_value == run.config()["batch_size"]
    assert hparams["lr_schedule"].string_value == "constant"
    [auc] = hp.Scalars("hparam/test/pop/roc_auc")
    assert auc.value == pytest.approx(results["test"]["pop"]["roc_auc"], rel=1e-6)
    # the learning curves as an image (what the plots reporter draws), at the selected epoch
    assert acc.Tags()["images"] == ["figures/learning_curves"]  # ew, no gates: one figure
    [image] = acc.Images("figures/learning_curves")
    assert image.step == results["selected_epoch"] and image.width > 400 and image.height > 200
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(image.encoded_image_string), format="png")
    assert pixels.shape[:2] == (image.height, image.width) and pixels.std() > 0.05
