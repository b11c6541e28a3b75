"""The contract every registered weighting keeps (parametrised over the registry at test
time, so methods merged later are covered): an absent task takes no part in the step."""

import torch

from mtl.core.weighting import NEEDS, StepInfo

K, ABSENT = 4, 2


def info_for(method, gen, step, present, p=9):
    losses = (torch.rand(K, generator=gen) + 0.2) * present
    jac = None
    if method.needs != "losses":
        jac = torch.randn(K, p, generator=gen) * present[:, None]
    return StepInfo(losses, present, epoch=1, step=step, jacobian=jac)


def per_task_state(method):
    """Every parameter and buffer with one row per task (what an absent task must not move).

    Boolean buffers are left out: they record which tasks were present (FAMO's and
    GradNorm's previous step), which an absent task must change."""
    items = list(method.named_parameters()) + list(method.named_buffers())
    return {
        n: t.detach().clone()
        for n, t in items
        if t.dim() >= 1 and t.shape[0] == K and t.dtype != torch.bool
    }


def test_absent_task_gets_no_weight_no_nan_and_keeps_its_state(method, plugins, builder):
    build = builder
    registry = plugins.registries.weightings
    m = build(method, registry, K)
    assert m.needs in NEEDS
    present_all = torch.ones(K, dtype=torch.bool)
    present = present_all.clone()
    present[ABSENT] = False
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.SGD(m.parameters(), lr=0.1) if list(m.parameters()) else None
    for step in range(3):  # warm up with every task present (histories, previous solutions)
        _step(m, info_for(m, gen, step, present_all), opt)
    before = per_task_state(m)
    for step in range(3, 6):
        info = info_for(m, gen, step, present)
        comb = _step(m, info, opt)
        assert comb.weights is not None or comb.gradient is not None
        if comb.weights is not None:
            assert comb.weights.shape == (K,)
            assert torch.isfinite(comb.weights).all(), comb.weights
            assert comb.weights[ABSENT] == 0, comb.weights
        if comb.gradient is not None:
            assert comb.gradient.shape == (info.jacobian.shape[1],)
            assert torch.isfinite(comb.gradient).all()
    for name, value in per_task_state(m).items():
        # NaN marks "no statistic yet" (DWA's epoch means) and must stay NaN
        torch.testing.assert_close(value[ABSENT], before[name][ABSENT], msg=name, equal_nan=True)


def _step(m, info, opt):
    comb = m.combine(info)
    if opt is not None:
        opt.zero_grad()
    if comb.loss is not None:
        assert torch.isfinite(comb.loss)
        comb.loss.backward()
    if opt is not None:
        opt.step()
    m.after_step()
    return comb
