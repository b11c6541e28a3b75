"""MMoE: multi-gate mixture of experts.

Ma, Zhao, Yi, Chen, Hong, Chi. "Modeling Task Relationships in Multi-task Learning
with Multi-gate Mixture-of-Experts." KDD 2018.

``experts`` expert MLPs read the input; each task has its own softmax gate over the
experts (linear in the input, as the paper; or in the mean of the experts' outputs with
``gate-input=experts``) and a tower on the gate-weighted sum of the experts' outputs.
All experts run as one batched product (:class:`~.experts.ExpertBank`), all gates as
one, all towers as one: no loop over experts or tasks.

Sharing (:mod:`mtl.core.sharing`): the experts are shared (every task's loss depends
on them); each task's gate and tower are its own. OMoE (:mod:`.omoe`) is the same
model with one gate for all tasks, which is then shared too.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl.core.architecture import Architecture, ModelSpec
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

EXPERTS = Option("experts", int, 4, "number of experts", min=1)
GATE_INPUT = Option(
    "gate-input",
    str,
    "input",
    "what a gate reads: input (the model input, as the paper) or experts (the mean of "
    "the experts' outputs)",
    choices=("input", "experts"),
)


class MixtureNet(nn.Module):
    """Experts, one gate per task (or one shared gate), per-task towers."""

    def __init__(self, spec: ModelSpec, owner: str, one_gate: bool):
        super().__init__()
        refuse_streams(spec, owner)
        widths, tower = expert_layout(spec, owner)
        n = int(spec.options["experts"])
        tasks = len(spec.task_names)
        self.one_gate = one_gate
        self.gate_input = spec.options.get("gate-input", "input")
        self.experts = ExpertBank(
            n,
            spec.input_dim,
            widths,
            expert_dropout(spec, len(widths)),
            spec.input_mean,
            spec.input_std,
        )
        count = 1 if one_gate else tasks
        if self.gate_input == "input":
            self.gates = Gates(count, spec.input_dim, n, spec.input_mean, spec.input_std)
        else:
            self.gates = Gates(count, widths[-1], n, streams=True)
        self.towers = Towers(tasks, widths[-1], tower, spec.output_dims, tower_dropout(spec))
        self.gate_rows = {"gates": ["shared"] if one_gate else list(spec.task_names)}
        self.gate_weights: dict[str, torch.Tensor] = {}
        self.shared_representation = None

    def shared_parameters(self) -> list[nn.Parameter]:
        """The experts (and the gate, when one gate serves every task)."""
        shared = list(self.experts.parameters())
        return shared + (list(self.gates.parameters()) if self.one_gate else [])

    def has_shared_representation(self) -> bool:
        return False

    def forward(self, batch) -> list[torch.Tensor]:
        e = self.experts(batch)  # (experts, batch, width)
        g = self.gates(batch if self.gate_input == "input" else e.mean(0))  # (gates, b, e)
        self.gate_weights = {"gates": g}
        h = mix(g, e)  # (gates, batch, width)
        return self.towers(h[0] if self.one_gate else h)


class MMoE(Architecture):
    """Multi-gate mixture of experts (Ma et al., KDD 2018): shared experts, one softmax
    gate and one tower per task."""

    description = "multi-gate mixture of experts (Ma et al. 2018): shared experts, a gate per task"
    options = (EXPERTS, EXPERT_WIDTHS, GATE_INPUT)
    one_gate = False

    def check(self, spec: ModelSpec) -> None:
        refuse_streams(spec, f"architecture '{self.name}'")
        expert_layout(spec, f"architecture '{self.name}'")

    @property
    def name(self) -> str:
        return "omoe" if self.one_gate else "mmoe"

    def build(self, spec: ModelSpec) -> nn.Module:
        return MixtureNet(spec, f"architecture '{self.name}'", self.one_gate)
