"""SAM and DAS against the formulas of METHOD.md, and the norm-dynamics theorems."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import make_model, random_indices

from tcomp import ObservedTensor, Tucker
from tcomp.diagnostics import norm_deviation, norm_gradient_covariance, sam_predicted_dq
from tcomp.formats import FORMATS
from tcomp.kernels import masked_loss
from tcomp.optim import DAS, SAM, alpha_at, make_optimizer


def noisy_problem(model, n=60, seed=0):
    idx = random_indices(model.shape, n, seed=seed)
    values = np.random.RandomState(seed).standard_normal(n) * 2.0
    return ObservedTensor(idx, values, model.shape, dtype=model.dtype)


def grads_at(cls, cores, observed, reduction="sum"):
    """Independent gradient: a fresh model on copies of the cores, differentiated by autograd."""
    model = cls([c.detach().clone() for c in cores])
    loss = masked_loss(model, observed, reduction)
    return [g.detach() for g in torch.autograd.grad(loss, model.cores)]


def closure_for(model, observed, opt, reduction="sum"):
    def closure():
        opt.zero_grad()
        loss = masked_loss(model, observed, reduction)
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("name", FORMATS)
def test_sam_step_equals_formula(name):
    model = make_model(name)
    obs = noisy_problem(model)
    cls = FORMATS[name]
    lr, rho = 0.01, 0.05
    G = [c.detach().clone() for c in model.cores]
    g = grads_at(cls, G, obs)
    norm = torch.sqrt(sum((x * x).sum() for x in g))
    g_tilde = grads_at(cls, [c + rho * x / norm for c, x in zip(G, g)], obs)
    expected = [c - lr * x for c, x in zip(G, g_tilde)]
    opt = SAM(model.parameters(), torch.optim.SGD, rho=rho, lr=lr)
    loss = opt.step(closure_for(model, obs, opt))
    assert loss.item() == pytest.approx(masked_loss(cls(G), obs, "sum").item(), rel=1e-12)
    for c, e in zip(model.cores, expected):
        torch.testing.assert_close(c.detach(), e, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", FORMATS)
def test_das_step_equals_formula(name):
    model = make_model(name)
    model.rescale_(np.linspace(0.6, 1.5, len(model.cores)))  # unequal norms and gradients
    obs = noisy_problem(model)
    cls = FORMATS[name]
    lr, alpha = 0.01, 0.3
    G = [c.detach().clone() for c in model.cores]
    g = grads_at(cls, G, obs)
    gamma = np.array([float((x * x).sum()) for x in g])
    s = np.array([float((c * c).sum()) for c in G])
    u = (len(G) * gamma.mean()) ** -0.5
    lam = lr * alpha * u * (gamma - gamma.mean()) / s
    expected = [(1 + lk) * c - lr * x for lk, c, x in zip(lam, G, g)]
    opt = DAS(model.parameters(), torch.optim.SGD, alpha=alpha, lr=lr)
    opt.step(closure_for(model, obs, opt))
    for c, e in zip(model.cores, expected):
        torch.testing.assert_close(c.detach(), e, rtol=0, atol=1e-9)
    np.testing.assert_allclose(opt.last_stats[0]["lambda"].numpy(), lam, rtol=1e-9)
    assert float((opt.last_stats[0]["lambda"] * opt.last_stats[0]["s"]).sum()) == pytest.approx(
        0.0, abs=1e-12
    )


def tucker2(seed=0, noise=1.0):
    """The paper's toy model: A G B^T (Tucker of order 2, three cores) fitted to noisy data."""
    rng = np.random.RandomState(seed)
    model = Tucker.random((12, 10), (3, 3), random_state=seed, dtype=torch.float64)
    model.rescale_([0.5, 2.0, 1.0])  # unbalanced, so Cov(s, gamma) is clearly non-zero
    target = rng.standard_normal((12, 10)) * noise
    return model, ObservedTensor.from_dense(target)


def sq_norms(model):
    return model.core_norms().numpy()


def one_step_change(make, opt_factory, reduction="sum"):
    model, obs = make()
    before = sq_norms(model)
    opt = opt_factory(model)
    closure = closure_for(model, obs, opt, reduction)
    if isinstance(opt, SAM):
        opt.step(closure)
    else:
        closure()
        opt.step()
    return before, sq_norms(model)


def test_theorem1_gradient_descent_conserves_norm_differences_to_first_order():
    changes = {}
    for lr in (1e-4, 5e-5):
        before, after = one_step_change(
            tucker2, lambda m, lr=lr: torch.optim.SGD(m.parameters(), lr=lr)
        )
        diff = after - before
        changes[lr] = (diff[0] - diff[1], np.abs(diff).max())
    # each s_k moves at first order, but s_0 - s_1 only at second order: halving lr divides
    # the single-norm change by 2 and the difference change by 4
    assert changes[1e-4][1] / changes[5e-5][1] == pytest.approx(2.0, rel=0.01)
    assert changes[1e-4][0] / changes[5e-5][0] == pytest.approx(4.0, rel=0.05)
    assert abs(changes[1e-4][0]) < 1e-2 * changes[1e-4][1]


@pytest.mark.parametrize("noise", [0.5, 1.0, 1.5])
def test_theorem3_sam_and_das_change_q_as_predicted(noise):
    lr, rho = 1e-8, 1e-3  # lr << rho: the O(lr^2) step error stays below 0.1% of the effect

    def make():
        return tucker2(seed=1, noise=noise)

    model, obs = make()
    g = grads_at(Tucker, model.cores, obs)
    predicted = float(sam_predicted_dq(model.cores, g, lr, rho))
    cov = float(norm_gradient_covariance(model.cores, g))
    assert cov < 0  # small cores have large gradients
    q0 = float(norm_deviation(model.cores))
    _, after_sam = one_step_change(
        make, lambda m: SAM(m.parameters(), torch.optim.SGD, rho=rho, lr=lr)
    )
    _, after_das = one_step_change(
        make, lambda m: DAS(m.parameters(), torch.optim.SGD, alpha=rho, lr=lr)
    )
    _, after_gd = one_step_change(make, lambda m: torch.optim.SGD(m.parameters(), lr=lr))
    dq_sam = float(norm_deviation(torch.from_numpy(after_sam))) - q0
    dq_das = float(norm_deviation(torch.from_numpy(after_das))) - q0
    dq_gd = float(norm_deviation(torch.from_numpy(after_gd))) - q0
    assert dq_sam / predicted == pytest.approx(1.0, abs=0.05)
    assert dq_das / predicted == pytest.approx(1.0, abs=0.05)
    assert abs(dq_gd) < 0.01 * abs(predicted)  # gradient descent: Q conserved to first order


def relative_q_change_under_fresh_noise(solver, noise, n_steps=300, lr=0.01, rho=0.5):
    """The paper's Figure 1 loss E_N ||A G B^T - (T + noise N)||^2: N drawn anew every step."""
    clean = Tucker.random((12, 10), (3, 3), random_state=0, dtype=torch.float64).full().detach()
    model = Tucker.random((12, 10), (3, 3), random_state=1, dtype=torch.float64)
    model.rescale_([0.5, 2.0, 1.0])
    params = list(model.parameters())
    if solver == "sgd":
        opt = torch.optim.SGD(params, lr=lr)
    elif solver == "sam":
        opt = SAM(params, torch.optim.SGD, rho=rho, lr=lr)
    else:
        opt = DAS(params, torch.optim.SGD, alpha=rho, lr=lr)
    gen = torch.Generator().manual_seed(2)
    q0 = float(norm_deviation(model.cores))
    for _ in range(n_steps):
        target = clean + noise * torch.randn(clean.shape, generator=gen, dtype=torch.float64)

        def closure(target=target):
            opt.zero_grad()
            loss = (model.full() - target).pow(2).mean()
            loss.backward()
            return loss

        if solver == "sam":
            opt.step(closure)
        else:
            closure()
            opt.step()
    return float(norm_deviation(model.cores)) / q0 - 1.0


def test_figure1_sam_and_das_balance_faster_with_more_noise():
    change = {
        (solver, noise): relative_q_change_under_fresh_noise(solver, noise)
        for solver in ("sgd", "sam", "das")
        for noise in (0.5, 1.5)
    }
    for noise in (0.5, 1.5):
        assert abs(change["sgd", noise]) < 0.05 * abs(change["sam", noise])  # Q flat under SGD
        assert change["sam", noise] < 0 and change["das", noise] < 0
    # the noise keeps gradients from vanishing, so the balancing goes on and is faster
    assert change["sam", 1.5] < 1.3 * change["sam", 0.5]
    assert change["das", 1.5] < 1.3 * change["das", 0.5]


def test_das_changes_total_norm_only_at_second_order():
    """sum_k lambda_k s_k = 0, so DAS moves sum_k s_k like GD up to O(lr^2) terms."""
    gaps = []
    for lr in (1e-3, 5e-4):
        _, after_das = one_step_change(
            tucker2, lambda m, lr=lr: DAS(m.parameters(), torch.optim.SGD, alpha=5.0, lr=lr)
        )
        before, after_gd = one_step_change(
            tucker2, lambda m, lr=lr: torch.optim.SGD(m.parameters(), lr=lr)
        )
        gaps.append((after_das.sum() - after_gd.sum(), abs(after_gd.sum() - before.sum())))
    assert gaps[0][0] / gaps[1][0] == pytest.approx(4.0, rel=0.05)
    assert abs(gaps[0][0]) < 0.1 * gaps[0][1]


class TwoFactorizedLayers(torch.nn.Module):
    """A LoRA-style product A B and a TT-factorized weight: two scale-invariant groups."""

    def __init__(self, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.a = torch.nn.Parameter(torch.randn(8, 3, generator=gen, dtype=torch.float64) * 0.7)
        self.b = torch.nn.Parameter(torch.randn(3, 16, generator=gen, dtype=torch.float64) * 0.7)
        self.tt1 = torch.nn.Parameter(torch.randn(1, 4, 4, 3, generator=gen, dtype=torch.float64))
        self.tt2 = torch.nn.Parameter(torch.randn(3, 4, 2, 1, generator=gen, dtype=torch.float64))

    def forward(self, x):
        h = torch.tanh(x @ (self.a @ self.b))  # (n, 16)
        w = torch.einsum("aijr,rklb->ikjl", self.tt1, self.tt2).reshape(16, 8)
        return h @ w

    def groups(self):
        return [{"params": [self.a, self.b]}, {"params": [self.tt1, self.tt2]}]


def test_das_trains_a_network_with_one_u_per_group():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(128, 8, generator=gen, dtype=torch.float64)
    teacher = TwoFactorizedLayers(seed=5)
    with torch.no_grad():
        y = teacher(x)
    net = TwoFactorizedLayers(seed=0)
    opt = DAS(net.groups(), torch.optim.Adam, alpha=0.05, lr=0.01)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = (net(x) - y).pow(2).mean()
        loss.backward()
        first = first if first is not None else loss.detach().item()
        opt.step()
    assert loss.item() < 0.2 * first
    stats = opt.last_stats
    assert len(stats) == 2 and all(len(s["gamma"]) == 2 for s in stats)
    for s in stats:  # u is computed from the group's own gradients only
        assert float(s["u"]) == pytest.approx(float((2 * s["gamma"].mean()) ** -0.5), rel=1e-12)
    assert float(stats[0]["u"]) != pytest.approx(float(stats[1]["u"]), rel=1e-3)


def test_sam_global_vs_group_norm():
    m1, m2 = make_model("cp"), make_model("tt")
    obs1, obs2 = noisy_problem(m1), noisy_problem(m2, seed=1)
    for scope in ("global", "group"):
        opt = SAM(
            [{"params": m1.parameters()}, {"params": m2.parameters()}],
            torch.optim.SGD,
            rho=0.1,
            grad_norm=scope,
            lr=0.0,
        )
        opt.zero_grad()
        (masked_loss(m1, obs1, "sum") + masked_loss(m2, obs2, "sum")).backward()
        g1 = [c.grad.clone() for c in m1.cores]
        g2 = [c.grad.clone() for c in m2.cores]
        before = [c.detach().clone() for c in m1.cores]
        opt.first_step()
        n1 = torch.sqrt(sum((g * g).sum() for g in g1))
        n_all = torch.sqrt(n1**2 + sum((g * g).sum() for g in g2))
        norm = n_all if scope == "global" else n1
        for c, b, g in zip(m1.cores, before, g1):
            torch.testing.assert_close(c.detach(), b + 0.1 * g / norm)
        opt.second_step()
        for c, b in zip(m1.cores, before):
            assert torch.equal(c.detach(), b)  # restored exactly (lr = 0)


@pytest.mark.parametrize("cls", [SAM, DAS])
def test_state_dict_round_trip_and_scheduler(cls):
    model = make_model("tr")
    obs = noisy_problem(model)
    opt = cls(model.parameters(), torch.optim.Adam, lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.step(closure_for(model, obs, opt))
        sched.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**3)
    state = copy.deepcopy(opt.state_dict())  # as if saved to disk: no shared tensors
    other = make_model("tr")
    other.load_state_dict(model.state_dict())
    opt2 = cls(other.parameters(), torch.optim.Adam, lr=0.5)
    opt2.load_state_dict(state)
    assert opt2.base_optimizer.param_groups is opt2.param_groups
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**3)
    for _ in range(2):
        opt.step(closure_for(model, obs, opt))
        opt2.step(closure_for(other, obs, opt2))
    for a, b in zip(model.cores, other.cores):
        assert torch.equal(a, b)  # Adam moments came across: identical continuation


def test_alpha_schedules():
    assert alpha_at(0.2, "constant", 7, None) == 0.2
    assert alpha_at(0.2, "linear", 0, 10) == 0.2
    assert alpha_at(0.2, "linear", 5, 10) == pytest.approx(0.1)
    assert alpha_at(0.2, "linear", 12, 10) == 0.0
    assert alpha_at(0.2, "cosine", 5, 10) == pytest.approx(0.1)
    assert alpha_at(0.2, "cosine", 10, 10) == pytest.approx(0.0)
    model = make_model("cp")
    obs = noisy_problem(model)
    opt = DAS(
        model.parameters(),
        torch.optim.SGD,
        alpha=0.2,
        alpha_schedule="linear",
        total_steps=4,
        lr=1e-3,
    )
    used = []
    for _ in range(4):
        closure_for(model, obs, opt)()
        opt.step()
        used.append(opt.last_stats[0]["alpha"])
    assert used == pytest.approx([0.2, 0.15, 0.1, 0.05])


def test_guards_zero_gradient_and_zero_core():
    model = Tucker.random((4, 5), (2, 2), random_state=0, dtype=torch.float64)
    with torch.no_grad():
        model.cores[2].zero_()  # T = 0 and the core G has zero gradient
    obs = ObservedTensor.from_dense(np.ones((4, 5)))
    opt = DAS(model.parameters(), torch.optim.SGD, alpha=10.0, lr=0.1)
    closure_for(model, obs, opt)()
    opt.step()
    lam = opt.last_stats[0]["lambda"]
    assert torch.isfinite(lam).all()
    assert lam[2] == 0  # s = 0 core left unscaled
    big = DAS(model.parameters(), torch.optim.SGD, alpha=1e6, lr=1.0)
    closure_for(model, obs, big)()
    big.rescale()
    assert (1 + big.last_stats[0]["lambda"] > 0).all()


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda p: SAM(p, torch.optim.SGD, rho=-1, lr=0.1), ValueError, "rho"),
        (lambda p: SAM(p, torch.optim.SGD(p, lr=0.1), lr=0.1), TypeError, "class"),
        (lambda p: SAM(p, dict, lr=0.1), TypeError, "Optimizer subclass"),
        (lambda p: SAM(p, torch.optim.SGD, grad_norm="layer", lr=0.1), ValueError, "grad_norm"),
        (lambda p: DAS(p, torch.optim.SGD, alpha=float("nan"), lr=0.1), ValueError, "alpha"),
        (lambda p: DAS(p, torch.optim.SGD, alpha_schedule="step", lr=0.1), ValueError, "schedule"),
        (
            lambda p: DAS(p, torch.optim.SGD, alpha_schedule="linear", lr=0.1),
            ValueError,
            "total_steps",
        ),
        (lambda p: make_optimizer(p, "adamw"), ValueError, "solver"),
        (lambda p: make_optimizer(p, "gd", "rmsprop"), ValueError, "optimizer"),
        (lambda p: make_optimizer(p, "gd", lr=0), ValueError, "lr"),
    ],
)
def test_bad_arguments(factory, error, match):
    params = list(make_model("cp").parameters())
    with pytest.raises(error, match=match):
        factory(params)


def test_sam_step_requires_closure():
    opt = SAM(make_model("cp").parameters(), torch.optim.SGD, lr=0.1)
    with pytest.raises(ValueError, match="closure"):
        opt.step()
