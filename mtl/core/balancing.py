"""Choosing a run's weighting: name, options, and whether the model can serve it.

Everything is checked in :func:`mtl.core.experiment.prepare`, before anything is
written: an unknown method or option, an option out of range, a gradient or
representation method with a model that shares nothing (or declares nothing), and a
balancing method with a single task are one-line errors.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mtl.core.errors import UserError
from mtl.core.options import resolve_options
from mtl.core.sharing import check_sharing
from mtl.core.weighting import NEEDS, Weighting


def build_weighting(
    name: str,
    given: dict[str, Any],
    registry: Any,
    task_names: list[str],
    model: nn.Module,
    arch: str,
    seed: int,
) -> tuple[Weighting, dict[str, Any]]:
    """The run's weighting instance and its resolved options."""
    cls = registry.get(name)
    options = resolve_options(cls.options, given, f"weighting '{name}'")
    if cls.needs not in NEEDS:
        raise UserError(
            f"weighting '{name}' declares needs = {cls.needs!r}; it must be one of "
            f"{', '.join(NEEDS)} (a bug in the plugin that registers it)"
        )
    method = cls(len(task_names), options, seed)
    if len(task_names) == 1 and method.static_weights() is None:
        raise UserError(
            f"--weighting {name} balances several tasks, but only '{task_names[0]}' is trained; "
            "add tasks with --tasks or use --weighting ew"
        )
    check_sharing(model, cls.needs, name, arch)
    return method, options
