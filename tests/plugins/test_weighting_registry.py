"""The weighting family: registered through ``mtl_register_weightings`` like any plugin."""

import torch

from mtl import hookimpl
from mtl.core.plugins import load_plugins
from mtl.core.weighting import Combination, StepInfo, Weighting

NO_EXTERNAL = {"MTL_PLUGINS": ""}


class Halves(Weighting):
    description = "every task weighs one half"

    def combine(self, info: StepInfo) -> Combination:
        return Combination(weights=info.present.float() / 2)


class ThirdParty:
    @hookimpl
    def mtl_register_weightings(self, registry):
        registry.add("halves", Halves)


def test_a_plugin_weighting_is_registered_and_builds():
    loaded = load_plugins(env=NO_EXTERNAL, extra=[("third", ThirdParty())])
    reg = loaded.registries.weightings
    assert "halves" in reg and reg.owner("halves") == "third"
    method = reg.get("halves")(3, {}, seed=0)
    info = StepInfo(
        losses=torch.ones(3), present=torch.tensor([True, False, True]), epoch=1, step=0
    )
    assert method.combine(info).weights.tolist() == [0.5, 0.0, 0.5]


def test_a_weighting_saves_its_generator_state():
    method = Halves(2, {}, seed=5)
    torch.rand(3, generator=method.generator)
    state = method.state_dict()
    expected = torch.rand(3, generator=method.generator)
    other = Halves(2, {}, seed=9)
    other.load_state_dict(state)
    assert torch.equal(torch.rand(3, generator=other.generator), expected)
