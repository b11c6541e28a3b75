"""Fixtures shared by the whole suite."""

from contextlib import contextmanager

import pytest

from mtl.core import plugins as plugin_module


@contextmanager
def _only_builtins(mp: pytest.MonkeyPatch):
    mp.setenv("MTL_PLUGINS", "")
    plugin_module._CACHE.clear()
    yield
    plugin_module._CACHE.clear()


@pytest.fixture
def builtin_plugins_only(monkeypatch):
    """Only the built-in plugins, whatever is installed, with a fresh plugin cache.

    Use it with ``pytestmark = pytest.mark.usefixtures("builtin_plugins_only")``.
    """
    with _only_builtins(monkeypatch):
        yield


@pytest.fixture(scope="module")
def builtin_plugins_for_module():
    """The same for a test file's module-scoped fixtures (a run trained once per file)."""
    with pytest.MonkeyPatch.context() as mp, _only_builtins(mp):
        yield
