"""Per-task learnable scalars for the weightings that train their own weights.

Each task gets its own ``nn.Parameter`` (not one ``(k,)`` tensor): a task absent from
a step is left out of ``Combination.loss``, so its parameter gets no gradient at all
(``grad`` stays ``None`` after ``zero_grad(set_to_none=True)``) and torch optimisers
skip it entirely, momentum and weight decay included. With one shared tensor, Adam's
moments would still move an absent task's entry on a zero gradient. With no task
present, a method returns ``loss=None``: nothing to train in that step.
"""

from __future__ import annotations

import torch
from torch import nn


def task_scalars(num_tasks: int, init: float) -> nn.ParameterList:
    """``num_tasks`` scalar parameters, each starting at ``init``."""
    return nn.ParameterList(nn.Parameter(torch.tensor(float(init))) for _ in range(num_tasks))


def values(params: nn.ParameterList) -> torch.Tensor:
    """The scalars' current values as one detached ``(k,)`` tensor."""
    return torch.stack([p.detach() for p in params])


def present_indices(present: torch.Tensor) -> list[int]:
    """Indices of the present tasks: build ``Combination.loss`` from these parameters
    only (stacking all of them would hand absent ones a zero gradient, not none)."""
    return present.nonzero().flatten().tolist()
