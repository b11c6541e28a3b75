"""Gradient accumulation (``--accumulate N``): N micro-batches per optimiser step.

The step's batch is ``N x --batch-size`` rows (x ranks under DDP), cut into N
micro-batches; each micro-batch's loss is its share of the whole batch's loss (each
task's loss summed over the micro-batch's labelled examples, divided by the task's
labelled count in the whole batch, as DDP shards are), so the N backwards add up to
the gradient of the one large batch: ``--accumulate 2 --batch-size 8`` takes the steps
of ``--batch-size 16``, within float rounding. A model's penalty (activation
stabilisation) is averaged over the micro-batches, as it is over DDP ranks. Under DDP
the gradients are all-reduced once, on the last micro-batch.

Weightings other than ``ew`` and ``fixed`` compute per-step weights from the whole
step's losses or gradients, which no single micro-batch has; with ``--accumulate`` > 1
they are refused rather than silently changed.
"""

from __future__ import annotations

import torch

from mtl.core.config import TrainConfig
from mtl.core.errors import UserError


def check_accumulate(config: TrainConfig, static: bool) -> None:
    if config.accumulate > 1 and not static:
        raise UserError(
            f"--accumulate {config.accumulate} works with --weighting ew or fixed only; "
            f"weighting '{config.weighting}' needs the whole step's losses at once: "
            "use a larger --batch-size (or more ranks) instead"
        )


def micro_batches(idx: torch.Tensor, n: int) -> list[torch.Tensor]:
    """``idx`` in ``n`` consecutive, non-empty parts (fewer when ``idx`` is short)."""
    if n == 1:
        return [idx]
    return [m for m in torch.tensor_split(idx, n) if len(m)]
