"""Gradient-balancing weightings on random Jacobians: TorchJD as the oracle where it has
the method, the defining property (KKT conditions, hand-computed cases) everywhere, and
absent tasks, degenerate inputs and saved state for every method."""

from __future__ import annotations

import ast
import math
from importlib import import_module
from pathlib import Path

import pytest
import torch

from mtl.core.errors import UserError
from mtl.core.options import resolve_options
from mtl.core.weighting import StepInfo
from mtl.plugins.weightings import BUILTINS

GRADIENT_METHODS = [
    "mgda",
    "mgda-ub",
    "pcgrad",
    "gradvac",
    "cagrad",
    "imtl-g",
    "nash-mtl",
    "aligned-mtl",
    "upgrad",
    "db-mtl",
    "fairgrad",
]
STATEFUL = ["pcgrad", "gradvac", "nash-mtl", "db-mtl"]


def method_class(name):
    module, _, cls = BUILTINS[name].partition(":")
    return getattr(import_module(f"mtl.plugins.weightings.{module}"), cls)


def make(name, k, seed=0, **given):
    cls = method_class(name)
    return cls(k, resolve_options(cls.options, given, name), seed)


def step(method, jac, present=None, losses=None):
    """The method's shared update ``(P,)`` and its weights (None for gradient answers)."""
    k = len(jac)
    present = torch.ones(k, dtype=torch.bool) if present is None else present
    losses = torch.linspace(0.5, 1.5, k) if losses is None else losses
    info = StepInfo(losses=losses * present, present=present, epoch=1, step=0, jacobian=jac)
    answer = method.combine(info)
    if answer.gradient is not None:
        return answer.gradient, None
    assert answer.weights.shape == (k,) and answer.weights.dtype == jac.dtype
    return jac.T @ answer.weights, answer.weights


def conflicting(k, p=40, seed=0):
    """Random task gradients with some conflicts (and some agreement)."""
    gen = torch.Generator().manual_seed(seed)
    jac = torch.randn(k, p, generator=gen)
    jac[1] -= 1.5 * jac[0]
    return jac


def close(a, b, rtol=1e-5):
    return float((a - b).norm()) <= rtol * max(float(b.norm()), 1e-12)


def test_every_method_is_registered_with_its_needs_and_a_paper():
    for name in GRADIENT_METHODS:
        cls = method_class(name)
        assert cls.description and "20" in cls.description  # names the paper's year
        assert cls.needs == ("representation" if name == "mgda-ub" else "gradients")
        assert "arxiv.org" in import_module(cls.__module__).__doc__ or name == "imtl-g"


def test_the_methods_load_through_the_plugin_registry():
    from mtl.core.plugins import load_plugins

    registry = load_plugins(env={"MTL_PLUGINS": ""}).registries.weightings
    for name in GRADIENT_METHODS:
        assert registry.get(name) is method_class(name)


def test_no_solver_library_is_imported_at_runtime():
    folder = Path(import_module("mtl.plugins.weightings").__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.split(".")[0] in {"cvxpy", "scipy", "quadprog"} for n in names)


@pytest.mark.parametrize(
    ("name", "given", "fragment"),
    [
        ("cagrad", {"c": "-1"}, "at least 0"),
        ("mgda", {"normalize": "l3"}, "must be one of"),
        ("nash-mtl", {"update_every": "2"}, "valid options: max-norm, update-every"),
        ("gradvac", {"beta": "2"}, "at most 1"),
    ],
)
def test_bad_options_are_user_errors(name, given, fragment):
    cls = method_class(name)
    with pytest.raises(UserError, match=fragment):
        resolve_options(cls.options, given, name)


# --- TorchJD as the oracle ------------------------------------------------------------


@pytest.fixture(scope="module")
def tjd():
    return pytest.importorskip("torchjd.aggregation")


@pytest.mark.parametrize("k", [2, 3, 6])
def test_mgda_matches_torchjd(tjd, k):
    jac = conflicting(k)
    ours, _ = step(make("mgda", k), jac)
    assert close(ours, tjd.MGDA(epsilon=1e-6, max_iters=2000)(jac), 1e-3)


@pytest.mark.parametrize("k", [2, 3, 6])
def test_imtl_g_matches_torchjd(tjd, k):
    jac = conflicting(k)
    assert close(step(make("imtl-g", k), jac)[0], tjd.IMTLG()(jac))


@pytest.mark.parametrize(
    ("scale", "theirs"), [("min", "min"), ("median", "median"), ("mean", "rmse")]
)
def test_aligned_mtl_is_k_times_torchjd(tjd, scale, theirs):
    jac = conflicting(4)
    ours = step(make("aligned-mtl", 4, scale=scale), jac)[0]
    assert close(ours, 4 * tjd.AlignedMTL(scale_mode=theirs)(jac))


@pytest.mark.parametrize("c", [0.1, 0.4, 1.0])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_cagrad_matches_torchjd_up_to_the_rescaling(tjd, c, k):
    pytest.importorskip("cvxpy")  # TorchJD's CAGrad solves with cvxpy
    jac = conflicting(k, seed=k)
    theirs = tjd.CAGrad(c=c)(jac)
    assert close(step(make("cagrad", k, c=c, rescale=False), jac)[0], theirs, 1e-4)
    assert close(step(make("cagrad", k, c=c), jac)[0], theirs / (1 + c**2), 1e-4)


def test_cagrad_is_at_least_as_good_as_torchjd_on_its_own_objective(tjd):
    pytest.importorskip("cvxpy")
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        k = 2 + trial % 6
        jac = torch.randn(k, 30, generator=gen, dtype=torch.float64)
        jac *= 3 * torch.rand(k, 1, generator=gen, dtype=torch.float64)
        c = (0.1, 0.4, 1.0, 3.0)[trial % 4]
        ours = step(make("cagrad", k, c=c, rescale=False), jac)[0]
        theirs = tjd.CAGrad(c=c)(jac).double()
        mean = jac.mean(0)
        assert float((ours - mean).norm()) <= c * float(mean.norm()) * (1 + 1e-9)
        assert float((jac @ ours).min()) >= float((jac @ theirs).min()) - 1e-9 * float(mean.norm())


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_fairgrad_matches_torchjd(tjd, alpha):
    pytest.importorskip("scipy")  # TorchJD's FairGrad solves with scipy
    jac = conflicting(4)
    assert close(step(make("fairgrad", 4, alpha=alpha), jac)[0], tjd.FairGrad(alpha=alpha)(jac))


def test_nash_mtl_matches_torchjd_over_steps(tjd):
    pytest.importorskip("cvxpy")  # TorchJD's Nash-MTL solves with cvxpy and ECOS
    # ECOS is GPL-licensed, so the test extra does not install it; the oracle runs where it is.
    pytest.importorskip("ecos", reason="TorchJD's Nash-MTL needs ECOS (GPL, not installed)")
    k, theirs = 3, tjd.NashMTL(n_tasks=3, max_norm=1.0, update_weights_every=2)
    ours = make("nash-mtl", k, **{"update-every": 2})
    for s in range(4):
        jac = conflicting(k, seed=s)
        assert close(step(ours, jac)[0], theirs(jac), 1e-4)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_pcgrad_matches_torchjd_with_the_same_random_orders(tjd, k):
    jac = conflicting(k)
    ours = step(make("pcgrad", k, seed=7), jac)[0]
    torch.manual_seed(7)  # TorchJD draws its orders from the global generator
    assert close(ours, tjd.PCGrad()(jac))


@pytest.mark.parametrize("beta", [0.5, 0.1])
def test_gradvac_matches_torchjd_over_steps(tjd, beta):
    k = 4
    jacs = [conflicting(k, seed=s) + 0.5 for s in range(4)]
    ours_method = make("gradvac", k, seed=3, beta=beta)
    ours = [step(ours_method, jac)[0] for jac in jacs]
    torch.manual_seed(3)
    theirs_method = tjd.GradVac(beta=beta)
    for mine, jac in zip(ours, jacs, strict=True):
        assert close(mine, theirs_method(jac))


class CvxpyDualConeProjector:
    """The dual-cone QP of TorchJD's UPGrad solved with cvxpy (quadprog is not needed)."""

    def __call__(self, U, G):
        import cvxpy as cp

        gram = cp.psd_wrap(G.double().numpy())
        rows = []
        for u in U.double().numpy():
            v = cp.Variable(len(u))
            cp.Problem(cp.Minimize(cp.quad_form(v, gram)), [v >= u]).solve(cp.CLARABEL)
            rows.append(torch.from_numpy(v.value))
        return torch.stack(rows).to(G.dtype)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_upgrad_is_k_times_torchjd(tjd, k):
    pytest.importorskip("cvxpy")
    jac = conflicting(k, seed=k)
    theirs = tjd.UPGrad(projector=CvxpyDualConeProjector())(jac)
    assert close(step(make("upgrad", k), jac)[0], k * theirs, 1e-4)


# --- defining properties ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_mgda_weights_satisfy_the_min_norm_kkt_conditions(seed):
    jac = conflicting(5, p=8, seed=seed).double()
    _, w = step(make("mgda", 5), jac)
    gram = jac @ jac.T
    assert w.min() >= 0 and abs(float(w.sum()) - 1) < 1e-12
    value, slopes = float(w @ gram @ w), gram @ w
    assert float(slopes.min()) >= value - 1e-9  # no vertex descends further
    assert torch.allclose(slopes[w > 1e-9], torch.full_like(slopes[w > 1e-9], value), atol=1e-9)


def test_mgda_normalisations_weigh_the_scaled_gradients():
    jac = conflicting(3).double()
    losses = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    norms = jac.norm(dim=1)
    for kind, scale in [("l2", norms), ("loss", losses), ("loss+", losses * norms)]:
        _, w = step(make("mgda", 3, normalize=kind), jac, losses=losses)
        plain = make("mgda", 3).combine(
            StepInfo(losses, torch.ones(3, dtype=torch.bool), 1, 0, jac / scale[:, None])
        )
        assert torch.allclose(w, plain.weights / scale, atol=1e-12)


def test_pcgrad_removes_the_conflicting_component_by_hand():
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    update, w = step(make("pcgrad", 2), jac)
    # g1 - (g1·g2/|g2|²) g2 = (0.5, 0.5); g2 - (g2·g1/|g1|²) g1 = (0, 1)
    assert torch.allclose(update, torch.tensor([0.5, 1.5]))
    assert torch.allclose(w, torch.tensor([2.0, 1.5]))  # g1 + g2/2 and g1 + g2


def test_without_conflicts_pcgrad_gradvac_upgrad_equal_the_sum():
    jac = torch.rand(3, 10) + 0.1  # positive entries: every dot product is positive
    for name in ("pcgrad", "upgrad", "gradvac"):
        assert close(step(make(name, 3), jac)[0], jac.sum(0), 1e-6), name


def test_upgrad_conflicts_with_no_task():
    jac = conflicting(5, seed=2).double()
    update, _ = step(make("upgrad", 5), jac)
    assert float((jac @ update).min()) >= -1e-9 * float(update.norm())


def test_imtl_g_projects_equally_on_every_task():
    jac = conflicting(4).double()
    update, w = step(make("imtl-g", 4), jac)
    projections = (jac / jac.norm(dim=1, keepdim=True)) @ update
    assert abs(float(w.sum()) - 1) < 1e-12
    assert torch.allclose(projections, projections.mean().expand(4), rtol=1e-9)


@pytest.mark.parametrize("scale", ["min", "median", "mean"])
def test_aligned_mtl_rows_are_orthogonal_with_equal_norms(scale):
    jac = conflicting(4).double()
    method = make("aligned-mtl", 4, scale=scale)
    _, w = step(method, jac)
    gram = jac @ jac.T
    # the aligned Jacobian B J: recover B from the weights of unit preference vectors
    values, vectors = torch.linalg.eigh(gram)
    lam = {"min": values.min(), "median": values.median(), "mean": values.mean()}[scale]
    balance = lam.sqrt() * (vectors / values.sqrt()) @ vectors.T
    aligned = balance @ jac
    assert torch.allclose(aligned @ aligned.T, lam * torch.eye(4, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(w, balance.sum(1), atol=1e-12)


def test_cagrad_improves_the_worst_task_within_its_ball():
    jac, c = conflicting(4, seed=1).double(), 0.5
    update, _ = step(make("cagrad", 4, c=c, rescale=False), jac)
    mean = jac.mean(0)
    assert float((update - mean).norm()) <= c * float(mean.norm()) * (1 + 1e-9)
    worst = float((jac @ update).min())
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):  # no other point of the ball does better
        other = torch.randn(jac.shape[1], generator=gen, dtype=torch.float64)
        other = mean + c * float(mean.norm()) * other / other.norm()
        assert float((jac @ other).min()) <= worst + 1e-9
    assert close(step(make("cagrad", 4, c=0.0), jac)[0], mean, 1e-12)


def test_nash_mtl_and_fairgrad_solve_their_equations():
    jac = conflicting(4).double()
    gram = jac @ jac.T
    _, alpha = step(make("nash-mtl", 4, **{"max-norm": 0}), jac)
    assert torch.allclose(alpha * (gram @ alpha), torch.ones(4, dtype=torch.float64), rtol=1e-9)
    update, capped = step(make("nash-mtl", 4), jac)
    assert abs(float(update.norm()) - 1) < 1e-9 and torch.allclose(capped * 2, alpha)  # ‖d‖=√4
    for a in (0.5, 2.0, 5.0):
        _, w = step(make("fairgrad", 4, alpha=a), jac)
        assert torch.allclose(gram @ w, w.pow(-1 / a), rtol=1e-8)
    _, w = step(make("fairgrad", 4, alpha=0), jac)
    assert torch.allclose(w, torch.full((4,), 0.25, dtype=torch.float64))


@pytest.mark.parametrize("name", ["nash-mtl", "fairgrad"])
def test_without_a_bargaining_solution_nash_and_fairgrad_say_so(name):
    jac = conflicting(3).double()
    zero = jac.clone()
    zero[1] = 0  # task 1 cannot improve: it gets 0, the others bargain alone
    _, w = step(make(name, 3, **{"max-norm": 0} if name == "nash-mtl" else {}), zero)
    _, alone = step(make(name, 2, **{"max-norm": 0} if name == "nash-mtl" else {}), jac[[0, 2]])
    assert w[1] == 0 and torch.allclose(w[[0, 2]], alone, rtol=1e-9)
    opposite = jac.clone()
    opposite[1] = -2 * jac[0]  # 0 in the hull: no update improves every task
    update, w = step(make(name, 3), opposite)
    assert float(w.abs().sum()) == 0 and float(update.abs().sum()) == 0


def test_db_mtl_by_hand_over_two_steps():
    method = make("db-mtl", 2, beta=0.5, **{"beta-sigma": 0.5})
    g1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    losses = torch.tensor([1.0, 0.5], dtype=torch.float64)
    update, _ = step(method, g1, losses=losses)
    # log-loss gradients (3,0) and (0,2); buffer (1-0.5)·g = (1.5,0), (0,1); scaled to 1.5
    assert torch.allclose(update, torch.tensor([1.5, 1.5], dtype=torch.float64), atol=1e-6)
    g2 = torch.tensor([[1.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    update, _ = step(method, g2, losses=torch.tensor([1.0, 1.0], dtype=torch.float64))
    rate = 0.5 / math.sqrt(2)
    first = 1 + rate * (1.5 - 1)  # buffer of task 1 along x
    second = 4 + rate * (1 - 4)  # buffer of task 2 along y
    top = max(first, second)
    assert torch.allclose(update, torch.tensor([top, top], dtype=torch.float64), atol=1e-6)


# --- absent tasks, degenerate inputs, state ----------------------------------------------


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_an_absent_task_is_as_if_it_did_not_exist(name):
    k, absent = 4, 2
    full, reduced = make(name, k, seed=5), make(name, k - 1, seed=5)
    present = torch.tensor([True, True, False, True])
    keep = [0, 1, 3]
    for s in range(3):  # several steps: running state must not drift either
        jac = conflicting(k, seed=s).double()
        jac[absent] = 0.0
        losses = torch.tensor([0.7, 1.2, 0.0, 0.9], dtype=torch.float64)
        update, weights = step(full, jac, present, losses)
        expected, expected_weights = step(reduced, jac[keep], None, losses[keep])
        assert close(update, expected, 1e-9), (name, s)
        if weights is not None:
            assert weights[absent] == 0
            assert torch.allclose(weights[keep], expected_weights, rtol=1e-8, atol=1e-12)


def test_absent_tasks_state_does_not_move():
    jac = conflicting(3).double()
    present = torch.tensor([True, False, True])
    gradvac, nash, db = make("gradvac", 3), make("nash-mtl", 3), make("db-mtl", 3)
    for method in (gradvac, nash, db):
        step(method, jac, present)
    assert gradvac.targets[1].abs().sum() == 0 and gradvac.targets[:, 1].abs().sum() == 0
    assert gradvac.targets[0, 2] != 0
    assert nash.previous[1] == 0 and bool((nash.previous[[0, 2]] > 0).all())
    assert db.buffer[1].abs().sum() == 0 and db.counts.tolist() == [1, 0, 1]


def degenerate_cases():
    base = conflicting(3, p=6).double()
    zero_row = base.clone()
    zero_row[1] = 0
    parallel = base.clone()
    parallel[1] = 2 * base[0]
    opposite = base.clone()
    opposite[1] = -base[0]
    return {
        "zero row": (zero_row, None),
        "all zero": (torch.zeros(3, 6, dtype=torch.float64), None),
        "parallel": (parallel, None),
        "opposite": (opposite, None),
        "one present": (base, torch.tensor([False, True, False])),
        "none present": (torch.zeros(3, 6, dtype=torch.float64), torch.zeros(3, dtype=torch.bool)),
    }


@pytest.mark.parametrize("case", list(degenerate_cases()))
@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_degenerate_inputs_give_finite_updates(name, case):
    jac, present = degenerate_cases()[case]
    update, weights = step(make(name, 3), jac, present)
    assert bool(torch.isfinite(update).all())
    if weights is not None:
        assert bool(torch.isfinite(weights).all())
        if present is not None:
            assert bool((weights[~present] == 0).all())
    if case == "one present" and name not in ("db-mtl",):
        only = jac[1]  # a single task: the update points along its gradient
        assert float(update @ only) > 0
        assert close(update, (update @ only) / (only @ only) * only, 1e-9)
    if case == "none present":
        assert float(update.abs().sum()) == 0


@pytest.mark.parametrize("name", STATEFUL)
def test_state_dict_resumes_exactly(name):
    k = 3
    jacs = [conflicting(k, seed=s).double() for s in range(4)]
    straight = make(name, k, seed=1)
    expected = [step(straight, jac)[0] for jac in jacs]
    first = make(name, k, seed=1)
    for jac in jacs[:2]:
        step(first, jac)
    resumed = make(name, k, seed=99)
    resumed.load_state_dict(first.state_dict())
    for jac, want in zip(jacs[2:], expected[2:], strict=True):
        assert torch.equal(step(resumed, jac)[0], want)


# --- the shared solvers ------------------------------------------------------------------


@pytest.mark.parametrize("simplex", [False, True])
def test_qp_satisfies_kkt_in_a_batch_and_from_a_warm_start(simplex):
    from mtl.plugins.weightings.solvers import qp

    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(6, 4, generator=gen, dtype=torch.float64)  # rank 4: singular Q
    jac[5] = 0
    Q = jac @ jac.T
    C = Q @ torch.randn(6, 5, generator=gen, dtype=torch.float64)  # in Q's range
    C = C.T
    X = qp(Q, C, simplex=simplex)
    for x, c in zip(X, C, strict=True):
        grad = Q @ x + c
        level = float(grad[x > 1e-9].mean()) if simplex else 0.0
        assert float(x.min()) >= 0 and (not simplex or abs(float(x.sum()) - 1) < 1e-12)
        assert float((grad - level).min()) >= -1e-8 * float(Q.diagonal().max())
        assert float(((grad - level) * x).abs().max()) <= 1e-8 * float(Q.diagonal().max())
        alone = qp(Q, c, simplex=simplex)
        assert torch.allclose(alone, x, atol=1e-12)
        start = torch.full_like(x, 1.0 / len(x))
        warm = qp(Q, c, simplex=simplex, start=start)
        assert abs(float(0.5 * warm @ Q @ warm + c @ warm) - float(0.5 * x @ Q @ x + c @ x)) < 1e-9
