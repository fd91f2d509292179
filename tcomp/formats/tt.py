"""Tensor train (TT) format: T[i] = G_1[:, i_1, :] G_2[:, i_2, :] ... G_N[:, i_N, :]."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorly as tl
import torch

from ._chain import chain_shape_and_rank, chain_to_numpy, gather_slices, matrix_chain
from ._ranks import rank_as_tuple_of_positive_ints
from .base import TensorFormat

__all__ = ["TT"]


class TT(TensorFormat):
    """Tensor train with ranks (1, r_1, .., r_{N-1}, 1).

    ``cores`` is ``[G_1, ..., G_N]`` (K = N), core ``G_n`` of shape (r_{n-1}, I_n, r_n), as
    tensorly's ``TTTensor``.

    Parameters
    ----------
    cores : sequence of 3-D tensors; the first starts and the last ends with rank 1
    """

    name = "tt"
    min_order = 2
    dense_speedup = 10.0

    @classmethod
    def validate_rank(cls, rank: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
        """TT rank: an int r, meaning (1, r, .., r, 1), or N + 1 ints with both ends 1."""
        n = len(shape)
        if isinstance(rank, int) and not isinstance(rank, bool):
            rank_as_tuple_of_positive_ints(rank, 1, "TT")
            return (1,) + (int(rank),) * (n - 1) + (1,)
        ranks = rank_as_tuple_of_positive_ints(rank, n + 1, "TT")
        if ranks[0] != 1 or ranks[-1] != 1:
            raise ValueError(f"TT boundary ranks must be 1 (rank[0] = rank[-1] = 1); got {ranks}")
        return ranks

    @classmethod
    def core_shapes(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [(rank[n], shape[n], rank[n + 1]) for n in range(len(shape))]

    def _shape_and_rank(self, cores: list[torch.Tensor]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        shape, rank = chain_shape_and_rank(cores, "TT")
        if rank[0] != 1 or rank[-1] != 1:
            raise ValueError(
                f"TT boundary ranks must be 1: the first core must start and the last end "
                f"with rank 1; got ranks {rank}"
            )
        return shape, rank

    def full(self) -> torch.Tensor:
        cores = self.cores
        start = cores[0].reshape(self.shape[0], self.rank[1])
        return matrix_chain(start, cores[1:]).reshape(self.shape)

    @classmethod
    def _entries_from(cls, cores: list[torch.Tensor], indices: torch.Tensor) -> torch.Tensor:
        vec = cores[0][0][indices[:, 0]]  # (n, r_1)
        for mode in range(1, len(cores)):
            slices = gather_slices(cores[mode], indices[:, mode])  # (n, r_prev, r_next)
            # vector times matrix per entry; broadcast-and-sum beats bmm on such tiny products
            vec = (vec.unsqueeze(2) * slices).sum(dim=1)
        return vec.squeeze(1)

    @classmethod
    def _n_terms(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return math.prod(rank)

    @classmethod
    def _entry_cost(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return sum(rank[n] * rank[n + 1] for n in range(len(shape)))

    @classmethod
    def _full_cost(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return sum(math.prod(shape[: n + 1]) * rank[n] * rank[n + 1] for n in range(len(shape)))

    @classmethod
    def _entry_workspace(cls, shape: tuple[int, ...], rank: tuple[int, ...]) -> int:
        return sum(rank[n] * rank[n + 1] + rank[n + 1] for n in range(len(shape)))

    def to_tensorly(self) -> tl.tt_tensor.TTTensor:
        """Return a tensorly ``TTTensor``.

        Arrays are made with ``tl.tensor`` under the caller's active tensorly backend, with
        the cores' dtype.
        """
        return tl.tt_tensor.TTTensor([tl.tensor(c.detach().cpu().numpy()) for c in self.cores])

    @classmethod
    def _cores_from_tensorly(cls, obj: Any) -> list[np.ndarray]:
        """Accept a ``TTTensor`` or a list of 3-D cores."""
        return chain_to_numpy(obj, "TT", tl.tt_tensor.TTTensor)
