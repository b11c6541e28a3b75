"""Expert architectures (mmoe, omoe, cgc, ple, dselect-k) built directly: shapes over
dense and sparse inputs, gates summing to 1, declared sharing against what autograd
says each task depends on, no loop over experts, one expert == a plain MLP, the
DSelect-k smooth step and its top-k selection, the training-only penalty."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mtl.core.architecture import ModelSpec, resolve_architecture
from mtl.core.batches import SparseBatch
from mtl.core.errors import UserError
from mtl.core.penalty import training_penalty
from mtl.core.sharing import parameter_counts
from mtl.plugins.architectures.cgc import CGC
from mtl.plugins.architectures.dselect_k import DSelectK, smooth_step
from mtl.plugins.architectures.mmoe import MMoE
from mtl.plugins.architectures.omoe import OMoE
from mtl.plugins.architectures.ple import PLE

TASKS = ["a", "b", "c"]
OUT = [1, 3, 1]
DIM = 12

CASES = {
    "mmoe": (MMoE(), {"experts": 3}),
    "mmoe-experts-gate": (MMoE(), {"experts": 3, "gate-input": "experts"}),
    "omoe": (OMoE(), {"experts": 3}),
    "cgc": (CGC(), {"shared-experts": 2, "task-experts": 1}),
    "ple": (PLE(), {"shared-experts": 1, "task-experts": 2, "levels": 3}),
    "ple-2": (PLE(), {"levels": 2}),
    "dselect-k": (DSelectK(), {"experts": 5, "k": 2}),
    "dselect-k-static": (DSelectK(), {"experts": 3, "k": 2, "gate": "static"}),
}


def build(arch, given, widths=(8, 6), dim=DIM):
    options = resolve_architecture(arch, "x", given, TASKS, list(widths), [0.0] * len(widths))
    spec = ModelSpec("dense", dim, TASKS, OUT, list(widths), [0.0] * len(widths), options=options)
    torch.manual_seed(0)
    return arch.build(spec)


def dense(rows=5, dim=DIM):
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(1))


def sparse_of(x: torch.Tensor) -> SparseBatch:
    rows, cols = x.nonzero(as_tuple=True)
    offsets = torch.searchsorted(rows, torch.arange(x.shape[0]))
    return SparseBatch(cols, x[rows, cols], offsets, x.shape[0])


@pytest.mark.parametrize("case", CASES)
def test_shapes_dense_and_sparse_agree_and_gates_sum_to_one(case):
    arch, given = CASES[case]
    model = build(arch, given).eval()
    x = dense() * (torch.rand(5, DIM, generator=torch.Generator().manual_seed(2)) < 0.4)
    out = model(x)
    assert [tuple(o.shape) for o in out] == [(5, k) for k in OUT]
    gates = {k: v.clone() for k, v in model.gate_weights.items()}
    assert set(gates) == set(model.gate_rows)
    for name, g in gates.items():
        assert g.shape[:2] == (len(model.gate_rows[name]), 5)
        assert torch.allclose(g.sum(-1), torch.ones(g.shape[:2]), atol=1e-5)
        assert (g >= 0).all()
    out_sparse = model(sparse_of(x))
    for a, b in zip(out, out_sparse, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def per_task_dependence(model, x):
    """For every parameter element, the set of tasks whose output depends on it."""
    params = dict(model.named_parameters())
    deps = {n: torch.zeros((len(TASKS), *p.shape), dtype=torch.bool) for n, p in params.items()}
    for t in range(len(TASKS)):
        model.zero_grad()
        model(x)[t].pow(2).sum().backward()
        for n, p in params.items():
            if p.grad is not None:
                deps[n][t] = p.grad != 0
    return deps


@pytest.mark.parametrize("case", CASES)
def test_declared_shared_parameters_are_exactly_those_several_tasks_depend_on(case):
    arch, given = CASES[case]
    model = build(arch, given).train(False)
    deps = per_task_dependence(model, dense(16))
    declared = {id(p) for p in model.shared_parameters()}
    for name, p in model.named_parameters():
        by_task = deps[name].reshape(len(TASKS), -1).sum(0)  # tasks per element
        if id(p) in declared:
            assert (by_task >= 2).any(), f"{name} is declared shared but no two tasks use it"
        else:
            assert (by_task <= 1).all(), f"{name} is task-specific but several tasks use it"


def test_ple_without_shared_experts_shares_nothing():
    model = build(PLE(), {"shared-experts": 0, "task-experts": 2, "levels": 2})
    assert model.shared_parameters() == []


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("case", ["mmoe", "omoe", "cgc", "ple", "dselect-k"])
def test_forward_runs_the_same_operations_whatever_the_number_of_experts(case):
    arch, given = CASES[case]
    counts = []
    for n in (2, 7):
        opts = dict(given)
        for key in ("experts", "shared-experts", "task-experts"):
            if key in opts:
                opts[key] = n
        model = build(arch, opts).eval()
        with CountOps() as mode:
            model(dense())
        counts.append(mode.ops)
    assert counts[0] == counts[1]


def test_one_expert_mmoe_is_an_mlp_under_per_task_towers():
    model = build(MMoE(), {"experts": 1}, widths=(8, 6, 4)).eval()  # expert 8,6; tower 4
    x = dense()
    first, second = model.experts.layers
    h = torch.relu(x @ first.weight + first.bias)
    h = torch.relu(h @ second.weight[0] + second.bias[0])
    for t, k in enumerate(OUT):
        tower = model.towers
        z = torch.relu(h @ tower.hidden.weight[t] + tower.hidden.bias[t])
        want = (z @ tower.head.weight[t] + tower.head.bias[t])[:, :k]
        assert torch.allclose(model(x)[t], want, atol=1e-5)


def test_smooth_step_is_exactly_binary_outside_its_width():
    t = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert smooth_step(t, 1.0).tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert 0 < float(smooth_step(torch.tensor(0.2), 1.0)) < 1


def test_dselect_k_with_saturated_selectors_weights_exactly_k_experts():
    model = build(DSelectK(), {"experts": 6, "k": 3, "gate": "static"}).eval()
    m = model.gates.m
    codes = [[0, 2, 5], [1, 3, 4], [5, 0, 3]]  # distinct experts per task
    with torch.no_grad():
        for t, picks in enumerate(codes):
            for i, code in enumerate(picks):
                bits = torch.tensor([(code >> b) & 1 for b in range(m)], dtype=torch.float32)
                model.gates.z[t, 0, i] = (bits * 2 - 1) * 3.0  # far outside the step's width
            model.gates.alpha[t, 0] = torch.tensor([0.3, -0.2, 0.1])
    model(dense())
    g = model.gate_weights["gates"]
    for t, picks in enumerate(codes):
        nonzero = (g[t, 0] > 0).nonzero().flatten().tolist()
        assert sorted(nonzero) == sorted(picks)
        assert float(g[t, 0].sum().detach()) == pytest.approx(1.0)


def test_dselect_k_entropy_penalty_only_in_training():
    model = build(DSelectK(), {"experts": 4, "k": 2, "entropy": 0.5})
    model.train()
    model(dense())
    pen = training_penalty(model)
    assert pen is not None and float(pen) > 0
    pen.backward()  # a penalty reaches the gate's parameters
    assert model.gates.selectors.weight.grad.abs().sum() > 0
    model.eval()
    model(dense())
    assert training_penalty(model) is None
    assert training_penalty(build(DSelectK(), {"experts": 4, "k": 2}).train()) is None


@pytest.mark.parametrize(
    "arch, given, words",
    [
        (MMoE(), {"experts": 0}, "'experts' of architecture 'x' must be at least 1"),
        (DSelectK(), {"experts": 3, "k": 4}, "'k' of architecture 'dselect-k' must be at most"),
        (PLE(), {"levels": 0}, "'levels' of architecture 'x' must be at least 1"),
        (PLE(), {"shared-experts": 0, "task-experts": 0}, "at least one expert"),
        (MMoE(), {"expert-widths": "8,x"}, "'expert-widths'"),
        (MMoE(), {"expert": 2}, "valid options: expert-widths, experts, gate-input"),
    ],
)
def test_bad_options_are_one_clear_error(arch, given, words):
    with pytest.raises(UserError, match=words.replace("(", r"\(")):
        build(arch, given)


def test_per_task_streams_are_refused_before_building():
    with pytest.raises(UserError, match="--encoder-sharing shared"):
        resolve_architecture(MMoE(), "mmoe", {}, TASKS, [8, 4], [0.0, 0.0], streams=3)


def test_parameter_counts_split_the_task_specific_rest_evenly():
    model = build(MMoE(), {"experts": 3})
    counts = parameter_counts(model, TASKS)
    experts = sum(p.numel() for p in model.experts.parameters())
    assert counts["shared"] == experts
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert sum(counts["per_task"].values()) == pytest.approx(counts["total"] - experts)
