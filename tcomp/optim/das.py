"""Deviation-Aware Scaling (DAS, Cao et al. 2025, Algorithm 2) as a torch optimizer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ._wrapper import WrappingOptimizer, check_nonnegative

__all__ = ["DAS", "alpha_at"]

_SCHEDULES = ("constant", "linear", "cosine")

#: 1 + lambda_k is never allowed below this, so a rescale can shrink a core by at most 10x
MIN_SCALE = 0.1


def alpha_at(alpha: float, schedule: str, step: int, total_steps: int | None) -> float:
    """Value of the DAS strength at ``step`` (0-based) under ``schedule``.

    ``"constant"``: alpha; ``"linear"``: alpha (1 - t/T), decaying to 0 at T = total_steps;
    ``"cosine"``: alpha (1 + cos(pi t / T)) / 2. Past T the decaying schedules stay at 0.
    """
    if schedule == "constant":
        return alpha
    frac = min(step / total_steps, 1.0)
    if schedule == "linear":
        return alpha * (1.0 - frac)
    return alpha * 0.5 * (1.0 + math.cos(math.pi * frac))


class DAS(WrappingOptimizer):
    """Deviation-Aware Scaling: SAM's balancing of core norms with one gradient per step.

    For each param group (one scale-invariant model, its params being its K cores), with the
    gradients ``g_k`` already computed at the cores ``G_k``::

        gamma_k = ||g_k||^2,  s_k = ||G_k||^2,  gamma_bar = mean_k gamma_k
        u = (K gamma_bar)^(-1/2)
        lambda_k = lr * alpha_t * u * (gamma_k - gamma_bar) / s_k
        G_k <- (1 + lambda_k) G_k                  # closed-form rescale
        G_k <- base_step(G_k, g_k)                 # gradients unchanged

    so with base SGD: ``G <- (1 + lambda) G - lr g``. ``lr`` is the group's current learning
    rate. A core with ``s_k = 0`` or a zero gradient is left unscaled, and ``1 + lambda_k`` is
    kept >= ``MIN_SCALE`` (0.1). ``sum_k lambda_k s_k = 0``: to first order the rescale moves
    squared norm between cores without changing the total.

    ``lambda_k`` scales linearly with the loss: an ``alpha`` for a sum-of-squares loss over n
    entries acts like ``n * alpha`` on the mean loss. State which reduction an alpha refers to.

    Parameters
    ----------
    params : iterable of tensors or of dicts (param groups)
        One group per scale-invariant model; ``u`` and the rescale are computed per group.
    base_optimizer : type
        A ``torch.optim.Optimizer`` subclass, built on the same param groups.
    alpha : float, default=0.01
        Strength of the rescale (alpha = rho reproduces SAM's first-order change of the norm
        deviation).
    alpha_schedule : {"constant", "linear", "cosine"}, default="constant"
        How alpha evolves over ``total_steps`` (linear and cosine decay to 0).
    total_steps : int, optional
        Required by the linear and cosine schedules.
    **base_kwargs
        Passed to ``base_optimizer``.

    Attributes
    ----------
    last_stats : list of dict
        Per group, after each step: ``gamma``, ``s``, ``lambda`` (tensors of length K),
        ``u`` and ``alpha`` (0-d tensor and float).
    """

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        alpha: float = 0.01,
        alpha_schedule: str = "constant",
        total_steps: int | None = None,
        **base_kwargs: Any,
    ) -> None:
        alpha = check_nonnegative(alpha, "alpha")
        if alpha_schedule not in _SCHEDULES:
            raise ValueError(f"alpha_schedule must be one of {_SCHEDULES}; got {alpha_schedule!r}")
        if alpha_schedule != "constant":
            if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
                raise ValueError(
                    f"alpha_schedule={alpha_schedule!r} needs total_steps, an int >= 1; got "
                    f"{total_steps!r}"
                )
        defaults = {
            "alpha": alpha,
            "alpha_schedule": alpha_schedule,
            "total_steps": total_steps,
            "das_step": 0,
        }
        super().__init__(params, base_optimizer, defaults, base_kwargs)
        self.last_stats: list[dict[str, Any]] = []

    @torch.no_grad()
    def rescale(self) -> None:
        """Apply the closed-form rescale to every group, from the gradients present."""
        self.last_stats = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            alpha_t = alpha_at(
                group["alpha"], group["alpha_schedule"], group["das_step"], group["total_steps"]
            )
            group["das_step"] += 1
            if not params:
                self.last_stats.append({})
                continue
            k = len(params)
            # one fused norm call for gradients and cores keeps the overhead per step small
            norms = torch.stack(torch._foreach_norm([p.grad for p in params] + params))
            gamma, s = norms.pow_(2).split(k)
            gamma_bar = gamma.mean()
            u = (k * gamma_bar).clamp_min(torch.finfo(gamma.dtype).tiny).rsqrt()
            # s = 0 divides by zero in the branch torch.where discards
            lam = torch.where(
                (s > 0) & (gamma > 0), (group["lr"] * alpha_t) * u * (gamma - gamma_bar) / s, 0.0
            )
            factors = (1.0 + lam).clamp_min_(MIN_SCALE)
            torch._foreach_mul_(params, list(factors.unbind()))
            self.last_stats.append(
                {"gamma": gamma, "s": s, "lambda": factors - 1.0, "u": u, "alpha": alpha_t}
            )

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Rescale the cores, then step the base optimizer with the unchanged gradients.

        Parameters
        ----------
        closure : callable, optional
            If given, called first (it zeroes the gradients, computes the loss and calls
            ``backward``); otherwise the gradients already present are used.

        Returns
        -------
        The closure's loss, or None without a closure.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.rescale()
        self.base_optimizer.step()
        return loss
