"""``benchmarks/bench_architectures.py`` runs end to end at its smallest settings.

Throughput is not asserted (timing); what is: every model's two contenders ran on the
same data, trained models of the same size, and the report has a ratio per model."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_architectures.py"


def test_quick_run_reports_every_model_on_the_same_data_and_model(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--quick", "--n", "300", "--dim", "120", "--widths", "8,8,4,4", "--threads", "1"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "MTL_PLUGINS": ""},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mtl/hand" in proc.stdout, proc.stdout
    report = json.loads(out.read_text())
    assert set(report["ratios"]) == {"low", "mmoe", "ple"}
    assert all(r > 0 for r in report["ratios"].values())
    assert report["same_data"] and report["same_model"]
    params = report["parameters"]
    assert params["mmoe"] > params["low"]  # six experts against one shared trunk
    for key, runs in report["runs"].items():
        assert len(runs) == 1 and len(runs[0]["epochs"]) == 2, key
        assert runs[0]["peak_rss_mb"] > 0
