"""The example plugin package, installed for real with pip, used through ``python -m mtl``.

``examples/mtl-example-plugin`` is copied to a temporary directory (building writes
``build/`` next to the sources) and installed with ``pip install --no-deps --target``.
mtl then discovers it only through the installed ``entry_points.txt``: the copy's
``src/`` is deleted before anything runs, so the package's own tests run against the
installed files too.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import mtl

REPO = Path(mtl.__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "mtl-example-plugin"
TARGETS = "valence:regression,genre:multiclass,instrumental:binary"


def run(args: list[str], cwd: Path, pythonpath: list[Path], **env: str):
    environ = {k: v for k, v in os.environ.items() if k != "MTL_PLUGINS"}
    paths = [*map(str, pythonpath), str(REPO), environ.get("PYTHONPATH", "")]
    environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    environ["COLUMNS"] = "250"
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    environ.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pip_problem() -> str | None:
    if importlib.util.find_spec("pip") is None:
        return f"pip is not installed for {sys.executable}"
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools (the example's build backend) is not installed; --no-build-isolation needs it"
    return None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install the example once; run `mtl plugins`, a training run and its tests."""
    problem = pip_problem()
    if problem:
        pytest.skip(f"cannot install the example plugin: {problem}")
    source = tmp_path_factory.mktemp("source") / "mtl-example-plugin"
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    site = tmp_path_factory.mktemp("site")
    work = tmp_path_factory.mktemp("work")
    pip = run(
        [
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(site),
            str(source),
        ],
        cwd=work,
        pythonpath=[],
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    shutil.rmtree(source / "src")  # from here on only the installed copy exists
    shutil.rmtree(source / "build", ignore_errors=True)

    run_dir = work / "run"
    train = [
        "-m",
        "mtl",
        "train",
        "--dataset",
        "csv-features",
        "-o",
        f"path={source / 'data' / 'songs.csv'}",
        "-o",
        f"targets={TARGETS}",
        "--tasks",
        "valence,genre,instrumental",
        "--arch",
        "ST",
        "--widths",
        "16,8",
        "--epochs",
        "2",
        "--report",
        "long-csv",
        "--device",
        "cpu",
        "--run-dir",
        str(run_dir),
    ]
    commands = {
        "plugins": (["-m", "mtl", "plugins", "--json"], {}),
        "train": (train, {}),
        "tests": (["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], {}),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            key: pool.submit(run, args, source if key == "tests" else work, [site], **env)
            for key, (args, env) in commands.items()
        }
        results = {key: future.result() for key, future in futures.items()}
    return types.SimpleNamespace(site=site, run_dir=run_dir, **results)


def test_pip_installed_the_package_and_its_entry_point(installed):
    [info] = installed.site.glob("mtl_example_plugin-*.dist-info")
    assert (installed.site / "mtl_example_plugin" / "__init__.py").is_file()
    entry_points = (info / "entry_points.txt").read_text()
    assert "[mtl]" in entry_points and "example = mtl_example_plugin" in entry_points


def test_mtl_plugins_lists_the_installed_plugin(installed):
    result = installed.plugins
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing failed to load
    data = json.loads(result.stdout)
    assert data["failures"] == []
    example = next(p for p in data["plugins"] if p["name"] == "example")
    assert example["source"] == "entry point"
    assert example["version"] == "0.1.0"
    assert example["module"] == "mtl_example_plugin"
    assert example["hooks"] == ["mtl_register_datasets", "mtl_register_reporters"]
    assert example["registered"] == {"dataset": ["csv-features"], "reporter": ["long-csv"]}
    components = data["components"]
    assert components["dataset"]["csv-features"]["plugin"] == "example"
    assert components["reporter"]["long-csv"]["plugin"] == "example"
    assert components["reporter"]["csv"]["plugin"] == "reporters"  # the built-in one
    assert "CSV" in components["dataset"]["csv-features"]["description"]


def test_training_with_the_installed_dataset_and_reporter(installed):
    result = installed.train
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and "Traceback" not in result.stderr
    run_dir = installed.run_dir
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed" and results["epochs_run"] == 2
    assert set(results["test"]) == {"valence", "genre", "instrumental"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "csv-features"
    assert config["dataset_options"]["targets"] == TARGETS
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {
        "name": "example",
        "source": "entry point",
        "version": "0.1.0",
        "module": "mtl_example_plugin",
    } in manifest["plugins"]

    with open(run_dir / "metrics_long.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "split", "task", "metric", "value"]
    assert {(r["epoch"], r["split"]) for r in rows} == {
        ("1", "train"),
        ("1", "val"),
        ("2", "train"),
        ("2", "val"),
        (str(results["selected_epoch"]), "test"),
    }
    genre_test = {
        r["metric"]: r["value"] for r in rows if r["split"] == "test" and r["task"] == "genre"
    }
    assert float(genre_test["accuracy"]) == pytest.approx(results["test"]["genre"]["accuracy"])
    assert int(genre_test["n"]) == results["test"]["genre"]["n"]
    assert not list(run_dir.rglob("*.tmp"))


def test_the_example_packages_own_tests_pass_against_the_install(installed):
    result = installed.tests
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in summary
    assert "skipped" not in summary and "failed" not in summary and "error" not in summary
