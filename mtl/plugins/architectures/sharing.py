"""Hard parameter sharing by pattern: one letter per hidden layer, S shared, T per task.

Leading shared layers run once per batch; task-specific layers of all tasks run as
one batched product; a shared layer after task-specific ones applies the same
weights to every task's stream (as the founding study did).

The model declares what it shares (the contract of :mod:`mtl.core.sharing`): every S
layer's parameters, and, when the pattern starts with S, the activation after the
last leading S layer as the shared representation.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from mtl.core.architecture import Architecture, ModelSpec
from mtl.core.errors import UserError
from mtl.core.layers import InputLayer, TaskLinear

NAMED_PATTERNS = {
    "none": ("TTTT", "single-task: nothing shared (a baseline with one task)"),
    "low": ("SSTT", "low-level sharing: layers 1-2 shared"),
    "high": ("TTSS", "high-level sharing: layers 3-4 shared"),
    "interspersed": ("STTS", "interspersed sharing: layers 1 and 4 shared"),
}
PATTERN_RE = re.compile(r"^[ST]+$")


def pattern_resolver(name: str) -> Architecture | None:
    """any S/T sharing pattern, one letter per hidden layer (e.g. STST)"""
    if PATTERN_RE.match(name):
        return SharingArchitecture(name, f"sharing pattern {name}")
    return None


class SharingNet(nn.Module):
    def __init__(self, spec: ModelSpec, pattern: str):
        super().__init__()
        tasks = len(spec.task_names)
        self.output_dims = list(spec.output_dims)
        self.pattern = pattern
        w = spec.widths
        first_groups = 1 if pattern[0] == "S" else tasks
        self.first = InputLayer(spec.input_dim, w[0], first_groups, spec.input_mean, spec.input_std)
        self.hidden = nn.ModuleList(
            nn.Linear(w[i - 1], w[i]) if pattern[i] == "S" else TaskLinear(tasks, w[i - 1], w[i])
            for i in range(1, len(w))
        )
        self.dropout = nn.ModuleList(
            nn.Dropout(p) if p > 0 else nn.Identity() for p in spec.dropout
        )
        self.head = TaskLinear(tasks, w[-1], max(self.output_dims))
        # layers 0..split-1 are shared by every task's stream (split 0: none)
        self.split = len(pattern) - len(pattern.lstrip("S"))
        self.shared_representation: torch.Tensor | None = None

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of every S layer (the first layer's when the pattern starts with S)."""
        layers = [self.first, *self.hidden]
        return [p for i, m in enumerate(layers) if self.pattern[i] == "S" for p in m.parameters()]

    def has_shared_representation(self) -> bool:
        return self.split > 0

    def forward(self, batch) -> list[torch.Tensor]:
        h = self.dropout[0](torch.relu(self.first(batch)))
        if self.split == 1:
            self.shared_representation = h
        for i, (layer, drop) in enumerate(zip(self.hidden, self.dropout[1:], strict=True)):
            h = drop(torch.relu(layer(h)))
            if i + 2 == self.split:
                self.shared_representation = h
        out = self.head(h)
        return [out[t, :, :k] for t, k in enumerate(self.output_dims)]


class SharingArchitecture(Architecture):
    def __init__(self, pattern: str, description: str):
        self.pattern = pattern
        self.description = f"{description} [{pattern}]"

    def check(self, spec: ModelSpec) -> None:
        if len(self.pattern) != len(spec.widths):
            raise UserError(
                f"sharing pattern {self.pattern} has {len(self.pattern)} layers but "
                f"--widths gives {len(spec.widths)}; give one width per letter"
            )

    def build(self, spec: ModelSpec) -> nn.Module:
        self.check(spec)
        return SharingNet(spec, self.pattern)
