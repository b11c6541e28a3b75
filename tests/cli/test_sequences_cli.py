"""End to end on synthetic-seq: train with an encoder, evaluate reproduces results exactly;
auxiliary tasks and snippet members reported apart; encoders learn the temporal signal;
predict and the classification report cover main tasks only; a frozen encoder
transferred from a genre run stays bit-identical."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score
from typer.testing import CliRunner

from mtl.cli.main import app

SEQ = ["-o", "n=150", "-o", "features=4", "-o", "min_length=8", "-o", "max_length=20"]
SMALL = ["--widths", "8", "--arch", "S", "--dropout", "0", "--report", ""]


def mtl(*args):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MTL_PLUGINS": ""},
        timeout=300,
    )


def test_lstm_train_then_evaluate_reproduces_results(tmp_path):
    run = tmp_path / "run"
    r = mtl(
        "train", "--dataset", "synthetic-seq", *SEQ, "--encoder", "lstm",
        "-e", "hidden=6", "-e", "bidirectional=true", "--tasks", "genre,energy",
        "--aux", "one-vs-rest,autoencode", "--aux-weight", "0.5", "--task-weight", "energy=2",
        "--stabilise", "0.1", "--snippets", "2", "--combine", "learned",
        "--batch-order", "bucketed", "--epochs", "2", "--run-dir", str(run), *SMALL,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["encoder"] == "lstm" and config["tasks"] == ["genre", "energy"]
    assert config["encoder_options"] == {
        "hidden": 6, "layers": 1, "bidirectional": True, "dropout": 0.0,
        "forget_bias": 1.0,
    }  # fmt: skip
    assert config["aux"] == ["one-vs-rest", "autoencode"] and config["aux_weight"] == 0.5
    assert config["task_weights"] == {"energy": 2.0} and config["stabilise"] == 0.1
    assert (config["snippets"], config["combine"]) == (2, "learned")
    results = json.loads((run / "results.json").read_text())
    assert set(results["test"]) == {"genre", "energy"}
    assert set(results["test_aux"]) == {"genre.ambient", "genre.folk", "genre.rock",
                                        "genre.techno", "autoencode"}  # fmt: skip
    assert len(results["test_members"]) == 2
    assert set(results["test_members"][0]) == {"genre", "energy"}
    assert results["select_by"] == "genre:accuracy"

    e = mtl("evaluate", str(run), "--split", "test", "--json")
    assert e.returncode == 0, e.stderr
    fresh = json.loads(e.stdout)
    for key in ("test", "test_aux", "test_members", "test_loss"):
        assert fresh[key] == results[key], key
    e = mtl("evaluate", str(run), "--split", "test")
    assert "test: identical to results.json" in e.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoder", "mlp"], "gives sequence inputs, which encoder 'mlp' does not read"),
        (["--encoder", "lstm", "-e", "hidden=x"], "option 'hidden' of encoder 'lstm' expects"),
        (["--encoder", "lsmt"], "unknown encoder 'lsmt' (did you mean 'lstm'?)"),
        (["--encoder", "lstm", "--combine", "max-sum"], "'combine' must be one of"),
        (["--encoder", "lstm", "--aux", "autoencoder"], "'aux' must name one-vs-rest or"),
    ],
)
def test_bad_sequence_options_fail_in_one_line(tmp_path, builtin_plugins_only, args, message):
    run = tmp_path / "run"
    argv = ["train", "--dataset", "synthetic-seq", *SEQ, *args, "--run-dir", str(run), *SMALL]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
    assert not run.exists()


def test_encoders_learn_the_temporal_pattern(tmp_path):
    """genre lives in the tempo of a sinusoid: well above chance (0.25) in a few epochs."""
    for encoder, opts in (
        ("cnn1d", ["-e", "channels=8,16", "--epochs", "6"]),
        ("cnn2d", ["-e", "channels=8,16", "--epochs", "6"]),
        ("lstm", ["-e", "hidden=16", "--batch-order", "bucketed", "--epochs", "12"]),
    ):
        run = tmp_path / encoder
        r = mtl(
            "train", "--dataset", "synthetic-seq", "-o", "n=300", "-o", "features=4",
            "--encoder", encoder, *opts, "--optimizer", "adam", "--lr", "0.01",
            "--batch-size", "32", "--run-dir", str(run), *SMALL,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        accuracy = json.loads((run / "results.json").read_text())["test"]["genre"]["accuracy"]
        assert accuracy > 0.4, (encoder, accuracy)


def test_predict_and_report_cover_main_tasks_of_a_snippet_ensemble(tmp_path):
    run = tmp_path / "run"
    r = mtl(
        "train", "--dataset", "synthetic-seq", *SEQ, "--encoder", "cnn1d",
        "--tasks", "genre", "--aux", "one-vs-rest", "--snippets", "2",
        "--epochs", "2", "--run-dir", str(run), *SMALL,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "pred.csv"
    p = mtl("predict", str(run), "--split", "test", "--labels", "--out", str(out))
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(out.open()))
    assert rows and not any("." in col for col in rows[0] if col.startswith("genre"))
    acc = accuracy_score([r["genre_true"] for r in rows], [r["genre"] for r in rows])
    results = json.loads((run / "results.json").read_text())
    assert abs(acc - results["test"]["genre"]["accuracy"]) < 1e-12
    rep = mtl("evaluate", str(run), "--split", "test", "--report", "classification")
    assert rep.returncode == 0, rep.stderr
    report = json.loads((run / "classification_report_test.json").read_text())
    assert "genre" in json.dumps(report) and "genre.rock" not in json.dumps(report)


def test_frozen_encoder_transferred_from_a_genre_run_is_unchanged(tmp_path):
    src, dst = tmp_path / "genre", tmp_path / "energy"
    common = [*SEQ, "--encoder", "cnn1d", "-e", "channels=6,6", *SMALL]
    r = mtl("train", "--dataset", "synthetic-seq", *common, "--tasks", "genre",
            "--epochs", "2", "--run-dir", str(src))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = mtl("train", "--dataset", "synthetic-seq", *common, "--tasks", "energy",
            "--epochs", "2", "--init-from", str(src), "--freeze", "encoder",
            "--keep-checkpoints", "last", "--run-dir", str(dst))  # fmt: skip
    assert r.returncode == 0, r.stderr
    before = torch.load(src / "checkpoints" / "best.pt", weights_only=True)["model"]
    after = torch.load(dst / "checkpoints" / "last.pt", weights_only=True)["model"]
    enc = [k for k in before if k.startswith("encoder.")]
    assert enc
    for k in enc:
        np.testing.assert_array_equal(before[k].numpy(), after[k].numpy())
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["init_from"]["loaded"]
