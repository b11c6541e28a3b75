"""Hostile input through the real CLI (docs/reliability.md, "Input").

Every case runs ``python -m mtl`` in a subprocess and must end in exactly one
``error:`` line, exit code 2, no traceback and nothing written: no run directory, no
sweep directory, no job script, no new file in the working directory. Almost every case
is refused while the settings are checked, before plugins (and torch) load, so the module
stays cheap; the few that reach a dataset are refused before any data is generated.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ENV = {**os.environ, "MTL_PLUGINS": "", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
# a cheap configuration, in case a case were accepted after all: one epoch, tiny layers
TINY = ["--dataset", "synthetic", "--arch", "ST", "--widths", "8,8", "--epochs", "1",
        "--report", "", "--log-format", "plain"]  # fmt: skip
TINY_OPTIONS = {"n": "100", "dim": "50", "density": "0.1"}


def mtl(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=ENV, timeout=120,
    )  # fmt: skip


def listing(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def refused(result, message: str = "") -> str:
    """Exit 2, one ``error:`` line naming ``message``, nothing else, no traceback."""
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert message in lines[0], lines[0]
    assert "weights_only" not in lines[0]
    return lines[0]


def train(tmp_path, *args, message=""):
    """``mtl train`` with ``args`` (tiny settings for anything they leave out): refused,
    and the working directory is as it was (no run directory, default or given)."""
    given = {a.partition("=")[0] for a in args if isinstance(a, str) and "=" in a}
    options = [x for k, v in TINY_OPTIONS.items() if k not in given for x in ("-o", f"{k}={v}")]
    before = listing(tmp_path)
    line = refused(mtl("train", *TINY, *options, "--run-dir", "run", *args, cwd=tmp_path), message)
    assert listing(tmp_path) == before
    return line


# -- every numeric flag: NaN, infinities, out of range -------------------------------

FLOATS = {  # flag → values refused, and the setting's name in the message
    "--lr": (["nan", "inf", "0"], "'lr'"),
    "--weight-decay": (["nan", "-inf", "-1"], "'weight_decay'"),
    "--dropout": (["nan", "inf", "1", "0.5,"], "'dropout'"),
    "--clip-grad-norm": (["nan", "inf", "0"], "'clip-grad-norm'"),
    "--aux-weight": (["nan", "-1"], "'aux-weight'"),
    "--stabilise": (["inf", "-1"], "'stabilise'"),
}
INTS = {
    "--epochs": (["0", str(10**30), "nan"], "epochs"),
    "--batch-size": (["-1", "inf"], "batch"),
    "--eval-batch-size": (["0"], "eval_batch_size"),
    "--patience": (["-3"], "patience"),
    "--train-size": (["0", str(10**30)], "train"),
    "--snippets": (["0"], "snippets"),
    "--seed": (["-1", str(2**64)], "seed"),
    "--widths": (["8,-8", "8,,8", "1000000", "65536,65536"], "widths"),
}
NUMERIC = [(flag, v, name) for flag, (vs, name) in (FLOATS | INTS).items() for v in vs]


@pytest.mark.parametrize("flag,value,name", NUMERIC)
def test_numeric_flags_refuse_nan_inf_and_out_of_range(tmp_path, flag, value, name):
    line = train(tmp_path, f"{flag}={value}", message=name.strip("'").split("_")[0])
    if value in ("nan", "inf", "-inf") and flag in FLOATS:
        assert "finite" in line


@pytest.mark.parametrize(
    "args,message",
    [
        (["--task-weight", "pop=nan"], "'task-weight pop' must be a finite number"),
        (["--task-weight", "pop=inf"], "'task-weight pop' must be a finite number"),
        (["--task-weight", "pop=-1"], "'task-weight pop' must be at least 0"),
        (["--task-weight", "pop"], "e.g. --task-weight pop=2"),
        (["--tasks", ""], "'tasks' names no task"),
        (["--tasks", ",,"], "'tasks' names no task"),
        (["--tasks", "pop,pop"], "names a task twice"),
        (["--tasks", ",".join(["pöp"] + [f"t{i}" for i in range(3000)])], "no task 'pöp'"),
        (["-o", "n=3000", "-o", "n=4000"], "-o n is given twice"),
        (["-e", "hidden=4", "-e", "hidden=8"], "-e hidden is given twice"),
        (["--weighting", "cagrad", "-w", "c=1", "-w", "c=2"], "-w c is given twice"),
        (["--task-weight", "pop=1", "--task-weight", "pop=2"], "--task-weight pop is given twice"),
        (["-o", "density=nan"], "option 'density' of dataset 'synthetic' must be a finite"),
        (["--weighting", "cagrad", "-w", "c=nan"], "option 'c' of weighting 'cagrad' must be a"),
        (["--encoder", "lstm", "-e", "dropout=nan"], "option 'dropout' of encoder 'lstm'"),
        (["-o", "n=10000000000000"], "option 'n' of dataset 'synthetic' must be at most"),
        (["-o", "n=9000000", "-o", "dim=1000000"], "generated values, over the limit"),
        (["--epochs", "nan"], "Invalid value for '--epochs'"),
        (["--device", "gpu"], "'device' must be one of auto, cpu, cuda"),
    ],
)
def test_bad_training_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    line = train(tmp_path, *args, message=message)
    assert "-o n=1000" not in line or args[0] == "-o"  # the hint shows the flag at fault


# -- paths ----------------------------------------------------------------------------


def test_paths_that_cannot_work_are_one_line(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "conf").mkdir()
    train(tmp_path, "--config", "conf", message="config file 'conf' is a directory")
    train(tmp_path, "--run-dir", "a-file", message="run directory 'a-file' is a file")
    train(tmp_path, "--run-dir", "a-file/run", message="inside 'a-file', which is a file")
    train(tmp_path, "--run-dir", "x" * 300, message="longer than 255 bytes")


# -- TOML run configs and sweep axes ---------------------------------------------------


@pytest.mark.parametrize(
    "toml,message",
    [
        ("lr = nan", "'lr' must be a finite number"),
        ("dropout = nan", "'dropout' must be a finite number"),
        ("dropout = [0.5, inf]", "'dropout' must be a finite number"),
        ("weight-decay = -0.1", "'weight_decay' must be at least 0"),
        ("epochs = 0", "'epochs' must be at least 1"),
        ("epochs = true", "'epochs' must be an integer"),
        ("seed = -1", "'seed' must be at least 0"),
        ("momentum = nan", "'momentum' must be a finite number"),
        ("tasks = []", "'tasks' names no task"),
        ('tasks = ""', "'tasks' names no task"),
        ('tasks = ["pop", ""]', "'tasks' names no task"),
        ("[dataset-options]\nnoise = nan", "option 'noise' of dataset 'synthetic'"),
        ('dataset-options = ["topics=4", "topics=5"]', "-o topics is given twice"),
        ("[task-weights]\npop = inf", "'task-weight pop' must be a finite number"),
        ('weighting = "cagrad"\n[weighting-options]\nc = nan', "option 'c' of weighting"),
    ],
)
def test_toml_run_configs_are_checked_like_flags(tmp_path, toml, message):
    (tmp_path / "run.toml").write_text(toml + "\n")
    train(tmp_path, "--config", "run.toml", message=message)


SWEEP = """runs-dir = "sweeps"
[base]
dataset = "synthetic"
epochs = 1
widths = "8,8"
arch = "ST"
dataset-options = {{ dim = 50, density = 0.1 }}
[task-sets]
t = "pop,ballad"
[axes]
task-set = ["t"]
{axis}
"""


@pytest.mark.parametrize(
    "axis,message",
    [
        ("lr = [0.1, nan]", "'lr' must be a finite number"),
        ("dropout = [nan]", "'dropout' must be a finite number"),
        ("seed = [0, -1]", "'seed' must be at least 0"),
        ("epochs = [0]", "'epochs' must be at least 1"),
        ("batch-size = [true]", "'batch_size' must be an integer"),
        ('task-weights = ["pop=nan"]', "'task-weight pop' must be a finite number"),
        ('"dataset-options.n" = [100, 10000000000000]', "option 'n' of dataset 'synthetic'"),
    ],
)
def test_sweep_axes_are_checked_before_any_item_runs(tmp_path, axis, message):
    (tmp_path / "s.toml").write_text(SWEEP.format(axis=axis))
    before = listing(tmp_path)
    refused(mtl("sweep", "run", "s.toml", cwd=tmp_path), message)
    assert listing(tmp_path) == before


# -- other commands ---------------------------------------------------------------------


def _fake_run(path: Path, config: dict) -> Path:
    """A run directory as far as the commands read before they load data or weights."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    (path / "manifest.json").write_text(json.dumps({"data_fingerprint": "x"}))
    (path / "results.json").write_text(json.dumps({"status": "completed"}))
    (path / "metrics.jsonl").write_text("")
    return path


def test_other_commands_refuse_bad_values_in_one_line(tmp_path):
    run = _fake_run(tmp_path / "run", {"dataset": "synthetic"})
    (tmp_path / "job.toml").write_text('dataset = "synthetic"\n')
    before = listing(tmp_path)
    for args, message in [
        (["reproduce", run, "--tolerance", "-1"], "--tolerance must be a finite number"),
        (["reproduce", run, "--tolerance", "nan"], "--tolerance must be a finite number"),
        (["predict", run, "--out", tmp_path], "is a directory; give a file name"),
        (["predict", run, "--out", run / "results.json" / "p.csv"], "is a file"),
        (["env", "--device", "gpu"], "'device' must be one of auto, cpu, cuda"),
        (["hpc", "render", "cpu", "--config", "job.toml", "--time", "25:99"], "99 seconds"),
        (["hpc", "render", "cpu", "--config", "job.toml", "--time", "1-30"], "30 hours"),
        (["hpc", "render", "cpu", "--config", "job.toml", "--time", "1:60:00"], "60 minutes"),
        (["hpc", "render", "cpu", "--config", "job.toml", "--sbatch", "--qos=a\nrm -rf ~"], ""),
    ]:
        result = mtl(*args, cwd=tmp_path)
        refused(result, message)
        assert "#SBATCH" not in result.stdout
    assert listing(tmp_path) == before


def test_a_hand_edited_config_json_is_checked_like_flags(tmp_path):
    run = _fake_run(tmp_path / "run", {"dataset": "synthetic", "lr": float("nan")})
    for command in ("evaluate", "reproduce"):
        refused(mtl(command, run, cwd=tmp_path), "'lr' must be a finite number")
    run = _fake_run(tmp_path / "run2", {"dataset": "synthetic", "dropout": [None]})
    refused(mtl("predict", run, cwd=tmp_path), "'dropout' must be a number")


# -- no code from data ---------------------------------------------------------------------


class _Plant:
    """Unpickling this makes a directory: the proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _msd_with_pickled_label_map(root: Path, marker: Path) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        root / "msd-10-genre-train.npz",
        inputs=rng.standard_normal((20, 4, 25)).astype(np.float32),
        targets=np.arange(20) % 10,
        label_map=np.array([_Plant(marker)], dtype=object),
    )
    return root


def test_no_data_file_or_run_directory_makes_mtl_unpickle(tmp_path):
    marker = tmp_path / "unpickled"
    root = _msd_with_pickled_label_map(tmp_path / "msd", marker)
    line = refused(
        mtl("train", "--dataset", "msd-genre", "-o", f"root={root}", "--run-dir", "run",
            cwd=tmp_path),
        "'label_map' is stored as pickled Python objects, which mtl never unpickles",
    )  # fmt: skip
    assert "allow_pickle" not in line
    assert not (tmp_path / "run").exists()
    options = {"root": str(root), "allow_pickle": True}
    run = _fake_run(tmp_path / "old", {"dataset": "msd-genre", "dataset_options": options})
    for command in ("evaluate", "predict", "reproduce"):
        refused(
            mtl(command, run, cwd=tmp_path),
            "option 'allow_pickle' of dataset 'msd-genre' was retired",
        )
    refused(
        mtl("train", "--dataset", "msd-genre", "-o", f"root={root}", "-o", "allow_pickle=true",
            "--run-dir", "run", cwd=tmp_path),
        "was retired: mtl never unpickles data files",
    )  # fmt: skip
    assert not marker.exists()
    assert not (tmp_path / "run").exists()
