"""ObservedTensor: the observed entries of a tensor with missing entries, as COO."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ._validation import as_torch_dtype, check_random_state, check_shape

__all__ = ["ObservedTensor"]

_DUPLICATES = ("raise", "sum", "mean")


def _as_tensor_copy(array: Any, name: str) -> torch.Tensor:
    """Copy a numpy array, torch tensor or sequence into a new torch tensor."""
    if isinstance(array, torch.Tensor):
        return array.detach().clone()
    arr = np.array(array, copy=True)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array; got an array of Python objects")
    return torch.from_numpy(arr)


class ObservedTensor:
    """Observed entries of a tensor of known shape, in coordinate (COO) form.

    Parameters
    ----------
    indices : array-like of int, shape (n_observed, order)
        Position of each observed entry. Copied; the caller's array is never modified.
    values : array-like of float, shape (n_observed,)
        Observed values, all finite.
    shape : sequence of int
        Shape of the full tensor. Every size must be >= 1.
    duplicates : {"raise", "sum", "mean"}, default="raise"
        What to do when an index appears more than once: refuse, or aggregate the values.
    dtype : {"float32", "float64"} or torch.dtype, optional
        Dtype of ``values``. Default: keep a floating input's dtype, else torch's default.
    device : str or torch.device, optional
        Device of the stored tensors. Default: that of ``values`` if a tensor, else CPU.

    Attributes
    ----------
    indices : torch.Tensor of int64, shape (n_observed, order)
    values : torch.Tensor, shape (n_observed,)
    shape : tuple of int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, np.nan], [np.nan, 4.0]])
    >>> obs = ObservedTensor.from_dense(X)
    >>> obs.n_observed, obs.shape
    (2, (2, 2))
    """

    def __init__(
        self,
        indices: Any,
        values: Any,
        shape: Any,
        *,
        duplicates: str = "raise",
        dtype: Any = None,
        device: Any = None,
    ) -> None:
        shape = check_shape(shape, "shape")
        if duplicates not in _DUPLICATES:
            raise ValueError(f"duplicates must be one of {_DUPLICATES}; got {duplicates!r}")
        idx = _as_tensor_copy(indices, "indices")
        vals = _as_tensor_copy(values, "values")
        if device is None:
            device = vals.device if isinstance(values, torch.Tensor) else "cpu"
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise TypeError(f"indices must have an integer dtype; got {idx.dtype}")
        if idx.ndim != 2:
            raise ValueError(
                f"indices must be 2-D with shape (n_observed, order); got {idx.ndim}-D "
                f"array of shape {tuple(idx.shape)}"
            )
        if idx.shape[1] != len(shape):
            raise ValueError(
                f"indices have {idx.shape[1]} columns but shape {shape} has {len(shape)} "
                "dimensions; they must match"
            )
        if vals.ndim != 1:
            raise ValueError(f"values must be 1-D; got shape {tuple(vals.shape)}")
        if vals.shape[0] != idx.shape[0]:
            raise ValueError(
                f"indices and values must have the same length; got {idx.shape[0]} indices "
                f"and {vals.shape[0]} values"
            )
        if idx.shape[0] == 0:
            raise ValueError("no observed entries: an ObservedTensor needs at least one entry")
        if vals.dtype == torch.bool or vals.dtype.is_complex:
            raise TypeError(f"values must be real numbers; got dtype {vals.dtype}")
        if dtype is not None:
            torch_dtype = as_torch_dtype(dtype)
        elif vals.dtype.is_floating_point and vals.dtype in (torch.float32, torch.float64):
            torch_dtype = vals.dtype
        else:
            torch_dtype = torch.get_default_dtype()
        idx = idx.to(torch.int64)
        vals = vals.to(torch_dtype)
        if not bool(torch.isfinite(vals).all()):
            n_bad = int((~torch.isfinite(vals)).sum())
            raise ValueError(
                f"values must be finite; got {n_bad} NaN or infinite values "
                "(use ObservedTensor.from_dense to treat NaN as missing)"
            )
        if bool((idx < 0).any()):
            raise ValueError("indices must be non-negative; got a negative index")
        bounds = torch.tensor(shape, dtype=torch.int64, device=idx.device)
        out_of_range = idx >= bounds
        if bool(out_of_range.any()):
            mode = int(out_of_range.any(dim=0).nonzero()[0])
            raise ValueError(
                f"indices out of range: column {mode} has index "
                f"{int(idx[:, mode].max())} but shape[{mode}] = {shape[mode]}"
            )
        idx, vals = _handle_duplicates(idx, vals, shape, duplicates)
        self.indices = idx.to(device)
        self.values = vals.to(device)
        self.shape = shape

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(
        cls,
        array: Any,
        mask: Any = None,
        *,
        dtype: Any = None,
        device: Any = None,
    ) -> ObservedTensor:
        """Build from a dense array; NaN marks missing entries unless ``mask`` is given.

        Parameters
        ----------
        array : array-like, any order >= 1
            Dense tensor. Not modified.
        mask : array-like of bool, same shape as ``array``, optional
            True where the entry is observed. Observed entries must be finite.
        dtype, device
            As in the constructor.
        """
        dense = _as_tensor_copy(array, "array")
        if dense.ndim == 0:
            raise ValueError("array must have at least one dimension; got a scalar")
        if dense.dtype == torch.bool or dense.dtype.is_complex:
            raise TypeError(f"array must be real numbers; got dtype {dense.dtype}")
        if not dense.dtype.is_floating_point:
            dense = dense.to(torch.get_default_dtype())
        if mask is None:
            observed = ~torch.isnan(dense)
        else:
            observed = _as_tensor_copy(mask, "mask").to(dense.device)
            if tuple(observed.shape) != tuple(dense.shape):
                raise ValueError(
                    f"mask shape {tuple(observed.shape)} must equal array shape "
                    f"{tuple(dense.shape)}"
                )
            if observed.dtype != torch.bool:
                if not bool(((observed == 0) | (observed == 1)).all()):
                    raise ValueError("mask must be boolean (or contain only 0 and 1)")
                observed = observed.bool()
        indices = observed.nonzero()
        values = dense[observed]
        if device is None:
            device = dense.device
        return cls(indices, values, tuple(dense.shape), dtype=dtype, device=device)

    # ------------------------------------------------------------------ properties
    @property
    def n_observed(self) -> int:
        """Number of observed entries."""
        return int(self.indices.shape[0])

    @property
    def order(self) -> int:
        """Number of dimensions of the tensor."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of entries of the full tensor, observed or not."""
        return math.prod(self.shape)

    @property
    def density(self) -> float:
        """Fraction of the tensor's entries that are observed."""
        return self.n_observed / self.size

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    def __len__(self) -> int:
        return self.n_observed

    def __repr__(self) -> str:
        return (
            f"ObservedTensor(shape={self.shape}, n_observed={self.n_observed}, "
            f"density={self.density:.3g}, dtype={self.dtype}, device={self.device})"
        )

    # ------------------------------------------------------------------ operations
    def to(self, device: Any = None, dtype: Any = None) -> ObservedTensor:
        """Return a copy on ``device`` with values of ``dtype`` (indices stay int64)."""
        new = object.__new__(ObservedTensor)
        new.shape = self.shape
        new.indices = self.indices.to(device) if device is not None else self.indices.clone()
        vals = self.values
        if dtype is not None:
            vals = vals.to(as_torch_dtype(dtype))
        new.values = vals.to(device) if device is not None else vals.clone()
        return new

    def subset(self, positions: Any) -> ObservedTensor:
        """Return the entries at ``positions`` (integer positions or a boolean mask)."""
        pos = _as_tensor_copy(positions, "positions").to(self.device)
        if pos.dtype == torch.bool:
            if pos.shape != (self.n_observed,):
                raise ValueError(
                    f"a boolean selection must have length n_observed={self.n_observed}"
                )
        elif pos.dtype.is_floating_point:
            raise TypeError("positions must be integers or booleans")
        new = object.__new__(ObservedTensor)
        new.shape = self.shape
        new.indices = self.indices[pos]
        new.values = self.values[pos]
        if new.indices.ndim != 2 or new.n_observed == 0:
            raise ValueError("the selection is empty: a subset needs at least one entry")
        return new

    def split(
        self,
        fraction: float,
        random_state: Any = None,
        group_modes: Sequence[int] | None = None,
    ) -> tuple[ObservedTensor, ObservedTensor]:
        """Split the entries at random into two disjoint, non-empty parts.

        Parameters
        ----------
        fraction : float in (0, 1)
            Fraction of the entries (or of the groups) in the first part, rounded to the
            nearest count.
        random_state : None, int or numpy RandomState
            Seed of the permutation; the same seed gives the same split.
        group_modes : sequence of int, optional
            Keep together the entries that share their indices in these modes, e.g.
            ``(0, 1)`` on an (H, W, 3) image puts all channels of a pixel on the same side,
            so a validation part mimics whole missing pixels.

        Returns
        -------
        part, rest : ObservedTensor
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise TypeError(f"fraction must be a float in (0, 1); got {fraction!r}")
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1); got {fraction}")
        rng = check_random_state(random_state)
        if group_modes is None:
            n = self.n_observed
            n_part = round(fraction * n)
            _check_both_parts(n_part, n, fraction, "entries")
            perm = torch.from_numpy(rng.permutation(n)).to(self.device)
            return self.subset(perm[:n_part]), self.subset(perm[n_part:])
        modes = [int(m) for m in group_modes]
        if (
            not modes
            or any(m < 0 or m >= self.order for m in modes)
            or len(set(modes)) < len(modes)
        ):
            raise ValueError(
                f"group_modes must be distinct modes in [0, {self.order}); got {group_modes!r}"
            )
        key = _linear_index(self.indices[:, modes], tuple(self.shape[m] for m in modes))
        groups, inverse = torch.unique(
            key if key is not None else self.indices[:, modes],
            dim=None if key is not None else 0,
            return_inverse=True,
        )
        n_groups = groups.shape[0]
        n_part = round(fraction * n_groups)
        _check_both_parts(n_part, n_groups, fraction, "groups")
        in_part = torch.zeros(n_groups, dtype=torch.bool, device=self.device)
        in_part[torch.from_numpy(rng.permutation(n_groups)[:n_part]).to(self.device)] = True
        chosen = in_part[inverse]
        return self.subset(chosen), self.subset(~chosen)

    def to_dense(self, fill_value: float = float("nan")) -> torch.Tensor:
        """Return the dense tensor with ``fill_value`` (default NaN) at missing entries."""
        dense = torch.full(self.shape, fill_value, dtype=self.dtype, device=self.device)
        dense[tuple(self.indices.T)] = self.values
        return dense

    def mask(self) -> torch.Tensor:
        """Return the dense boolean mask, True at observed entries."""
        mask = torch.zeros(self.shape, dtype=torch.bool, device=self.device)
        mask[tuple(self.indices.T)] = True
        return mask


def _check_both_parts(n_part: int, n: int, fraction: float, what: str) -> None:
    if n_part == 0 or n_part == n:
        raise ValueError(
            f"fraction={fraction} of {n} {what} leaves one part empty; both parts need at "
            "least one entry"
        )


def _linear_index(indices: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor | None:
    """Row-major linear index of each row, or None if it could overflow int64."""
    if math.prod(shape) >= 2**62:
        return None
    strides = torch.tensor(
        [math.prod(shape[i + 1 :]) for i in range(len(shape))],
        dtype=torch.int64,
        device=indices.device,
    )
    return (indices * strides).sum(dim=1)


def _handle_duplicates(
    indices: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...], duplicates: str
) -> tuple[torch.Tensor, torch.Tensor]:
    linear = _linear_index(indices, shape)
    key = linear if linear is not None else indices
    dim = None if linear is not None else 0
    unique, inverse, counts = torch.unique(key, dim=dim, return_inverse=True, return_counts=True)
    if unique.shape[0] == indices.shape[0]:
        return indices, values
    if duplicates == "raise":
        first = int((counts > 1).nonzero()[0])
        where = (inverse == first).nonzero().flatten()
        raise ValueError(
            f"duplicate indices: {int((counts > 1).sum())} positions appear more than once "
            f"(e.g. {indices[where[0]].tolist()} at rows {where.tolist()[:5]}); pass "
            "duplicates='sum' or 'mean' to aggregate them"
        )
    summed = torch.zeros(unique.shape[0], dtype=values.dtype, device=values.device)
    summed.index_add_(0, inverse, values)
    if duplicates == "mean":
        summed = summed / counts.to(values.dtype)
    first_row = torch.full((unique.shape[0],), indices.shape[0], device=indices.device)
    first_row.scatter_reduce_(
        0, inverse, torch.arange(indices.shape[0], device=indices.device), reduce="amin"
    )
    return indices[first_row], summed
