"""``--init-from RUN --freeze all-but-heads`` with the expert architectures: their task
output layers are ``towers.head``, everything else (experts, gates, tower hidden layers)
is loaded from the source run and stays bit-identical while the heads train."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from mtl.cli.main import app

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")

TINY = [
    "--widths", "12,8,6", "-o", "n=240", "-o", "dim=150", "-o", "density=0.05",
    "--report", "", "--epochs", "1",
]  # fmt: skip
ARCHS = {
    "mmoe": ["-a", "experts=3"],
    "ple": ["-a", "levels=2", "-a", "shared-experts=2", "-a", "task-experts=1"],
}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def weights(run, name):
    return torch.load(run / "checkpoints" / name, weights_only=True)["model"]


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_transfer_freezes_all_but_the_towers_heads(tmp_path, arch):
    source, target = tmp_path / "source", tmp_path / "target"
    common = ["--arch", arch, *ARCHS[arch], *TINY]
    result = invoke("train", "--tasks", "pop,ballad", *common, "--run-dir", source)
    assert result.exit_code == 0, result.output
    result = invoke(
        "train", "--tasks", "pop_rock,ballad", *common, "--lr", "0.1", "--run-dir", target,
        "--init-from", source, "--init-part", "all", "--freeze", "all-but-heads",
        "--keep-checkpoints", "last",  # the end state is read back
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    src = weights(source, "best.pt")
    heads = [k for k in src if k.startswith("towers.head.")]
    frozen = [k for k in src if k not in heads]
    assert sorted(heads) == ["towers.head.bias", "towers.head.weight"]
    assert any(k.startswith(("experts.", "levels.0.shared.")) for k in frozen)
    assert any("gates" in k for k in frozen)
    record = json.loads((target / "manifest.json").read_text())["init_from"]
    assert sorted(record["frozen"]) == sorted(frozen)
    assert record["frozen_not_loaded"] == [] and record["skipped"] == {}
    after = weights(target, "last.pt")
    for k in frozen:
        assert torch.equal(after[k], src[k]), k  # bit-identical
    for k in heads:
        assert not torch.equal(after[k], src[k]), k  # the heads trained
