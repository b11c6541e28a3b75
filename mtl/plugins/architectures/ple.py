"""PLE: progressive layered extraction (CGC stacked in levels).

Tang, Liu, Zhao, Gong. "Progressive Layered Extraction (PLE): A Novel Multi-Task
Learning (MTL) Model for Personalized Recommendations." RecSys 2020.

Each level has ``shared-experts`` experts for all tasks and ``task-experts`` experts
per task. Task ``t``'s gate mixes the shared experts and task ``t``'s own experts into
task ``t``'s stream; below the last level a shared gate mixes every expert into the
shared stream. The next level's task experts read their task's stream, its shared
experts the shared stream. Towers read the last level's task streams. One level is
CGC (:mod:`.cgc`).

Batched throughout: per level, the shared experts are one stacked product, all tasks'
experts another (a task's experts read its own stream), all task gates one; each
task's selection of experts is one gather and one ``einsum``.

Sharing (:mod:`mtl.core.sharing`; what more than one task's loss depends on): the
shared experts and shared gates; below the last level every expert (they feed the
shared gate) and, below the last two levels, the task gates (their stream feeds task
experts that feed a shared gate). Last-level task experts, the task gates of the last
two levels and the towers are task-specific. Without shared experts nothing is shared.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl.core.architecture import Architecture, ModelSpec
from mtl.core.errors import UserError
from mtl.core.options import Option
from mtl.plugins.architectures.experts import (
    EXPERT_WIDTHS,
    ExpertBank,
    Gates,
    Towers,
    expert_dropout,
    expert_layout,
    mix,
    refuse_streams,
    tower_dropout,
)

SHARED_EXPERTS = Option("shared-experts", int, 1, "experts shared by all tasks, per level", min=0)
TASK_EXPERTS = Option("task-experts", int, 1, "experts of each task, per level", min=0)
LEVELS = Option("levels", int, 2, "extraction levels (1 is CGC)", min=1)


class Level(nn.Module):
    """One extraction level: experts, task gates and (below the last level) a shared gate."""

    def __init__(self, spec: ModelSpec, in_dim: int, first: bool, last: bool, widths, drop):
        super().__init__()
        tasks = len(spec.task_names)
        s, m = int(spec.options["shared-experts"]), int(spec.options["task-experts"])
        self.tasks, self.s, self.m, self.last = tasks, s, m, last
        mean, std = (spec.input_mean, spec.input_std) if first else (None, None)
        streams = not first
        self.shared = ExpertBank(s, in_dim, widths, drop, mean, std, streams) if s else None
        self.own = ExpertBank(tasks * m, in_dim, widths, drop, mean, std, streams) if m else None
        self.task_gates = Gates(tasks, in_dim, s + m, mean, std, streams=streams)
        self.shared_gate = (
            None if last else Gates(1, in_dim, s + tasks * m, mean, std, streams=streams)
        )
        # task t mixes the shared experts and its own: rows of the stacked expert outputs
        pick = [list(range(s)) + [s + t * m + j for j in range(m)] for t in range(tasks)]
        self.register_buffer("pick", torch.tensor(pick, dtype=torch.long), persistent=False)

    def forward(self, task_in, shared_in) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        """``task_in``: the model input (first level) or ``(tasks, batch, d)`` task
        streams; ``shared_in``: the model input or the ``(batch, d)`` shared stream.
        Returns the new task streams, the new shared stream (``None`` at the last
        level) and this level's gate weights."""
        parts = []
        if self.shared is not None:
            parts.append(self.shared(shared_in))
        if self.own is not None:
            own_in = task_in
            if isinstance(task_in, torch.Tensor) and task_in.dim() == 3:
                own_in = task_in.repeat_interleave(self.m, dim=0)  # expert t*m+j reads t
            parts.append(self.own(own_in))
        experts = torch.cat(parts) if len(parts) > 1 else parts[0]  # (s + tasks*m, b, w)
        g = self.task_gates(task_in)  # (tasks, batch, s + m)
        tasks_out = mix(g, experts[self.pick])  # (tasks, s + m, b, w) selections
        gates = {"tasks": g}
        shared_out = None
        if self.shared_gate is not None:
            sg = self.shared_gate(shared_in)  # (1, batch, s + tasks*m)
            shared_out = mix(sg, experts)[0]
            gates["shared"] = sg
        return tasks_out, shared_out, gates


class PLENet(nn.Module):
    def __init__(self, spec: ModelSpec, owner: str, levels: int):
        super().__init__()
        refuse_streams(spec, owner)
        check_experts(spec, owner)
        widths, tower = expert_layout(spec, owner)
        drop = expert_dropout(spec, len(widths))
        self.levels = nn.ModuleList(
            Level(spec, spec.input_dim if i == 0 else widths[-1], i == 0, i == levels - 1,
                  widths, drop)
            for i in range(levels)
        )  # fmt: skip
        self.towers = Towers(
            len(spec.task_names), widths[-1], tower, spec.output_dims, tower_dropout(spec)
        )
        names = list(spec.task_names)
        self.gate_rows = {}
        for i in range(levels):
            self.gate_rows[f"level{i + 1}"] = names
            if i < levels - 1:
                self.gate_rows[f"level{i + 1}-shared"] = ["shared"]
        self.gate_weights: dict[str, torch.Tensor] = {}
        self.shared_representation = None

    def shared_parameters(self) -> list[nn.Parameter]:
        """See the module docstring: what more than one task's loss depends on."""
        out: list[nn.Parameter] = []
        n = len(self.levels)
        if not self.levels[0].s:
            return out  # no shared expert: every task's path is its own
        for i, level in enumerate(self.levels):
            out += list(level.shared.parameters())
            if level.shared_gate is not None:
                out += list(level.shared_gate.parameters())
            if i < n - 1 and level.own is not None:
                out += list(level.own.parameters())
            if i < n - 2:
                out += list(level.task_gates.parameters())
        return out

    def has_shared_representation(self) -> bool:
        return False

    def forward(self, batch) -> list[torch.Tensor]:
        task_in = shared_in = batch
        gates = {}
        for i, level in enumerate(self.levels):
            task_in, shared_in, g = level(task_in, shared_in)
            gates[f"level{i + 1}"] = g["tasks"]
            if "shared" in g:
                gates[f"level{i + 1}-shared"] = g["shared"]
        self.gate_weights = gates
        return self.towers(task_in)


def check_experts(spec: ModelSpec, owner: str) -> None:
    if int(spec.options["shared-experts"]) + int(spec.options["task-experts"]) < 1:
        raise UserError(
            f"{owner} needs at least one expert: options 'shared-experts' and 'task-experts' "
            "are both 0 (each must be at least 0, their sum at least 1)"
        )


class PLE(Architecture):
    """Progressive layered extraction (Tang et al., RecSys 2020): levels of shared and
    task-specific experts with per-task and shared gates, one tower per task."""

    description = (
        "progressive layered extraction (Tang et al. 2020): levels of shared and task experts"
    )
    options = (SHARED_EXPERTS, TASK_EXPERTS, LEVELS, EXPERT_WIDTHS)
    name = "ple"

    def levels(self, spec: ModelSpec) -> int:
        return int(spec.options["levels"])

    def check(self, spec: ModelSpec) -> None:
        owner = f"architecture '{self.name}'"
        refuse_streams(spec, owner)
        check_experts(spec, owner)
        expert_layout(spec, owner)
        if self.levels(spec) < 1:
            raise UserError(
                f"option 'levels' of {owner} must be at least 1; got {self.levels(spec)}"
            )

    def build(self, spec: ModelSpec) -> nn.Module:
        self.check(spec)
        return PLENet(spec, f"architecture '{self.name}'", self.levels(spec))
