"""The fit loop and the diagnostics: history, early stopping, divergence, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tcomp import TR, ObservedTensor, Tucker, fit
from tcomp.diagnostics import (
    loss_profile,
    norm_deviation,
    norm_gradient_covariance,
    top_hessian_eigenvalue,
)
from tcomp.formats import FORMATS
from tcomp.kernels import masked_loss
from tcomp.optim import SOLVERS


def planted(name="tr", shape=(12, 10, 8), rank=2, seed=0, noise=0.0):
    truth = FORMATS[name].random(shape, rank, random_state=seed, dtype=torch.float64)
    dense = truth.full().detach().numpy()
    dense = dense + noise * np.random.RandomState(seed).standard_normal(dense.shape)
    return ObservedTensor.from_dense(dense)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("name", FORMATS)
def test_every_solver_fits_every_format(solver, name):
    obs = planted(name)
    train, val = obs.split(0.5, random_state=0)
    model = FORMATS[name].random(obs.shape, 2, random_state=1, dtype=torch.float64)
    start = masked_loss(model, val).item()
    result = fit(
        model,
        train,
        solver=solver,
        lr=0.02,
        rho=0.01,
        alpha=0.01,
        n_iter=400,
        validation=val,
        record_every=20,
    )
    assert result.success and result.status == 0 and result.n_iter == 400
    assert result.history["val_loss"][-1] < 0.2 * start
    h = result.history
    assert h["iteration"][:3] == [0, 20, 40] and h["iteration"][-1] == 399
    assert len(h["core_sq_norms"][0]) == len(model.cores)
    # recorded Q equals Definition 1 applied to the recorded norms
    s = np.array(h["core_sq_norms"][-1])
    assert h["norm_deviation"][-1] == pytest.approx(((s - s.mean()) ** 2).sum(), rel=1e-9)
    assert all(np.diff(h["time"]) >= 0)


def test_same_seed_same_history():
    obs = planted()
    runs = []
    for _ in range(2):
        model = TR.random(obs.shape, 2, random_state=3, dtype=torch.float64)
        runs.append(fit(model, obs, solver="das", n_iter=50, alpha=0.5).history)
    for key in ("loss", "norm_deviation", "covariance", "grad_norm", "core_sq_norms"):
        assert runs[0][key] == runs[1][key]


def test_early_stopping_restores_best_iterate():
    obs = planted(noise=0.3)  # noisy: a flexible model overfits the training part
    train, val = obs.split(0.3, random_state=0)
    model = TR.random(obs.shape, 4, random_state=1, dtype=torch.float64)
    result = fit(
        model,
        train,
        solver="gd",
        lr=0.05,
        n_iter=3000,
        validation=val,
        early_stopping=True,
        patience=20,
        tol=1e-4,
    )
    h = result.history
    assert result.status == 1 and result.success
    best = int(np.argmin(h["val_loss"]))
    assert result.best_iteration == h["iteration"][best]
    assert masked_loss(model, val).item() == pytest.approx(min(h["val_loss"]), rel=1e-9)
    assert result.n_iter < 3000


def test_callback_stops_and_diverging_fit_restores_finite_cores():
    obs = planted()
    model = TR.random(obs.shape, 2, random_state=1, dtype=torch.float64)
    result = fit(model, obs, solver="gd", n_iter=100, callback=lambda info: info["iteration"] >= 5)
    assert result.status == 2 and result.n_iter == 5
    model = TR.random(obs.shape, 2, random_state=1, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="diverged"):
        result = fit(model, obs, solver="gd", optimizer="sgd", lr=1e6, n_iter=200)
    assert not result.success and result.status == 3 and "diverged" in result.message
    assert all(torch.isfinite(c).all() for c in model.cores)
    assert np.isfinite(result.loss)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_iter": 0}, ValueError, "n_iter"),
        ({"solver": "lbfgs"}, ValueError, "solver"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"reduction": "max"}, ValueError, "reduction"),
        ({"tol": -1}, ValueError, "tol"),
        ({"validation": "x"}, TypeError, "validation"),
        ({"callback": 3}, TypeError, "callback"),
    ],
)
def test_fit_bad_arguments(kwargs, error, match):
    obs = planted()
    model = TR.random(obs.shape, 2, random_state=1)
    with pytest.raises(error, match=match):
        fit(model, obs, **kwargs)


def test_fit_refuses_mismatched_shape():
    model = TR.random((3, 4, 5), 2, random_state=1)
    with pytest.raises(ValueError, match="shape"):
        fit(model, planted())


def test_diagnostics_against_hand_formulas():
    cores = [torch.ones(2, 2), 2 * torch.ones(3), torch.zeros(1)]  # s = 4, 12, 0
    assert float(norm_deviation(cores)) == pytest.approx(
        (4 - 16 / 3) ** 2 + (12 - 16 / 3) ** 2 + (16 / 3) ** 2
    )
    grads = [torch.ones(2, 2), torch.zeros(3), 3 * torch.ones(1)]  # gamma = 4, 0, 9
    s, g = np.array([4.0, 12.0, 0.0]), np.array([4.0, 0.0, 9.0])
    expected = np.mean((s - s.mean()) * (g - g.mean()))
    assert float(norm_gradient_covariance(cores, grads)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="one gradient per core"):
        norm_gradient_covariance(cores, grads[:2])


def test_top_hessian_eigenvalue_matches_dense_hessian():
    obs = planted("tucker", shape=(4, 3), rank=(2, 2), noise=0.1)
    model = Tucker.random((4, 3), (2, 2), random_state=2, dtype=torch.float64)
    fit(model, obs, solver="gd", lr=0.05, n_iter=300)
    shapes = [c.shape for c in model.cores]
    sizes = [c.numel() for c in model.cores]

    def loss_flat(flat):
        parts = torch.split(flat, sizes)
        cores = [p.reshape(s) for p, s in zip(parts, shapes)]
        return ((Tucker._entries_from(cores, obs.indices) - obs.values) ** 2).mean()

    flat = torch.cat([c.detach().flatten() for c in model.cores])
    eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_flat, flat))
    dominant = eig[eig.abs().argmax()].item()
    estimate = top_hessian_eigenvalue(model, obs, n_iter=500, tol=1e-10, random_state=0)
    assert estimate == pytest.approx(dominant, rel=1e-4)


def test_loss_profile_restores_model_and_is_minimal_at_zero():
    obs = planted()
    model = TR.random(obs.shape, 2, random_state=1, dtype=torch.float64)
    fit(model, obs, solver="gd", lr=0.02, n_iter=300)
    before = [c.detach().clone() for c in model.cores]
    prof = loss_profile(
        model,
        obs,
        steps=np.linspace(-0.2, 0.2, 9),
        random_state=0,
        metrics={"double": lambda m: 2 * masked_loss(m, obs).item()},
    )
    assert all(torch.equal(a, b) for a, b in zip(model.cores, before))
    assert prof["loss"][4] == pytest.approx(masked_loss(model, obs).item())
    assert np.argmin(prof["loss"]) == 4  # at a (near) minimum the centre is lowest
    np.testing.assert_allclose(prof["double"], 2 * prof["loss"])
    again = loss_profile(model, obs, steps=np.linspace(-0.2, 0.2, 9), random_state=0)
    np.testing.assert_array_equal(again["loss"], prof["loss"])


@pytest.mark.parametrize("scale", ["per_core", "global"])
def test_loss_profile_direction_scale(scale):
    obs = planted()
    model = TR.random(obs.shape, 2, random_state=1, dtype=torch.float64)
    model.rescale_([4.0, 0.5, 0.5])
    start = [c.detach().clone() for c in model.cores]

    def core_distances(m):
        return [float((c - c0).norm()) for c, c0 in zip(m.cores, start)]

    steps = [-2.0, 0.5, 1.5]
    prof = loss_profile(
        model,
        obs,
        steps,
        random_state=3,
        scale=scale,
        metrics={f"d{k}": (lambda m, k=k: core_distances(m)[k]) for k in range(3)},
    )
    dist = np.stack([prof[f"d{k}"] for k in range(3)], axis=1)  # (steps, cores)
    if scale == "global":  # a unit direction over all cores: the distance moved is |t|
        np.testing.assert_allclose(np.sqrt((dist**2).sum(axis=1)), np.abs(steps), rtol=1e-12)
    else:  # each core moves by |t| times its own norm
        norms = np.array([float(c.norm()) for c in start])
        np.testing.assert_allclose(dist, np.abs(np.array(steps))[:, None] * norms, rtol=1e-12)


def test_diagnostics_refuse_bad_arguments():
    obs = planted()
    model = TR.random(obs.shape, 2, random_state=1, dtype=torch.float64)
    with pytest.raises(ValueError, match="n_iter"):
        top_hessian_eigenvalue(model, obs, n_iter=0)
    with pytest.raises(ValueError, match="tol"):
        top_hessian_eigenvalue(model, obs, tol=-1.0)
    with pytest.raises(ValueError, match="steps"):
        loss_profile(model, obs, steps=[])
    with pytest.raises(ValueError, match="scale"):
        loss_profile(model, obs, scale="layer")
