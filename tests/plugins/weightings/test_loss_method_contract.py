"""What every built-in loss-level weighting (and GradNorm) promises: registration,
validated options, absent tasks as if they did not exist, exact resume."""

import io
import re
import sys

import pytest
import torch
from weighting_steps import build, drive, method_class, moved, play, scenario, subset

from mtl.core.errors import UserError
from mtl.core.plugins import load_plugins

METHODS = ["rlw", "uw", "dwa", "gls", "imtl-l", "famo", "stch", "gradnorm"]
DETERMINISTIC = [m for m in METHODS if m != "rlw"]
# Options that make the short scenarios exercise each method's interesting regime.
SCENARIO_OPTIONS = {"stch": {"warmup_epochs": 1}, "famo": {"lr": 0.5}}
# Buffers that record the previous step itself, not a statistic of an absent task.
STEP_RECORDS = {"prev_present", "last_present"}


def make(name, k, seed=0):
    return build(name, k, seed, **SCENARIO_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", METHODS)
def test_registered_with_description_paper_and_needs(name):
    reg = load_plugins(env={"MTL_PLUGINS": ""}).registries.weightings
    cls = method_class(name)
    assert reg.get(name) is cls
    assert cls.description
    assert cls.needs == ("gradients" if name == "gradnorm" else "losses")
    paper = sys.modules[cls.__module__].__doc__ or ""
    assert re.search(r"\b20(18|19|21|22|23|24)\b", paper), "the paper's year is cited"


@pytest.mark.parametrize("name", METHODS)
def test_unknown_option_lists_the_valid_ones(name):
    with pytest.raises(UserError, match="unknown option 'nope'.*valid options"):
        build(name, 2, nope=1)


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("uw", {"init": 11}, "at most 10"),
        ("dwa", {"T": 0}, "at least"),
        ("famo", {"lr": -1}, "at least 0"),
        ("famo", {"gamma": -0.1}, "at least 0"),
        ("stch", {"mu": 0}, "at least"),
        ("stch", {"warmup_epochs": -1}, "at least 0"),
        ("stch", {"warmup_epochs": 1.5}, "an integer"),
        ("gradnorm", {"alpha": -1}, "at least 0"),
        ("gradnorm", {"alpha": "x"}, "a number"),
    ],
)
def test_out_of_range_options_are_user_errors(name, given, message):
    with pytest.raises(UserError, match=message):
        build(name, 2, **given)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_a_task_absent_throughout_is_as_if_it_did_not_exist(name):
    full = scenario(3, absent=[(s, 1) for s in range(12)])
    weights = drive(make(name, 3), full)
    alone = drive(make(name, 2), subset(full, [0, 2]))
    assert torch.isfinite(weights).all()
    assert (weights[:, 1] == 0).all()
    torch.testing.assert_close(weights[:, [0, 2]], alone, rtol=1e-6, atol=1e-7)
    assert (weights[:, [0, 2]].std(0) > 0).all(), "the weights vary: the check is not vacuous"


def task_state(method, task):
    """Everything the method keeps about ``task``: its entries of parameters and buffers."""
    out = {}
    for key, value in method.state_dict().items():
        if key.split(".")[-1] in STEP_RECORDS or not torch.is_tensor(value):
            continue
        if key.endswith(f".{task}") and value.dim() == 0:  # a per-task parameter
            out[key] = value.clone()
        elif value.dim() >= 1 and value.shape[0] == method.num_tasks:
            out[key] = value[task].clone()
    return out


@pytest.mark.parametrize("name", METHODS)
def test_an_absent_task_is_weighted_zero_and_its_state_does_not_move(name):
    # task 1 has no label in epoch 2 (steps 3-5): its epoch mean is NaN
    steps = scenario(3, absent=[(3, 1), (4, 1), (5, 1)])
    method = make(name, 3)
    assert task_state(method, 1) or name in ("rlw", "gls"), "the method keeps per-task state"
    for i, s in enumerate(steps):
        before = task_state(method, 1)
        weights = play(method, s, i)
        assert torch.isfinite(weights).all()
        if not s.present[1]:
            assert weights[1] == 0
            after = task_state(method, 1)
            assert before.keys() == after.keys()
            for key in before:
                torch.testing.assert_close(
                    after[key], before[key], rtol=0, atol=0, equal_nan=True, msg=key
                )
        else:
            assert weights[1] > 0


@pytest.mark.parametrize("name", METHODS)
def test_state_dict_resumes_the_exact_sequence_of_weights(name):
    steps = scenario(3, absent=[(7, 2)])
    reference = drive(make(name, 3, seed=3), steps)
    first = make(name, 3, seed=3)
    drive(first, steps[:5])  # stop mid-epoch 2
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = make(name, 3, seed=99)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(drive(resumed, steps, start=5), reference[5:])
    if name in DETERMINISTIC:  # and the state matters: a fresh method differs
        fresh = drive(make(name, 3, seed=3), steps, start=5)
        assert not torch.equal(fresh, reference[5:]) or name == "gls"
    else:  # random: another seed gives another sequence
        assert not torch.equal(drive(make(name, 3, seed=4), steps), reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", METHODS)
def test_on_a_cuda_device_the_weights_match_the_cpu_ones(name):
    steps = scenario(3, absent=[(4, 1)])
    reference = drive(make(name, 3, seed=2), steps)
    method = make(name, 3, seed=2).to("cuda")
    weights = drive(method, moved(steps, "cuda"))
    assert weights.device.type == "cuda"
    torch.testing.assert_close(weights.cpu(), reference, rtol=1e-5, atol=1e-6)
