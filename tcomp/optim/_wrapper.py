"""Common base of optimizers that wrap a base optimizer built on the same param groups."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["WrappingOptimizer", "check_base_optimizer", "check_nonnegative"]


def check_base_optimizer(base_optimizer: Any) -> type[torch.optim.Optimizer]:
    """The base optimizer must be a torch.optim.Optimizer subclass (the class, not an instance)."""
    if isinstance(base_optimizer, torch.optim.Optimizer):
        raise TypeError(
            "base_optimizer must be an optimizer class such as torch.optim.SGD, not an "
            f"instance; got {type(base_optimizer).__name__} instance"
        )
    if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, torch.optim.Optimizer)):
        raise TypeError(
            f"base_optimizer must be a torch.optim.Optimizer subclass; got {base_optimizer!r}"
        )
    return base_optimizer


def check_nonnegative(value: Any, name: str) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value}")
    return float(value)


class WrappingOptimizer(torch.optim.Optimizer):
    """An optimizer whose update ends with a step of ``base_optimizer`` on the same groups.

    The base optimizer shares this optimizer's ``param_groups`` (the same dicts), so a
    learning-rate scheduler attached to the wrapper changes the base learning rate, and
    per-group options of the wrapper live next to the base optimizer's.
    """

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        defaults: dict[str, Any],
        base_kwargs: dict[str, Any],
    ) -> None:
        base_cls = check_base_optimizer(base_optimizer)
        super().__init__(params, {**defaults, **base_kwargs})
        self.base_optimizer = base_cls(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    def state_dict(self) -> dict[str, Any]:
        """This optimizer's state and groups, with the base optimizer's state under "base"."""
        state = super().state_dict()
        state["base"] = self.base_optimizer.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the base optimizer keeps sharing the groups."""
        if "base" not in state_dict:
            raise ValueError(
                f"state_dict has no 'base' entry: it was not saved by {type(self).__name__}"
            )
        state_dict = dict(state_dict)
        base_state = state_dict.pop("base")
        self.base_optimizer.load_state_dict(base_state)
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups
