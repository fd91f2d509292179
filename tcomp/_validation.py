"""Small shared validators and converters used across tcomp.

Each validator is named after the rule it enforces and raises an error that names the
argument, the value received and the rule it broke.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state as _sk_check_random_state

__all__ = [
    "as_torch_dtype",
    "check_positive_int",
    "check_random_state",
    "check_shape",
    "to_numpy",
]

_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float": torch.float32,
    "double": torch.float64,
}


def check_random_state(random_state: Any) -> np.random.RandomState:
    """Return a ``numpy.random.RandomState`` from None, an int or an existing state.

    tcomp draws every random number through numpy so that the same seed gives the same
    result on every device; nothing touches torch's global generator.
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(random_state.integers(0, 2**31 - 1))
    try:
        return _sk_check_random_state(random_state)
    except ValueError as exc:
        raise ValueError(
            f"random_state must be None, an int, a numpy RandomState or Generator; "
            f"got {random_state!r}"
        ) from exc


def as_torch_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """Convert ``"float32"``, ``"float64"``, numpy or torch float dtypes to a torch dtype."""
    if isinstance(dtype, torch.dtype):
        result = dtype
    elif isinstance(dtype, str) and dtype in _DTYPES:
        result = _DTYPES[dtype]
    else:
        try:
            np_dtype = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(
                f"{name} must be 'float32', 'float64' or a float dtype; got {dtype!r}"
            ) from exc
        result = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}.get(
            np_dtype
        )
        if result is None:
            raise TypeError(f"{name} must be float32 or float64; got {dtype!r}")
    if result not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}")
    return result


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def check_shape(shape: Any, name: str = "shape", min_order: int = 1) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of positive ints, raising on zero or negative sizes."""
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(f"{name} must be a sequence of positive integers; got {shape!r}")
    out = []
    for i, size in enumerate(shape):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"{name}[{i}] must be an integer; got {size!r}")
        if size < 1:
            raise ValueError(f"{name} sizes must be >= 1; got {name}[{i}] = {size}")
        out.append(int(size))
    if len(out) < min_order:
        raise ValueError(f"{name} must have at least {min_order} dimensions; got {tuple(out)}")
    return tuple(out)


def to_numpy(array: Any) -> np.ndarray:
    """Return a numpy view or copy of a numpy array, torch tensor or nested sequence."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)
