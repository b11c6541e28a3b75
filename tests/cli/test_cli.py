"""The command line as a user meets it: help, errors, and end-to-end runs."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mtl.cli.main import app

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

TINY = ["--widths", "16,16,8,8", "-o", "n=300", "-o", "dim=400", "-o", "density=0.05"]


def _with(args, option):
    """``args`` with the dataset option of ``option``'s key set to it (a key is given once)."""
    key = option.partition("=")[0] + "="
    return [option if a.startswith(key) else a for a in args]


def _cuda():
    import torch

    return torch.cuda.is_available()


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def mtl(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "MTL_PLUGINS": "", **(env or {})},
        timeout=120,
    )


def test_help_imports_neither_torch_nor_h5py():
    commands = [
        ["--help"],
        ["train", "--help"],
        ["evaluate", "--help"],
        ["data", "--help"],
        ["data", "prepare", "msd", "--help"],
        ["correlate", "--help"],
        ["predict", "--help"],
        ["sweep", "--help"],
        ["sweep", "run", "--help"],
        ["sweep", "status", "--help"],
        ["sweep", "report", "--help"],
        ["reproduce", "--help"],
        ["hpc", "submit", "--help"],
        ["env", "--help"],
    ]
    code = (
        "import sys\n"
        "from mtl.cli.main import app\n"
        f"for args in {commands!r}:\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "assert 'torch' not in sys.modules and 'h5py' not in sys.modules, 'heavy import for --help'\n"
    )
    env = {**os.environ, "COLUMNS": "300"}  # wide enough that no help text wraps
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    for option in ("--select-by", "--dataset-option", "--tags-top", "--target", "--labels",
                   "--report", "--normalise", "--init-from", "--freeze", "--index", "--jobs",
                   "--set", "--tolerance"):  # fmt: skip
        assert option in out.stdout
    # defaults written into help texts survive rich markup (an unescaped [...] vanishes)
    assert "[default: mlp]" in out.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset", "nope"], "unknown dataset 'nope'; available: dummy, "),
        (["--arch", "lw"], "unknown architecture 'lw' (did you mean 'low'?)"),
        (["--arch", "SSXT"], "any S/T sharing pattern"),
        (
            ["--tasks", "pop,popp"],
            "dataset 'synthetic' offers no task 'popp' (did you mean 'pop'?)",
        ),
        (["-o", "nn=5"], "unknown option 'nn' for dataset 'synthetic' (did you mean 'n'?)"),
        (
            ["-o", "topics=abc"],
            "option 'topics' of dataset 'synthetic' expects an integer, got 'abc'",
        ),
        (["-o", "n"], "malformed option 'n': write KEY=VALUE"),
        (["--train-size", "99999"], "--train-size 99999 is larger than the training split"),
        (["--optimizer", "adamw"], "'optimizer' must be one of adagrad, adam, sgd, adadelta"),
        (["--select-by", "pop:auc"], "unknown metric for task 'pop' 'auc'"),
        (["--select-by", "year:rmse"], "--select-by names task 'year', which is not among --tasks"),
        (["--dropout", "0.1,0.2"], "--dropout gives 2 rates for 4 hidden layers"),
        (
            ["--widths", "16,8", "--arch", "low"],
            "sharing pattern SSTT has 4 layers but --widths gives 2",
        ),
        (["--report", "fancy"], "unknown reporter 'fancy'"),
        pytest.param(
            ["--device", "cuda"],
            "--device cuda was asked for but no CUDA GPU is available",
            marks=pytest.mark.skipif(_cuda(), reason="this machine has a CUDA GPU"),
        ),
    ],
)
def test_bad_training_input_is_one_line_exit_2_nothing_written(tmp_path, args, message):
    run_dir = tmp_path / "run"
    full = ["train", "--tasks", "pop", *TINY, "--epochs", "1", "--run-dir", str(run_dir), *args]
    result = invoke(*full)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert not run_dir.exists()


def test_config_file_errors_and_values(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 2\nlearning_rate = 0.1\n")
    result = invoke("train", "--config", str(bad))
    assert result.exit_code == 2
    assert "unknown key 'learning_rate'" in result.output and "valid keys:" in result.output
    good = tmp_path / "run.toml"
    good.write_text(
        'tasks = "pop,loudness"\nwidths = [16, 16, 8, 8]\nepochs = 3\n'
        "[dataset-options]\nn = 300\ndim = 400\ndensity = 0.05\n"
    )
    result = invoke(
        "train", "--config", str(good), "--epochs", "1", "--run-dir", str(tmp_path / "r")
    )
    assert result.exit_code == 0, result.output
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (
        cfg["tasks"] == ["pop", "loudness"]
        and cfg["epochs"] == 1
        and cfg["widths"] == [16, 16, 8, 8]
    )


def test_evaluate_errors(tmp_path):
    result = invoke("evaluate", str(tmp_path))
    assert result.exit_code == 2 and "is not an mtl run directory" in result.output
    result = invoke("evaluate", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_train_evaluate_plots_end_to_end_subprocess(tmp_path):
    run_dir = tmp_path / "run"
    out = mtl(
        "train", "--dataset", "synthetic", "--arch", "interspersed", "--tasks", "pop,loudness,year",
        *TINY, "--epochs", "2", "--report", "console,plots", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "selected epoch" in out.stdout and "loudness" in out.stdout
    assert (run_dir / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ev = mtl("evaluate", str(run_dir), "--split", "test", "--json")
    assert ev.returncode == 0, ev.stderr
    fresh = json.loads(ev.stdout)["test"]
    saved = json.loads((run_dir / "results.json").read_text())["test"]
    assert fresh == saved
    # the verdict is part of the JSON (documented in docs/evaluation.md), not on stderr
    assert json.loads(ev.stdout)["matches_results_json"] == {"test": True}
    assert "identical" not in ev.stderr
    table = mtl("evaluate", str(run_dir), "--split", "all")
    assert table.returncode == 0 and "test: identical to results.json" in table.stderr
    results = json.loads((run_dir / "results.json").read_text())
    results["test"]["pop"]["accuracy"] = -1.0  # results.json no longer matches the checkpoint
    (run_dir / "results.json").write_text(json.dumps(results))
    every = mtl("evaluate", str(run_dir), "--split", "all", "--json")
    assert every.returncode == 0, every.stderr
    verdicts = json.loads(every.stdout)["matches_results_json"]
    assert verdicts == {"train": None, "val": True, "test": False}
    # a corrupted checkpoint: one line, exit 2, no traceback
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"garbage")
    bad = mtl("evaluate", str(run_dir))
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: checkpoint") and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_dummy_subprocess(tmp_path):
    out = mtl("dummy", "--epochs", "3", "--run-dir", str(tmp_path / "d"))
    assert out.returncode == 0, out.stderr
    for task in ("loudness", "year", "pop"):
        assert task in out.stdout
    results = json.loads((tmp_path / "d" / "results.json").read_text())
    assert set(results["test"]) == {"loudness", "year", "pop"}
    assert [results["test"][t]["n"] for t in ("loudness", "year", "pop")] == [150, 150, 150]


def _sigint_default():
    """A child started from a shell's background job inherits SIGINT ignored (POSIX), and
    Python then never raises KeyboardInterrupt: give the child SIGINT's default."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_tells_how_to_resume(tmp_path):
    """A real SIGINT during training (the run sends it to itself before step 1 of epoch 2):
    exit 130, a resume hint, and resume from epoch 1 finishes the run."""
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "mtl", "train", "--tasks", "pop", *TINY, "--epochs", "3",
         "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "MTL_PLUGINS": "", "MTL_TEST_SIGNAL_AT": "2:1:INT"},
        preexec_fn=_sigint_default,
    )  # fmt: skip
    assert out.returncode == 130, out.stderr
    assert f"mtl train --resume {run_dir}" in out.stderr and "Traceback" not in out.stderr
    import torch

    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    out = mtl("train", "--resume", str(run_dir))
    assert out.returncode == 0, out.stderr
    assert json.loads((run_dir / "results.json").read_text())["epochs_run"] == 3
