"""Learning-rate schedules and linear warm-up (``--lr-schedule``, ``--warmup-epochs``).

The learning rate of optimiser step ``t`` (counted over the run, from 0) in epoch
``e`` (from 1) is ``base * warm(t) * decay``, ``base`` each parameter group's
configured rate (``--lr``; a weighting's own group gets the same schedule):

- ``warm(t) = (t + 1) / W`` for the ``W = warmup_epochs * steps_per_epoch`` first
  steps, then 1 (warm-up is per step, whatever the schedule);
- ``constant``: ``decay = 1``. Without warm-up the optimiser is never touched: runs are
  bit for bit those of a trainer without schedules;
- ``cosine``: after warm-up, ``decay = (1 + cos(pi * u)) / 2`` per step, ``u`` the
  fraction of the post-warm-up steps done before this one (as Hugging Face's
  ``get_cosine_schedule_with_warmup``): 1 at the first, near 0 at the last step of
  ``--epochs`` (changing ``--epochs`` on resume stretches the rest of the curve);
- ``step``: ``decay = gamma ** ((e - 1 - warmup_epochs) // step_size)`` (whole epochs
  after warm-up);
- ``plateau``: ``decay`` is multiplied by ``gamma`` after ``--lr-patience`` epochs
  without improvement of the validation selection metric (``--select-by``), the
  counter then starting again; epochs of warm-up do not count.

The schedule's only state (plateau's factor and counter) is in the checkpoint, and
everything else is a function of the step and epoch, so resume, also from a mid-epoch
preemption checkpoint, continues the very same rates.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mtl.core.config import TrainConfig
from mtl.core.errors import UserError


def check_schedule(config: TrainConfig) -> None:
    """A warm-up that leaves no epoch to schedule is a mistake (one line, nothing written)."""
    if config.warmup_epochs and config.warmup_epochs >= config.epochs:
        raise UserError(
            f"--warmup-epochs {config.warmup_epochs} must be less than --epochs "
            f"{config.epochs}; warm-up would take the whole run"
        )


class LRSchedule:
    """Sets every parameter group's learning rate before each optimiser step."""

    def __init__(self, config: TrainConfig, optimizer: torch.optim.Optimizer, per_epoch: int):
        self.kind = config.lr_schedule
        self.config = config
        self.optimizer = optimizer
        self.base = [g["lr"] for g in optimizer.param_groups]
        self.per_epoch = per_epoch
        self.warmup_steps = config.warmup_epochs * per_epoch
        self.active = self.kind != "constant" or self.warmup_steps > 0
        self.decay = 1.0  # plateau's accumulated factor
        self.bad = 0  # plateau's epochs without improvement since the last cut
        self.last = self.base[0]  # the rate of the latest step (recorded per epoch)

    def factor(self, step: int, epoch: int) -> float:
        cfg = self.config
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        match self.kind:
            case "cosine":
                total = max(cfg.epochs * self.per_epoch - self.warmup_steps, 1)
                done = min(max(step - self.warmup_steps, 0), total)
                decay = 0.5 * (1.0 + math.cos(math.pi * done / total))
            case "step":
                after = max(epoch - 1 - cfg.warmup_epochs, 0)
                decay = cfg.lr_gamma ** (after // cfg.lr_step_size)
            case "plateau":
                decay = self.decay
            case _:
                decay = 1.0
        return warm * decay

    def apply(self, step: int, epoch: int) -> None:
        """Set the rates of global optimiser step ``step`` (from 0) in ``epoch``."""
        if not self.active:
            return
        f = self.factor(step, epoch)
        for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
            group["lr"] = base * f
        self.last = self.base[0] * f

    def end_epoch(self, epoch: int, improved: bool) -> None:
        """Plateau: count an epoch without validation improvement (after warm-up)."""
        if self.kind != "plateau" or epoch <= self.config.warmup_epochs:
            return
        self.bad = 0 if improved else self.bad + 1
        if self.bad >= self.config.lr_patience:
            self.decay *= self.config.lr_gamma
            self.bad = 0

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "bad": self.bad, "last": self.last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.bad, self.last = state["decay"], state["bad"], state["last"]
