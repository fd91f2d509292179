"""The fit loop: train a format on observed entries with GD, SAM or DAS."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from ._validation import check_positive_int
from .diagnostics import core_sq_norms, norm_deviation, norm_gradient_covariance
from .formats.base import TensorFormat
from .kernels import masked_loss, predict
from .metrics import r2
from .observed import ObservedTensor
from .optim import SAM, make_optimizer

__all__ = ["STATUS_MESSAGES", "FitResult", "fit"]

#: status codes of :class:`FitResult`, as in scipy.optimize
STATUS_MESSAGES = {
    0: "reached the iteration budget (n_iter)",
    1: "early stopping: the monitored loss stopped improving",
    2: "stopped by the callback",
    3: "diverged: the loss became non-finite; the last finite cores were restored",
}


@dataclass
class FitResult:
    """Outcome of :func:`fit` (in the manner of ``scipy.optimize.OptimizeResult``).

    Attributes
    ----------
    success : bool
        False only when the fit diverged.
    status : int
        Key of :data:`STATUS_MESSAGES`.
    message : str
    n_iter : int
        Optimizer steps taken.
    best_iteration : int
        Iteration whose cores the model holds at the end when early stopping restored the
        best iterate; otherwise the last iteration.
    loss : float
        Training loss of the returned model.
    history : dict of lists
        One entry per recorded step (at the cores *before* that step's update):
        ``iteration``, ``loss``, ``norm_deviation`` (Q), ``covariance`` (Cov(s, gamma)),
        ``core_sq_norms`` (list of s_k), ``grad_norm`` (||g||), ``time`` (seconds since the
        start) and, with validation entries, ``val_loss`` (mean squared error) and
        ``val_r2`` (centered R^2).
    """

    success: bool
    status: int
    message: str
    n_iter: int
    best_iteration: int
    loss: float
    history: dict[str, list] = field(default_factory=dict)


def _check_observed_for(model: TensorFormat, observed: Any, name: str) -> ObservedTensor:
    if not isinstance(observed, ObservedTensor):
        raise TypeError(f"{name} must be an ObservedTensor; got {type(observed).__name__}")
    if tuple(observed.shape) != tuple(model.shape):
        raise ValueError(f"{name} has shape {observed.shape} but the model has {model.shape}")
    if observed.device != model.device or observed.dtype != model.dtype:
        observed = observed.to(model.device, model.dtype)
    return observed


def _snapshot(cores: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [c.detach().clone() for c in cores]


@torch.no_grad()
def _restore(cores: list[torch.nn.Parameter], saved: list[torch.Tensor]) -> None:
    for c, s in zip(cores, saved):
        c.copy_(s)


def fit(
    model: TensorFormat,
    observed: ObservedTensor,
    solver: str = "das",
    optimizer: str = "adam",
    lr: float = 1e-2,
    rho: float = 0.05,
    alpha: float = 0.01,
    alpha_schedule: str = "constant",
    n_iter: int = 1000,
    reduction: str = "mean",
    validation: ObservedTensor | None = None,
    early_stopping: bool = False,
    patience: int = 50,
    tol: float = 1e-4,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
    verbose: bool = False,
    record_every: int = 1,
    path: str = "auto",
    optimizer_kwargs: dict[str, Any] | None = None,
) -> FitResult:
    """Fit ``model`` in place to the observed entries.

    Parameters
    ----------
    model : TensorFormat
        Trained in place; its cores are the result.
    observed : ObservedTensor
        Training entries (moved to the model's device and dtype if needed).
    solver : {"gd", "sam", "das"}, default="das"
    optimizer : {"sgd", "adam"}, default="adam"
        Base optimizer of every solver.
    lr : float, default=1e-2
    rho : float, default=0.05
        SAM radius (solver="sam").
    alpha : float, default=0.01
        DAS strength (solver="das"), for the loss given by ``reduction``.
    alpha_schedule : {"constant", "linear", "cosine"}, default="constant"
        DAS schedule over ``n_iter`` steps.
    n_iter : int, default=1000
        Maximum number of optimizer steps.
    reduction : {"mean", "sum"}, default="mean"
        Training loss: mean or sum of squared errors over the training entries.
    validation : ObservedTensor, optional
        Held-out entries; their mean squared error and R^2 are recorded, and they are what
        early stopping monitors.
    early_stopping : bool, default=False
        Stop when the monitored loss (validation loss if given, else training loss) has not
        improved by more than ``tol`` (relative) for ``patience`` iterations, and restore the
        best iterate at the end of the fit. Checked at recorded steps.
    patience : int, default=50
        Iterations without improvement before stopping.
    tol : float, default=1e-4
    callback : callable, optional
        Called with a dict of the recorded values at each record; returning True stops.
    verbose : bool, default=False
        Show a tqdm progress bar with the current loss.
    record_every : int, default=1
        Record the history every this many steps (recording needs a host sync).
    path : {"auto", "sparse", "dense"}, default="auto"
        Kernel path (see :mod:`tcomp.kernels`).
    optimizer_kwargs : dict, optional
        Extra arguments of the base optimizer (momentum, betas, weight_decay, ...).

    Returns
    -------
    FitResult
    """
    if not isinstance(model, TensorFormat):
        raise TypeError(f"model must be a tcomp format; got {type(model).__name__}")
    observed = _check_observed_for(model, observed, "observed")
    if validation is not None:
        validation = _check_observed_for(model, validation, "validation")
    n_iter = check_positive_int(n_iter, "n_iter")
    record_every = check_positive_int(record_every, "record_every")
    patience = check_positive_int(patience, "patience")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0; got {tol!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")

    cores = model.cores
    opt = make_optimizer(
        cores,
        solver,
        optimizer,
        lr=lr,
        rho=rho,
        alpha=alpha,
        alpha_schedule=alpha_schedule,
        total_steps=n_iter,
        **(optimizer_kwargs or {}),
    )

    def loss_fn() -> torch.Tensor:
        return masked_loss(model, observed, reduction, path=path)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        return loss

    history: dict[str, list] = {
        k: []
        for k in (
            "iteration",
            "loss",
            "norm_deviation",
            "covariance",
            "core_sq_norms",
            "grad_norm",
            "time",
        )
    }
    if validation is not None:
        history["val_loss"] = []
        history["val_r2"] = []
    status, best_value, best_iter, best_state = 0, math.inf, 0, None
    last_finite: list[torch.Tensor] | None = None
    steps_done = 0
    start = time.perf_counter()
    bar = tqdm(total=n_iter, disable=not verbose, desc=f"{solver}/{optimizer}", leave=False)
    try:
        for it in range(n_iter):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                status = 3
                break
            last_finite = _snapshot(cores)
            loss.backward()
            if it % record_every == 0 or it == n_iter - 1:
                info = _record(history, it, loss_value, cores, model, validation, start)
                monitored = info.get("val_loss", loss_value)
                if best_value == math.inf or monitored < best_value - tol * abs(best_value):
                    best_value, best_iter = monitored, it
                    if early_stopping:
                        best_state = last_finite
                bar.set_postfix(loss=f"{loss_value:.4g}")
                if callback is not None and callback(info):
                    status = 2
                    break
                if early_stopping and it - best_iter >= patience:
                    status = 1
                    break
            if isinstance(opt, SAM):
                opt.first_step()
                closure()
                opt.second_step()
            else:
                opt.step()
            steps_done += 1
            bar.update(1)
    finally:
        bar.close()

    with torch.no_grad():
        final = float(loss_fn())
    if status == 3 or not math.isfinite(final):
        status = 3
        if last_finite is not None:
            _restore(cores, last_finite)
        warnings.warn(
            f"fit diverged at iteration {steps_done} (non-finite loss, lr={lr}); the last "
            "finite cores were restored. Lower lr.",
            RuntimeWarning,
            stacklevel=2,
        )
        with torch.no_grad():
            final = float(loss_fn())
        best_iter = max(steps_done - 1, 0)
    elif early_stopping and best_state is not None:
        _restore(cores, best_state)
        with torch.no_grad():
            final = float(loss_fn())
    else:
        best_iter = steps_done
    return FitResult(
        success=status != 3,
        status=status,
        message=STATUS_MESSAGES[status],
        n_iter=steps_done,
        best_iteration=best_iter,
        loss=final,
        history=history,
    )


def _record(
    history: dict[str, list],
    it: int,
    loss_value: float,
    cores: list,
    model: TensorFormat,
    validation: ObservedTensor | None,
    start: float,
) -> dict:
    """Append one record (at the cores before the step, gradients present)."""
    s = core_sq_norms(cores)
    gamma = core_sq_norms([c.grad if c.grad is not None else torch.zeros_like(c) for c in cores])
    info: dict[str, Any] = {
        "iteration": it,
        "loss": loss_value,
        "norm_deviation": float(norm_deviation(s)),
        "covariance": float(norm_gradient_covariance(s, gamma)),
        "core_sq_norms": s.tolist(),
        "grad_norm": float(gamma.sum().sqrt()),
        "time": time.perf_counter() - start,
    }
    if validation is not None:
        with torch.no_grad():
            pred = predict(model, validation.indices)
        residual = pred - validation.values
        info["val_loss"] = float(residual.pow(2).mean())
        try:
            info["val_r2"] = r2(validation.values, pred)
        except ValueError:  # constant validation values: R^2 undefined
            info["val_r2"] = math.nan
    for key, value in info.items():
        history[key].append(value)
    return info
