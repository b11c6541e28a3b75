"""DSelect-k: differentiable top-k selection of experts by smooth-step binary codes.

Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong, Chi. "DSelect-k:
Differentiable Selection in the Mixture of Experts with Applications to Multi-Task
Learning." NeurIPS 2021.

MMoE (:mod:`.mmoe`) with sparse gates. Each task's gate has ``k`` single-expert
selectors; selector ``i`` holds ``m = ceil(log2 experts)`` logits ``z_i`` and puts
weight ``r_i(j) = prod_l [b_l(j) S(z_il) + (1 - b_l(j)) (1 - S(z_il))]`` on code ``j``
(``b(j)`` the binary code of ``j``), where ``S`` is the cubic smooth step of width
``gamma``: exactly 0 below ``-gamma/2``, exactly 1 above ``gamma/2``. The gate is
``sum_i softmax(alpha)_i r_i``: once the smooth steps saturate (the paper shows they
do in training) each selector picks exactly one code, so at most ``k`` experts get
weight. The ``2^m`` codes map to experts modulo ``experts``, so the weights always sum
to 1. ``gate=per-example`` computes ``z`` and ``alpha`` from the input (the paper's
per-example gating), ``gate=static`` learns them per task. ``entropy`` weighs the
paper's entropy regulariser of the selectors, a training-only penalty
(:mod:`mtl.core.penalty`) that speeds up saturation. Gradients are ordinary autograd
through the smooth step: nothing calls backward inside ``forward``.

All experts, selectors and towers are batched (stacked weights, ``einsum``). Sharing:
the experts are shared; each task's gate and tower are its own.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtl.core.architecture import ModelSpec
from mtl.core.errors import UserError
from mtl.core.layers import InputLayer
from mtl.core.options import Option
from mtl.plugins.architectures.experts import (
    EXPERT_WIDTHS,
    ExpertBank,
    Towers,
    expert_dropout,
    expert_layout,
    mix,
    refuse_streams,
    tower_dropout,
)
from mtl.plugins.architectures.mmoe import EXPERTS, MMoE

K = Option("k", int, 2, "experts each task's gate selects (at most experts)", min=1)
GAMMA = Option("gamma", float, 1.0, "width of the smooth step", min=1e-6)
GATE = Option(
    "gate",
    str,
    "per-example",
    "per-example (selectors computed from the input) or static (learned per task)",
    choices=("per-example", "static"),
)
ENTROPY = Option(
    "entropy", float, 0.0, "weight of the selectors' entropy regulariser (training only)", min=0
)


def smooth_step(t: torch.Tensor, gamma: float) -> torch.Tensor:
    """The cubic smooth step: 0 for ``t <= -gamma/2``, 1 for ``t >= gamma/2``."""
    inner = -2.0 / gamma**3 * t**3 + 1.5 / gamma * t + 0.5
    return torch.where(t <= -gamma / 2, 0.0, torch.where(t >= gamma / 2, 1.0, inner))


class DSelectGates(nn.Module):
    """``tasks`` DSelect-k gates over ``experts``: ``(tasks, batch, experts)``."""

    def __init__(self, spec: ModelSpec, experts: int, k: int, gamma: float, per_example: bool):
        super().__init__()
        tasks = len(spec.task_names)
        self.k, self.gamma, self.per_example = k, gamma, per_example
        self.m = m = math.ceil(math.log2(experts)) if experts > 1 else 0
        codes = torch.arange(2**m)
        bits = ((codes[:, None] >> torch.arange(m)[None, :]) & 1).float()  # (codes, m)
        self.register_buffer("bits", bits, persistent=False)
        to_expert = torch.nn.functional.one_hot(codes % experts, experts).float()
        self.register_buffer("to_expert", to_expert, persistent=False)  # (codes, experts)
        if per_example:
            self.selectors = InputLayer(
                spec.input_dim, k * (m + 1), tasks, spec.input_mean, spec.input_std
            )
        else:
            self.z = nn.Parameter(torch.empty(tasks, 1, k, m).uniform_(-gamma / 2, gamma / 2))
            self.alpha = nn.Parameter(torch.zeros(tasks, 1, k))
        self.entropy = 0.0
        self.penalty: torch.Tensor | None = None

    def forward(self, batch, rows: int) -> torch.Tensor:
        if self.per_example:
            out = self.selectors(batch)
            if out.dim() == 2:
                out = out.unsqueeze(0)
            t, b = out.shape[0], out.shape[1]
            out = out.view(t, b, self.k, self.m + 1)
            z, alpha = out[..., : self.m], out[..., self.m]
        else:
            z, alpha = self.z, self.alpha
        s = smooth_step(z, self.gamma).unsqueeze(-2)  # (tasks, b, k, 1, m)
        r = torch.prod(self.bits * s + (1 - self.bits) * (1 - s), dim=-1)  # (t, b, k, codes)
        code_w = torch.einsum("tbk,tbkc->tbc", torch.softmax(alpha, dim=-1), r)
        gate = code_w @ self.to_expert  # (tasks, b, experts)
        self.penalty = None
        if self.training and self.entropy > 0:
            ent = -(r * torch.log(r.clamp_min(1e-12))).sum(-1)
            self.penalty = self.entropy * ent.mean()
        return gate if self.per_example else gate.expand(-1, rows, -1)


class DSelectNet(nn.Module):
    def __init__(self, spec: ModelSpec, owner: str):
        super().__init__()
        refuse_streams(spec, owner)
        widths, tower = expert_layout(spec, owner)
        o = spec.options
        n, k = int(o["experts"]), int(o["k"])
        self.experts = ExpertBank(
            n,
            spec.input_dim,
            widths,
            expert_dropout(spec, len(widths)),
            spec.input_mean,
            spec.input_std,
        )
        self.gates = DSelectGates(spec, n, k, float(o["gamma"]), o["gate"] == "per-example")
        self.gates.entropy = float(o["entropy"])
        self.towers = Towers(
            len(spec.task_names), widths[-1], tower, spec.output_dims, tower_dropout(spec)
        )
        self.gate_rows = {"gates": list(spec.task_names)}
        self.gate_weights: dict[str, torch.Tensor] = {}
        self.shared_representation = None

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.experts.parameters())

    def has_shared_representation(self) -> bool:
        return False

    def forward(self, batch) -> list[torch.Tensor]:
        e = self.experts(batch)  # (experts, batch, width)
        g = self.gates(batch, e.shape[1])
        self.gate_weights = {"gates": g}
        return self.towers(mix(g, e))


class DSelectK(MMoE):
    """DSelect-k (Hazimeh et al., NeurIPS 2021): MMoE with sparse, differentiable top-k
    gates built from smooth-step binary codes of the experts."""

    description = "DSelect-k (Hazimeh et al. 2021): MMoE with sparse top-k smooth-step gates"
    options = (EXPERTS, K, EXPERT_WIDTHS, GATE, GAMMA, ENTROPY)

    @property
    def name(self) -> str:
        return "dselect-k"

    def check(self, spec: ModelSpec) -> None:
        super().check(spec)
        n, k = int(spec.options["experts"]), int(spec.options["k"])
        if k > n:
            raise UserError(
                f"option 'k' of architecture 'dselect-k' must be at most experts ({n}); "
                f"got {k} (valid: 1 ≤ k ≤ {n})"
            )

    def build(self, spec: ModelSpec) -> nn.Module:
        self.check(spec)
        return DSelectNet(spec, "architecture 'dselect-k'")
