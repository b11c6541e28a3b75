"""The per-epoch diagnostics hook: every module's ``diagnostics()`` merged, at any depth."""

from __future__ import annotations

import torch
from torch import nn

from mtl.core.architecture import ModelSpec
from mtl.core.diagnostics import collect
from mtl.core.encoded import EncodedModel
from mtl.plugins.architectures.cross_stitch import CrossStitchArchitecture


class Gate(nn.Module):
    def __init__(self, key):
        super().__init__()
        self.key = key
        self.calls = 0

    def diagnostics(self):
        self.calls += 1
        return {self.key: [0.5, 0.5]}


def test_nested_modules_are_collected_and_merged():
    inner = Gate("gate_2")
    model = nn.Sequential(nn.Linear(2, 2), Gate("gate_1"), nn.Sequential(inner))
    assert collect(model) == {"gate_1": [0.5, 0.5], "gate_2": [0.5, 0.5]}
    assert inner.calls == 1
    assert collect(nn.Sequential(nn.Linear(2, 2))) == {}


def test_an_encoded_body_reports_through_the_composed_model():
    spec = ModelSpec("dense", 4, ["a", "b"], [1, 1], [3], [0.0])
    body = CrossStitchArchitecture().build(spec)
    model = EncodedModel(nn.Linear(5, 4), body, ["regression", "regression"])
    report = collect(model)
    assert list(report) == ["mixing"]
    torch.testing.assert_close(
        torch.tensor(report["mixing"]), torch.tensor([[[0.9, 0.1], [0.1, 0.9]]])
    )
