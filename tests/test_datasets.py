"""Dataset loaders (offline), generators and image tensorization."""

from __future__ import annotations

import numpy as np
import pytest
import tensorly as tl

from tcomp import datasets
from tcomp.formats import FORMATS


@pytest.mark.parametrize(
    ("loader", "shape", "n_missing"),
    [
        (datasets.load_covid19, (438, 6, 11), 0),
        (datasets.load_indian_pines, (145, 145, 200), 0),
        (datasets.load_kinetic, (64, 12, 10, 60), 1754),
    ],
)
def test_loaders_shapes_and_missing(loader, shape, n_missing):
    bunch = loader()
    assert bunch.tensor.shape == shape and bunch.tensor.dtype == np.float64
    assert int(np.isnan(bunch.tensor).sum()) == n_missing
    if n_missing:
        np.testing.assert_array_equal(np.isnan(bunch.tensor), bunch.missing_mask)
    else:
        assert bunch.missing_mask is None
    assert bunch.description and bunch.source and bunch.license
    assert len(bunch.dims) == len(shape)


def test_load_image_range_and_resize():
    full = datasets.load_image("astronaut")
    assert full.tensor.shape == (512, 512, 3)
    assert 0.0 <= full.tensor.min() and full.tensor.max() <= 1.0
    small = datasets.load_image("coffee", size=60)
    assert small.tensor.shape == (40, 60, 3)
    assert datasets.load_image("chelsea", size=32, square=True).tensor.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="one of"):
        datasets.load_image("lena")


@pytest.mark.parametrize("name", FORMATS)
def test_make_low_rank_is_reproducible_and_low_rank(name):
    rank = {"cp": 2, "tucker": (2, 2, 2), "tt": 2, "tr": 2}[name]
    a = datasets.make_low_rank(name, (6, 7, 8), rank, noise=0.1, random_state=0)
    b = datasets.make_low_rank(name, (6, 7, 8), rank, noise=0.1, random_state=0)
    np.testing.assert_array_equal(a.tensor, b.tensor)
    np.testing.assert_allclose(a.clean, a.model.full().detach().numpy())
    unfolding = tl.unfold(a.clean, 0)
    assert np.linalg.matrix_rank(unfolding, tol=1e-8) <= 4  # low multilinear rank
    residual = a.tensor - a.clean
    assert residual.std() == pytest.approx(a.noise_std, rel=0.2)


@pytest.mark.parametrize("pattern", ["random", "fibers", "slices"])
def test_make_mask_patterns(pattern):
    mask = datasets.make_mask((12, 8, 3), 0.75, pattern=pattern, random_state=1)
    assert mask.dtype == bool and mask.shape == (12, 8, 3)
    assert mask.mean() == pytest.approx(0.25, abs=0.02)
    if pattern == "fibers":
        assert np.all(mask.all(axis=2) == mask.any(axis=2))
    if pattern == "slices":
        assert np.all(mask.reshape(12, -1).all(axis=1) == mask.reshape(12, -1).any(axis=1))
    np.testing.assert_array_equal(
        mask, datasets.make_mask((12, 8, 3), 0.75, pattern=pattern, random_state=1)
    )


def test_mask_and_generator_errors():
    with pytest.raises(ValueError, match="missing_fraction"):
        datasets.make_mask((3, 3), 1.0)
    with pytest.raises(ValueError, match="pattern"):
        datasets.make_mask((3, 3), 0.5, pattern="blocks")
    with pytest.raises(ValueError, match="noise"):
        datasets.make_low_rank("cp", (3, 3), 1, noise=-1)


def test_ket_augmentation_round_trip_and_locality():
    rng = np.random.RandomState(0)
    image = rng.rand(16, 16, 3)
    t = datasets.ket_augment(image)
    assert t.shape == (4, 4, 4, 4, 3)
    np.testing.assert_array_equal(datasets.ket_restore(t), image)
    # the 2x2 block of pixels at the top left differs only in the finest mode
    np.testing.assert_array_equal(t[0, 0, 0, :, 1], image[:2, :2, 1].ravel())
    with pytest.raises(ValueError, match="power of two"):
        datasets.ket_augment(rng.rand(12, 12, 3))
