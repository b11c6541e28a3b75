"""Masks over real steps, masked global pooling and per-feature whitening of padded sequences.

Step ``t`` of example ``i`` is real when ``t < lengths[i]``. Padding is kept at exactly
zero through every layer that could move it, so convolutions see at the end of a
sequence what they would see on the same sequence unpadded (zeros).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

POOLS = ("max", "mean")


def time_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(batch, steps)`` bool, True on real steps."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def pooled_lengths(lengths: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Real steps left after a ``ceil_mode`` max-pool of ``stride``: ``ceil(len / stride)``."""
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


def masked_pool(h: torch.Tensor, lengths: torch.Tensor, how: str) -> torch.Tensor:
    """Global max or mean over the real steps of ``h`` ``(batch, channels, steps)``."""
    mask = time_mask(lengths, h.shape[-1]).unsqueeze(1)
    if how == "max":
        return h.masked_fill(~mask, float("-inf")).amax(dim=-1)
    return (h * mask).sum(dim=-1) / lengths.clamp(min=1).unsqueeze(1).to(h.dtype)


class Whiten(nn.Module):
    """``(x - mean) / std`` per feature on real steps; padding stays zero."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        std = np.asarray(std, dtype=np.float64)
        scale = np.where(std > 1e-12, 1.0 / np.maximum(std, 1e-12), 1.0)
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = time_mask(lengths, x.shape[1]).unsqueeze(-1)
        return (x - self.mean) * self.scale * mask


def maybe_whiten(mean: np.ndarray | None, std: np.ndarray | None) -> Whiten | None:
    return Whiten(mean, std) if mean is not None else None
