"""2 gloo ranks == 1 process for every registered weighting (parametrised over the
registry at test time). One distributed group trains every method in turn; the
single-process references train here with the same global batch."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtl.core.config import TrainConfig
from mtl.core.runner import start_run

pytestmark = pytest.mark.ddp

HERE = Path(__file__).resolve().parent
BASE = dict(
    dataset="synthetic",
    dataset_options={"n": 160, "dim": 200, "density": 0.05},
    tasks=["pop", "ballad", "loudness"],
    widths=[8, 8, 4, 4],
    dropout=[0.0],
    epochs=2,
    report=[],
    device="cpu",
    seed=3,
)

SCRIPT = """
import importlib.util, json, sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("weighting_probes", sys.argv[2])
probes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probes)

from mtl.core.config import TrainConfig
from mtl.core.runner import start_run
from mtl.distributed import group

group.setup("cpu")
base = json.loads(Path(sys.argv[3]).read_text())
plugins = probes.probe_plugins()
for name in plugins.registries.weightings.names():
    opts = probes.required_options(name, len(base["tasks"]))
    cfg = TrainConfig(**base, batch_size=8, weighting=name, weighting_options=opts,
                      run_dir=str(Path(sys.argv[1]) / name))
    start_run(cfg, plugins)
group.teardown()
"""


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Every method trained by one group of 2 gloo ranks (8 examples per rank)."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "script.py").write_text(SCRIPT)
    (root / "base.json").write_text(json.dumps(BASE))
    env = dict(os.environ, MTL_PLUGINS="", OMP_NUM_THREADS="1", MTL_DIST_TIMEOUT="60")
    for key in [k for k in env if k.startswith("SLURM_")] + ["RANK", "WORLD_SIZE"]:
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = subprocess.run(
        [*cmd, str(root / "script.py"), str(root / "runs"), str(HERE / "conftest.py"),
         str(root / "base.json")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "runs"


def history(run: Path):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# Rank statistics of the nearly constant scores of a 2-epoch model flip on float-level
# ties (ROC AUC 0.497 vs 0.505 from outputs equal to 1e-7); losses, weights and the
# continuous metrics carry the comparison.
RANKED = {"roc_auc", "spearman"}


def close(a, b, rel=1e-4):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a.keys() - RANKED:
            close(a[k], b[k], rel)
    elif isinstance(a, float) and not math.isnan(a):
        assert b == pytest.approx(a, rel=rel, abs=1e-6)
    elif not isinstance(a, float):
        assert a == b


def test_two_ranks_equal_one_process(tmp_path, two_ranks, plugins, method, required):
    opts = required(method, len(BASE["tasks"]))
    cfg = TrainConfig(
        **BASE,
        batch_size=16,
        weighting=method,
        weighting_options=opts,
        run_dir=str(tmp_path / "one"),
    )
    _, one = start_run(cfg, plugins)
    two = json.loads((two_ranks / method / "results.json").read_text())
    assert two["selected_epoch"] == one["selected_epoch"]
    close(one["test"], two["test"])
    for x, y in zip(history(tmp_path / "one"), history(two_ranks / method), strict=True):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-4)
        close(x["tasks"], y["tasks"])
        close(x.get("weights"), y.get("weights"))
        close(x.get("gradient_cosine"), y.get("gradient_cosine"))
