"""Project hygiene: the README's commands are the ones CI runs, and the code is lint-clean."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    return [
        line.strip()
        for b in blocks
        for line in b.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_readme_has_exactly_two_quick_start_commands_and_ci_runs_the_second():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("mtl dummy")
    assert commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_torch_requirement_admits_the_local_cpu_build():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch>=2.2,<2.15"' in text
    assert "torch==2.13.0" in quick_start_commands()[1]


@pytest.mark.skipif(
    shutil.which("ruff") is None and not Path(sys.prefix, "bin", "ruff").exists(),
    reason="ruff not installed",
)
def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.prefix, "bin", "ruff"))
    out = subprocess.run(
        [ruff, "check", "mtl", "tests", "benchmarks", "examples", "experiments"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
