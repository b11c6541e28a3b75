"""Every hook is documented in docs/plugins.md under its exact signature, and tested.

As datasette's ``tests/test_docs.py``: adding a hook spec without a docs section whose
heading is ``## `name(args)` ``, or without a test that mentions it, fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import mtl
from mtl.core import hookspecs

REPO = Path(mtl.__file__).resolve().parents[1]
DOCS = REPO / "docs" / "plugins.md"
TESTS = REPO / "tests"
HEADING = re.compile(r"^## `(\w+)\((.*?)\)`\s*$", re.MULTILINE)

HOOKS = sorted(
    name
    for name, function in vars(hookspecs).items()
    if callable(function) and hasattr(function, f"{mtl.PROJECT}_spec")
)


def signature(name: str) -> str:
    return ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)


@pytest.fixture(scope="module")
def documented() -> dict[str, str]:
    return dict(HEADING.findall(DOCS.read_text()))


def test_hooks_are_found():
    assert "mtl_register_datasets" in HOOKS and len(HOOKS) >= 4


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docs_section_with_its_exact_signature(hook, documented):
    assert hook in documented, f"docs/plugins.md has no section '## `{hook}({signature(hook)})`'"
    assert documented[hook] == signature(hook), (
        f"docs/plugins.md documents {hook}({documented[hook]}); the spec is "
        f"{hook}({signature(hook)})"
    )


def test_docs_document_no_hook_that_does_not_exist(documented):
    stale = sorted(set(documented) - set(HOOKS))
    assert not stale, f"docs/plugins.md documents hooks that are not in hookspecs: {stale}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_mentioned_by_a_test(hook):
    this = Path(__file__).resolve()
    users = [
        path.relative_to(REPO).as_posix()
        for path in sorted(TESTS.rglob("*.py"))
        if path.resolve() != this and hook in path.read_text(errors="replace")
    ]
    assert users, f"no test under tests/ mentions the hook {hook}"


def test_paths_the_docs_point_to_exist():
    text = DOCS.read_text()
    paths = set(re.findall(r"\b((?:examples|mtl|tests)/[\w./-]*\w)", text))
    assert any(p.startswith("examples/mtl-example-plugin") for p in paths)
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"docs/plugins.md points to paths that do not exist: {missing}"


def test_docs_cover_discovery_controls():
    text = DOCS.read_text()
    for needed in ("MTL_PLUGINS", "--strict", "[project.entry-points.mtl]", "mtl plugins"):
        assert needed in text, needed
