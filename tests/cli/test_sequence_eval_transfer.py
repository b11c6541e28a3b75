"""Predict, the classification report and transfer learning on sequence models: only main
tasks are predicted, the ensemble's predictions reproduce results.json, and a frozen
encoder transferred from a genre run stays bit-identical."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import torch
from sklearn.metrics import accuracy_score

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
            "--run-dir", str(dst))  # fmt: skip
    assert r.returncode == 0, r.stderr
    before = torch.load(src / "checkpoints" / "best.pt", weights_only=True)["model"]
    after = torch.load(dst / "checkpoints" / "last.pt", weights_only=True)["model"]
    enc = [k for k in before if k.startswith("encoder.")]
    assert enc
    for k in enc:
        np.testing.assert_array_equal(before[k].numpy(), after[k].numpy())
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["init_from"]["loaded"]
