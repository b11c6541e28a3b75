"""Fixtures shared by the whole suite."""

import pytest

from mtl.core import plugins as plugin_module


@pytest.fixture
def builtin_plugins_only(monkeypatch):
    """Only the built-in plugins, whatever is installed, with a fresh plugin cache.

    Use it with ``pytestmark = pytest.mark.usefixtures("builtin_plugins_only")``.
    """
    monkeypatch.setenv("MTL_PLUGINS", "")
    plugin_module._CACHE.clear()
    yield
    plugin_module._CACHE.clear()
