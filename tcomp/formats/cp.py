"""CP (CANDECOMP/PARAFAC) format: T[i] = sum_r prod_n A_n[i_n, r]."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorly as tl
import torch

from .._validation import check_positive_int
from .base import TensorFormat

__all__ = ["CP"]


class CP(TensorFormat):
    """CP model of rank R: one factor matrix ``A_n`` of shape (I_n, R) per mode.

    ``cores`` is ``[A_1, ..., A_N]`` (K = N). The tensor is
    ``T[i_1, .., i_N] = sum_r prod_n A_n[i_n, r]``, as tensorly's ``cp_to_tensor`` with unit
    weights. Weights of a tensorly CPTensor are folded into the first factor.

    Parameters
    ----------
    cores : sequence of 2-D tensors (I_n, R)
    """

    name = "cp"
    min_order = 2
    dense_speedup = 12.0

    @classmethod
    def validate_rank(cls, rank: Any, shape: tuple[int, ...]) -> int:
        """CP rank is one integer R >= 1."""
        return check_positive_int(rank, "CP rank")

    @classmethod
    def core_shapes(cls, shape: tuple[int, ...], rank: int) -> list[tuple[int, ...]]:
        return [(size, rank) for size in shape]

    def _shape_and_rank(self, cores: list[torch.Tensor]) -> tuple[tuple[int, ...], int]:
        if len(cores) < self.min_order:
            raise ValueError(f"CP needs at least {self.min_order} factors; got {len(cores)}")
        for i, c in enumerate(cores):
            if c.ndim != 2:
                raise ValueError(f"CP factors must be 2-D (I_n, R); factor {i} is {c.ndim}-D")
        ranks = {c.shape[1] for c in cores}
        if len(ranks) != 1:
            raise ValueError(f"CP factors must share one rank (columns); got {sorted(ranks)}")
        return tuple(c.shape[0] for c in cores), cores[0].shape[1]

    def full(self) -> torch.Tensor:
        factors = self.cores
        rank = self.rank
        left = factors[0]
        for factor in factors[1:-1]:  # Khatri-Rao product of all but the last factor
            left = (left[:, None, :] * factor[None, :, :]).reshape(-1, rank)
        return (left @ factors[-1].T).reshape(self.shape)

    @classmethod
    def _entries_from(cls, factors: list[torch.Tensor], indices: torch.Tensor) -> torch.Tensor:
        rows = factors[0][indices[:, 0]]
        for mode in range(1, len(factors)):
            rows = rows * factors[mode][indices[:, mode]]
        return rows.sum(dim=1)

    @classmethod
    def _n_terms(cls, shape: tuple[int, ...], rank: int) -> int:
        return rank

    @classmethod
    def _entry_cost(cls, shape: tuple[int, ...], rank: int) -> int:
        return len(shape) * rank

    @classmethod
    def _full_cost(cls, shape: tuple[int, ...], rank: int) -> int:
        return math.prod(shape) * rank + math.prod(shape[:-1]) * rank

    @classmethod
    def _entry_workspace(cls, shape: tuple[int, ...], rank: int) -> int:
        return 2 * len(shape) * rank

    def to_tensorly(self) -> tl.cp_tensor.CPTensor:
        """Return a tensorly ``CPTensor`` (unit weights).

        Its arrays are made with ``tl.tensor`` under the caller's active tensorly backend
        (numpy arrays under the default backend), with the cores' dtype.
        """
        factors = [tl.tensor(c.detach().cpu().numpy()) for c in self.cores]
        weights = tl.ones(self.rank, **tl.context(factors[0]))
        return tl.cp_tensor.CPTensor((weights, factors))

    @classmethod
    def _cores_from_tensorly(cls, obj: Any) -> list[np.ndarray]:
        """Accept a ``CPTensor`` or a ``(weights, factors)`` tuple; weights go into A_1."""
        if isinstance(obj, tl.cp_tensor.CPTensor) or (isinstance(obj, tuple) and len(obj) == 2):
            weights, factors = obj
        else:
            raise TypeError(
                "CP.from_tensorly expects a tensorly CPTensor or a (weights, factors) tuple; "
                f"got {type(obj).__name__}"
            )
        factors = [np.asarray(tl.to_numpy(f)) for f in factors]
        if weights is not None:
            w = np.asarray(tl.to_numpy(weights))
            factors[0] = factors[0] * w[None, :]
        return factors
