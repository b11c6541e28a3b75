"""Training-only penalties: what any module of a model may add to the training loss.

A module (an encoder, an architecture, any submodule of either) sets an instance
attribute ``penalty`` to ``None`` in ``__init__`` (the modules that have one are
found once) and to a scalar tensor, or ``None``, in its ``forward``. After a
*training-mode* forward of the whole model, :func:`training_penalty` is the sum of
the penalties set; it is added to the loss of the training step (once per step,
whatever the weighting). In evaluation mode it is ``None``: evaluation and validation
losses never include a penalty, and a value left over from the last training step is
ignored. A module that sets no penalty in some forward should set ``penalty = None``.
"""

from __future__ import annotations

import torch
from torch import nn

_CACHE = "_mtl_penalised"


def penalised_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that hold a ``penalty`` attribute (found once, cached).

    Only instance attributes count: a class-level ``penalty`` property (a composed
    model forwarding its parts' penalties) is not a second source."""
    found = model.__dict__.get(_CACHE)
    if found is None:
        found = [m for m in model.modules() if "penalty" in vars(m)]
        model.__dict__[_CACHE] = found  # not a submodule, not in the state dict
    return found


def training_penalty(model: nn.Module) -> torch.Tensor | None:
    """Sum of the penalties set by the last forward, if ``model`` is in training mode."""
    if not model.training:
        return None
    values = [m.penalty for m in penalised_modules(model) if m.penalty is not None]
    if not values:
        return None
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total
