"""The worked example of docs/plugins.md ("Weighting") runs as written: registered as a
third-party plugin, it trains, keeps the absent-task contract and resumes its state."""

import re
import types
from pathlib import Path

import pytest
import torch

import mtl
from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.runner import start_run
from mtl.core.weighting import StepInfo

DOCS = Path(mtl.__file__).resolve().parents[1] / "docs" / "plugins.md"


def example_module():
    text = DOCS.read_text()
    code = re.search(r"<!-- weighting-example -->\n```python\n(.*?)```", text, re.S).group(1)
    module = types.ModuleType("docs_weighting_example")
    exec(compile(code, str(DOCS), "exec"), module.__dict__)
    return module


def test_the_documented_example_registers_trains_and_keeps_the_contract(tmp_path):
    module = example_module()
    plugins = load_plugins(env={"MTL_PLUGINS": ""}, extra=[("docs-example", module)])
    assert plugins.failures == [] and plugins.registries.weightings.owner("loss-ratio") == (
        "docs-example"
    )
    cfg = TrainConfig(
        dataset="synthetic",
        dataset_options={"n": 200, "dim": 200, "density": 0.05},
        tasks=["pop", "ballad", "loudness"],
        widths=[8, 8, 4, 4],
        epochs=2,
        batch_size=32,
        report=[],
        device="cpu",
        weighting="loss-ratio",
        weighting_options={"alpha": "0.5"},
        run_dir=str(tmp_path / "run"),
    )
    run, results = start_run(cfg, plugins)
    weights = [r["weights"] for r in run.metrics() if r["split"] == "train"]
    assert results["weighting_options"] == {"alpha": 0.5}
    assert all(sum(w.values()) == pytest.approx(3) for w in weights)
    assert weights[1] != {"pop": 1.0, "ballad": 1.0, "loudness": 1.0}
    # the contract: an absent task weighs 0 and its statistic does not move
    method = module.LossRatio(3, {"alpha": 1.0})
    present = torch.tensor([True, False, True])
    out = method.combine(StepInfo(torch.tensor([1.0, 0.0, 2.0]), present, 1, 0))
    assert out.weights[1] == 0 and out.weights.sum() == 2 and torch.isnan(method.first[1])
