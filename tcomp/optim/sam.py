"""Sharpness-Aware Minimization (Foret et al., 2021) as a torch optimizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._wrapper import WrappingOptimizer, check_nonnegative

__all__ = ["SAM"]

_SCOPES = ("global", "group")


class SAM(WrappingOptimizer):
    """Sharpness-Aware Minimization around any base optimizer.

    One step: evaluate the gradient ``g`` at the cores ``G``; move every core to
    ``G_k + rho * g_k / ||g||``; evaluate the gradient there; put the cores back at ``G``
    exactly; let the base optimizer step with the gradient of the perturbed point.
    Two gradient evaluations per step.

    Parameters
    ----------
    params : iterable of tensors or of dicts (param groups)
        Each param group is one scale-invariant model (its params are its cores).
    base_optimizer : type
        A ``torch.optim.Optimizer`` subclass (e.g. ``torch.optim.SGD``, ``torch.optim.Adam``),
        built on the same param groups.
    rho : float, default=0.05
        Radius of the perturbation (per group if set in a group).
    grad_norm : {"global", "group"}, default="global"
        Norm ``||g||`` used to normalise the perturbation: over all groups (the paper's
        Algorithm 1, Foret et al.) or over each group separately.
    **base_kwargs
        Passed to ``base_optimizer`` (``lr``, ``momentum``, ``betas``, ...).

    Examples
    --------
    >>> opt = SAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)  # doctest: +SKIP
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = masked_loss(model, observed)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)  # doctest: +SKIP
    """

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        rho: float = 0.05,
        grad_norm: str = "global",
        **base_kwargs: Any,
    ) -> None:
        rho = check_nonnegative(rho, "rho")
        if grad_norm not in _SCOPES:
            raise ValueError(f"grad_norm must be one of {_SCOPES}; got {grad_norm!r}")
        self.grad_norm = grad_norm
        super().__init__(params, base_optimizer, {"rho": rho}, base_kwargs)

    def _grad_norms(self) -> list[torch.Tensor | None]:
        """||g|| per group (the same value for all groups when grad_norm='global')."""
        per_group = []
        for group in self.param_groups:
            grads = [p.grad for p in group["params"] if p.grad is not None]
            per_group.append(torch.stack(torch._foreach_norm(grads)).norm() if grads else None)
        if self.grad_norm == "global":
            present = [n for n in per_group if n is not None]
            total = torch.stack(present).norm() if present else None
            return [total for _ in per_group]
        return per_group

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move the cores to ``G + rho g / ||g||`` (the gradients must be present)."""
        for group, norm in zip(self.param_groups, self._grad_norms()):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                self.state[p]["old_p"] = p.detach().clone()
            # a zero gradient leaves the point unperturbed instead of dividing by 0
            scale = torch.where(norm > 0, group["rho"] / norm, 0.0).to(params[0].dtype)
            torch._foreach_add_(params, torch._foreach_mul([p.grad for p in params], scale))
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Put the cores back at ``G`` and step the base optimizer with the current gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if "old_p" in self.state[p]:
                    p.copy_(self.state[p].pop("old_p"))
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """One SAM step; returns the loss at the unperturbed point.

        Parameters
        ----------
        closure : callable
            Zeroes the gradients, computes the loss, calls ``backward`` and returns the loss.
            Required: SAM evaluates it twice.
        """
        if closure is None:
            raise ValueError(
                "SAM.step needs a closure (it evaluates the gradient twice); or call "
                "first_step() and second_step() yourself"
            )
        with torch.enable_grad():
            loss = closure()
        self.first_step()
        with torch.enable_grad():
            closure()
        self.second_step()
        return loss
