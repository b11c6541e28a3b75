"""Plugin loading: built-ins, entry points, MTL_PLUGINS, broken plugins, --strict, name errors.

In-process tests call :func:`mtl.core.plugins.load_plugins` (``extra=`` for plugin
objects, fake distributions on ``sys.path`` for real entry-point discovery) and the CLI
through ``typer.testing.CliRunner``. The end-to-end tests write fake distributions
(``NAME-1.0.dist-info`` with ``entry_points.txt``) into a temporary directory and run
``python -m mtl`` with it on ``PYTHONPATH``: nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mtl
import mtl.core.plugins as core_plugins
from mtl import hookimpl
from mtl.cli import common
from mtl.cli.main import app
from mtl.core.errors import UserError
from mtl.core.plugins import BUILTIN_PLUGINS, load_plugins
from mtl.core.registry import RegistrationError
from mtl.plugins.architectures.sharing import SharingArchitecture
from mtl.plugins.reporters.console import ConsoleReporter
from mtl.plugins.reporters.jsonl import JsonlReporter
from mtl.plugins.reporters.plots import PlotsReporter

REPO = Path(mtl.__file__).resolve().parents[1]
NO_EXTERNAL = {"MTL_PLUGINS": ""}


def flat(text: str) -> str:
    """Rich wraps long lines at the console width; compare text with single spaces."""
    return " ".join(text.split())


def plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module object whose attributes are the given (hookimpl-marked) functions."""
    module = types.ModuleType(name)
    for attr, function in hooks.items():
        setattr(module, attr, function)
    return module


def valid_component(kind: str) -> object:
    """A fresh component of the type the registry of ``kind`` accepts."""
    from mtl.plugins.datasets.synthetic import SyntheticDataset
    from mtl.plugins.tasks.regression import RegressionTask

    return {
        "dataset": SyntheticDataset,
        "task type": RegressionTask,
        "architecture": lambda: SharingArchitecture("SS", "two shared layers"),
        "reporter": lambda: JsonlReporter,
    }[kind]()


def add(name: str, component: object = None):
    """A registration hookimpl that adds ``component`` (a fresh valid one) under ``name``."""

    @hookimpl
    def register(registry):
        registry.add(name, component if component is not None else valid_component(registry.kind))

    return register


def write_distribution(root: Path, name: str, source: str, module: str | None = None) -> str:
    """A fake installed distribution ``name`` with an ``mtl`` entry point to ``module``."""
    module = module or f"{name.replace('-', '_')}_plugin"
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mtl]\n{name} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    return module


@pytest.fixture(scope="module")
def builtins():
    return load_plugins(env=NO_EXTERNAL)


# --- built-ins -----------------------------------------------------------------------


def test_builtins_load_through_the_plugin_path(builtins):
    assert builtins.failures == []
    assert builtins.warning() is None
    assert [p.name for p in builtins.loaded] == [
        "tasks",
        "architectures",
        "encoders",
        "datasets",
        "reporters",
        "weightings",
    ]
    assert [p.module for p in builtins.loaded] == list(BUILTIN_PLUGINS)
    assert {p.source for p in builtins.loaded} == {"builtin"}
    assert {p.version for p in builtins.loaded} == {mtl.__version__}
    hooks = {p.name: p.hooks for p in builtins.loaded}
    assert hooks == {
        "tasks": ["mtl_register_task_types"],
        "architectures": ["mtl_register_architectures"],
        "encoders": ["mtl_register_encoders"],
        "datasets": ["mtl_register_datasets"],
        "reporters": ["mtl_register_reporters"],
        "weightings": ["mtl_register_weightings"],
    }


def test_builtin_datasets(builtins):
    reg = builtins.registries.datasets
    assert reg.names() == [
        "dummy",
        "fma-multitask",
        "fma-spectrograms",
        "msd",
        "msd-genre",
        "synthetic",
        "synthetic-seq",
    ]
    assert reg.owner("synthetic") == "datasets" and reg.owner("dummy") == "datasets"
    names = [t.name for t in reg.get("dummy").offered_tasks({})]
    assert {"loudness", "year", "pop"} <= set(names)


def test_builtin_architectures_and_pattern_resolver(builtins):
    reg = builtins.registries.architectures
    assert reg.names() == [
        "cgc", "cross-stitch", "dselect-k", "high", "interspersed", "low", "mmoe", "mtan", "none",
        "omoe", "ple",
    ]  # fmt: skip
    named = [n for n in reg.names() if isinstance(reg.get(n), SharingArchitecture)]
    patterns = {name: reg.get(name).pattern for name in named}
    assert patterns == {"none": "TTTT", "low": "SSTT", "high": "TTSS", "interspersed": "STTS"}
    stst = reg.get("STST")
    assert isinstance(stst, SharingArchitecture) and stst.pattern == "STST"
    assert reg.get("S").pattern == "S"
    info = next(p for p in builtins.loaded if p.name == "architectures")
    assert info.registered["architecture"][-1] == "<pattern_resolver>"
    with pytest.raises(UserError) as error:
        reg.get("SSXT")
    message = str(error.value)
    assert "unknown architecture 'SSXT'" in message
    assert (
        "available: cgc, cross-stitch, dselect-k, high, interspersed, low, mmoe, mtan, none, "
        "omoe, ple" in message
    )
    assert "or any S/T sharing pattern" in message


def test_builtin_task_types(builtins):
    reg = builtins.registries.task_types
    assert reg.names() == ["binary", "multiclass", "reconstruction", "regression"]
    assert reg.get("regression").primary == "rmse"
    assert reg.get("binary").primary == "roc_auc"
    assert reg.get("multiclass").primary == "accuracy"


def test_builtin_encoders(builtins):
    reg = builtins.registries.encoders
    assert reg.names() == ["cnn1d", "cnn2d", "lstm", "mlp"]
    assert reg.owner("lstm") == "encoders"
    assert reg.get("mlp").input_kinds == ("dense", "sparse")
    assert reg.get("lstm").recurrent and not reg.get("cnn2d").recurrent
    with pytest.raises(UserError, match="unknown encoder 'lsmt' \\(did you mean 'lstm'\\?\\)"):
        reg.get("lsmt")


def test_builtin_reporters_are_classes(builtins):
    reg = builtins.registries.reporters
    assert reg.names() == ["console", "csv", "jsonl", "mlflow", "plots", "tensorboard"]
    assert reg.get("console") is ConsoleReporter
    assert reg.get("jsonl") is JsonlReporter
    assert reg.get("plots") is PlotsReporter


@pytest.mark.parametrize(
    ("family", "name", "expected"),
    [
        ("datasets", "synthetc", "unknown dataset 'synthetc' (did you mean 'synthetic'?); "
         "available: dummy, fma-multitask, fma-spectrograms, msd, msd-genre, synthetic, synthetic-seq"),
        ("architectures", "intersperse", "(did you mean 'interspersed'?)"),
        ("task_types", "regresion", "unknown task type 'regresion' (did you mean 'regression'?)"),
        ("reporters", "jsnl", "unknown reporter 'jsnl' (did you mean 'jsonl'?); "
         "available: console, csv, jsonl, mlflow, plots, tensorboard"),
        ("reporters", "zzz", "unknown reporter 'zzz'; available: console, csv, jsonl, mlflow, plots, tensorboard"),
    ],
)  # fmt: skip
def test_unknown_names_list_what_exists(builtins, family, name, expected):
    with pytest.raises(UserError) as error:
        getattr(builtins.registries, family).get(name)
    assert expected in str(error.value)


# --- plugins given as objects (extra=) ------------------------------------------------


def test_an_external_plugin_adds_components_of_every_family(builtins):
    @hookimpl
    def resolve_arch(registry):
        def numbered(name):
            """arch-N for any N"""
            return (
                builtins.registries.architectures.get("low") if name.startswith("arch-") else None
            )

        registry.add_resolver(numbered)

    good = plugin(
        "good_plugin",
        mtl_register_datasets=add("good-data"),
        mtl_register_architectures=resolve_arch,
        mtl_register_task_types=add("ordinal"),
        mtl_register_reporters=add("good-rep", JsonlReporter),
    )
    loaded = load_plugins(env=NO_EXTERNAL, extra=[("good", good)])
    assert loaded.failures == []
    info = loaded.loaded[-1]
    assert (info.name, info.source, info.module) == ("good", "entry point", "good_plugin")
    assert info.hooks == [
        "mtl_register_datasets",
        "mtl_register_architectures",
        "mtl_register_task_types",
        "mtl_register_reporters",
    ]
    assert info.registered == {
        "dataset": ["good-data"],
        "architecture": ["<numbered>"],
        "task type": ["ordinal"],
        "reporter": ["good-rep"],
    }
    reg = loaded.registries
    assert reg.datasets.owner("good-data") == "good"
    assert reg.architectures.get("arch-7").pattern == "SSTT"
    assert reg.architectures.get("STST").pattern == "STST"  # the built-in resolver still works
    with pytest.raises(UserError, match="; or any S/T sharing pattern.*; or arch-N for any N"):
        reg.architectures.get("nope")


def test_a_misspelled_hook_is_reported_with_a_suggestion_and_skipped():
    typo = plugin(
        "typo_plugin",
        mtl_register_dataset=add("typo-data"),
        mtl_register_reporters=add("typo-rep", JsonlReporter),
    )
    fine = plugin("fine_plugin", mtl_register_datasets=add("fine-data"))
    loaded = load_plugins(env=NO_EXTERNAL, extra=[("typo", typo), ("fine", fine)])
    assert [(f.name, f.reason) for f in loaded.failures] == [
        (
            "typo",
            "implements unknown hook 'mtl_register_dataset' "
            "(did you mean 'mtl_register_datasets'?)",
        )
    ]
    assert "typo-rep" not in loaded.registries.reporters  # none of its hooks ran
    assert "fine-data" in loaded.registries.datasets
    assert [p.name for p in loaded.loaded][-1] == "fine"
    assert loaded.warning() == "1 plugin skipped (typo); run 'mtl plugins' for details"


def test_an_optional_hook_for_a_newer_mtl_is_not_an_error():
    @hookimpl(optionalhook=True)
    def mtl_register_loss_weightings(registry):
        raise AssertionError("never called: no such hook in this mtl")

    loaded = load_plugins(
        env=NO_EXTERNAL,
        extra=[
            (
                "future",
                plugin("future_plugin", mtl_register_loss_weightings=mtl_register_loss_weightings),
            )
        ],
    )
    assert loaded.failures == [] and loaded.loaded[-1].name == "future"


def test_a_hookimpl_with_the_wrong_argument_name_is_reported():
    @hookimpl
    def mtl_register_datasets(reg):
        reg.add("never", object())

    loaded = load_plugins(
        env=NO_EXTERNAL,
        extra=[("args", plugin("args_plugin", mtl_register_datasets=mtl_register_datasets))],
    )
    [failure] = loaded.failures
    assert (
        failure.name == "args" and "invalid plugin" in failure.reason and "'reg'" in failure.reason
    )
    assert "never" not in loaded.registries.datasets


def test_a_duplicate_name_is_reported_and_none_of_the_plugins_registrations_apply():
    dup = plugin(
        "dup_plugin",
        mtl_register_datasets=add("fresh-data"),  # fine on its own...
        mtl_register_reporters=add("console", JsonlReporter),  # ...but this one is taken
    )
    clash = plugin("clash_plugin", mtl_register_datasets=add("synthetic"))
    after = plugin("after_plugin", mtl_register_datasets=add("after-data"))
    loaded = load_plugins(env=NO_EXTERNAL, extra=[("dup", dup), ("clash", clash), ("after", after)])
    reasons = {f.name: f.reason for f in loaded.failures}
    # both plugins are named: the one skipped need not be the one at fault
    assert reasons == {
        "dup": "reporter 'console' is registered by two plugins: 'reporters' (loaded first, "
        "kept) and 'dup' (skipped); either may be the one at fault: rename it in one of them "
        "or uninstall one",
        "clash": "dataset 'synthetic' is registered by two plugins: 'datasets' (loaded first, "
        "kept) and 'clash' (skipped); either may be the one at fault: rename it in one of them "
        "or uninstall one",
    }
    assert {f.name: f.clashes_with for f in loaded.failures} == {
        "dup": "reporters",
        "clash": "datasets",
    }
    reg = loaded.registries
    assert "fresh-data" not in reg.datasets  # staged, then dropped with the plugin
    assert reg.reporters.get("console") is ConsoleReporter
    assert reg.datasets.owner("synthetic") == "datasets"
    assert reg.datasets.owner("after-data") == "after"
    assert [p.name for p in loaded.loaded if p.source != "builtin"] == ["after"]
    assert loaded.warning() == (
        "2 plugins skipped (dup: a name clash with plugin 'reporters', clash: a name clash "
        "with plugin 'datasets'); run 'mtl plugins' for details"
    )


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        (add("bad name!"), "invalid dataset name 'bad name!'"),
        (add(""), "invalid dataset name ''"),
    ],
)
def test_invalid_names_are_rejected(hook, expected):
    loaded = load_plugins(
        env=NO_EXTERNAL, extra=[("bad", plugin("bad_plugin", mtl_register_datasets=hook))]
    )
    assert [(f.name, f.reason) for f in loaded.failures] == [("bad", expected)]


def test_registering_one_name_twice_is_rejected():
    @hookimpl
    def mtl_register_task_types(registry):
        registry.add("twice", valid_component(registry.kind))
        registry.add("twice", valid_component(registry.kind))

    loaded = load_plugins(
        env=NO_EXTERNAL,
        extra=[("twice", plugin("twice_plugin", mtl_register_task_types=mtl_register_task_types))],
    )
    assert loaded.failures[0].reason == "task type 'twice' registered twice"
    assert "twice" not in loaded.registries.task_types


def test_a_hook_that_raises_is_reported():
    @hookimpl
    def mtl_register_reporters(registry):
        raise ValueError("no config file")

    loaded = load_plugins(
        env=NO_EXTERNAL,
        extra=[("raises", plugin("raises_plugin", mtl_register_reporters=mtl_register_reporters))],
    )
    assert loaded.failures[0].reason == "mtl_register_reporters raised ValueError: no config file"


def test_a_plugin_named_like_a_builtin_is_reported():
    loaded = load_plugins(env=NO_EXTERNAL, extra=[("datasets", plugin("other_datasets"))])
    assert [f.name for f in loaded.failures] == ["datasets"]
    assert loaded.failures[0].reason == "a plugin named 'datasets' is already loaded"
    assert loaded.registries.datasets.owner("synthetic") == "datasets"


def test_strict_makes_a_failure_fatal():
    typo = plugin("typo_plugin", mtl_register_dataset=add("typo-data"))
    with pytest.raises(UserError) as error:
        load_plugins(strict=True, env=NO_EXTERNAL, extra=[("typo", typo)])
    assert str(error.value) == (
        "plugin 'typo' failed to load: implements unknown hook 'mtl_register_dataset' "
        "(did you mean 'mtl_register_datasets'?) (strict mode)"
    )
    assert load_plugins(strict=True, env=NO_EXTERNAL).failures == []


def test_registration_error_is_raised_by_the_registry_view(builtins):
    from mtl.core.registry import PluginRegistry

    view = PluginRegistry(builtins.registries.datasets, "someone")
    with pytest.raises(RegistrationError, match="by two plugins: 'datasets' .* and 'someone'"):
        view.add("dummy", valid_component("dataset"))


# --- real entry-point discovery, in process ----------------------------------------------


GOOD_PLUGIN = """
    import numpy as np

    from mtl import hookimpl
    from mtl.core.data import DenseInputs, MultiTaskData, TaskSpec
    from mtl.core.dataset import Dataset


    class Tiny(Dataset):
        description = "tiny dense regression set"

        def offered_tasks(self, options):
            return [TaskSpec("y", "regression")]

        def load(self, options, tasks):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((60, 4))
            y = x @ np.array([1.0, -1.0, 0.5, 0.0])
            return MultiTaskData(
                inputs=DenseInputs(x),
                tasks=[TaskSpec("y", "regression")],
                targets={"y": y},
                masks={"y": np.ones(60, dtype=bool)},
                splits={"train": np.arange(40), "val": np.arange(40, 50), "test": np.arange(50, 60)},
                ids=np.arange(60).astype(str),
            )


    @hookimpl
    def mtl_register_datasets(registry):
        registry.add("{name}-data", Tiny())
"""
BROKEN_PLUGIN = """
    raise RuntimeError("this plugin is broken on purpose")
"""


def test_entry_points_are_discovered_and_filtered_by_mtl_plugins(tmp_path, monkeypatch):
    write_distribution(tmp_path, "epgood", GOOD_PLUGIN.replace("{name}", "epgood"))
    write_distribution(tmp_path, "epbroken", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))

    loaded = load_plugins(env={"MTL_PLUGINS": "epgood, epbroken"})
    info = loaded.loaded[-1]
    assert (info.name, info.source, info.version, info.module) == (
        "epgood",
        "entry point",
        "1.0",
        "epgood_plugin",
    )
    assert loaded.registries.datasets.owner("epgood-data") == "epgood"
    [failure] = loaded.failures
    assert failure.name == "epbroken"
    assert failure.reason == (
        "error importing plugin: RuntimeError: this plugin is broken on purpose"
    )

    only = load_plugins(env={"MTL_PLUGINS": "epgood"})
    assert only.failures == [] and "epgood-data" in only.registries.datasets
    none = load_plugins(env={"MTL_PLUGINS": ""})
    assert none.failures == [] and [p.source for p in none.loaded] == ["builtin"] * len(
        BUILTIN_PLUGINS
    )
    with pytest.raises(UserError, match="plugin 'epbroken' failed to load: error importing"):
        load_plugins(strict=True, env={"MTL_PLUGINS": "epbroken"})


# --- the CLI, in process ----------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch):
    """Invoke ``mtl`` in process with fresh plugin state (no cached plugins, not strict)."""
    monkeypatch.setattr(core_plugins, "_CACHE", {})
    monkeypatch.setitem(common.STATE, "strict", False)
    monkeypatch.setitem(common.STATE, "warned", False)
    monkeypatch.setenv("MTL_PLUGINS", "")

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))

    return invoke


def test_cli_plugins_json_lists_builtins_and_components(cli):
    result = cli("plugins", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["plugins"]] == [
        "tasks",
        "architectures",
        "encoders",
        "datasets",
        "reporters",
        "weightings",
    ]
    assert data["failures"] == []
    components = data["components"]
    assert set(components) >= {"dataset", "architecture", "encoder", "task type", "reporter"}
    assert components["encoder"]["lstm"]["plugin"] == "encoders"
    assert components["dataset"]["synthetic"]["plugin"] == "datasets"
    assert set(components["reporter"]) == {
        "console",
        "csv",
        "jsonl",
        "mlflow",
        "plots",
        "tensorboard",
    }
    assert components["architecture"]["low"]["description"].endswith("[SSTT]")


def test_entry_points_of_the_importlib_metadata_backport_are_loaded(tmp_path, monkeypatch):
    """Once ``importlib_metadata`` is imported (mlflow does), ``entry_points()`` returns the
    backport's EntryPoint objects too: they are loaded, not registered as plugins."""
    backport = pytest.importorskip("importlib_metadata")
    module = write_distribution(tmp_path, "bpgood", GOOD_PLUGIN.replace("{name}", "bpgood"))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = backport.EntryPoint(name="bpgood", value=module, group="mtl")
    monkeypatch.setattr("mtl.core.plugins.metadata.entry_points", lambda group: [ep])
    loaded = load_plugins(env={"MTL_PLUGINS": "bpgood"})
    assert loaded.failures == []
    assert loaded.loaded[-1].name == "bpgood" and loaded.loaded[-1].module == module
    assert "bpgood-data" in loaded.registries.datasets.names()


def test_cli_plugins_table_shows_failures(cli, tmp_path, monkeypatch):
    write_distribution(tmp_path, "clibroken", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MTL_PLUGINS", "clibroken")
    result = cli("plugins")
    assert result.exit_code == 0, result.output
    assert "failed to load (skipped)" in result.stdout
    table = result.stdout.split("failed to load (skipped)")[1]
    assert flat(re.sub(r"[\u2500-\u257f]", " ", table)) == (
        "plugin reason clibroken error importing plugin: RuntimeError: "
        "this plugin is broken on purpose"
    )
    assert flat(result.stderr) == (
        "warning: 1 plugin skipped (clibroken); run 'mtl plugins' for details"
    )

    strict = cli("--strict", "plugins")
    assert strict.exit_code == 2
    assert flat(strict.stderr).startswith("error: plugin 'clibroken' failed to load:")
    assert "Traceback" not in strict.output


SWEEP = """
[base]
dataset = "synthetic"
[task-sets]
one = "pop"
"""


@pytest.mark.parametrize("command", ["env", "sweep status"])
def test_env_and_sweep_status_warn_and_fail_strict_on_broken_plugins(
    cli, tmp_path, monkeypatch, command
):
    write_distribution(tmp_path, "clibroken", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MTL_PLUGINS", "clibroken")
    for var in [v for v in os.environ if v.startswith(("SLURM_", "MTL_PREEMPT"))]:
        monkeypatch.delenv(var)  # env: nothing misconfigured but the plugin
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "s.toml").write_text(SWEEP)
    monkeypatch.chdir(tmp_path)
    args = command.split() + (["s.toml"] if command.startswith("sweep") else [])
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert flat(result.stderr) == (
        "warning: 1 plugin skipped (clibroken); run 'mtl plugins' for details"
    )
    monkeypatch.setattr(core_plugins, "_CACHE", {})
    strict = cli("--strict", *args)
    assert strict.exit_code == 2, strict.output
    assert flat(strict.stderr).startswith("error: plugin 'clibroken' failed to load:")
    assert strict.stdout == "" and "Traceback" not in strict.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dataset", "synthetc"], "error: unknown dataset 'synthetc' (did you mean 'synthetic'?)"),
        (["--arch", "SSXT"], "error: unknown architecture 'SSXT'; available: cgc, cross-stitch, "
         "dselect-k, high, interspersed, low, mmoe, mtan, none, omoe, ple; or any S/T sharing "
         "pattern"),
        (["--report", "consol"], "error: unknown reporter 'consol' (did you mean 'console'?)"),
        (["--dataset", "dummy", "--tasks", "pop,loudnes"], "(did you mean 'loudness'?)"),
        (["--dataset", "dummy", "-o", "sead=1"],
         "error: unknown option 'sead' for dataset 'dummy' (did you mean 'seed'?)"),
    ],
)  # fmt: skip
def test_cli_unknown_names_fail_in_one_line_before_any_work(cli, tmp_path, args, expected):
    run_dir = tmp_path / "run"
    result = cli("train", *args, "--run-dir", str(run_dir), "--epochs", "1")
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert message.startswith("error: ") and expected.removeprefix("error: ") in message
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert not run_dir.exists()


# --- end to end: python -m mtl with fake distributions on PYTHONPATH --------------------------


def mtl_command(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m mtl ARGS`` with ``site`` (fake distributions) on PYTHONPATH."""
    environ = {k: v for k, v in os.environ.items() if k != "MTL_PLUGINS"}
    paths = [str(site), str(REPO), environ.get("PYTHONPATH", "")]
    environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    environ["COLUMNS"] = "250"  # no wrapping of one-line messages
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "mtl", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Every subprocess of the end-to-end tests, run two at a time; results by key."""
    site = tmp_path_factory.mktemp("site")
    work = tmp_path_factory.mktemp("work")
    write_distribution(site, "foo", GOOD_PLUGIN.replace("{name}", "foo"))
    write_distribution(site, "broken", BROKEN_PLUGIN)
    commands = {
        "all": (["plugins", "--json"], {}),
        "none": (["plugins", "--json"], {"MTL_PLUGINS": ""}),
        "foo": (["plugins", "--json"], {"MTL_PLUGINS": "foo"}),
        "strict": (["--strict", "plugins"], {}),
        "train": (
            [
                "train",
                "--dataset",
                "foo-data",
                "--tasks",
                "y",
                "--epochs",
                "1",
                "--widths",
                "8",
                "--arch",
                "S",
                "--report",
                "jsonl",
                "--device",
                "cpu",
                "--run-dir",
                str(work / "run"),
            ],
            {},
        ),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            key: pool.submit(mtl_command, site, work, *args, **env)
            for key, (args, env) in commands.items()
        }
        results = {key: future.result() for key, future in futures.items()}
    return types.SimpleNamespace(results=results, run_dir=work / "run")


def plugin_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_e2e_entry_point_plugin_is_listed_and_broken_one_reported(e2e):
    result = e2e.results["all"]
    data = plugin_json(result)
    foo = next(p for p in data["plugins"] if p["name"] == "foo")
    assert foo["source"] == "entry point" and foo["version"] == "1.0"
    assert foo["module"] == "foo_plugin" and foo["registered"] == {"dataset": ["foo-data"]}
    assert data["components"]["dataset"]["foo-data"] == {
        "plugin": "foo",
        "description": "tiny dense regression set",
    }
    assert data["failures"] == [
        {
            "name": "broken",
            "reason": "error importing plugin: RuntimeError: this plugin is broken on purpose",
        }
    ]
    assert result.stderr.splitlines() == [
        "warning: 1 plugin skipped (broken); run 'mtl plugins' for details"
    ]


def test_e2e_mtl_plugins_empty_hides_every_external_plugin(e2e):
    data = plugin_json(e2e.results["none"])
    assert [p["source"] for p in data["plugins"]] == ["builtin"] * len(BUILTIN_PLUGINS)
    assert data["failures"] == [] and "foo-data" not in data["components"]["dataset"]
    assert e2e.results["none"].stderr == ""


def test_e2e_mtl_plugins_names_select_plugins(e2e):
    data = plugin_json(e2e.results["foo"])
    assert [p["name"] for p in data["plugins"]][-1] == "foo"
    assert data["failures"] == []  # 'broken' was not selected, so never imported


def test_e2e_strict_exits_2_with_one_error_line(e2e):
    result = e2e.results["strict"]
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: plugin 'broken' failed to load: error importing plugin:")
    assert lines[0].endswith("(strict mode)")
    assert "Traceback" not in result.stderr


def test_e2e_other_commands_warn_once_and_still_work(e2e):
    result = e2e.results["train"]
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: 1 plugin skipped (broken); run 'mtl plugins' for details"
    ]
    results = json.loads((e2e.run_dir / "results.json").read_text())
    assert results["status"] == "completed" and results["epochs_run"] == 1
    assert np.isfinite(results["test"]["y"]["rmse"])
    manifest = json.loads((e2e.run_dir / "manifest.json").read_text())
    assert {"name": "foo", "source": "entry point", "version": "1.0", "module": "foo_plugin"} in (
        manifest["plugins"]
    )


@pytest.mark.parametrize(
    ("hook", "component", "message"),
    [
        ("mtl_register_datasets", "class", "dataset 'x' must be an instance of mtl.core.dataset.Dataset, got class SyntheticDataset"),
        ("mtl_register_task_types", object(), "task type 'x' must be an instance of mtl.core.task_type.TaskType, got object"),
        ("mtl_register_reporters", "instance", "reporter 'x' must be a subclass of mtl.core.reporter.Reporter, got JsonlReporter"),
        ("mtl_register_architectures", "low", "architecture 'x' must be an instance of mtl.core.architecture.Architecture, got str"),
        ("mtl_register_encoders", "low", "encoder 'x' must be an instance of mtl.core.encoder.Encoder, got str"),
    ],
)  # fmt: skip
def test_registries_are_typed(hook, component, message):
    from mtl.plugins.datasets.synthetic import SyntheticDataset

    component = {"class": SyntheticDataset, "instance": JsonlReporter()}.get(component, component)
    loaded = load_plugins(
        env=NO_EXTERNAL, extra=[("typed", plugin("typed_plugin", **{hook: add("x", component)}))]
    )
    assert [(f.name, f.reason) for f in loaded.failures] == [("typed", message)]
