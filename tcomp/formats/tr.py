"""Tensor ring (TR) format: T[i] = trace(G_1[:, i_1, :] ... G_N[:, i_N, :])."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorly as tl
import torch

from ._chain import chain_shape_and_rank, chain_to_numpy, gather_slices, matrix_chain
from ._ranks import rank_as_tuple_of_positive_ints
from .base import TensorFormat

__all__ = ["TR"]


class TR(TensorFormat):
    """Tensor ring with ranks (r_0, r_1, .., r_{N-1}, r_0).

    ``cores`` is ``[G_1, ..., G_N]`` (K = N), core ``G_n`` of shape (r_{n-1}, I_n, r_n) with
    r_N = r_0, as tensorly's ``TRTensor``.

    Parameters
    ----------
    cores : sequence of 3-D tensors; the last core's final rank closes the ring
    """

    name = "tr"
    min_order = 2
    dense_speedup = 12.0

    @classmethod
    def validate_rank(cls, rank: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
        """TR rank: an int r (all ranks r) or N + 1 ints with rank[0] == rank[-1]."""
        n = len(shape)
        if isinstance(rank, int) and not isinstance(rank, bool):
            return rank_as_tuple_of_positive_ints(rank, n + 1, "TR")
        ranks = rank_as_tuple_of_positive_ints(rank, n + 1, "TR")
        if ranks[0] != ranks[-1]:
            raise ValueError(f"TR ranks must close the ring (rank[0] == rank[-1]); got {ranks}")
        return ranks

    @classmethod
    def core_shapes(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [(rank[n], shape[n], rank[n + 1]) for n in range(len(shape))]

    def _shape_and_rank(self, cores: list[torch.Tensor]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        shape, rank = chain_shape_and_rank(cores, "TR")
        if rank[0] != rank[-1]:
            raise ValueError(
                f"TR ranks must close the ring: the last core's final rank ({rank[-1]}) must "
                f"equal the first core's leading rank ({rank[0]})"
            )
        return shape, rank

    def full(self) -> torch.Tensor:
        cores = self.cores
        first, last = cores[0], cores[-1]
        r0 = first.shape[0]
        result = None
        # One chain per value a of the closing index keeps memory at prod(I) * r, not * r0^2.
        for a in range(r0):
            chain = matrix_chain(first[a], cores[1:-1])  # (prod I_{<N}, r_{N-1})
            term = chain @ last[:, :, a]  # (prod I_{<N}, I_N)
            result = term if result is None else result + term
        return result.reshape(self.shape)

    @classmethod
    def _entries_from(cls, cores: list[torch.Tensor], indices: torch.Tensor) -> torch.Tensor:
        prod = gather_slices(cores[0], indices[:, 0])  # (n, r_0, r_1)
        for mode in range(1, len(cores) - 1):
            prod = torch.bmm(prod, gather_slices(cores[mode], indices[:, mode]))
        last = gather_slices(cores[-1], indices[:, -1])  # (n, r_{N-1}, r_0)
        # trace(P L) = sum_ab P[a, b] L[b, a]
        return (prod * last.transpose(1, 2)).sum(dim=(1, 2))

    @classmethod
    def _n_terms(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return math.prod(rank[:-1])

    @classmethod
    def _entry_cost(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return rank[0] * sum(rank[n] * rank[n + 1] for n in range(1, len(shape)))

    @classmethod
    def _full_cost(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return rank[0] * sum(
            math.prod(shape[: n + 1]) * rank[n] * rank[n + 1] for n in range(len(shape))
        )

    @classmethod
    def _entry_workspace(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return sum(rank[n] * rank[n + 1] + rank[0] * rank[n + 1] for n in range(len(shape)))

    def to_tensorly(self) -> tl.tr_tensor.TRTensor:
        """Return a tensorly ``TRTensor``.

        Arrays are made with ``tl.tensor`` under the caller's active tensorly backend, with
        the cores' dtype.
        """
        return tl.tr_tensor.TRTensor([tl.tensor(c.detach().cpu().numpy()) for c in self.cores])

    @classmethod
    def _cores_from_tensorly(cls, obj: Any) -> list[np.ndarray]:
        """Accept a ``TRTensor`` or a list of 3-D cores."""
        return chain_to_numpy(obj, "TR", tl.tr_tensor.TRTensor)
