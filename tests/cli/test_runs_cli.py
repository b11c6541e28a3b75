"""The runs browser (`mtl runs list|compare|prune`, `mtl.runs.load_runs`) on real run
directories from tiny `mtl train` runs, and on copies damaged the ways disks damage them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.runs import compare_frames, load_runs

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

TINY = ["--dataset", "dummy", "--widths", "8,8,8,8", "--batch-size", "256", "--report", ""]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, builtin_plugins_for_module):
    """Two finished runs: `a` (1 epoch, low), `study/b` (2 epochs, none: has last.prev.pt)."""
    root = tmp_path_factory.mktemp("runs")
    for args in (["--epochs", "1", "--run-dir", root / "a"],
                 ["--epochs", "2", "--arch", "none", "--run-dir", root / "study" / "b"]):  # fmt: skip
        result = invoke("train", *TINY, *args, "--keep-checkpoints", "all")
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def runs(trained, tmp_path):
    """A fresh copy of the trained runs plus damaged and unfinished ones."""
    root = tmp_path / "runs"
    shutil.copytree(trained, root)
    a = root / "a"
    shutil.copytree(a, root / "unfinished")
    (root / "unfinished" / "results.json").unlink()
    shutil.copytree(a, root / "bad-config")
    (root / "bad-config" / "config.json").write_text('{"dataset": "dum')
    shutil.copytree(a, root / "torn-results")
    text = (a / "results.json").read_text()
    (root / "torn-results" / "results.json").write_text(text[: len(text) // 2])
    shutil.copytree(a, root / "no-best")
    (root / "no-best" / "checkpoints" / "best.pt").unlink()
    shutil.copytree(a, root / "odd-results")  # valid JSON of the wrong shape
    (root / "odd-results" / "results.json").write_text('{"val": [1], "select_by": 3}')
    shutil.copytree(a, root / "odd-config")
    (root / "odd-config" / "config.json").write_text('{"tasks": "pop", "epochs": 1}')
    (root / "odd-config" / "manifest.json").write_text("[]")
    (root / "orphan" / "checkpoints").mkdir(parents=True)  # a run that lost its config
    (root / "orphan" / "checkpoints" / "last.pt").write_bytes(b"x" * 10)
    (root / "notes").mkdir()  # not a run: not listed
    (root / "notes" / "readme.txt").write_text("hello")
    return root


def files_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


EXPECTED = {
    "a": ("completed", ""),
    "bad-config": ("broken", "config.json is not valid JSON"),
    "no-best": ("broken", "checkpoints/best.pt is missing"),
    "odd-config": ("broken", "manifest.json does not hold a JSON object"),
    "odd-results": ("broken", "results.json has no task metrics under 'val'"),
    "orphan": ("broken", "config.json is missing"),
    "study/b": ("completed", ""),
    "torn-results": ("broken", "results.json is not valid JSON"),
    "unfinished": ("unfinished", "no results.json; continue with: mtl train --resume"),
}


def test_list_json_reports_every_run_status_reason_metrics_and_size(runs):
    result = invoke("runs", "list", runs, "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [r["run"] for r in listed] == sorted(EXPECTED)
    for r in listed:
        status, reason = EXPECTED[r["run"]]
        assert r["status"] == status and r["reason"].startswith(reason), r
        assert r["bytes"] == files_bytes(runs / r["run"])
    by_name = {r["run"]: r for r in listed}
    for name, arch, epochs in (("a", "low", 1), ("study/b", "none", 2)):
        saved = json.loads((runs / name / "results.json").read_text())
        r = by_name[name]
        assert (r["dataset"], r["arch"], r["tasks"]) == ("dummy", arch, ["loudness", "year", "pop"])
        assert (r["epochs_run"], r["selected_epoch"]) == (epochs, saved["selected_epoch"])
        assert r["select_by"] == saved["select_by"] == "loudness:rmse"
        assert r["val"] == saved["val"]["loudness"]["rmse"]
        assert r["test"] == saved["test"]["loudness"]["rmse"]
        assert r["metrics"] == {"val": saved["val"], "test": saved["test"]}
    assert by_name["unfinished"]["epochs_run"] == 1  # from metrics.jsonl


def test_list_table_in_a_pipe_shows_full_names_and_reasons(runs):
    result = invoke("runs", "list", runs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "dataset", "tasks", "arch", "weighting", "status", "epoch",
                                "select", "by", "val", "test", "size", "note"]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(EXPECTED)
    for name, (status, reason) in EXPECTED.items():
        assert f" {status} " in rows[name] and reason in rows[name]
    assert "loudness,year,pop" in rows["a"] and "1 of 1" in rows["a"]
    assert rows["a"].split()[4] == "ew"  # the weighting the run recorded
    assert "…" not in result.stdout


def test_load_runs_is_a_dataframe_with_a_column_per_metric(runs):
    frame = load_runs(runs)
    assert list(frame["run"]) == sorted(EXPECTED)
    a = frame.set_index("run").loc["a"]
    saved = json.loads((runs / "a" / "results.json").read_text())
    assert a["test.pop.roc_auc"] == saved["test"]["pop"]["roc_auc"]
    assert a["val.year.rmse"] == saved["val"]["year"]["rmse"]
    assert a["tasks"] == "loudness,year,pop" and a["status"] == "completed"
    assert a["bytes"] == files_bytes(runs / "a")
    assert list(load_runs(runs / "notes").columns[:3]) == ["run", "path", "status"]  # empty


def test_compare_puts_metrics_side_by_side_and_lists_only_differing_config(runs):
    a, b = runs / "a", runs / "study" / "b"
    result = invoke("runs", "compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    cmp = json.loads(result.stdout)
    saved = [json.loads((p / "results.json").read_text()) for p in (a, b)]
    assert len(cmp["metrics"]) == 2 * sum(
        len([m for m in v if m != "n"]) for v in saved[0]["test"].values()
    )
    for row in cmp["metrics"]:
        assert row["values"] == [s[row["split"]][row["task"]][row["metric"]] for s in saved]
    configs = [json.loads((p / "config.json").read_text()) for p in (a, b)]
    differing = {k for k in configs[0] if configs[0][k] != configs[1][k]} - {"run_dir"}
    assert differing == {"arch", "epochs"}
    assert {r["key"]: r["values"] for r in cmp["config"]} == {
        "arch": ["low", "none"],
        "epochs": [1, 2],
    }
    metrics, config = compare_frames([a, b])
    assert metrics.loc[("test", "pop", "roc_auc"), str(b)] == saved[1]["test"]["pop"]["roc_auc"]
    assert list(config.index) == ["arch", "epochs"]
    table = invoke("runs", "compare", a, b)
    assert table.exit_code == 0 and "configuration differences" in table.stdout
    assert any(line.split() == ["arch", "low", "none"] for line in table.stdout.splitlines())


@pytest.mark.parametrize(
    "args,message",
    [
        (["a"], "give at least two run directories to compare"),
        (["a", "notes"], "is not an mtl run directory"),
        (["a", "missing"], "does not exist"),
        (["a", "bad-config"], "config.json is not valid JSON"),
    ],
)
def test_compare_errors_are_one_line(runs, args, message):
    result = invoke("runs", "compare", *(runs / a for a in args))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_prune_dry_run_then_prune_keeps_best_and_unfinished_runs(runs):
    finished = [runs / "a", runs / "study" / "b"]
    expected = sorted(
        str(p / "checkpoints" / n)
        for p in finished
        for n in ("last.pt", "last.prev.pt")
        if (p / "checkpoints" / n).exists()
    )
    assert len(expected) == 3  # b ran two epochs: it has last.prev.pt
    before = {f: os.stat(f).st_size for f in expected}
    dry = invoke("runs", "prune", runs, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert sorted(f["file"] for f in plan["files"]) == expected
    assert plan["bytes"] == sum(before.values()) and plan["dry_run"] is True
    assert all(Path(f).exists() for f in expected)  # nothing deleted
    assert "would free" in invoke("runs", "prune", runs, "--dry-run").output

    done = invoke("runs", "prune", runs)
    assert done.exit_code == 0, done.output
    assert "freed" in done.output and f"({sum(before.values())} bytes) in 3 files" in done.output
    assert not any(Path(f).exists() for f in expected)
    for p in finished:
        assert (p / "checkpoints" / "best.pt").is_file()
    assert (runs / "unfinished" / "checkpoints" / "last.pt").is_file()  # still resumable
    assert (runs / "orphan" / "checkpoints" / "last.pt").is_file()  # broken: untouched
    again = json.loads(invoke("runs", "prune", runs, "--json").stdout)
    assert again["files"] == [] and again["bytes"] == 0
    # the selected model is all evaluate needs
    ev = invoke("evaluate", runs / "a", "--split", "test", "--json")
    assert ev.exit_code == 0, ev.output
    saved = json.loads((runs / "a" / "results.json").read_text())
    assert json.loads(ev.stdout)["test"] == saved["test"]


def test_prune_keep_last_and_hard_links(runs):
    b = runs / "study" / "b" / "checkpoints"
    keep_last = json.loads(invoke("runs", "prune", runs, "--keep-checkpoints", "last", "--dry-run",
                                  "--json").stdout)  # fmt: skip
    assert [f["file"] for f in keep_last["files"]] == [str(b / "last.prev.pt")]
    assert keep_last["bytes"] == (b / "last.prev.pt").stat().st_size
    # last.prev.pt as a second link to last.pt (what a checkpoint save leaves for a moment)
    (b / "last.prev.pt").unlink()
    os.link(b / "last.pt", b / "last.prev.pt")
    linked = json.loads(invoke("runs", "prune", runs / "study", "--dry-run", "--json").stdout)
    assert linked["bytes"] == (b / "last.pt").stat().st_size  # one file freed, counted once
    only_prev = json.loads(invoke("runs", "prune", runs / "study", "--keep-checkpoints", "last",
                                  "--dry-run", "--json").stdout)  # fmt: skip
    assert only_prev["bytes"] == 0  # the data stay reachable through last.pt
    assert (
        json.loads(invoke("runs", "prune", runs, "--keep-checkpoints", "all", "--json").stdout)[
            "files"
        ]
        == []
    )


def test_missing_directory_and_bad_keep_are_one_line_errors(tmp_path):
    for args in (["runs", "list", tmp_path / "nope"], ["runs", "prune", tmp_path / "nope"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "does not exist" in result.output
    result = invoke("runs", "prune", tmp_path, "--keep-checkpoints", "some")
    assert result.exit_code == 2 and "'some' is not one of" in result.output


def test_runs_commands_import_neither_torch_nor_pandas(runs):
    code = (
        "import sys\n"
        "from mtl.cli.main import app\n"
        f"for args in {[['runs', '--help'], ['runs', 'list', '--help'], ['runs', 'compare', '--help'], ['runs', 'prune', '--help'], ['runs', 'list', str(runs)], ['runs', 'prune', str(runs), '--dry-run']]!r}:\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "assert 'torch' not in sys.modules and 'pandas' not in sys.modules, 'heavy import'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "MTL_PLUGINS": ""},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "--keep-checkpoints" in out.stdout and "study/b" in out.stdout
