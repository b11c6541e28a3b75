"""Transfer learning on small modules that follow the contract: an ``encoder`` and a head."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtl.core.config import build_config
from mtl.core.errors import UserError
from mtl.core.train import make_optimizer
from mtl.core.transfer import (
    apply_transfer,
    freeze,
    is_head,
    select_weights,
    setup_transfer,
)


class Encoded(nn.Module):
    """An encoder (linear + batch-norm), a shared trunk and one head per task."""

    def __init__(self, inputs: int = 6, hidden: int = 8, tasks: int = 2, outputs: int = 3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(inputs, hidden), nn.BatchNorm1d(hidden))
        self.trunk = nn.Linear(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, outputs) for _ in range(tasks))

    def forward(self, x):
        h = torch.relu(self.trunk(torch.relu(self.encoder(x))))
        return [head(h) for head in self.heads]


class Plain(nn.Module):
    """Like today's MLPs: no encoder, one ``head``."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.first = nn.Linear(6, hidden)
        self.head = nn.Linear(hidden, 1)


def _source() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    model = Encoded()
    with torch.no_grad():
        model.encoder[1].running_mean.add_(3.0)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_encoder_part_loads_only_encoder_entries_including_buffers():
    source = _source()
    torch.manual_seed(2)
    target = Encoded(tasks=3)  # a different number of heads
    before = {k: v.clone() for k, v in target.state_dict().items()}
    plan = apply_transfer(target, source, "encoder", "none")
    assert plan.loaded == sorted(k for k in source if k.startswith("encoder."))
    assert "encoder.1.running_mean" in plan.loaded
    state = target.state_dict()
    for name in state:
        if name.startswith("encoder."):
            assert torch.equal(state[name], source[name]), name
        else:
            assert torch.equal(state[name], before[name]), name
    assert plan.frozen == [] and all(p.requires_grad for p in target.parameters())


def test_all_part_matches_by_name_and_shape_and_says_why_others_are_skipped():
    source = _source()
    target = Encoded(hidden=8, tasks=3, outputs=2)  # heads: other shape; heads.2: absent
    weights, skipped = select_weights(source, target, "all")
    assert "trunk.weight" in weights and "encoder.0.weight" in weights
    assert (
        "heads.0.weight" not in weights
        and "shape (3, 8) in the source" in skipped["heads.0.weight"]
    )
    assert skipped["heads.2.bias"] == "not in the source run"


def test_head_names():
    assert is_head("head.weight") and is_head("heads.1.bias") and is_head("task_head.0.weight")
    assert not is_head("encoder.multihead_attn.in_proj_weight") and not is_head("hidden.0.weight")


def test_freeze_all_but_heads_leaves_heads_trainable_and_out_of_the_optimizer():
    model = Encoded()
    frozen = freeze(model, "all-but-heads")
    assert frozen and not any(is_head(n) for n in frozen)
    for name, p in model.named_parameters():
        assert p.requires_grad == is_head(name), name
    cfg = build_config(flags={"optimizer": "adam"})
    opt = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert in_opt == {id(p) for n, p in model.named_parameters() if is_head(n)}


def test_frozen_encoder_is_bit_identical_after_training_steps():
    source = _source()
    torch.manual_seed(3)
    model = Encoded()
    apply_transfer(model, source, "encoder", "encoder")
    trunk_before = model.trunk.weight.detach().clone()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.5, weight_decay=0.1)
    model.train()
    for _ in range(3):
        x = torch.randn(16, 6)
        loss = sum(out.square().mean() for out in model(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = model.state_dict()
    for name in source:
        if name.startswith("encoder.") and not name.endswith("num_batches_tracked"):
            assert torch.equal(state[name], source[name]), name  # running stats too
    assert not torch.equal(model.trunk.weight, trunk_before)


@pytest.mark.parametrize(
    "model,part,mode,message",
    [
        (Plain(), "encoder", "none", "use --init-part all"),
        (Plain(), "all", "encoder", "use --freeze all-but-heads"),
        (nn.Sequential(nn.Linear(6, 8)), "all", "all-but-heads", "no parameter of this model is a task head"),
        (Encoded(inputs=7, hidden=5, outputs=4), "all", "none", "no weight of the source run"),
    ],
)  # fmt: skip
def test_incompatible_requests_are_one_clear_user_error(model, part, mode, message):
    source = _source()
    with pytest.raises(UserError, match=message):
        apply_transfer(model, source, part, mode)


def test_source_without_encoder_cannot_give_an_encoder():
    source = Plain().state_dict()
    with pytest.raises(UserError, match="source run's model has no 'encoder' weights"):
        select_weights(source, Encoded(), "encoder")


def test_setup_refuses_freeze_without_init_and_non_run_sources(tmp_path):
    with pytest.raises(UserError, match="--freeze encoder needs --init-from"):
        setup_transfer(build_config(flags={"freeze": "encoder"}), Encoded())
    assert setup_transfer(build_config(), Encoded()) is None
    cfg = build_config(flags={"init_from": str(tmp_path)})
    with pytest.raises(UserError, match="--init-from: .* is not an mtl run directory"):
        setup_transfer(cfg, Encoded())


def test_config_checks_the_choices():
    with pytest.raises(UserError, match="'freeze' must be one of none, encoder, all-but-heads"):
        build_config(flags={"freeze": "heads"})
    with pytest.raises(UserError, match="'init-part' must be one of encoder, all"):
        build_config(flags={"init_part": "trunk"})
