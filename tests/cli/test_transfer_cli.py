"""``mtl train --init-from RUN --freeze all-but-heads`` end to end, resume included."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from mtl.cli.main import app

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

TINY = [
    "--widths", "16,16,16,16", "-o", "n=300", "-o", "dim=200", "-o", "density=0.05",
    "--report", "",
]  # fmt: skip


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def source(tmp_path_factory, builtin_plugins_for_module):
    path = tmp_path_factory.mktemp("transfer") / "source"
    result = invoke("train", "--tasks", "pop", *TINY, "--epochs", "1", "--run-dir", path)
    assert result.exit_code == 0, result.output
    return path


def weights(run, name="best.pt"):
    return torch.load(run / "checkpoints" / name, weights_only=True)["model"]


def test_init_from_all_freeze_all_but_heads_then_resume(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    result = invoke("train", "--tasks", "pop,ballad", *TINY, "--epochs", "1", "--run-dir", source)
    assert result.exit_code == 0, result.output
    result = invoke(
        "train", "--tasks", "pop_rock,ballad", *TINY, "--epochs", "2", "--lr", "0.1",
        "--run-dir", target, "--init-from", source, "--init-part", "all",
        "--freeze", "all-but-heads", "--keep-checkpoints", "last",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "initialised 10 weights from" in result.output

    src = weights(source)
    frozen = [k for k in src if "head" not in k]
    assert frozen and len(frozen) < len(src)
    for name in ("best.pt", "last.pt"):
        after = weights(target, name)
        for k in frozen:
            assert torch.equal(after[k], src[k]), k  # bit-identical
    assert not torch.equal(weights(target, "last.pt")["head.weight"], src["head.weight"])

    manifest = json.loads((target / "manifest.json").read_text())
    record = manifest["init_from"]
    src_manifest = json.loads((source / "manifest.json").read_text())
    assert record["run_dir"] == str(source.resolve())
    assert record["data_fingerprint"] == src_manifest["data_fingerprint"]
    assert record["tasks"] == ["pop", "ballad"] and record["val"]["pop"]["roc_auc"] is not None
    assert sorted(record["frozen"]) == sorted(frozen) and record["frozen_not_loaded"] == []
    config = json.loads((target / "config.json").read_text())
    assert (config["init_from"], config["init_part"], config["freeze"]) == (
        str(source),
        "all",
        "all-but-heads",
    )

    # resume continues from last.pt with the same parameters frozen
    result = invoke("train", "--resume", target, "--epochs", "3")
    assert result.exit_code == 0, result.output
    assert json.loads((target / "results.json").read_text())["epochs_run"] == 3
    after = weights(target, "last.pt")
    assert all(torch.equal(after[k], src[k]) for k in frozen)

    # the transferred run predicts like any other
    assert invoke("predict", target, "--out", tmp_path / "p.csv").exit_code == 0


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--freeze", "encoder"], "this model has no 'encoder' submodule"),
        ([], "--init-part encoder: this model has no 'encoder' submodule"),
        (["--init-part", "all", "--widths", "8,8,8,8"], "no weight of the source run (beyond"),
        (["--init-part", "all", "--freeze", "heads"], "'freeze' must be one of"),
    ],
)
def test_incompatible_transfer_is_one_line_exit_2_nothing_written(source, tmp_path, extra, message):
    target = tmp_path / "target"
    result = invoke(
        "train", "--tasks", "pop", *TINY, "--epochs", "1", "--run-dir", target,
        "--init-from", source, *extra,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not target.exists()


def test_init_from_a_directory_that_is_not_a_run(tmp_path):
    result = invoke(
        "train", "--tasks", "pop", *TINY, "--run-dir", tmp_path / "t", "--init-from", tmp_path,
        "--init-part", "all",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--init-from: " in result.output and "is not an mtl run directory" in result.output
    assert not (tmp_path / "t").exists()


def test_frozen_but_not_loaded_layers_are_warned_about_and_recorded(source, tmp_path):
    target = tmp_path / "target"
    result = invoke(
        "train", "--tasks", "pop,ballad", *TINY, "--epochs", "1", "--run-dir", target,
        "--init-from", source, "--init-part", "all", "--freeze", "all-but-heads",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((target / "manifest.json").read_text())["init_from"]
    # the low architecture's task-specific layers are built for one task in the source
    assert record["frozen_not_loaded"] == [
        "hidden.1.weight",
        "hidden.1.bias",
        "hidden.2.weight",
        "hidden.2.bias",
    ]
    assert "shape" in record["skipped"]["hidden.1.weight"]
    assert "warning: frozen but not loaded" in result.output and "hidden.2.bias" in result.output
