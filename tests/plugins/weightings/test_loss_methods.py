"""Each loss-level weighting against an independent oracle: a hand-computed case from
its paper, or autograd of the objective the method says it minimises."""

import math

import pytest
import torch
from weighting_steps import build, info

# ---------------------------------------------------------------- rlw


def test_rlw_is_the_softmax_of_a_normal_draw_from_the_seeded_generator():
    method = build("rlw", 3, seed=7)
    gen = torch.Generator().manual_seed(7)
    for step in range(3):
        draw = torch.randn(3, generator=gen, dtype=torch.float64)
        weights = method.combine(info([1.0, 2.0, 3.0], step=step)).weights
        torch.testing.assert_close(weights, torch.softmax(draw, 0).float())
        assert weights.sum().item() == pytest.approx(1.0)


def test_rlw_renormalises_the_same_draw_over_the_present_tasks():
    draw = torch.randn(3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    weights = build("rlw", 3, seed=1).combine(info([1.0, 0.0, 3.0], [True, False, True])).weights
    expected = torch.softmax(draw[[0, 2]], 0).float()
    torch.testing.assert_close(weights[[0, 2]], expected)
    assert weights[1] == 0


# ---------------------------------------------------------------- uw and imtl-l


def test_uw_weights_and_the_closed_form_gradient_of_its_log_variances():
    method = build("uw", 3, init=0.0)
    with torch.no_grad():
        for p, value in zip(method.log_vars, [0.0, 1.0, -2.0], strict=True):
            p.fill_(value)
    s = torch.tensor([0.0, 1.0, -2.0])
    losses = torch.tensor([2.0, 0.5, 3.0])
    comb = method.combine(info(losses))
    torch.testing.assert_close(comb.weights, 0.5 * torch.exp(-s))
    comb.loss.backward()
    grads = torch.stack([p.grad for p in method.log_vars])
    torch.testing.assert_close(grads, 0.5 - 0.5 * torch.exp(-s) * losses)  # d/ds_i
    expected = (0.5 * torch.exp(-s) * losses + 0.5 * s).sum()
    assert comb.loss.item() == pytest.approx(expected.item())


def test_uw_log_variance_settles_at_the_log_of_the_loss():
    method = build("uw", 1)
    opt = torch.optim.SGD(method.parameters(), lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        method.combine(info([4.0])).loss.backward()
        opt.step()
    assert method.log_vars[0].item() == pytest.approx(math.log(4.0), abs=1e-4)


def test_uw_starts_at_libmtls_log_variance():
    weights = build("uw", 2).combine(info([1.0, 1.0])).weights
    torch.testing.assert_close(weights, torch.full((2,), 0.5 * math.exp(0.5)))


def test_imtl_l_weights_and_the_closed_form_gradient_of_its_scales():
    method = build("imtl-l", 3)
    with torch.no_grad():
        for p, value in zip(method.scales, [0.0, 0.5, -1.0], strict=True):
            p.fill_(value)
    s = torch.tensor([0.0, 0.5, -1.0])
    losses = torch.tensor([2.0, 0.25, 3.0])
    comb = method.combine(info(losses))
    torch.testing.assert_close(comb.weights, torch.exp(s))
    comb.loss.backward()
    grads = torch.stack([p.grad for p in method.scales])
    torch.testing.assert_close(grads, torch.exp(s) * losses - 1.0)
    assert comb.loss.item() == pytest.approx((torch.exp(s) * losses - s).sum().item())


@pytest.mark.parametrize("name", ["uw", "imtl-l"])
def test_an_absent_tasks_parameter_gets_no_gradient_at_all(name):
    method = build(name, 2)
    method.combine(info([1.0, 0.0], [True, False])).loss.backward()
    first, second = method.parameters()
    assert first.grad is not None and second.grad is None  # Adam skips it entirely
    assert method.combine(info([0.0, 0.0], [False, False])).loss is None


# ---------------------------------------------------------------- gls


def test_gls_hand_case():
    # G = sqrt(1 * 4) = 2; w = G / (2 L) = (1, 0.25)
    weights = build("gls", 2).combine(info([1.0, 4.0])).weights
    torch.testing.assert_close(weights, torch.tensor([1.0, 0.25]))


def test_gls_weights_give_the_gradient_of_the_geometric_mean():
    torch.manual_seed(0)
    x, theta = torch.randn(8, 5), torch.randn(5, requires_grad=True)
    targets = torch.randn(3, 8)
    losses = torch.stack([((x @ theta - t) ** 2).mean() for t in targets])
    (oracle,) = torch.autograd.grad(losses.prod() ** (1 / 3), theta, retain_graph=True)
    weights = build("gls", 3).combine(info(losses.detach())).weights
    (ours,) = torch.autograd.grad((weights * losses).sum(), theta)
    torch.testing.assert_close(ours, oracle)


def test_gls_zero_loss_gives_finite_weights():
    weights = build("gls", 2).combine(info([0.0, 1.0])).weights
    assert torch.isfinite(weights).all()


# ---------------------------------------------------------------- dwa


def test_dwa_hand_case_from_the_paper():
    method = build("dwa", 2)  # T = 2
    assert method.combine(info([1.0, 1.0])).weights.tolist() == [1.0, 1.0]  # epoch 1
    method.end_epoch(1, torch.tensor([1.0, 2.0]))
    assert method.combine(info([1.0, 1.0], epoch=2)).weights.tolist() == [1.0, 1.0]
    method.end_epoch(2, torch.tensor([0.5, 2.0]))  # r = (0.5, 1)
    weights = method.combine(info([1.0, 1.0], epoch=3)).weights
    e0, e1 = math.exp(0.5 / 2), math.exp(1.0 / 2)
    torch.testing.assert_close(weights, torch.tensor([2 * e0 / (e0 + e1), 2 * e1 / (e0 + e1)]))
    assert weights.sum().item() == pytest.approx(2.0)


def test_dwa_temperature_and_a_nan_epoch_leave_the_history_of_that_task():
    method = build("dwa", 2, T=1.0)
    method.end_epoch(1, torch.tensor([1.0, 4.0]))
    method.end_epoch(2, torch.tensor([0.5, 2.0]))
    method.end_epoch(3, torch.tensor([0.25, float("nan")]))  # task 1 had no label
    # r = (0.25/0.5, 2/4) = (0.5, 0.5): equal weights, not NaN
    weights = method.combine(info([1.0, 1.0], epoch=4)).weights
    torch.testing.assert_close(weights, torch.tensor([1.0, 1.0]))
    method.end_epoch(4, torch.tensor([0.25, 1.0]))  # r = (1, 0.5)
    weights = method.combine(info([1.0, 1.0], epoch=5)).weights
    expected = 2 * torch.softmax(torch.tensor([1.0, 0.5]), 0)
    torch.testing.assert_close(weights, expected)


# ---------------------------------------------------------------- famo


def famo_oracle(loss_rows, lr, gamma):
    """The official update with autograd of the softmax, a plain step instead of Adam."""
    logits = torch.zeros(loss_rows.shape[1], dtype=torch.float64, requires_grad=True)
    out, prev = [], None
    for losses in loss_rows.double():
        if prev is not None:
            delta = torch.log(prev + 1e-8) - torch.log(losses + 1e-8)
            (d,) = torch.autograd.grad(torch.softmax(logits, 0), logits, grad_outputs=delta)
            with torch.no_grad():
                logits -= lr * (d + gamma * logits)
        z = torch.softmax(logits, 0).detach()
        leaf = losses.clone().requires_grad_(True)
        c = (z / (leaf + 1e-8)).sum().detach()
        (w,) = torch.autograd.grad((z / c * torch.log(leaf + 1e-8)).sum(), leaf)
        out.append(w)
        prev = losses
    return torch.stack(out)


def test_famo_matches_the_official_objective_and_logit_update():
    gen = torch.Generator().manual_seed(0)
    rows = torch.rand(6, 3, generator=gen) + 0.1
    method = build("famo", 3, lr=0.5, gamma=0.01)
    ours = torch.stack([method.combine(info(r, step=i)).weights for i, r in enumerate(rows)])
    oracle = famo_oracle(rows, lr=0.5, gamma=0.01).float()
    torch.testing.assert_close(ours, oracle)
    assert not torch.allclose(method.logits, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(ours.sum(1), torch.ones(6))


def test_famo_first_step_weights_are_inverse_losses():
    weights = build("famo", 2).combine(info([1.0, 3.0])).weights
    torch.testing.assert_close(weights, torch.tensor([0.75, 0.25]))


def test_famo_raises_the_weight_of_the_task_that_improved_least():
    method = build("famo", 2, lr=1.0, gamma=0.0)
    method.combine(info([1.0, 1.0]))
    weights = method.combine(info([0.5, 1.0], step=1)).weights  # task 0 halved its loss
    assert method.logits[0] < method.logits[1]
    # with equal logits the ratio would be L_0 / L_1 = 0.5; the logits tilt it to task 1
    assert weights[1] / weights[0] > 0.5


# ---------------------------------------------------------------- stch


def test_stch_warm_up_weighs_by_inverse_loss_and_fixes_the_nadir_from_its_last_epoch():
    method = build("stch", 2, warmup_epochs=2)
    weights = method.combine(info([2.0, 4.0], epoch=1)).weights
    torch.testing.assert_close(weights, torch.tensor([0.5, 0.25]))  # gradient of sum log L
    method.combine(info([1.0, 2.0], epoch=2))
    method.combine(info([3.0, 0.0], [True, False], epoch=2))
    torch.testing.assert_close(method.nadir(), torch.tensor([2.0, 2.0], dtype=torch.float64))


@pytest.mark.parametrize("mu", [0.1, 1.0, 3.0])
def test_stch_weights_are_the_gradient_of_the_smooth_tchebycheff_scalarisation(mu):
    method = build("stch", 3, mu=mu, warmup_epochs=1)
    nadir = torch.tensor([1.0, 2.0, 0.5])
    method.combine(info(nadir, epoch=1))
    losses = torch.tensor([0.8, 1.5, 0.6], dtype=torch.float64, requires_grad=True)
    objective = 3 * mu * torch.logsumexp(torch.log(losses / nadir.double()) / mu, 0)
    (oracle,) = torch.autograd.grad(objective, losses)
    weights = method.combine(info(losses.detach(), epoch=2)).weights
    torch.testing.assert_close(weights, oracle.float())


def test_stch_small_mu_puts_the_weight_on_the_worst_task():
    method = build("stch", 2, mu=1e-3, warmup_epochs=0)
    method.combine(info([1.0, 1.0]))  # nadir = first losses
    weights = method.combine(info([0.5, 0.9], step=1)).weights
    torch.testing.assert_close(weights, torch.tensor([0.0, 2 / 0.9]))


def test_famo_a_returning_task_waits_one_step_before_its_logit_moves():
    method = build("famo", 3, lr=1.0, gamma=0.1)
    method.combine(info([1.0, 1.0, 1.0]))
    method.combine(info([0.5, 0.0, 0.8], [True, False, True], step=1))
    assert method.logits[1] == 0 and method.logits[0] != 0
    # back at step 2: its last loss is from step 0, not the previous step: no update
    method.combine(info([0.4, 0.2, 0.7], step=2))
    assert method.logits[1] == 0
    method.combine(info([0.3, 0.1, 0.6], step=3))
    assert method.logits[1] != 0


def test_stch_a_task_unlabelled_in_the_last_warm_up_epoch_takes_its_first_loss_as_nadir():
    method = build("stch", 2, warmup_epochs=1)
    method.combine(info([2.0, 0.0], [True, False], epoch=1))
    assert torch.isnan(method.nadir()[1])
    weights = method.combine(info([2.0, 3.0], epoch=2)).weights
    torch.testing.assert_close(method.nadir(), torch.tensor([2.0, 3.0], dtype=torch.float64))
    # both at their nadir: f = 0, softmax uniform, w = 2 * 0.5 / L
    torch.testing.assert_close(weights, torch.tensor([0.5, 1 / 3]))
    method.combine(info([1.0, 1.0], epoch=2, step=2))
    torch.testing.assert_close(method.nadir(), torch.tensor([2.0, 3.0], dtype=torch.float64))
