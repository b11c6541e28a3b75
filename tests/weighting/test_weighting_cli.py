"""--weighting and -w as a user meets them: bad input is one line and exit 2 with nothing
written; TOML keys, config.json, evaluate and `mtl plugins` carry the method."""

import json

import pytest
from torch import nn
from typer.testing import CliRunner

from mtl import hookimpl
from mtl.cli.main import app
from mtl.core import plugins as plugin_module
from mtl.core.architecture import Architecture
from mtl.core.layers import InputLayer

TINY = ["--widths", "8,8,4,4", "-o", "n=200", "-o", "dim=200", "-o", "density=0.05"]


class Opaque(nn.Module):
    """A third-party model that declares nothing about sharing."""

    def __init__(self, spec):
        super().__init__()
        self.body = InputLayer(spec.input_dim, 4)  # reads sparse batches
        self.heads = nn.ModuleList(nn.Linear(4, d) for d in spec.output_dims)

    def forward(self, batch):
        h = self.body(batch)
        return [head(h) for head in self.heads]


class OpaqueArch(Architecture):
    def build(self, spec):
        return Opaque(spec)


class Extras:
    @hookimpl
    def mtl_register_architectures(self, registry):
        registry.add("opaque", OpaqueArch())


@pytest.fixture
def cli(monkeypatch, probe_plugin):
    """The CLI with the probe weightings and an architecture that declares nothing."""
    monkeypatch.setenv("MTL_PLUGINS", "")
    extra = [("probes", probe_plugin), ("extras", Extras())]
    loaded = plugin_module.load_plugins(env={"MTL_PLUGINS": ""}, extra=extra)
    monkeypatch.setattr(plugin_module, "get_plugins", lambda strict=False: loaded)

    def invoke(*args):
        return CliRunner().invoke(app, list(args))

    return invoke


@pytest.mark.parametrize(
    "args, message",
    [
        (["--weighting", "pcgrd"], "unknown weighting 'pcgrd'"),
        (["--weighting", "t-losss"], "(did you mean 't-losses'?)"),
        (["--weighting", "t-losses", "-w", "temp=2"], "unknown option 'temp' for weighting"),
        (["--weighting", "t-losses", "-w", "temp=2"], "valid options: temperature"),
        (["--weighting", "t-losses", "-w", "temperature=0"], "must be at least 0.01"),
        (["--weighting", "t-losses", "-w", "temperature"], "malformed option 'temperature'"),
        (["--weighting", "fixed", "-w", "weights=1,2"], "gives 2 weights for 3 tasks"),
        (["--weighting", "t-grad", "--arch", "none"], "shares no trainable parameter"),
        (["--weighting", "t-rep", "--arch", "TTSS"], "has no shared representation"),
        (["--weighting", "t-grad", "--arch", "opaque"], "declares none"),
        (["--weighting", "t-losses", "--tasks", "pop"], "only 'pop' is trained"),
    ],
)
def test_bad_weighting_input_is_one_line_exit_2_nothing_written(tmp_path, cli, args, message):
    run_dir = tmp_path / "run"
    tasks = [] if "--tasks" in args else ["--tasks", "pop,ballad,loudness"]
    result = cli("train", *tasks, *TINY, "--epochs", "1", "--run-dir", str(run_dir), *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    assert not run_dir.exists()


def test_loss_methods_run_on_an_architecture_that_declares_nothing(tmp_path, cli):
    run = tmp_path / "run"
    result = cli(
        "train", "--tasks", "pop,ballad", *TINY, "--arch", "opaque", "--epochs", "1",
        "--weighting", "t-losses", "--run-dir", str(run), "--report", "jsonl",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_toml_weighting_is_recorded_and_evaluate_rebuilds_it(tmp_path, cli):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'tasks = "pop,ballad,loudness"\nwidths = [8, 8, 4, 4]\nepochs = 1\n'
        'weighting = "t-losses"\n[weighting-options]\ntemperature = 0.5\n'
        "[dataset-options]\nn = 200\ndim = 200\ndensity = 0.05\n"
    )
    run = tmp_path / "r"
    result = cli("train", "--config", str(toml), "--run-dir", str(run), "--report", "jsonl")
    assert result.exit_code == 0, result.output
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["weighting"] == "t-losses" and cfg["weighting_options"] == {"temperature": 0.5}
    results = json.loads((run / "results.json").read_text())
    assert results["weighting"] == "t-losses"
    assert results["weighting_options"] == {"temperature": 0.5}
    again = cli("evaluate", str(run), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["test"] == results["test"]


def test_plugins_lists_what_each_weighting_needs_and_its_options(cli):
    result = cli("plugins", "--json")
    assert result.exit_code == 0, result.output
    methods = json.loads(result.output)["components"]["weighting"]
    assert methods["ew"]["needs"] == "losses" and methods["ew"]["options"] == []
    assert methods["t-grad"]["needs"] == "gradients"
    assert methods["t-rep"]["needs"] == "representation"
    assert [o["name"] for o in methods["fixed"]["options"]] == ["weights"]
    table = cli("plugins")
    assert table.exit_code == 0 and "[needs" in table.output  # the table shows them too
