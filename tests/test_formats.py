"""Formats against tensorly's reconstructions and the rules of multilinearity."""

from __future__ import annotations

import numpy as np
import pytest
import tensorly as tl
import torch
from conftest import SHAPES, UNEVEN_RANKS, make_model, random_indices
from hypothesis import given, settings
from hypothesis import strategies as st

from tcomp.formats import CP, FORMATS, TR, TT, Tucker, get_format

TENSORLY_FULL = {
    "cp": tl.cp_to_tensor,
    "tucker": tl.tucker_to_tensor,
    "tt": tl.tt_to_tensor,
    "tr": tl.tr_to_tensor,
}
ALL = [(name, order) for name in FORMATS for order in (3, 4, 5)]


def test_registry_covers_every_reference():
    assert set(FORMATS) == set(TENSORLY_FULL) == set(UNEVEN_RANKS)


@pytest.mark.parametrize(("name", "order"), ALL)
def test_full_equals_tensorly(name, order):
    model = make_model(name, order)
    ours = model.full().detach().numpy()
    ref = TENSORLY_FULL[name](model.to_tensorly())
    assert ours.shape == SHAPES[order]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)  # float64 round-off


@pytest.mark.parametrize(("name", "order"), ALL)
def test_entries_equal_full(name, order):
    model = make_model(name, order)
    idx = random_indices(model.shape, 40)
    full = model.full().detach()
    np.testing.assert_allclose(
        model.entries(idx).detach().numpy(), full[tuple(idx.T)].numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("name", FORMATS)
def test_tensorly_round_trip_and_other_backend(name):
    model = make_model(name)
    back = FORMATS[name].from_tensorly(model.to_tensorly())
    assert back.rank == model.rank and back.shape == model.shape
    for a, b in zip(model.cores, back.cores):
        assert torch.equal(a.detach(), b.detach())
    with tl.backend_context("pytorch"):
        obj = model.to_tensorly()
        assert all(isinstance(f, torch.Tensor) for f in getattr(obj, "factors", obj[1]))
        back_pt = FORMATS[name].from_tensorly(obj)
    assert torch.equal(back_pt.full(), model.full())
    assert tl.get_backend() == "numpy"


def test_cp_from_tensorly_folds_weights():
    cp = tl.random.random_cp((4, 5, 6), 3, random_state=0)
    cp.weights = np.array([2.0, -1.0, 0.5])
    model = CP.from_tensorly(cp)
    np.testing.assert_allclose(model.full().detach().numpy(), tl.cp_to_tensor(cp), atol=1e-12)


@pytest.mark.parametrize(("name", "order"), ALL)
def test_rescale_with_unit_product_keeps_tensor(name, order, rng):
    model = make_model(name, order)
    before = model.full().detach().clone()
    k = len(model.cores)
    factors = np.exp(rng.standard_normal(k))
    factors[-1] = 1.0 / np.prod(factors[:-1])
    norms = model.core_norms()
    model.rescale_(factors)
    torch.testing.assert_close(model.full().detach(), before, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(model.core_norms(), norms * torch.tensor(factors) ** 2)
    with pytest.raises(ValueError, match="one entry per core"):
        model.rescale_(factors[:-1])


@pytest.mark.parametrize("name", FORMATS)
def test_random_init_balanced_scale_and_seed(name):
    shape, rank = (20, 30, 25), UNEVEN_RANKS[name][3]
    model = FORMATS[name].random(shape, rank, random_state=3, init_scale=2.0)
    norms = model.core_norms()
    torch.testing.assert_close(norms, norms.mean().expand_as(norms), rtol=1e-5, atol=0)
    rms = model.full().detach().pow(2).mean().sqrt().item()
    assert 1.0 < rms < 4.0  # init_scale = 2 is the expected RMS; a random draw lands near
    assert model.dtype == torch.float32
    same = FORMATS[name].random(shape, rank, random_state=3, init_scale=2.0)
    assert all(torch.equal(a, b) for a, b in zip(model.cores, same.cores))
    unbalanced = FORMATS[name].random(shape, rank, random_state=3, balanced=False)
    assert unbalanced.n_params == model.n_params


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(FORMATS)),
    order=st.sampled_from([3, 4]),
    seed=st.integers(0, 2**31 - 1),
    n_obs=st.integers(5, 40),
)
def test_euler_identity(name, order, seed, n_obs):
    """<G_k, dL/dG_k> = <T, dL/dT> is the same for every core (multilinearity)."""
    from tcomp import ObservedTensor
    from tcomp.kernels import masked_loss

    model = make_model(name, order, seed=seed)
    idx = random_indices(model.shape, n_obs, seed=seed)
    values = np.random.RandomState(seed).standard_normal(n_obs)
    loss = masked_loss(model, ObservedTensor(idx, values, model.shape), "sum")
    grads = torch.autograd.grad(loss, model.cores)
    inner = torch.stack([(c * g).sum() for c, g in zip(model.cores, grads)]).detach()
    torch.testing.assert_close(inner, inner.mean().expand_as(inner), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    ("cls", "shape", "rank", "error", "match"),
    [
        (CP, (3, 4), 0, ValueError, ">= 1"),
        (CP, (3, 4), (2, 2), TypeError, "integer"),
        (CP, (3, 4), 2.5, TypeError, "integer"),
        (Tucker, (3, 4, 5), (2, 2), ValueError, "sequence of 3"),
        (Tucker, (3, 4, 5), (2, 0, 2), ValueError, ">= 1"),
        (TT, (3, 4, 5), (2, 2, 2, 2), ValueError, "boundary ranks must be 1"),
        (TT, (3, 4, 5), (1, 2, 1), ValueError, "sequence of 4"),
        (TR, (3, 4, 5), (2, 3, 4, 5), ValueError, "close the ring"),
        (TR, (3, 4, 5), "abc", TypeError, "int or a sequence"),
        (CP, (3,), 2, ValueError, "order >= 2"),
        (CP, (3, 0), 2, ValueError, ">= 1"),
    ],
)
def test_bad_rank_or_shape_raises(cls, shape, rank, error, match):
    with pytest.raises(error, match=match):
        cls.random(shape, rank)


def test_int_rank_expands_like_tensorly():
    assert TT.random((3, 4, 5), 2).rank == (1, 2, 2, 1)
    assert TR.random((3, 4, 5), 2).rank == (2, 2, 2, 2)
    assert Tucker.random((3, 4, 5), 2).rank == (2, 2, 2)


@pytest.mark.parametrize(
    ("cls", "cores", "match"),
    [
        (CP, [np.ones((3, 2)), np.ones((4, 3))], "share one rank"),
        (Tucker, [np.ones((2, 2)), np.ones((3, 2)), np.ones((4, 3))], "must have shape"),
        (TT, [np.ones((1, 3, 2)), np.ones((3, 4, 1))], "matching ranks"),
        (TT, [np.ones((2, 3, 2)), np.ones((2, 4, 2))], "boundary ranks"),
        (TR, [np.ones((2, 3, 3)), np.ones((3, 4, 4))], "close the ring"),
        (TR, [np.ones((2, 3)), np.ones((3, 4, 2))], "3-D"),
    ],
)
def test_inconsistent_cores_raise(cls, cores, match):
    with pytest.raises(ValueError, match=match):
        cls(cores)


def test_bad_indices_and_format_name():
    model = make_model("tr")
    with pytest.raises(ValueError, match="out of range"):
        model.entries(torch.tensor([[0, 0, 99]]))
    with pytest.raises(TypeError, match="integer"):
        model.entries(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shape"):
        model.entries(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="format must be one of"):
        get_format("hosvd")
    assert get_format("TR") is TR


def test_constructor_copies_cores():
    core = torch.ones(1, 3, 1)
    model = TT([core, torch.ones(1, 2, 1)])
    model.rescale_([2.0, 1.0])
    assert core.sum().item() == 3.0
