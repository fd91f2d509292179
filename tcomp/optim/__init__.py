"""Solvers: plain gradient descent (the base optimizer), SAM and DAS.

``SOLVERS`` and ``BASE_OPTIMIZERS`` are the registries the fit loop, the estimator and the
tests iterate over.
"""

from __future__ import annotations

from typing import Any

import torch

from .das import DAS, alpha_at
from .sam import SAM

SOLVERS = ("gd", "sam", "das")
BASE_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
}


def make_optimizer(
    params: Any,
    solver: str = "das",
    optimizer: str = "adam",
    lr: float = 1e-2,
    rho: float = 0.05,
    alpha: float = 0.01,
    alpha_schedule: str = "constant",
    total_steps: int | None = None,
    **base_kwargs: Any,
) -> torch.optim.Optimizer:
    """Build the optimizer for ``solver`` ("gd", "sam" or "das") on base ``optimizer``."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    if optimizer not in BASE_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(BASE_OPTIMIZERS)}; got {optimizer!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a number > 0; got {lr!r}")
    base = BASE_OPTIMIZERS[optimizer]
    if solver == "gd":
        return base(params, lr=lr, **base_kwargs)
    if solver == "sam":
        return SAM(params, base, rho=rho, lr=lr, **base_kwargs)
    return DAS(
        params,
        base,
        alpha=alpha,
        alpha_schedule=alpha_schedule,
        total_steps=total_steps,
        lr=lr,
        **base_kwargs,
    )


__all__ = ["BASE_OPTIMIZERS", "DAS", "SAM", "SOLVERS", "alpha_at", "make_optimizer"]
