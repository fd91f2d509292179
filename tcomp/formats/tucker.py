"""Tucker format: T = C x_1 U_1 x_2 U_2 ... x_N U_N."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorly as tl
import torch

from ._ranks import rank_as_tuple_of_positive_ints
from .base import TensorFormat

__all__ = ["Tucker"]


class Tucker(TensorFormat):
    """Tucker model of multilinear rank (R_1, .., R_N).

    ``cores`` is ``[C, U_1, ..., U_N]`` (K = N + 1): the core ``C`` of shape (R_1, .., R_N)
    then one factor ``U_n`` of shape (I_n, R_n) per mode, as tensorly's ``TuckerTensor``
    ``(core, factors)``.

    Parameters
    ----------
    cores : sequence of tensors ``[C, U_1, ..., U_N]``
    """

    name = "tucker"
    min_order = 2
    dense_speedup = 1.5

    @classmethod
    def validate_rank(cls, rank: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Tucker rank is an int (same in every mode) or one int >= 1 per mode."""
        return rank_as_tuple_of_positive_ints(rank, len(shape), "Tucker")

    @classmethod
    def core_shapes(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [tuple(rank)] + [(size, r) for size, r in zip(shape, rank)]

    def _shape_and_rank(self, cores: list[torch.Tensor]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        core, factors = cores[0], cores[1:]
        if core.ndim < self.min_order or core.ndim != len(factors):
            raise ValueError(
                f"Tucker needs a core of order N >= {self.min_order} followed by N factors; "
                f"got a core of order {core.ndim} and {len(factors)} factors"
            )
        for n, f in enumerate(factors):
            if f.ndim != 2 or f.shape[1] != core.shape[n]:
                raise ValueError(
                    f"Tucker factor {n} must have shape (I_{n}, {core.shape[n]}) to match the "
                    f"core; got {tuple(f.shape)}"
                )
        return tuple(f.shape[0] for f in factors), tuple(core.shape)

    def full(self) -> torch.Tensor:
        result = self.cores[0]
        for mode, factor in enumerate(self.cores[1:]):
            result = torch.movedim(torch.tensordot(factor, result, dims=([1], [mode])), 0, mode)
        return result

    @classmethod
    def _entries_from(cls, cores: list[torch.Tensor], indices: torch.Tensor) -> torch.Tensor:
        core, factors = cores[0], cores[1:]
        n = indices.shape[0]
        ranks = core.shape
        partial = factors[0][indices[:, 0]] @ core.reshape(ranks[0], -1)  # (n, R_2..R_N)
        for mode in range(1, len(factors)):
            rows = factors[mode][indices[:, mode]]  # (n, R_mode)
            partial = torch.bmm(rows.unsqueeze(1), partial.reshape(n, ranks[mode], -1))
            partial = partial.reshape(n, -1)
        return partial.reshape(n)

    @classmethod
    def _n_terms(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return math.prod(rank)

    @classmethod
    def _entry_cost(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return sum(math.prod(rank[n:]) for n in range(len(rank)))

    @classmethod
    def _full_cost(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return sum(math.prod(shape[: n + 1]) * math.prod(rank[n:]) for n in range(len(shape)))

    @classmethod
    def _entry_workspace(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return 2 * sum(math.prod(rank[n:]) for n in range(1, len(rank))) + 2 * sum(rank)

    def to_tensorly(self) -> tl.tucker_tensor.TuckerTensor:
        """Return a tensorly ``TuckerTensor`` ``(core, factors)``.

        Arrays are made with ``tl.tensor`` under the caller's active tensorly backend, with
        the cores' dtype.
        """
        arrays = [tl.tensor(c.detach().cpu().numpy()) for c in self.cores]
        return tl.tucker_tensor.TuckerTensor((arrays[0], arrays[1:]))

    @classmethod
    def _cores_from_tensorly(cls, obj: Any) -> list[np.ndarray]:
        """Accept a ``TuckerTensor`` or a ``(core, factors)`` tuple."""
        if isinstance(obj, tl.tucker_tensor.TuckerTensor) or (
            isinstance(obj, tuple) and len(obj) == 2
        ):
            core, factors = obj
        else:
            raise TypeError(
                "Tucker.from_tensorly expects a tensorly TuckerTensor or a (core, factors) "
                f"tuple; got {type(obj).__name__}"
            )
        return [np.asarray(tl.to_numpy(core))] + [np.asarray(tl.to_numpy(f)) for f in factors]
