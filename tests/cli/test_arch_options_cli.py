"""Architecture options through real processes: ``-a KEY=VALUE``, ``[arch-options]`` and
sweep axes ``arch-options.NAME``; bad input is one line, exit 2, nothing on disk (in a
sweep: before any item runs); options recorded and reused by evaluate; listed by
``mtl plugins show``; the sweep report shows each architecture's size."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TINY = ["--dataset", "synthetic", "-o", "n=120", "-o", "dim=80", "-o", "density=0.1",
        "--tasks", "pop,loudness", "--widths", "6,4", "--epochs", "1", "--report", "jsonl"]  # fmt: skip


def mtl(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "MTL_PLUGINS": "", "COLUMNS": "200"},
        timeout=240,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arch", "mmoe", "-a", "expert=3"], "unknown option 'expert' for architecture 'mmoe'"),
        (["--arch", "mmoe", "-a", "expert=3"], "valid options: expert-widths, experts, gate-input"),
        (["--arch", "mmoe", "-a", "experts=0"], "option 'experts' of architecture 'mmoe' must be at least 1; got 0"),
        (["--arch", "dselect-k", "-a", "experts=3", "-a", "k=4"], "option 'k' of architecture 'dselect-k' must be at most experts (3); got 4"),
        (["--arch", "ple", "-a", "levels=0"], "option 'levels' of architecture 'ple' must be at least 1; got 0"),
        (["--arch", "mmoe", "-a", "experts=2", "-a", "experts=3"], "-a experts is given twice"),
        (["--arch", "low", "-a", "experts=2"], "valid options: none"),
        (["--arch", "cgc", "-a", "shared-experts=0", "-a", "task-experts=0"], "at least one expert"),
    ],
)  # fmt: skip
def test_bad_arch_options_are_one_line_exit_2_and_no_run_directory(tmp_path, args, message):
    out = mtl("train", *TINY, *args, "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert message in " ".join(out.stderr.split())
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_toml_arch_options_are_recorded_and_evaluate_rebuilds_the_model(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('arch = "dselect-k"\n[arch-options]\nexperts = 3\nk = 2\n')
    run = tmp_path / "run"
    out = mtl(
        "train", *TINY, "--config", str(cfg), "-a", "k=1", "--run-dir", str(run), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    saved = json.loads((run / "config.json").read_text())["arch_options"]
    assert saved["experts"] == 3 and saved["k"] == 1 and saved["gate"] == "per-example"
    results = json.loads((run / "results.json").read_text())
    assert results["arch_options"] == saved and results["parameters"]["total"] > 0
    ev = mtl("evaluate", str(run), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr


def test_plugins_show_lists_an_architectures_options(tmp_path):
    out = mtl("plugins", "show", "dselect-k", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (item,) = json.loads(out.stdout)
    names = [o["name"] for o in item["options"]]
    assert names == ["experts", "k", "expert-widths", "gate", "gamma", "entropy"]
    assert "Hazimeh" in item["doc"] or "DSelect-k" in item["doc"]


STUDY = """
target = "pop"
baselines = "none"
[base]
dataset = "synthetic"
epochs = 1
widths = "6,4"
dataset-options = { n = 120, dim = 80, density = 0.1 }
[task-sets]
pair = "pop,loudness"
[axes]
arch = ["mmoe", "dselect-k"]
"arch-options.experts" = [2, 3]
seed = [0]
"""


def test_a_sweep_with_an_unbuildable_item_fails_before_any_item_runs(tmp_path):
    study = tmp_path / "s.toml"
    bad = STUDY.replace('["mmoe", "dselect-k"]', '["dselect-k"]').replace("[2, 3]", "[3, 1]")
    study.write_text(bad.replace("[base]", "[base]\narch-options = { k = 2 }"))
    out = mtl("sweep", "run", str(study), cwd=tmp_path)  # item 0 could run, item 1 cannot
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "option 'k' of architecture 'dselect-k' must be at most experts (1)" in out.stderr
    assert not (tmp_path / "runs").exists()


def test_a_sweep_over_arch_options_reports_each_architectures_size(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    out = mtl("sweep", "run", str(study), "--jobs", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    configs = [
        json.loads((tmp_path / "runs" / "s" / str(i) / "config.json").read_text()) for i in range(4)
    ]
    assert [(c["arch"], c["arch_options"]["experts"]) for c in configs] == [
        ("mmoe", 2), ("mmoe", 3), ("dselect-k", 2), ("dselect-k", 3),
    ]  # fmt: skip
    rep = mtl("sweep", "report", str(study), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "runs" / "s" / "report" / "report.md").read_text()
    assert "## Model size" in text
    sizes = json.loads((tmp_path / "runs" / "s" / "1" / "results.json").read_text())["parameters"]
    assert f"{sizes['total']:,}" in text
