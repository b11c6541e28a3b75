"""Build built-in weightings and drive them through scripted sequences of steps.

A scenario is a list of :class:`Step` (losses, presence, epoch, Jacobian, and the epoch
means to deliver after the epoch's last step). :func:`drive` plays it the way the
trainer will: ``combine``, one plain SGD step on the method's own parameters from
``Combination.loss`` (stateless, so ``state_dict`` alone resumes), ``after_step``, and
``end_epoch`` at epoch ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

import torch

from mtl.core.options import resolve_options
from mtl.core.weighting import StepInfo, Weighting
from mtl.plugins.weightings import BUILTINS

LR = 0.1


def method_class(name: str) -> type[Weighting]:
    module, _, cls = BUILTINS[name].partition(":")
    return getattr(import_module(f"mtl.plugins.weightings.{module}"), cls)


def build(name: str, num_tasks: int, seed: int = 0, **given) -> Weighting:
    cls = method_class(name)
    return cls(num_tasks, resolve_options(cls.options, given, f"weighting '{name}'"), seed)


def info(losses, present=None, epoch: int = 1, step: int = 0, jacobian=None) -> StepInfo:
    losses = torch.as_tensor(losses, dtype=torch.float32)
    if present is None:
        present = torch.ones(len(losses), dtype=torch.bool)
    present = torch.as_tensor(present, dtype=torch.bool)
    return StepInfo(losses=losses, present=present, epoch=epoch, step=step, jacobian=jacobian)


@dataclass
class Step:
    losses: torch.Tensor
    present: torch.Tensor
    epoch: int
    jacobian: torch.Tensor
    epoch_means: torch.Tensor | None  # delivered by end_epoch after this step


def scenario(
    num_tasks: int, epochs: int = 4, per_epoch: int = 3, absent=(), seed: int = 0
) -> list[Step]:
    """Positive, noisily decreasing losses and random Jacobians (6 shared parameters).

    ``absent`` lists ``(step, task)`` pairs without labels: loss 0, Jacobian row 0,
    left out of the epoch means (NaN when absent for the whole epoch)."""
    gen = torch.Generator().manual_seed(seed)
    out: list[Step] = []
    for e in range(epochs):
        block = []
        for j in range(per_epoch):
            s = e * per_epoch + j
            scale = torch.linspace(1.0, 3.0, num_tasks) * 0.8**s
            losses = scale * (0.5 + torch.rand(num_tasks, generator=gen))
            jac = torch.randn(num_tasks, 6, generator=gen)
            present = torch.ones(num_tasks, dtype=torch.bool)
            for step, task in absent:
                if step == s:
                    present[task] = False
            losses, jac = losses * present, jac * present[:, None]
            block.append(Step(losses, present, e + 1, jac, None))
        stacked = torch.stack([b.losses for b in block])
        seen = torch.stack([b.present for b in block]).float()
        block[-1].epoch_means = stacked.sum(0) / seen.sum(0)  # 0/0 = NaN: no label
        out += block
    return out


def subset(steps: list[Step], keep: list[int]) -> list[Step]:
    """The same scenario for the tasks in ``keep`` only."""
    return [
        Step(
            s.losses[keep],
            s.present[keep],
            s.epoch,
            s.jacobian[keep],
            None if s.epoch_means is None else s.epoch_means[keep],
        )
        for s in steps
    ]


def moved(steps: list[Step], device: str) -> list[Step]:
    """The scenario with every tensor on ``device``."""
    return [
        Step(
            s.losses.to(device),
            s.present.to(device),
            s.epoch,
            s.jacobian.to(device),
            None if s.epoch_means is None else s.epoch_means.to(device),
        )
        for s in steps
    ]


def play(method: Weighting, s: Step, index: int) -> torch.Tensor:
    """One step: combine, train the method's parameters, after_step, end_epoch."""
    jac = s.jacobian if method.needs != "losses" else None
    comb = method.combine(info(s.losses, s.present, s.epoch, index, jac))
    params = list(method.parameters())
    for p in params:
        p.grad = None
    if comb.loss is not None:
        comb.loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p -= LR * p.grad
    method.after_step()
    if s.epoch_means is not None:
        method.end_epoch(s.epoch, s.epoch_means)
    return comb.weights.detach().clone()


def drive(method: Weighting, steps: list[Step], start: int = 0) -> torch.Tensor:
    """Play ``steps[start:]``; the ``(steps, k)`` weights."""
    return torch.stack([play(method, s, start + i) for i, s in enumerate(steps[start:])])
