"""Helpers shared by the tensor train and tensor ring formats (chains of 3-D cores)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorly as tl
import torch

__all__ = ["chain_shape_and_rank", "chain_to_numpy", "gather_slices", "matrix_chain"]


def chain_shape_and_rank(
    cores: list[torch.Tensor], fmt: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check 3-D cores (r_{n-1}, I_n, r_n) chain together; return shape and ranks (N + 1)."""
    if len(cores) < 2:
        raise ValueError(f"{fmt} needs at least 2 cores; got {len(cores)}")
    for n, core in enumerate(cores):
        if core.ndim != 3:
            raise ValueError(
                f"{fmt} cores must be 3-D (r_prev, I_n, r_next); core {n} is {core.ndim}-D"
            )
    for n in range(1, len(cores)):
        if cores[n].shape[0] != cores[n - 1].shape[2]:
            raise ValueError(
                f"consecutive {fmt} cores must have matching ranks: core {n - 1} ends with rank "
                f"{cores[n - 1].shape[2]} but core {n} starts with rank {cores[n].shape[0]}"
            )
    shape = tuple(c.shape[1] for c in cores)
    rank = (*(c.shape[0] for c in cores), cores[-1].shape[2])
    return shape, rank


def gather_slices(core: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Slices ``core[:, index[b], :]`` for every b, as a (n, r_prev, r_next) tensor."""
    return core.permute(1, 0, 2)[index]


def matrix_chain(start: torch.Tensor, cores: list[torch.Tensor]) -> torch.Tensor:
    """Contract ``start`` (P, r) with each core (r, I, r') in turn: result (P * prod I, r_last)."""
    result = start
    for core in cores:
        r_prev, size, r_next = core.shape
        result = (result @ core.reshape(r_prev, size * r_next)).reshape(-1, r_next)
    return result


def chain_to_numpy(obj: Any, cls_name: str, tl_class: type) -> list[np.ndarray]:
    """Cores of a tensorly TTTensor / TRTensor, or of a plain list of 3-D arrays."""
    if isinstance(obj, tl_class):
        factors = obj.factors if hasattr(obj, "factors") else list(obj)
    elif isinstance(obj, (list, tuple)):
        factors = list(obj)
    else:
        raise TypeError(
            f"{cls_name}.from_tensorly expects a tensorly {tl_class.__name__} or a list of 3-D "
            f"cores; got {type(obj).__name__}"
        )
    return [np.asarray(tl.to_numpy(f)) for f in factors]
