"""Building blocks for sharing architectures: the input layer and per-task layers.

``InputLayer`` reads dense or sparse batches (sparse via ``embedding_bag``) and folds
whitening into its computation: the scale multiplies the non-zero values, the centring
is subtracted after the product, so a sparse matrix is never densified.
``TaskLinear`` holds one linear layer per task and runs all tasks in one batched
matrix product.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mtl.core.batches import SparseBatch


class InputLayer(nn.Module):
    """``in_dim`` → ``groups × out_dim`` affine map of dense or sparse batches."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        groups: int = 1,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ):
        super().__init__()
        self.groups, self.out_dim = groups, out_dim
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(in_dim, groups * out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(groups * out_dim).uniform_(-bound, bound))
        self.whiten = mean is not None
        if self.whiten:
            std = np.asarray(std, dtype=np.float64)
            scale = np.where(std > 1e-12, 1.0 / np.maximum(std, 1e-12), 1.0)
            center = np.asarray(mean, dtype=np.float64) * scale
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32))

    def forward(self, batch: torch.Tensor | SparseBatch) -> torch.Tensor:
        if self.groups > 1 and isinstance(batch, torch.Tensor) and batch.dim() == 3:
            # (groups, batch, in): one stream per group (per-task encoders) — group g reads
            # stream g; encoders whiten their own inputs, so no whitening here
            w = self.weight.view(-1, self.groups, self.out_dim).transpose(0, 1)
            return torch.baddbmm(self.bias.view(self.groups, 1, self.out_dim), batch, w)
        if isinstance(batch, SparseBatch):
            vals = (
                batch.vals * self.scale.index_select(0, batch.cols) if self.whiten else batch.vals
            )
            h = F.embedding_bag(
                batch.cols, self.weight, batch.offsets, mode="sum", per_sample_weights=vals
            )
        else:
            x = batch * self.scale if self.whiten else batch
            h = x @ self.weight
        bias = self.bias - self.center @ self.weight if self.whiten else self.bias
        h = h + bias
        if self.groups == 1:
            return h
        return h.view(h.shape[0], self.groups, self.out_dim).transpose(0, 1)


class TaskLinear(nn.Module):
    """One linear layer per task, applied to ``(tasks, batch, in)`` or broadcast ``(batch, in)``."""

    def __init__(self, tasks: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(tasks, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(tasks, 1, out_dim).uniform_(-bound, bound))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.dim() == 2:
            h = h.unsqueeze(0).expand(self.weight.shape[0], -1, -1)
        return torch.baddbmm(self.bias, h, self.weight)
