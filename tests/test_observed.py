"""ObservedTensor: construction, validation, splitting and conversions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tcomp import ObservedTensor


def test_from_dense_nan_round_trip(rng):
    dense = rng.standard_normal((4, 5, 6))
    dense[rng.rand(*dense.shape) < 0.4] = np.nan
    original = dense.copy()
    obs = ObservedTensor.from_dense(dense)
    assert obs.n_observed == int(np.isfinite(dense).sum())
    assert obs.density == pytest.approx(obs.n_observed / dense.size)
    back = obs.to_dense().numpy()
    np.testing.assert_array_equal(np.isnan(back), np.isnan(dense))
    np.testing.assert_array_equal(back[~np.isnan(back)], dense[~np.isnan(dense)])
    np.testing.assert_array_equal(dense, original)  # caller's array untouched (NaN-aware)


def test_from_dense_with_mask_and_torch_input(rng):
    dense = torch.from_numpy(rng.standard_normal((3, 4)))
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[0, 1] = mask[2, 3] = True
    obs = ObservedTensor.from_dense(dense, mask)
    assert obs.indices.tolist() == [[0, 1], [2, 3]]
    assert obs.values.tolist() == [dense[0, 1].item(), dense[2, 3].item()]
    assert obs.mask().equal(mask)


def test_constructor_copies_inputs():
    idx = np.array([[0, 0], [1, 1]])
    vals = np.array([1.0, 2.0])
    obs = ObservedTensor(idx, vals, (2, 2))
    obs.values += 1  # mutating the stored copy must not reach the caller
    obs.indices[0, 0] = 1
    assert vals.tolist() == [1.0, 2.0] and idx[0, 0] == 0
    t_vals = torch.tensor([1.0, 2.0])
    obs2 = ObservedTensor(torch.tensor(idx), t_vals, (2, 2))
    obs2.values.mul_(3)
    assert t_vals.tolist() == [1.0, 2.0]


def test_dtype_kept_and_converted():
    obs = ObservedTensor([[0]], np.array([1.0], dtype=np.float32), (3,))
    assert obs.dtype == torch.float32
    assert ObservedTensor([[0]], [1.0], (3,)).dtype == torch.float64  # numpy default float64
    moved = obs.to(dtype="float64")
    assert moved.dtype == torch.float64 and moved.indices.dtype == torch.int64
    assert obs.dtype == torch.float32


def test_split_is_disjoint_complete_and_reproducible(rng):
    dense = rng.standard_normal((6, 7, 8))
    obs = ObservedTensor.from_dense(dense)
    a, b = obs.split(0.3, random_state=1)
    assert a.n_observed == round(0.3 * obs.n_observed)
    assert a.n_observed + b.n_observed == obs.n_observed
    keys_a = {tuple(r) for r in a.indices.tolist()}
    keys_b = {tuple(r) for r in b.indices.tolist()}
    assert not keys_a & keys_b
    assert len(keys_a | keys_b) == obs.n_observed
    a2, _ = obs.split(0.3, random_state=1)
    assert a2.indices.equal(a.indices) and a2.values.equal(a.values)
    a3, _ = obs.split(0.3, random_state=2)
    assert not a3.indices.equal(a.indices)
    # values travel with their indices
    np.testing.assert_array_equal(a.values.numpy(), dense[tuple(a.indices.numpy().T)])


def test_duplicates_aggregated_on_request():
    idx = [[0, 1], [1, 1], [0, 1]]
    with pytest.raises(ValueError, match="duplicate indices"):
        ObservedTensor(idx, [1.0, 2.0, 3.0], (2, 2))
    summed = ObservedTensor(idx, [1.0, 2.0, 3.0], (2, 2), duplicates="sum")
    assert summed.n_observed == 2
    assert dict(zip(map(tuple, summed.indices.tolist()), summed.values.tolist())) == {
        (0, 1): 4.0,
        (1, 1): 2.0,
    }
    mean = ObservedTensor(idx, [1.0, 2.0, 3.0], (2, 2), duplicates="mean")
    assert dict(zip(map(tuple, mean.indices.tolist()), mean.values.tolist()))[(0, 1)] == 2.0


@pytest.mark.parametrize(
    ("indices", "values", "shape", "error", "match"),
    [
        ([[0, 5]], [1.0], (2, 2), ValueError, "out of range"),
        ([[0, -1]], [1.0], (2, 2), ValueError, "non-negative"),
        ([[0.0, 1.0]], [1.0], (2, 2), TypeError, "integer dtype"),
        ([0, 1], [1.0, 2.0], (2,), ValueError, "2-D"),
        ([[0, 1, 1]], [1.0], (2, 2), ValueError, "columns"),
        ([[0, 1]], [1.0, 2.0], (2, 2), ValueError, "same length"),
        ([[0, 1]], [np.nan], (2, 2), ValueError, "finite"),
        ([[0, 1]], [np.inf], (2, 2), ValueError, "finite"),
        (np.zeros((0, 2), dtype=int), np.zeros(0), (2, 2), ValueError, "no observed"),
        ([[0, 0]], [1.0], (2, 0), ValueError, ">= 1"),
        ([[0, 0]], [1.0], (2, -3), ValueError, ">= 1"),
        ([[0, 0]], [[1.0]], (2, 2), ValueError, "1-D"),
    ],
)
def test_bad_input_raises(indices, values, shape, error, match):
    with pytest.raises(error, match=match):
        ObservedTensor(indices, values, shape)


def test_bad_split_and_mask():
    obs = ObservedTensor([[0], [1]], [1.0, 2.0], (3,))
    for fraction in (0.0, 1.0, -0.5, 0.1):
        with pytest.raises(ValueError):
            obs.split(fraction)
    with pytest.raises(ValueError, match="mask shape"):
        ObservedTensor.from_dense(np.ones((2, 2)), mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="finite"):
        ObservedTensor.from_dense(np.array([1.0, np.nan]), mask=np.array([True, True]))


def test_split_by_groups_keeps_fibers_together(rng):
    dense = rng.standard_normal((6, 5, 3))
    obs = ObservedTensor.from_dense(dense)
    val, train = obs.split(0.2, random_state=0, group_modes=(0, 1))
    pixels_val = {tuple(r[:2]) for r in val.indices.tolist()}
    pixels_train = {tuple(r[:2]) for r in train.indices.tolist()}
    assert not pixels_val & pixels_train
    assert len(pixels_val) == round(0.2 * 30)
    assert val.n_observed == 3 * len(pixels_val)  # every channel of a chosen pixel
    with pytest.raises(ValueError, match="group_modes"):
        obs.split(0.2, group_modes=(0, 3))
