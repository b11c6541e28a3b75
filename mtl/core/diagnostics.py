"""Per-epoch diagnostics a model reports about itself, recorded in ``metrics.jsonl``.

Any module of the built model (the architecture's module or one of its submodules) may
define ``diagnostics() -> dict[str, Any]``. The trainer calls it once per epoch, right
after the training pass and before evaluation, and records the merged dictionaries
under ``"diagnostics"`` in that epoch's ``train`` record (no key when nothing reports).
Values must be JSON-serialisable (floats, lists, dicts keyed by task name). A module
that accumulates statistics over the epoch's training steps accumulates in training
mode only and resets them when ``diagnostics()`` is called; everything it needs to
resume exactly belongs in its ``state_dict``. Gate weights of expert models are
measured on an evaluation pass instead (:mod:`mtl.core.gates`, key ``"gates"``).
"""

from __future__ import annotations

from typing import Any

from torch import nn


def collect(model: nn.Module) -> dict[str, Any]:
    """Every module's ``diagnostics()`` merged, in module order (``{}`` when none)."""
    out: dict[str, Any] = {}
    for module in model.modules():
        report = getattr(module, "diagnostics", None)
        if callable(report):
            out.update(report())
    return out
