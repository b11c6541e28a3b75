"""`mtl plugins show NAME` against the registries it describes, and the unknown-task error
for datasets with many tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.core.data import TaskSpec
from mtl.core.errors import UserError
from mtl.core.experiment import resolve_tasks, tasks_command
from mtl.core.plugins import get_plugins
from mtl.core.registry import unknown_task_message

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def shown(*args):
    result = invoke("plugins", "show", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_dataset_options_defaults_help_and_tasks_are_the_registered_ones():
    (item,) = shown("synthetic")
    dataset = get_plugins().registries.datasets.get("synthetic")
    assert (item["kind"], item["plugin"]) == ("dataset", "datasets")
    assert [(o["name"], o["default"], o["help"]) for o in item["options"]] == [
        (o.name, o.default, o.help) for o in dataset.options
    ]
    by_name = {o["name"]: o for o in item["options"]}
    assert by_name["labels"]["allowed"] == "words, topics" and by_name["n"]["type"] == "int"
    assert by_name["coupling"]["allowed"] == "0 ≤ value ≤ 1"
    offered = dataset.offered_tasks(dataset.resolve({o.name: o.default for o in dataset.options}))
    assert [(t["name"], t["kind"]) for t in item["tasks"]] == [(t.name, t.kind) for t in offered]
    assert item["default_tasks"] == list(dataset.default_tasks)


def test_dataset_options_given_with_o_are_checked():
    result = invoke("plugins", "show", "synthetic", "-o", "n=abc")
    assert result.exit_code == 0  # the options are shown; the task list says what is wrong
    assert "tasks: depend on the data (option 'n' of dataset 'synthetic' expects an integer" in (
        result.stdout.replace("\n", " ")
    )


def test_plain_table_in_a_pipe_has_every_option_with_its_full_help():
    result = invoke("plugins", "show", "lstm")
    assert result.exit_code == 0, result.output
    encoder = get_plugins().registries.encoders.get("lstm")
    lines = result.stdout.splitlines()
    assert lines[0] == "encoder lstm (plugin encoders)"
    assert lines[3].split() == ["option", "type", "default", "allowed", "help"]
    for option in encoder.options:
        row = next(line for line in lines if line.startswith(option.name + " "))
        assert row.endswith(option.help)
    assert "…" not in result.stdout


def test_task_type_metrics_architecture_pattern_reporter_and_kind():
    (binary,) = shown("binary")
    task_type = get_plugins().registries.task_types.get("binary")
    assert binary["primary"] == task_type.primary == "roc_auc"
    assert [(m["name"], m["higher_is_better"]) for m in binary["metrics"]] == [
        (m.name, m.higher_is_better) for m in task_type.metrics
    ]
    (pattern,) = shown("STST")
    assert (pattern["kind"], pattern["plugin"], pattern["options"]) == (
        "architecture", "architectures", []
    )  # fmt: skip
    (reporter,) = shown("mlflow", "--kind", "reporter")
    assert reporter["description"].startswith("MLflow tracking")


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["synthetik"],
            "error: no component named 'synthetik' (did you mean 'synthetic', 'synthetic-seq'?); "
            "'mtl plugins' lists them all",
        ),  # fmt: skip
        (["lstm", "--kind", "dataset"], "error: unknown dataset 'lstm'"),
        (["lstm", "--kind", "gadget"], "error: unknown kind 'gadget'; kinds: dataset,"),
    ],
)
def test_unknown_names_are_one_line_errors(args, message):
    result = invoke("plugins", "show", *args)
    assert result.exit_code == 2 and result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


def test_plugins_listing_still_works_and_show_help_is_light():
    data = json.loads(invoke("plugins", "--json").stdout)
    assert "synthetic" in data["components"]["dataset"]
    code = (
        "import sys\n"
        "from mtl.cli.main import app\n"
        "for args in (['plugins', '--help'], ['plugins', 'show', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "assert 'torch' not in sys.modules, 'heavy import for --help'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "show" in out.stdout and "--dataset-option" in out.stdout


NAMES = [f"tag_{i:03d}" for i in range(400)] + ["pop", "pop_rock", "pop_punk", "ballad", "loudness"]


def test_unknown_task_among_many_shows_close_matches_and_where_to_list_them():
    message = unknown_task_message("msd", "pop_rok", NAMES, "mtl data tasks /data/msd.h5")
    assert message == (
        "dataset 'msd' offers no task 'pop_rok'; close matches: pop_rock, pop_punk, pop "
        "(it offers 405 tasks; list them with 'mtl data tasks /data/msd.h5')"
    )
    assert unknown_task_message("big", "zzz", NAMES).endswith(
        "; no close match (it offers 405 tasks; list them with 'mtl plugins show big')"
    )
    few = unknown_task_message("synthetic", "popp", ["pop", "ballad"])
    assert (
        few
        == "dataset 'synthetic' offers no task 'popp' (did you mean 'pop'?); available: pop, ballad"
    )


def test_resolve_tasks_uses_the_datasets_tasks_command():
    msd = get_plugins().registries.datasets.get("msd")
    command = tasks_command(msd, {"path": "/data/msd.h5"})
    assert command == "mtl data tasks /data/msd.h5"
    specs = [TaskSpec(n, "binary") for n in NAMES]
    with pytest.raises(UserError) as exc:
        resolve_tasks("msd", specs, ["pop", "ballade"], command)
    assert str(exc.value) == (
        "dataset 'msd' offers no task 'ballade'; close matches: ballad "
        "(it offers 405 tasks; list them with 'mtl data tasks /data/msd.h5')"
    )
