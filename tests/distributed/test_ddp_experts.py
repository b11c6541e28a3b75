"""Expert and soft-sharing architectures under DDP: 2 gloo ranks == 1 process with the
same global batch, gate records (all-reduced from the ranks' shares) and cross-stitch
mixing matrices included."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ddp

TINY = [
    "--dataset", "synthetic", "--widths", "8,6", "-o", "n=200", "-o", "dim=200",
    "-o", "density=0.05", "--dropout", "0", "--report", "jsonl",
    "--seed", "1", "--epochs", "2", "--tasks", "pop,ballad,loudness",
]  # fmt: skip
ARCHS = {
    "ple": ["--arch", "ple", "-a", "shared-experts=2"],
    "cross-stitch": ["--arch", "cross-stitch"],
    "mtan": ["--arch", "mtan"],
}


def _env():
    env = dict(os.environ, MTL_PLUGINS="", OMP_NUM_THREADS="1", MTL_DIST_TIMEOUT="30")
    for key in [k for k in env if k.startswith("SLURM_")] + ["RANK", "WORLD_SIZE"]:
        env.pop(key, None)
    return env


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=180)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_two_ranks_train_like_one_process(tmp_path, arch):
    args = [*TINY, *ARCHS[arch]]
    one = run([sys.executable, "-m", "mtl", "train", *args, "--batch-size", "32",
               "--run-dir", str(tmp_path / "one")])  # fmt: skip
    assert one.returncode == 0, one.stderr
    two = run([sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", "-m", "mtl", "train", *args, "--batch-size", "16",
               "--run-dir", str(tmp_path / "two")])  # fmt: skip
    assert two.returncode == 0, two.stderr
    ra, rb = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert ra["selected_epoch"] == rb["selected_epoch"]
    assert ra["parameters"] == rb["parameters"]
    for task, metrics in ra["test"].items():
        for name, value in metrics.items():
            if isinstance(value, float):
                assert rb["test"][task][name] == pytest.approx(value, rel=1e-5, abs=1e-6)
    ha, hb = (
        [json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
        for d in ("one", "two")
    )
    for x, y in zip(ha, hb, strict=True):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-5)
        for gate, rows in (x.get("gates") or {}).items():
            for row, weights in rows.items():
                assert y["gates"][gate][row] == pytest.approx(weights, rel=1e-5, abs=1e-7)
        mixing = (x.get("diagnostics") or {}).get("mixing")
        if mixing is not None:
            flat = [v for level in mixing for row in level for v in row]
            theirs = [v for level in y["diagnostics"]["mixing"] for row in level for v in row]
            assert theirs == pytest.approx(flat, rel=1e-5, abs=1e-7)
    if arch == "ple":
        assert any("gates" in r for r in hb)
    if arch == "cross-stitch":
        assert any("diagnostics" in r for r in hb)
