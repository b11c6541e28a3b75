"""The whole path through the command line: prepare → info/show/tasks → correlate → train → evaluate."""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from mtl.cli.main import app

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _prepare(small, out, *extra):
    tr, te = small["mxm"]
    return invoke(
        "data",
        "prepare",
        "msd",
        "--mxm",
        tr,
        "--mxm",
        te,
        "--msd",
        small["root"],
        "--out",
        out,
        "--workers",
        "1",
        *extra,
    )


def test_prepare_info_show_tasks_correlate_train_evaluate(small, tmp_path, monkeypatch):
    out = tmp_path / "data" / "msd.h5"
    result = _prepare(small, out)
    assert result.exit_code == 0, result.output
    assert (
        "kept (lyrics and MSD record)" in result.output
        and "lyrics without MSD record" in result.output
    )

    info = json.loads(invoke("data", "info", out, "--json").output)
    assert info["tracks"] == 90 and sum(info["splits"].values()) == 90 and info["vocabulary"] == 50
    assert {t["name"] for t in info["tasks"]} >= {"pop", "loudness", "key"}
    text = invoke("data", "info", out)
    assert text.exit_code == 0 and "tasks" in text.output

    tid = small["songs"][0]["tid"]
    shown = json.loads(invoke("data", "show", out, tid, "--json").output)
    assert (
        shown["msd_id"] == tid and shown["labels"]["key"] == "C" and "pop" in shown["tags"]["terms"]
    )
    assert shown["top_words"][0]["count"] >= shown["top_words"][-1]["count"]
    assert invoke("data", "show", out, tid).exit_code == 0
    missing = invoke("data", "show", out, "TRNOTTHEREAAAAAAAA")
    assert missing.exit_code == 2 and "is not in" in missing.output

    names = invoke(
        "data", "tasks", out, "--kind", "binary", "--min-positives", "30", "--names"
    ).output.strip()
    assert "pop" in names.split(",") and "loudness" not in names
    bad_kind = invoke("data", "tasks", out, "--kind", "ordinal")
    assert bad_kind.exit_code == 2

    heat = tmp_path / "heat.png"
    corr = invoke(
        "correlate",
        out,
        "--target",
        "pop",
        "--top",
        "3",
        "--min-overlap",
        "10",
        "--json",
        "--heatmap",
        heat,
    )
    assert corr.exit_code == 0, corr.output
    data = json.loads(corr.stdout)
    assert (
        data["tight"][0] == "pop"
        and len(data["tight"]) == 4
        and heat.read_bytes()[:4] == b"\x89PNG"
    )
    text = invoke("correlate", out, "--target", "pop", "--top", "2", "--min-overlap", "10")
    tight = next(line for line in text.output.splitlines() if line.startswith("tight: "))[7:]

    monkeypatch.setenv("MTL_DATA", str(out.parent))  # found without a path
    run = tmp_path / "run"
    trained = invoke(
        "train",
        "--dataset",
        "msd",
        "--tasks",
        tight,
        "--arch",
        "low",
        "--widths",
        "16,16,8,8",
        "--epochs",
        "2",
        "--run-dir",
        run,
        "--device",
        "cpu",
        "-o",
        "input=log1p",
    )
    assert trained.exit_code == 0, trained.output
    results = json.loads((run / "results.json").read_text())
    assert set(results["test"]) == set(tight.split(","))
    # the file found through $MTL_DATA is recorded, so evaluate needs no environment
    config = json.loads((run / "config.json").read_text())
    assert config["dataset_options"]["path"] == str(out)
    monkeypatch.delenv("MTL_DATA")
    evaluated = invoke("evaluate", run, "--split", "test")
    assert evaluated.exit_code == 0, evaluated.output
    assert "test: identical to results.json" in evaluated.output


def test_correlations_match_numpy_over_tracks_labelled_for_both(small, tmp_path):
    out = tmp_path / "msd.h5"
    assert _prepare(small, out).exit_code == 0
    data = json.loads(
        invoke("correlate", out, "--target", "loudness", "--json", "--min-overlap", "2").stdout
    )
    from mtl.plugins.datasets.msd.store import PreparedFile

    got = {c["task"]: c for c in data["correlations"]}
    with PreparedFile(out) as f:
        for name in ("pop", "year", "mode", "hip_hop"):
            labels = f.labels(["loudness", name])
            (y0, m0), (y1, m1) = labels["loudness"], labels[name]
            both = m0 & m1
            assert got[name]["n"] == both.sum()
            assert got[name]["r"] == pytest.approx(np.corrcoef(y0[both], y1[both])[0, 1], abs=1e-9)
    assert "key" in data["skipped_multiclass"]
    assert invoke("correlate", out, "--target", "key").exit_code == 2
    assert "did you mean 'pop'" in invoke("correlate", out, "--target", "pops").output


def test_bad_input_is_one_line_exit_2_and_leaves_no_file(small, tmp_path):
    (small["root"] / "data" / "A" / "A" / "A").mkdir(parents=True, exist_ok=True)
    broken = small["mxm"][0]
    broken.write_text(broken.read_text().replace("%", "#", 1))  # no vocabulary line
    out = tmp_path / "msd.h5"
    result = _prepare(small, out)
    assert (
        result.exit_code == 2
        and result.output.startswith("error: ")
        and "'%' vocabulary line" in result.output
    )
    assert "Traceback" not in result.output and not out.exists()


def test_strict_prepare_fails_on_the_first_skipped_track(small, tmp_path):
    train = small["mxm"][0]
    train.write_text(train.read_text() + "TRAAAAAAAAAAAAAAA1,12,1:1.5\n")
    out = tmp_path / "msd.h5"
    lenient = _prepare(small, out)
    assert lenient.exit_code == 0 and "bad word count" in lenient.output
    strict = _prepare(small, tmp_path / "strict.h5", "--strict")
    assert (
        strict.exit_code == 2
        and "mxm_dataset_train.txt:85: track TRAAAAAAAAAAAAAAA1" in strict.output
        and not (tmp_path / "strict.h5").exists()
    )


def test_train_without_a_prepared_file_says_how_to_prepare(tmp_path):
    env = {"MTL_PLUGINS": "", "MTL_MSD": str(tmp_path / "msd.h5"), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-m", "mtl", "train", "--dataset", "msd", "--tasks", "pop"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "mtl data prepare msd" in lines[0]
