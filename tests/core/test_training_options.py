"""Learning-rate schedules, gradient accumulation and mixed precision: the values they
give, equivalences that could fail, exact resume, and one-line errors."""

import json
import math

import pytest
import torch
from interrupts import InterruptAfter, SignalAt, strip
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.core.config import TrainConfig, build_config
from mtl.core.plugins import load_plugins
from mtl.core.runner import resume_run, start_run
from mtl.core.schedules import LRSchedule
from mtl.distributed.preempt import Preempted

SMALL = {"n": 240, "dim": 300, "density": 0.05}


@pytest.fixture(scope="module")
def plugins():
    return load_plugins(env={"MTL_PLUGINS": ""})


def config(tmp_path, name="run", **kw):
    base = dict(
        dataset="synthetic",
        dataset_options=dict(SMALL),
        tasks=["pop", "ballad", "loudness"],
        widths=[12, 12, 6, 6],
        batch_size=16,
        epochs=2,
        report=[],
        device="cpu",
        keep_checkpoints="all",  # the tests read last.pt of finished runs
        run_dir=str(tmp_path / name),
    )
    return TrainConfig(**{**base, **kw})


def weights(run):
    return run.load_checkpoint("checkpoints/last.pt")["model"]


def train_records(run):
    return [r for r in run.metrics() if r["split"] == "train"]


# --- schedules ---------------------------------------------------------------------


def schedule(**kw):
    cfg = TrainConfig(lr=1.0, epochs=4, **kw)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return LRSchedule(cfg, opt, per_epoch=10), opt


def rates(sched, opt):
    out = []
    for t in range(40):
        sched.apply(t, t // 10 + 1)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_warm_up_is_linear_per_step_then_the_schedule_runs():
    lr = rates(*schedule(warmup_epochs=1))  # constant after warm-up
    assert lr[:10] == pytest.approx([(t + 1) / 10 for t in range(10)])
    assert lr[10:] == [1.0] * 30
    lr = rates(*schedule(lr_schedule="cosine", warmup_epochs=1))
    assert lr[9] == 1.0 and lr[10] == 1.0  # the first step after warm-up has the full rate
    assert lr[25] == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 30)))
    assert all(a > b for a, b in zip(lr[10:], lr[11:], strict=False)) and 0 < lr[-1] < 0.01
    lr = rates(*schedule(lr_schedule="step", lr_step_size=2, lr_gamma=0.5))
    assert lr == [1.0] * 20 + [0.5] * 20


def test_constant_without_warm_up_never_touches_the_optimiser():
    sched, opt = schedule()
    opt.param_groups[0]["lr"] = 0.123  # a value the schedule would overwrite
    sched.apply(5, 1)
    assert opt.param_groups[0]["lr"] == 0.123 and not sched.active


def test_plateau_cuts_after_patience_epochs_without_improvement():
    sched, opt = schedule(lr_schedule="plateau", lr_patience=2, lr_gamma=0.5, warmup_epochs=1)
    seen = []
    for epoch, improved in enumerate([False, True, False, False, True, False, False], 1):
        sched.apply(epoch * 10, epoch)
        seen.append(opt.param_groups[0]["lr"])
        sched.end_epoch(epoch, improved)
    # epoch 1 is warm-up (not counted); cuts after epochs 4 and 7
    assert seen[1:] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    assert sched.decay == 0.25


# --- accumulation ------------------------------------------------------------------


@pytest.mark.parametrize("missing", [0.0, 0.4])
def test_accumulating_two_batches_of_8_steps_like_one_batch_of_16(tmp_path, plugins, missing):
    """Same data order, dropout 0: equal parameters within float rounding, also with
    missing labels (micro-batch losses are shares of the whole batch's per-task means)."""
    kw = dict(
        dropout=[0.0], epochs=1, optimizer="sgd", lr=0.2, weighting="fixed",
        weighting_options={"weights": "1,0.5,2"},
        dataset_options={**SMALL, "missing": missing},
    )  # fmt: skip
    big, _ = start_run(config(tmp_path, "big", batch_size=16, **kw), plugins)
    acc, _ = start_run(config(tmp_path, "acc", batch_size=8, accumulate=2, **kw), plugins)
    small, _ = start_run(config(tmp_path, "small", batch_size=8, **kw), plugins)
    for name, value in weights(big).items():
        torch.testing.assert_close(weights(acc)[name], value, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(weights(small)[n], v) for n, v in weights(big).items())
    assert train_records(acc)[0]["loss"] == pytest.approx(train_records(big)[0]["loss"], 1e-5)


# --- precision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "precision,weighting", [("bf16", "ew"), ("bf16", "pcgrad"), ("fp16", "ew")]
)
def test_reduced_precision_trains_close_to_float32_on_cpu(tmp_path, plugins, precision, weighting):
    kw = dict(dropout=[0.0], epochs=1, weighting=weighting)
    ref, _ = start_run(config(tmp_path, "ref", **kw), plugins)
    run, results = start_run(config(tmp_path, "run", precision=precision, **kw), plugins)
    loss, ref_loss = train_records(run)[0]["loss"], train_records(ref)[0]["loss"]
    assert math.isfinite(loss) and loss == pytest.approx(ref_loss, rel=0.05)
    assert loss != ref_loss  # the forward really ran in reduced precision
    assert all(v.dtype == torch.float32 for v in weights(run).values() if v.is_floating_point())
    scaler = run.load_checkpoint("checkpoints/last.pt")["scaler"]
    assert (scaler is not None) == (precision == "fp16")


# --- exact resume ------------------------------------------------------------------


RESUMED = {
    "plateau": dict(lr_schedule="plateau", lr_patience=1, lr_gamma=0.5, lr=0.3, warmup_epochs=1),
    "cosine-accumulate-fp16": dict(
        lr_schedule="cosine", warmup_epochs=1, accumulate=2, batch_size=8, precision="fp16"
    ),
}


@pytest.mark.parametrize("case", list(RESUMED))
def test_preempted_mid_epoch_interrupted_and_resumed_equals_uninterrupted(
    tmp_path, plugins, monkeypatch, case
):
    monkeypatch.setenv("MTL_REQUEUE", "0")
    kw = dict(RESUMED[case], epochs=4)
    full_run, full = start_run(config(tmp_path, "full", **kw), plugins)
    with pytest.raises(Preempted):  # inside the warm-up epoch
        start_run(config(tmp_path, "cut", **kw), plugins, extra_reporters=[SignalAt(1, 2)])
    state = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert state["partial"]["position"] == 3 * 16 and "schedule" in state
    with pytest.raises(KeyboardInterrupt):
        resume_run(tmp_path / "cut", plugins, extra_reporters=[InterruptAfter(2)])
    resumed_run, resumed = resume_run(tmp_path / "cut", plugins)
    assert strip(resumed_run.metrics()) == strip(full_run.metrics())
    for key in ("selected_epoch", "val", "test", "epochs_run"):
        assert resumed[key] == full[key], key
    lrs = [r["lr"] for r in train_records(full_run)]
    assert len(set(lrs)) > 1, lrs  # the schedule did change the rate in this run
    if case == "plateau":  # the cuts follow the validation selection metric
        val = [r["tasks"]["pop"]["roc_auc"] for r in full_run.metrics() if r["split"] == "val"]
        best, want, rate = -1.0, [], 0.3
        for epoch, value in enumerate(val, 1):
            want.append(rate)
            if value > best:
                best = value
            elif epoch > 1:
                rate *= 0.5
        assert lrs == pytest.approx(want)
    else:
        assert state["scaler"] is not None


# --- records and errors ------------------------------------------------------------


def test_options_are_recorded_in_config_manifest_and_toml(tmp_path, plugins):
    toml = tmp_path / "c.toml"
    toml.write_text('lr-schedule = "step"\nlr-step-size = 1\naccumulate = 2\nprecision = 32\n')
    cfg = build_config(toml, {"run_dir": str(tmp_path / "run"), "dataset_options": SMALL})
    assert (cfg.lr_schedule, cfg.lr_step_size, cfg.accumulate, cfg.precision) == (
        "step", 1, 2, "32",
    )  # fmt: skip
    run, _ = start_run(
        config(tmp_path, lr_schedule="step", lr_step_size=1, accumulate=2, epochs=2), plugins
    )
    saved = run.config()
    assert saved["lr_schedule"] == "step" and saved["accumulate"] == 2
    training = run.manifest()["training"]
    assert training["lr_schedule"] == "step" and training["precision"] == "32"
    assert [r["lr"] for r in train_records(run)] == pytest.approx([0.01, 0.001])


def test_sweep_axes_take_the_new_options(tmp_path):
    from mtl.sweep import load_sweep

    path = tmp_path / "s.toml"
    path.write_text(
        '[base]\ndataset = "synthetic"\n[task-sets]\npair = "pop,ballad"\n'
        '[axes]\ntask-set = ["pair"]\nlr-schedule = ["constant", "cosine"]\naccumulate = [1, 2]\n'
    )
    items = load_sweep(path).items
    assert {(i.config.lr_schedule, i.config.accumulate) for i in items} == {
        ("constant", 1), ("constant", 2), ("cosine", 1), ("cosine", 2),
    }  # fmt: skip


@pytest.mark.usefixtures("builtin_plugins_only")
@pytest.mark.parametrize(
    "args,message",
    [
        (["--lr-schedule", "cosin"], "'lr-schedule' must be one of constant, cosine"),
        (["--accumulate", "0"], "'accumulate' must be at least 1"),
        (["--lr-gamma", "1.5"], "'lr-gamma' must be in (0, 1]"),
        (["--precision", "fp8"], "'precision' must be one of 32, bf16, fp16"),
        (["--warmup-epochs", "2", "--epochs", "2"], "--warmup-epochs 2 must be less than"),
        (["--accumulate", "2", "--weighting", "uw"], "--accumulate 2 works with --weighting ew"),
        (["--precision", "fp16", "--weighting", "uw"], "use --precision bf16"),
    ],
)
def test_bad_values_are_one_line_errors_and_write_nothing(tmp_path, args, message):
    run = tmp_path / "run"
    tiny = [
        "--tasks",
        "pop,ballad",
        "-o",
        "n=100",
        "-o",
        "dim=200",
        "--widths",
        "4,4",
        "--arch",
        "ST",
    ]
    result = CliRunner().invoke(app, ["train", *tiny, *args, "--run-dir", str(run)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not run.exists()


def test_resumed_runs_from_before_the_options_use_their_defaults(tmp_path, plugins):
    run, _ = start_run(config(tmp_path, epochs=1), plugins)
    saved = json.loads(run.file("config.json").read_text())
    for key in ("lr_schedule", "warmup_epochs", "accumulate", "precision", "lr_gamma"):
        saved.pop(key)
    run.file("config.json").write_text(json.dumps(saved))
    state = torch.load(run.file("checkpoints/last.pt"), weights_only=True)
    state.pop("schedule"), state.pop("scaler")
    torch.save(state, run.file("checkpoints/last.pt"))
    _, results = resume_run(run.path, plugins, {"epochs": 2})
    assert results["epochs_run"] == 2
