"""Checks of the training options that Lightning and Hugging Face Trainer users expect:
learning-rate schedule and warm-up, gradient accumulation, mixed precision.

Each option lives in its own module (:mod:`mtl.core.schedules`,
:mod:`mtl.core.accumulation`, :mod:`mtl.core.precision`); this one runs their checks
in :func:`mtl.core.experiment.prepare`, before anything is written, and names them
for the manifest.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl.core.accumulation import check_accumulate
from mtl.core.config import TrainConfig
from mtl.core.precision import check_precision
from mtl.core.schedules import check_schedule

KEYS = (
    "lr_schedule", "warmup_epochs", "lr_step_size", "lr_gamma", "lr_patience",
    "accumulate", "precision",
)  # fmt: skip


def check_training_options(config: TrainConfig, static: bool, device: torch.device) -> None:
    """One-line errors for options that cannot work together (``static``: the weighting
    is ``ew`` or ``fixed``, one backward of a weighted sum)."""
    check_schedule(config)
    check_accumulate(config, static)
    check_precision(config, static, device)


def training_options(config: dict[str, Any]) -> dict[str, Any]:
    """The options as the manifest records them (defaults for configs from before them)."""
    defaults = TrainConfig()
    return {k: config.get(k, getattr(defaults, k)) for k in KEYS}
