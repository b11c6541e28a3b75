"""Probe weightings (one per path the trainer has) and the registry of every method.

The probes are registered by a test plugin next to the built-ins, so the tests that
are parametrised over the registry cover every path even before the built-in
methods of each kind exist; methods merged later are picked up by name.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtl import hookimpl
from mtl.core.options import Option, resolve_options
from mtl.core.plugins import load_plugins
from mtl.core.weighting import Combination, StepInfo, Weighting

SMALL = {"n": 240, "dim": 300, "density": 0.05, "noise": 0.5}
TASKS = ["pop", "pop_rock", "loudness"]


def renorm(w: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    w = w * present.to(w.dtype)
    return w / w.sum().clamp_min(1e-12) * present.sum()


class SoftLosses(Weighting):
    """Loss-level: weights softmax(-loss) over present tasks, times their number."""

    description = "probe: loss-level"
    options = (Option("temperature", float, 1.0, "softmax temperature", min=0.01),)

    def combine(self, info: StepInfo) -> Combination:
        logits = -info.losses / self.opts["temperature"]
        logits = logits.masked_fill(~info.present, -torch.inf)
        return Combination(weights=torch.softmax(logits, 0) * info.present.sum())


class InverseNorm(Weighting):
    """Gradient method: weights 1/||g_i|| over present tasks (renormalised)."""

    description = "probe: gradient weights"
    needs = "gradients"

    def combine(self, info: StepInfo) -> Combination:
        norms = info.gram.diagonal().clamp_min(1e-24).sqrt()
        return Combination(weights=renorm(1 / norms, info.present))


class UnitDirections(Weighting):
    """Gradient method that returns the gradient: the sum of unit task gradients."""

    description = "probe: combined gradient"
    needs = "gradients"

    def combine(self, info: StepInfo) -> Combination:
        norms = info.jacobian.norm(dim=1, keepdim=True).clamp_min(1e-12)
        rows = info.jacobian / norms * info.present[:, None]
        return Combination(gradient=rows.sum(0))


class RepresentationMean(Weighting):
    """Representation method: weights 1/||z_i|| over present tasks (renormalised)."""

    description = "probe: representation weights"
    needs = "representation"

    def combine(self, info: StepInfo) -> Combination:
        norms = info.jacobian.norm(dim=1).clamp_min(1e-12)
        return Combination(weights=renorm(1 / norms, info.present))


class Learned(Weighting):
    """Stateful: UW-like learnable log-variances, an EMA buffer of losses, an epoch history
    in extra state, and a random jitter (every kind of state a method can hold)."""

    description = "probe: learnable and stateful"

    def __init__(self, num_tasks, options, seed=0):
        super().__init__(num_tasks, options, seed)
        self.log_var = nn.Parameter(torch.zeros(num_tasks))
        self.register_buffer("ema", torch.zeros(num_tasks))
        self.history: list[list[float]] = []

    def combine(self, info: StepInfo) -> Combination:
        p = info.present
        self.ema = torch.where(p, 0.9 * self.ema + 0.1 * info.losses, self.ema)
        jitter = 1 + 0.1 * torch.rand(self.num_tasks, generator=self.generator)
        w = torch.exp(-self.log_var.detach()) * jitter.to(info.losses.device) * p
        loss = ((torch.exp(-self.log_var) * info.losses + self.log_var) * p).sum()
        return Combination(weights=w, loss=loss)

    def end_epoch(self, epoch, epoch_losses):
        self.history.append(epoch_losses.tolist())

    def get_extra_state(self):
        return {**super().get_extra_state(), "history": self.history}

    def set_extra_state(self, state):
        super().set_extra_state(state)
        self.history = state["history"]


class RandomWeights(Weighting):
    """rlw-like: softmax of a normal draw from the run's generator, over present tasks."""

    description = "probe: random"

    def combine(self, info: StepInfo) -> Combination:
        z = torch.randn(self.num_tasks, generator=self.generator).to(info.losses.device)
        z = z.masked_fill(~info.present, -torch.inf)
        return Combination(weights=torch.softmax(z, 0) * info.present.sum())


PROBES = {
    "t-losses": SoftLosses,
    "t-grad": InverseNorm,
    "t-grad-direct": UnitDirections,
    "t-rep": RepresentationMean,
    "t-learned": Learned,
    "t-random": RandomWeights,
}


class ProbePlugin:
    @hookimpl
    def mtl_register_weightings(self, registry):
        for name, cls in PROBES.items():
            registry.add(name, cls)


def probe_plugins():
    return load_plugins(env={"MTL_PLUGINS": ""}, extra=[("probes", ProbePlugin())])


# options a method needs to run at all, by name (methods with required options), for k tasks
REQUIRED_OPTIONS = {"fixed": lambda k: {"weights": ",".join(str(1 + i / 2) for i in range(k))}}


def required_options(name: str, k: int) -> dict:
    make = REQUIRED_OPTIONS.get(name)
    return make(k) if make else {}


@pytest.fixture(scope="module")
def plugins():
    return probe_plugins()


def exercise(method: Weighting, k: int, steps: int = 3) -> None:
    """A few combine/end_epoch calls on random inputs (gradients where needed)."""
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        losses = torch.rand(k, generator=gen) + 0.1
        jac = torch.randn(k, 7, generator=gen) if method.needs != "losses" else None
        info = StepInfo(losses, torch.ones(k, dtype=torch.bool), 1, step, jac)
        comb = method.combine(info)
        if comb.loss is not None:
            comb.loss.backward()
        method.after_step()
    method.end_epoch(1, torch.rand(k, generator=gen) + 0.1)


def build(name: str, registry, k: int = 3, seed: int = 0) -> Weighting:
    cls = registry.get(name)
    return cls(k, resolve_options(cls.options, required_options(name, k), name), seed)


def has_state(name: str, registry) -> bool:
    """Parameters, buffers or extra state beyond the generator, or a generator it draws from."""
    method = build(name, registry)
    if method.static_weights() is not None:
        return False
    before = method.generator.get_state().clone()
    exercise(method, 3)
    extra = set(method.get_extra_state()) - {"generator"}
    drew = not torch.equal(before, method.generator.get_state())
    return bool(list(method.parameters()) or list(method.buffers()) or extra or drew)


def pytest_generate_tests(metafunc):
    registry = probe_plugins().registries.weightings
    if "method" in metafunc.fixturenames:
        metafunc.parametrize("method", registry.names())
    if "stateful_method" in metafunc.fixturenames:
        names = [n for n in registry.names() if has_state(n, registry)]
        metafunc.parametrize("stateful_method", names)


@pytest.fixture
def builder():
    """``builder(name, registry, k)``: a weighting built with the options it needs."""
    return build


@pytest.fixture
def required():
    """``required(name, k)``: the options a method needs to run at all."""
    return required_options


@pytest.fixture
def probe_plugin():
    """The test plugin registering the probes (to load next to other test plugins)."""
    return ProbePlugin()
