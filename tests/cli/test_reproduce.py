"""``mtl reproduce`` as a process: its progress, and no temporary re-run left behind
when a signal ends it (the signal lands at a known step: MTL_TEST_SIGNAL_AT)."""

import os
import signal
import subprocess
import sys

import pytest

TINY = ["--dataset", "synthetic", "--tasks", "pop", "--arch", "SS", "--widths", "8,8",
        "-o", "n=200", "-o", "dim=50", "-o", "density=0.1", "--report", "",
        "--batch-size", "16", "--epochs", "2"]  # fmt: skip


def mtl(*args, **env):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *map(str, args)], capture_output=True, text=True,
        timeout=120, env={**os.environ, "MTL_PLUGINS": "", "OMP_NUM_THREADS": "1", **env},
        preexec_fn=_sigint_default,
    )  # fmt: skip


def _sigint_default():
    """A child of a shell's background job inherits SIGINT ignored (POSIX): undo that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    out = mtl("train", *TINY, "--run-dir", run)
    assert out.returncode == 0, out.stderr
    return run


def test_reproduce_shows_the_run_s_progress(finished, tmp_path):
    out = mtl("reproduce", finished, TMPDIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "reproduced" in out.stdout
    epochs = [line for line in out.stderr.splitlines() if line.startswith("epoch ")]
    assert [e.split()[1] for e in epochs] == ["1/2", "2/2"], out.stderr
    assert not list(tmp_path.glob("mtl-reproduce-*"))


@pytest.mark.parametrize("sig, code", [("HUP", 129), ("TERM", 143), ("INT", 130)])
def test_a_signal_mid_training_leaves_no_temporary_run(finished, tmp_path, sig, code):
    out = mtl("reproduce", finished, TMPDIR=str(tmp_path), MTL_TEST_SIGNAL_AT=f"2:3:{sig}")
    assert out.returncode == code, out.stderr
    assert "epoch 1/2" in out.stderr  # it was training when the signal came
    assert "Traceback" not in out.stderr and "error:" in out.stderr
    assert not list(tmp_path.glob("mtl-reproduce-*"))  # none left in TMPDIR
