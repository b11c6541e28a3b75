"""Fixed weights: a constant weight per task, given as an option (``-w weights=1,0.5,2``,
one per trained task, in task order: the ``--tasks``, then auxiliary tasks)."""

from __future__ import annotations

import math
from typing import Any

import torch

from mtl.core.errors import UserError
from mtl.core.options import Option
from mtl.core.weighting import Combination, StepInfo, Weighting


def parse_weights(text: str, num_tasks: int) -> list[float]:
    """``'1,0.5,2'`` → ``[1.0, 0.5, 2.0]``: ``num_tasks`` finite, non-negative numbers."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    where = "option 'weights' of weighting 'fixed'"
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UserError(
            f"{where} must be comma-separated numbers, e.g. 1,0.5,2; got '{text}'"
        ) from None
    if len(values) != num_tasks:
        raise UserError(
            f"{where} gives {len(values)} weights for {num_tasks} tasks; give one per task "
            "in task order (the --tasks, then auxiliary tasks)"
        )
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise UserError(f"{where} must be finite and non-negative; got '{text}'")
    return values


class FixedWeighting(Weighting):
    """Constant weights ``w``: ``sum_i c_i * w_i * loss[i]``."""

    description = "fixed weights, one per task (-w weights=1,0.5,2)"
    options = (
        Option("weights", str, "", "comma-separated weight per task, in task order (required)"),
    )

    def __init__(self, num_tasks: int, options: dict[str, Any], seed: int = 0):
        super().__init__(num_tasks, options, seed)
        if not self.opts.get("weights"):
            raise UserError(
                "weighting 'fixed' needs its weights: -w weights=W1,W2,... (one per task)"
            )
        self.weights = parse_weights(self.opts["weights"], num_tasks)

    def combine(self, info: StepInfo) -> Combination:
        w = torch.tensor(self.weights, dtype=info.losses.dtype, device=info.losses.device)
        return Combination(weights=w * info.present.to(w.dtype))

    def static_weights(self) -> list[float]:
        return list(self.weights)
