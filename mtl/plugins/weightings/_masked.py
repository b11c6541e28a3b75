"""Small helpers shared by the loss-level weightings: softmax over present tasks."""

from __future__ import annotations

import torch

#: Floor applied to losses before a logarithm or a division (a task whose loss is 0).
EPS = 1e-8


def masked_softmax(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Softmax of ``logits`` over the present tasks; absent tasks get exactly 0.

    With no task present the result is all zeros (nothing to weigh), never NaN.
    """
    if not bool(present.any()):
        return torch.zeros_like(logits)
    out = torch.softmax(logits.masked_fill(~present, float("-inf")), dim=0)
    return out.masked_fill(~present, 0.0)
