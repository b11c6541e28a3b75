"""GradNorm against its defining loss, in closed form, on a toy model's real gradients."""

import pytest
import torch
from weighting_steps import build, info


def jacobian_of(losses, params):
    rows = [torch.autograd.grad(loss, params, retain_graph=True)[0].flatten() for loss in losses]
    return torch.stack(rows)


def test_gradnorm_loss_and_its_closed_form_gradient_at_the_first_step():
    method = build("gradnorm", 2)  # alpha 1.5, w = (1, 1)
    jac = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # norms (3, 1)
    comb = method.combine(info([2.0, 5.0], jacobian=jac))
    # first step: L / L(0) = 1, r = 1, Gbar = 2: loss = |3 - 2| + |1 - 2|
    assert comb.loss.item() == pytest.approx(2.0)
    assert comb.weights.tolist() == [1.0, 1.0]
    comb.loss.backward()
    assert [p.grad.item() for p in method.task_weights] == pytest.approx([3.0, -1.0])


def test_gradnorm_training_rates_set_the_targets():
    method = build("gradnorm", 2, alpha=2.0)
    method.combine(info([1.0, 1.0], jacobian=torch.eye(2)))
    with torch.no_grad():
        method.task_weights[0].fill_(1.5)
        method.task_weights[1].fill_(0.5)
    # L/L(0) = (0.5, 1.5): r = (0.5, 1.5); norms (2, 4): G = (3, 2), Gbar = 2.5
    jac = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    comb = method.combine(info([0.5, 1.5], jacobian=jac, step=1))
    targets = torch.tensor([2.5 * 0.5**2, 2.5 * 1.5**2])
    expected = (torch.tensor([3.0, 2.0]) - targets).abs().sum()
    assert comb.loss.item() == pytest.approx(expected.item())
    comb.loss.backward()
    signs = torch.sign(torch.tensor([3.0, 2.0]) - targets)
    grads = torch.stack([p.grad for p in method.task_weights])
    torch.testing.assert_close(grads, signs * torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(comb.weights, torch.tensor([1.5, 0.5]))


def test_gradnorm_on_a_toy_models_gradients_and_renormalisation_after_the_step():
    torch.manual_seed(0)
    x, theta = torch.randn(16, 4), torch.randn(4, requires_grad=True)
    targets = torch.randn(3, 16) * torch.tensor([[1.0], [5.0], [0.2]])
    losses = torch.stack([((x @ theta - t) ** 2).mean() for t in targets])
    jac = jacobian_of(losses, theta)
    method = build("gradnorm", 3)
    comb = method.combine(info(losses.detach(), jacobian=jac))
    norms = jac.norm(dim=1)
    expected = (norms - norms.mean()).abs().sum()
    assert comb.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    opt = torch.optim.SGD(method.parameters(), lr=0.01)
    comb.loss.backward()
    opt.step()
    moved = torch.stack([p.detach().clone() for p in method.task_weights])
    method.after_step()
    weights = torch.stack([p.detach() for p in method.task_weights])
    assert weights.sum().item() == pytest.approx(3.0)
    torch.testing.assert_close(weights, moved * 3 / moved.sum())
    # the task with the largest gradient is weighted down, the smallest up
    assert weights[norms.argmax()] < 1 < weights[norms.argmin()]


def test_gradnorm_renormalises_only_the_present_tasks():
    method = build("gradnorm", 3)
    jac = torch.tensor([[3.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    comb = method.combine(info([1.0, 0.0, 1.0], [True, False, True], jacobian=jac))
    comb.loss.backward()
    assert method.task_weights[1].grad is None
    with torch.no_grad():
        for p in method.task_weights:
            if p.grad is not None:
                p -= 0.1 * p.grad
    method.after_step()
    weights = [p.item() for p in method.task_weights]
    assert weights[1] == 1.0
    assert weights[0] + weights[2] == pytest.approx(2.0)
    assert torch.isnan(method.initial_losses[1])


def test_gradnorm_without_gradients_is_a_programming_error():
    with pytest.raises(ValueError, match="per-task shared gradients"):
        build("gradnorm", 2).combine(info([1.0, 1.0]))


def test_gradnorm_from_the_gramian_alone_equals_the_jacobian_path():
    """Only the norms ||g_i|| enter: the Gramian's diagonal gives them exactly, so the
    trainer may hand GradNorm the factored Gramian without a Jacobian."""
    jac = torch.tensor([[3.0, 0.0, 4.0], [0.0, 1.0, 1.0], [2.0, 2.0, 1.0]])
    a, b = build("gradnorm", 3), build("gradnorm", 3)
    assert b.gramian_only
    for step, losses in enumerate(([2.0, 5.0, 1.0], [1.5, 4.0, 0.5])):
        with_jac = a.combine(info(losses, jacobian=jac, step=step))
        only = info(losses, step=step)
        only.gramian = jac @ jac.T
        with_gram = b.combine(only)
        torch.testing.assert_close(with_gram.weights, with_jac.weights)
        torch.testing.assert_close(with_gram.loss, with_jac.loss)
        for m, comb in ((a, with_jac), (b, with_gram)):
            comb.loss.backward()
            with torch.no_grad():
                for p in m.task_weights:
                    p -= 0.1 * p.grad
                    p.grad = None
            m.after_step()
