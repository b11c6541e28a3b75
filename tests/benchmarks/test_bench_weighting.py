"""benchmarks/bench_weighting.py runs at its smallest settings and prints its table."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load():
    spec = importlib.util.spec_from_file_location(
        "bench_weighting", ROOT / "benchmarks/bench_weighting.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_table_has_a_row_per_method_relative_to_ew(capsys):
    bench = load()
    argv = ["--quick", "--models", "sstt3", "--methods", "uw,mgda", "--steps", "1"]
    assert bench.main([*argv, "--warmup", "1", "--same-process", "--batch", "32"]) == 0
    rows = [
        line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("sstt3")
    ]
    assert [r[1] for r in rows] == ["ew", "uw", "mgda"]
    assert rows[0][4] == "1.00" and rows[2][-1] == "(factored)"


def test_unknown_model_is_an_error(capsys):
    assert load().main(["--models", "nope"]) == 2
    assert "error: unknown model 'nope'" in capsys.readouterr().out
