"""mtl — a plugin-based multi-task learning platform for music research.

Plugin authors need only ``from mtl import hookimpl``; see ``docs/plugins.md``.
"""

import pluggy

__version__ = "0.1.0"

PROJECT = "mtl"
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["__version__", "hookimpl", "PROJECT"]
