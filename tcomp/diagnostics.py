"""Norm dynamics and sharpness diagnostics (METHOD.md sections 2 and 4).

* :func:`norm_deviation` is the paper's Definition 1, Q = sum_k (s_k - mean s)^2.
* :func:`norm_gradient_covariance` is the population Cov(s_k, gamma_k) of Theorem 3.
* :func:`sam_predicted_dq` is SAM's first-order change of Q in one step of size lr:
  lr * 4 rho u K Cov(s, gamma), u = 1 / ||g||.
* :func:`loss_profile` is the 1-D loss along a fixed random direction, scaled core by core to
  the cores' norms (the paper's flatness profile).
* :func:`top_hessian_eigenvalue` runs power iteration on Hessian-vector products.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ._validation import check_positive_int, check_random_state
from .formats.base import TensorFormat
from .kernels import masked_loss
from .observed import ObservedTensor

__all__ = [
    "core_sq_norms",
    "loss_profile",
    "norm_deviation",
    "norm_gradient_covariance",
    "sam_predicted_dq",
    "top_hessian_eigenvalue",
]


def core_sq_norms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Squared Frobenius norm of each tensor, shape (K,), detached."""
    if len(tensors) == 0:
        raise ValueError("need at least one tensor")
    with torch.no_grad():
        return torch.stack([t.detach().pow(2).sum() for t in tensors])


def _sq_norms(cores_or_norms: Any) -> torch.Tensor:
    if isinstance(cores_or_norms, torch.Tensor) and cores_or_norms.ndim == 1:
        return cores_or_norms.detach()
    return core_sq_norms(list(cores_or_norms))


def norm_deviation(cores: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """Norm deviation Q = sum_k (s_k - mean_j s_j)^2 with s_k = ||G_k||_F^2.

    Parameters
    ----------
    cores : sequence of tensors, or a 1-D tensor of the squared norms s_k

    Returns
    -------
    0-d tensor; zero iff all cores have equal norms.
    """
    s = _sq_norms(cores)
    return (s - s.mean()).pow(2).sum()


def norm_gradient_covariance(
    cores: Sequence[torch.Tensor] | torch.Tensor, grads: Sequence[torch.Tensor] | torch.Tensor
) -> torch.Tensor:
    """Population covariance over cores of s_k = ||G_k||^2 and gamma_k = ||g_k||^2."""
    s = _sq_norms(cores)
    gamma = _sq_norms(grads)
    if s.shape != gamma.shape:
        raise ValueError(f"need one gradient per core; got {s.shape[0]} and {gamma.shape[0]}")
    return ((s - s.mean()) * (gamma - gamma.mean())).mean()


def sam_predicted_dq(
    cores: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: float, rho: float
) -> torch.Tensor:
    """SAM's first-order change of Q in one step: lr * 4 rho u K Cov(s, gamma).

    ``u = 1 / ||g||`` over the given gradients (one scale-invariant group). DAS with
    ``alpha = rho`` has the same first-order change.
    """
    gamma = _sq_norms(grads)
    u = gamma.sum().rsqrt()
    return lr * 4.0 * rho * u * gamma.numel() * norm_gradient_covariance(cores, gamma)


def loss_profile(
    model: TensorFormat,
    observed: ObservedTensor,
    steps: Sequence[float] | np.ndarray | None = None,
    *,
    reduction: str = "mean",
    random_state: Any = None,
    metrics: dict[str, Callable[[TensorFormat], float]] | None = None,
    scale: str = "per_core",
) -> dict[str, np.ndarray]:
    """Loss along a fixed random direction in parameter space (the 1-D flatness profile).

    The direction ``d`` is Gaussian; the profile is the loss at ``G + t d`` for every ``t`` in
    ``steps``. The model is restored.

    * ``scale="per_core"``: ``d`` is scaled core by core so that ``||d_k|| = ||G_k||``; ``t`` is
      a relative step and the profile does not change when the cores are rescaled (it cannot
      see how balanced the core norms are).
    * ``scale="global"``: ``d`` has unit norm over all cores together; ``t`` is a distance in
      parameter space. This is the paper's Figure 2; it depends on how the norm is spread over
      the cores, which is what SAM and DAS change.

    Parameters
    ----------
    model, observed
        Model and the entries the loss is computed on.
    steps : sequence of float, optional
        Positions along the direction (0 is the model itself); default 21 points in [-1, 1].
    reduction : {"mean", "sum"}
    random_state : None, int or RandomState
        Seed of the direction.
    metrics : dict of name -> callable(model) -> float, optional
        Extra quantities evaluated at each point (e.g. held-out R^2).
    scale : {"per_core", "global"}, default="per_core"
        How the direction is normalised (see above).

    Returns
    -------
    dict with "steps", "loss" and one array per metric.
    """
    steps = np.linspace(-1.0, 1.0, 21) if steps is None else np.asarray(steps, dtype=float)
    if steps.ndim != 1 or steps.size == 0 or not np.isfinite(steps).all():
        raise ValueError("steps must be a non-empty 1-D sequence of finite numbers")
    if scale not in ("per_core", "global"):
        raise ValueError(f"scale must be 'per_core' or 'global'; got {scale!r}")
    rng = check_random_state(random_state)
    cores = model.cores
    direction = [
        torch.from_numpy(rng.standard_normal(tuple(c.shape))).to(c.device, c.dtype) for c in cores
    ]
    if scale == "global":
        total = torch.sqrt(sum(d.pow(2).sum() for d in direction))
        direction = [d / total for d in direction]
    else:
        direction = [d * (c.detach().norm() / d.norm()) for c, d in zip(cores, direction)]
    saved = [c.detach().clone() for c in cores]
    out: dict[str, list[float]] = {"loss": []}
    for name in metrics or {}:
        out[name] = []
    try:
        with torch.no_grad():
            for t in steps:
                for c, c0, d in zip(cores, saved, direction):
                    c.copy_(c0 + float(t) * d)
                out["loss"].append(float(masked_loss(model, observed, reduction)))
                for name, fn in (metrics or {}).items():
                    out[name].append(float(fn(model)))
    finally:
        with torch.no_grad():
            for c, c0 in zip(cores, saved):
                c.copy_(c0)
    result = {k: np.asarray(v) for k, v in out.items()}
    result["steps"] = np.asarray(steps, dtype=float)
    return result


def top_hessian_eigenvalue(
    model: TensorFormat,
    observed: ObservedTensor,
    *,
    reduction: str = "mean",
    n_iter: int = 100,
    tol: float = 1e-6,
    random_state: Any = None,
) -> float:
    """Largest-magnitude eigenvalue of the Hessian of the loss (at a minimum: the largest).

    Power iteration on Hessian-vector products (double backward through the masked loss);
    never forms the Hessian. Stops when the estimate changes by less than ``tol`` relative.
    """
    n_iter = check_positive_int(n_iter, "n_iter")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0; got {tol!r}")
    rng = check_random_state(random_state)
    cores = model.cores
    vec = [
        torch.from_numpy(rng.standard_normal(tuple(c.shape))).to(c.device, c.dtype) for c in cores
    ]
    norm = torch.sqrt(sum((v * v).sum() for v in vec))
    vec = [v / norm for v in vec]
    loss = masked_loss(model, observed, reduction, path="sparse", fused=False)
    grads = torch.autograd.grad(loss, cores, create_graph=True)
    estimate = 0.0
    for _ in range(n_iter):
        hv = torch.autograd.grad(grads, cores, grad_outputs=vec, retain_graph=True)
        new = float(sum((h * v).sum() for h, v in zip(hv, vec)))
        hv_norm = torch.sqrt(sum((h * h).sum() for h in hv))
        if hv_norm == 0:
            return 0.0
        vec = [h / hv_norm for h in hv]
        if abs(new - estimate) <= tol * max(abs(new), 1e-30):
            return new
        estimate = new
    return estimate
