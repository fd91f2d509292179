"""Masked-loss kernels: sparse and dense paths against autograd on the dense tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_model, random_indices

from tcomp import TR, ObservedTensor
from tcomp.formats import FORMATS
from tcomp.kernels import choose_path, masked_loss, predict, residuals

ALL = [(name, order) for name in FORMATS for order in (3, 4, 5)]


def observed_for(model, n, seed=0):
    idx = random_indices(model.shape, n, seed=seed)
    values = np.random.RandomState(seed).standard_normal(n)
    return ObservedTensor(idx, values, model.shape, dtype=model.dtype)


def dense_reference_loss(model, observed, reduction):
    """Independent truth: the dense tensor times a 0/1 mask, differentiated by autograd."""
    mask = observed.mask().to(model.dtype)
    target = observed.to_dense(fill_value=0.0)
    sse = ((model.full() - target) * mask).pow(2).sum()
    return sse / observed.n_observed if reduction == "mean" else sse


@pytest.mark.parametrize(("name", "order"), ALL)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("path", ["sparse", "dense"])
def test_gradient_matches_dense_autograd(name, order, reduction, path):
    model = make_model(name, order)
    observed = observed_for(model, 30)
    ref = dense_reference_loss(model, observed, reduction)
    ref_grads = torch.autograd.grad(ref, model.cores)
    loss = masked_loss(model, observed, reduction, path=path)
    grads = torch.autograd.grad(loss, model.cores)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("fused", [True, False])
def test_chunked_paths_match_dense_autograd(name, fused):
    model = make_model(name, 4)
    observed = observed_for(model, 200)
    whole = dense_reference_loss(model, observed, "mean")
    g_whole = torch.autograd.grad(whole, model.cores, retain_graph=True)
    chunked = masked_loss(model, observed, path="sparse", chunk_size=17, fused=fused)
    g_chunked = torch.autograd.grad(chunked, model.cores, retain_graph=not fused)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_chunked, g_whole):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    pred = predict(model, observed.indices, path="sparse", chunk_size=17)
    torch.testing.assert_close(pred, model.full()[tuple(observed.indices.T)])
    res = residuals(model, observed, chunk_size=17, path="sparse")
    torch.testing.assert_close(res.pow(2).mean(), whole)
    # second derivatives need fused=False: a Hessian-vector product through the chunks
    if not fused:
        grads = torch.autograd.grad(chunked, model.cores, create_graph=True)
        ref_grads = torch.autograd.grad(whole, model.cores, create_graph=True)
        v = [torch.ones_like(c) for c in model.cores]
        hv = torch.autograd.grad(grads, model.cores, grad_outputs=v)
        hv_ref = torch.autograd.grad(ref_grads, model.cores, grad_outputs=v)
        for a, b in zip(hv, hv_ref):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", FORMATS)
def test_float32_matches_float64(name):
    model64 = make_model(name, 3)
    model32 = FORMATS[name]([c.detach().float() for c in model64.cores])
    obs = observed_for(model64, 50)
    for path in ("sparse", "dense"):
        l32 = masked_loss(model32, obs.to(dtype="float32"), path=path)
        assert l32.dtype == torch.float32
        torch.testing.assert_close(
            l32.double(), masked_loss(model64, obs, path=path), rtol=1e-5, atol=1e-6
        )


def test_auto_path_choice():
    model = make_model("tucker", 3)
    assert choose_path(model, model.full().numel()) == "dense"
    big = TR.random((1000, 1000, 1000), 3, random_state=0)
    assert choose_path(big, 10**6) == "sparse"
    assert choose_path(big, 10**9, max_dense_bytes=2**40) == "dense"


def test_dense_path_refused_when_too_large():
    big = TR.random((4000, 4000, 4000), 2, random_state=0)
    obs = ObservedTensor([[0, 0, 0]], [1.0], big.shape, dtype="float32")
    with pytest.raises(ValueError, match="max_dense_bytes"):
        masked_loss(big, obs, path="dense")


def test_bad_arguments():
    model = make_model("cp", 3)
    obs = observed_for(model, 10)
    with pytest.raises(ValueError, match="reduction"):
        masked_loss(model, obs, "median")
    with pytest.raises(ValueError, match="path"):
        masked_loss(model, obs, path="fast")
    with pytest.raises(ValueError, match="chunk_size"):
        masked_loss(model, obs, path="sparse", chunk_size=0)
    with pytest.raises(ValueError, match="does not match"):
        masked_loss(model, ObservedTensor([[0, 0]], [1.0], (3, 3)))
    with pytest.raises(TypeError, match="ObservedTensor"):
        masked_loss(model, obs.values)


def test_huge_tensor_ring_never_builds_dense():
    """(4000, 4000, 4000): its dense form needs 256 GB in float32, so only the sparse path passes.

    The gradient is checked against a central finite difference along a random direction
    (float64, so the difference quotient is accurate to about 1e-8 relative).
    """
    shape = (4000, 4000, 4000)
    model = TR.random(shape, 4, random_state=0, dtype=torch.float64)
    rng = np.random.RandomState(0)
    idx = np.stack([rng.randint(0, s, 200_000) for s in shape], axis=1)
    obs = ObservedTensor(idx, rng.standard_normal(200_000), shape, duplicates="mean")
    assert obs.n_observed > 199_000
    loss = masked_loss(model, obs)
    loss.backward()
    assert torch.isfinite(loss)
    direction = [torch.from_numpy(rng.standard_normal(c.shape)) for c in model.cores]
    analytic = sum((c.grad * d).sum() for c, d in zip(model.cores, direction)).item()
    eps = 1e-5
    with torch.no_grad():

        def shifted(sign):
            moved = TR([c + sign * eps * d for c, d in zip(model.cores, direction)])
            return masked_loss(moved, obs).item()

        numeric = (shifted(1) - shifted(-1)) / (2 * eps)
    assert numeric == pytest.approx(analytic, rel=1e-6)
