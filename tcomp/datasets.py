"""Datasets that load offline, and generators of planted low-rank tensors and masks.

Every loader reads a file that an installed package ships (tensorly's datasets, scikit-image's
images); nothing is downloaded. Loaders return a :class:`sklearn.utils.Bunch` with

* ``tensor``: float64 numpy array, NaN where the data has real missing entries,
* ``missing_mask``: bool array, True at the real missing entries (None if the data has none),
* ``dims``: names of the modes, ``description``, ``source`` and ``license``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.utils import Bunch

from ._validation import check_random_state, check_shape
from .formats import get_format

__all__ = [
    "IMAGES",
    "ket_augment",
    "ket_restore",
    "load_covid19",
    "load_image",
    "load_indian_pines",
    "load_kinetic",
    "make_low_rank",
    "make_mask",
]

#: color images scikit-image ships that ``load_image`` accepts
IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")

_PATTERNS = ("random", "fibers", "slices")


def _license(bunch: Any) -> str:
    for key in ("LICENSE", "LICENCE", "licence", "license"):
        if key in bunch:
            return " ".join(str(bunch[key]).split())
    return "see the source"


def _reference(bunch: Any) -> str:
    ref = bunch.get("reference", "")
    return " ".join(" ".join(ref).split()) if isinstance(ref, list) else " ".join(str(ref).split())


def load_covid19() -> Bunch:
    """COVID-19 systems serology tensor (438 samples x 6 antigens x 11 receptors).

    Shipped by tensorly (Tan et al. 2021, Zohar et al. 2020); fully observed, values are
    standardised log antibody binding levels. This is the tensor of the paper's Table 1.
    """
    from tensorly.datasets import load_covid19_serology

    raw = load_covid19_serology()
    return Bunch(
        tensor=np.asarray(raw.tensor, dtype=np.float64).copy(),
        missing_mask=None,
        dims=list(raw.dims),
        ticks=raw.get("ticks"),
        description=" ".join(str(raw.DESC).split()),
        source="tensorly.datasets.load_covid19_serology; " + _reference(raw),
        license=_license(raw),
    )


def load_indian_pines() -> Bunch:
    """Indian Pines hyperspectral cube (145 x 145 pixels x 200 bands), AVIRIS reflectance.

    Shipped by tensorly (Baumgardner et al. 2015, CC BY 3.0); fully observed. Values are raw
    sensor counts (roughly 1e3 to 1e4).
    """
    from tensorly.datasets import load_indian_pines as _load

    raw = _load()
    return Bunch(
        tensor=np.asarray(raw.tensor, dtype=np.float64).copy(),
        missing_mask=None,
        dims=list(raw.dims),
        description="Indian Pines AVIRIS hyperspectral image, 145 x 145 pixels, 200 bands",
        source="tensorly.datasets.load_indian_pines; " + _reference(raw),
        license=_license(raw),
    )


def load_kinetic() -> Bunch:
    """Kinetic fluorescence data (64 samples x 12 emission x 10 excitation x 60 times).

    Shipped by tensorly (Nikolajsen et al. 2003). It has 1,754 real missing entries, set to
    NaN in ``tensor`` and True in ``missing_mask`` (tensorly stores them as 0).
    """
    from tensorly.datasets import load_kinetic as _load

    raw = _load()
    missing = np.asarray(raw["missing_values_position"], dtype=bool).copy()
    tensor = np.asarray(raw.tensor, dtype=np.float64).copy()
    tensor[missing] = np.nan
    return Bunch(
        tensor=tensor,
        missing_mask=missing,
        dims=list(raw.dims),
        outlier_samples=list(raw.get("outlier_measurements_idx", [])),
        description=" ".join(str(raw.DESC).split()),
        source="tensorly.datasets.load_kinetic; " + _reference(raw),
        license=_license(raw),
    )


def load_image(name: str = "astronaut", size: int | None = None, square: bool = False) -> Bunch:
    """A color photograph shipped by scikit-image, as floats in [0, 1], shape (H, W, 3).

    Parameters
    ----------
    name : str
        One of :data:`IMAGES`.
    size : int, optional
        Resize so the longer side is ``size`` pixels (anti-aliased), for quick runs.
    square : bool, default=False
        With ``size``, resize to ``size`` x ``size`` (the aspect ratio is not kept).
    """
    if name not in IMAGES:
        raise ValueError(f"name must be one of {IMAGES}; got {name!r}")
    import skimage.data
    from skimage.transform import resize

    image = getattr(skimage.data, name)().astype(np.float64) / 255.0
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(f"size must be an int >= 2; got {size!r}")
        scale = size / max(image.shape[:2])
        new = (max(2, round(image.shape[0] * scale)), max(2, round(image.shape[1] * scale)), 3)
        if square:
            new = (size, size, 3)
        image = np.clip(resize(image, new, anti_aliasing=True), 0.0, 1.0)
    return Bunch(
        tensor=image,
        missing_mask=None,
        dims=["height", "width", "channel"],
        description=f"scikit-image sample image {name!r}, RGB in [0, 1]",
        source=f"skimage.data.{name}",
        license="public domain or CC0 as listed in scikit-image's data/README",
    )


def ket_augment(image: np.ndarray) -> np.ndarray:
    """Reshape a (2^L, 2^L, C) image into an order-(L + 1) tensor of shape (4, .., 4, C).

    Mode k (k < L) holds bit k (coarse to fine) of the row and of the column index, so
    neighbouring pixels share most indices: the "ket augmentation" used by tensor-train and
    tensor-ring image completion, which makes a natural image far more low-rank than its
    (H, W, C) form. :func:`ket_restore` inverts it. NaN entries move with their pixels.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must have shape (2^L, 2^L, C); got {image.shape}")
    levels = round(math.log2(image.shape[0]))
    if 2**levels != image.shape[0] or levels < 1:
        raise ValueError(f"image side must be a power of two >= 2; got {image.shape[0]}")
    t = image.reshape((2,) * levels + (2,) * levels + (image.shape[2],))
    order = [ax for k in range(levels) for ax in (k, levels + k)] + [2 * levels]
    return t.transpose(order).reshape((4,) * levels + (image.shape[2],))


def ket_restore(tensor: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ket_augment`: (4, .., 4, C) back to a (2^L, 2^L, C) image."""
    tensor = np.asarray(tensor)
    levels = tensor.ndim - 1
    if levels < 1 or any(s != 4 for s in tensor.shape[:-1]):
        raise ValueError(f"tensor must have shape (4, .., 4, C); got {tensor.shape}")
    t = tensor.reshape((2, 2) * levels + (tensor.shape[-1],))
    inverse = list(range(0, 2 * levels, 2)) + list(range(1, 2 * levels, 2)) + [2 * levels]
    side = 2**levels
    return t.transpose(inverse).reshape(side, side, tensor.shape[-1])


def make_low_rank(
    format: str = "tr",
    shape: tuple[int, ...] = (30, 30, 30),
    rank: Any = 3,
    noise: float = 0.0,
    random_state: Any = None,
) -> Bunch:
    """Plant a known low-rank tensor of any format, optionally with Gaussian noise.

    Parameters
    ----------
    format : {"cp", "tucker", "tt", "tr"}
    shape : tuple of int
    rank : int or sequence
        Rank in the format's convention.
    noise : float, default=0
        Standard deviation of the noise relative to the RMS of the clean tensor.
    random_state : None, int or RandomState

    Returns
    -------
    Bunch with ``tensor`` (noisy), ``clean``, ``model`` (the planted format object) and
    ``noise_std`` (absolute).
    """
    shape = check_shape(shape)
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0; got {noise!r}")
    rng = check_random_state(random_state)
    cls = get_format(format)
    model = cls.random(shape, rank, random_state=rng, dtype=torch.float64)
    clean = model.full().detach().numpy()
    std = noise * float(np.sqrt(np.mean(clean**2)))
    tensor = clean + std * rng.standard_normal(shape)
    return Bunch(
        tensor=tensor,
        clean=clean,
        model=model,
        noise_std=std,
        missing_mask=None,
        description=f"planted {cls.name} tensor of rank {model.rank}",
        source="generated",
        license="n/a",
    )


def make_mask(
    shape: tuple[int, ...],
    missing_fraction: float,
    pattern: str = "random",
    random_state: Any = None,
) -> np.ndarray:
    """Boolean mask, True where an entry is *observed*.

    Parameters
    ----------
    shape : tuple of int
    missing_fraction : float in [0, 1)
        Fraction of the entries (or fibers, or slices) removed.
    pattern : {"random", "fibers", "slices"}
        ``"random"``: entries missing independently; ``"fibers"``: whole fibers along the
        last mode missing (e.g. all channels of a pixel); ``"slices"``: whole slices along the
        first mode missing (e.g. whole frames or samples).
    random_state : None, int or RandomState
    """
    shape = check_shape(shape)
    if not (isinstance(missing_fraction, (int, float)) and 0 <= missing_fraction < 1):
        raise ValueError(f"missing_fraction must be in [0, 1); got {missing_fraction!r}")
    if pattern not in _PATTERNS:
        raise ValueError(f"pattern must be one of {_PATTERNS}; got {pattern!r}")
    rng = check_random_state(random_state)
    if pattern == "random":
        unit_shape = shape
    elif pattern == "fibers":
        unit_shape = shape[:-1]
    else:
        unit_shape = shape[:1]
    n_units = math.prod(unit_shape)
    n_missing = round(missing_fraction * n_units)
    if n_missing == n_units:
        raise ValueError("missing_fraction removes every entry; nothing would be observed")
    keep = np.ones(n_units, dtype=bool)
    keep[rng.choice(n_units, size=n_missing, replace=False)] = False
    keep = keep.reshape(unit_shape)
    return np.broadcast_to(
        keep.reshape(unit_shape + (1,) * (len(shape) - len(unit_shape))), shape
    ).copy()
