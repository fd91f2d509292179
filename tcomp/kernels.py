"""Masked-loss kernels: a model evaluated on the observed entries only.

Two paths compute the same numbers:

* **sparse** (default for sparse data): gathers, for each observed entry, the core slices it
  needs and multiplies them (CP: product of factor rows; Tucker: gathered factor rows
  contracted with the core; TT: batched chain of slice products; TR: batched product, then
  trace). Cost O(n_observed x per-entry cost); the dense tensor is never built.
  Entries are processed in chunks of at most ``chunk_size``. ``masked_loss`` is *fused*: each
  chunk's forward and backward run back to back inside the forward call and only the
  accumulated core gradients are kept for ``loss.backward()``. The memory it needs is bounded by

      chunk_size x model.entry_workspace() scalars   (one chunk's slices and products)
      + 2 x the size of the cores                     (accumulated and per-chunk gradients),

  independent of n_observed, and small chunks stay in cache, so the cost is linear in
  n_observed. Pass ``fused=False`` for higher-order derivatives (e.g. Hessian-vector
  products): chunks are then differentiated by ordinary autograd, with activation
  checkpointing when there is more than one chunk (same bound, one forward recomputed).
* **dense**: builds the full tensor once with ``model.full()`` and reads it at the observed
  positions. Cheaper when a large fraction of the entries is observed.

``path="auto"`` compares the two costs (``model.full_cost() / model.dense_speedup`` against
``n_observed x model.entry_cost()``; ``dense_speedup`` is measured per format) and never
takes the dense path when the full tensor would exceed ``max_dense_bytes``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from .formats.base import TensorFormat, check_indices
from .observed import ObservedTensor

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_MAX_DENSE_BYTES",
    "choose_path",
    "masked_loss",
    "predict",
    "residuals",
]

#: memory budget for one chunk's gathered slices on the sparse path; small enough to stay in
#: the CPU's cache (see benchmarks/kernels.py), large enough to amortise per-chunk overhead
DEFAULT_CHUNK_BYTES = 16 * 2**20
#: the dense path is never chosen (and is refused) above this size of the full tensor
DEFAULT_MAX_DENSE_BYTES = 2 * 2**30

_PATHS = ("auto", "sparse", "dense")
_REDUCTIONS = ("mean", "sum")


def _dense_bytes(model: TensorFormat) -> int:
    return math.prod(model.shape) * model.cores[0].element_size()


def choose_path(
    model: TensorFormat, n_observed: int, max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES
) -> str:
    """Return ``"dense"`` or ``"sparse"``: the cheaper path for ``n_observed`` entries.

    The dense path is taken only when the full tensor fits in ``max_dense_bytes`` and
    building it costs fewer (efficiency-weighted) operations than evaluating the entries.
    """
    if _dense_bytes(model) > max_dense_bytes:
        return "sparse"
    sparse_cost = n_observed * model.entry_cost()
    dense_cost = model.full_cost() / model.dense_speedup
    return "dense" if dense_cost < sparse_cost else "sparse"


def _check_path(path: str) -> None:
    if path not in _PATHS:
        raise ValueError(f"path must be one of {_PATHS}; got {path!r}")


def _resolve_chunk_size(model: TensorFormat, chunk_size: int | None) -> int:
    if chunk_size is None:
        per_entry = max(model.entry_workspace(), 1) * model.cores[0].element_size()
        return max(4096, DEFAULT_CHUNK_BYTES // per_entry)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size!r}")
    return chunk_size


def _dense_gather(model: TensorFormat, indices: torch.Tensor, max_dense_bytes: int) -> torch.Tensor:
    if _dense_bytes(model) > max_dense_bytes:
        raise ValueError(
            f"the dense path would build a tensor of shape {model.shape} "
            f"({_dense_bytes(model) / 2**30:.1f} GiB), above max_dense_bytes="
            f"{max_dense_bytes / 2**30:.1f} GiB; use path='sparse'"
        )
    return model.full()[tuple(indices.T)]


def _sparse_chunked(model: TensorFormat, indices: torch.Tensor, fn: Any, chunk_size: int) -> list:
    """Apply ``fn(start, stop)`` over chunks, checkpointing when gradients are tracked."""
    n = indices.shape[0]
    if n <= chunk_size:
        return [fn(0, n)]
    use_checkpoint = torch.is_grad_enabled() and any(c.requires_grad for c in model.cores)
    outputs = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        if use_checkpoint:
            outputs.append(checkpoint(fn, start, stop, use_reentrant=False))
        else:
            outputs.append(fn(start, stop))
    return outputs


class _FusedSquaredError(torch.autograd.Function):
    """Sum of squared errors whose core gradients are computed chunk by chunk in forward."""

    @staticmethod
    def forward(ctx, entries_from, indices, values, chunk_size, *cores):  # type: ignore[override]
        n = indices.shape[0]
        total = torch.zeros((), dtype=values.dtype, device=values.device)
        grads = [torch.zeros_like(c) for c in cores]
        for start in range(0, n, chunk_size):
            idx, vals = indices[start : start + chunk_size], values[start : start + chunk_size]
            with torch.enable_grad():
                leaves = [c.detach().requires_grad_() for c in cores]
                sse = (entries_from(leaves, idx) - vals).pow(2).sum()
                chunk_grads = torch.autograd.grad(sse, leaves)
            total += sse.detach()
            torch._foreach_add_(grads, chunk_grads)
        ctx.save_for_backward(*grads)
        return total

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        return (None, None, None, None, *(grad_output * g for g in ctx.saved_tensors))


def predict(
    model: TensorFormat,
    indices: Any,
    *,
    path: str = "auto",
    chunk_size: int | None = None,
    max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES,
) -> torch.Tensor:
    """Values of ``model`` at ``indices`` (differentiable with respect to the cores).

    Parameters
    ----------
    model : TensorFormat
    indices : array-like of int, shape (n, order)
    path : {"auto", "sparse", "dense"}, default="auto"
    chunk_size : int, optional
        Entries per chunk on the sparse path; default from a 16 MiB budget.
    max_dense_bytes : int
        Largest full tensor the dense path may build.

    Returns
    -------
    torch.Tensor of shape (n,)
    """
    _check_path(path)
    idx = check_indices(indices, model.shape, model.device)
    return _predict_checked(model, idx, path, chunk_size, max_dense_bytes)


def _predict_checked(
    model: TensorFormat, idx: torch.Tensor, path: str, chunk_size: int | None, max_dense_bytes: int
) -> torch.Tensor:
    """:func:`predict` on validated int64 indices and a validated ``path``."""
    if path == "auto":
        path = choose_path(model, idx.shape[0], max_dense_bytes)
    if path == "dense":
        return _dense_gather(model, idx, max_dense_bytes)
    size = _resolve_chunk_size(model, chunk_size)
    parts = _sparse_chunked(model, idx, lambda a, b: model._entries(idx[a:b]), size)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _check_observed(model: TensorFormat, observed: ObservedTensor) -> None:
    if not isinstance(observed, ObservedTensor):
        raise TypeError(f"observed must be an ObservedTensor; got {type(observed).__name__}")
    if tuple(observed.shape) != tuple(model.shape):
        raise ValueError(
            f"observed tensor shape {observed.shape} does not match model shape {model.shape}"
        )
    if observed.device != model.device:
        raise ValueError(
            f"observed entries are on {observed.device} but the model is on {model.device}; "
            "move one with .to(device)"
        )


def residuals(
    model: TensorFormat,
    observed: ObservedTensor,
    *,
    path: str = "auto",
    chunk_size: int | None = None,
    max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES,
) -> torch.Tensor:
    """Prediction minus observed value at every observed entry, shape (n_observed,)."""
    _check_observed(model, observed)
    _check_path(path)
    predicted = _predict_checked(model, observed.indices, path, chunk_size, max_dense_bytes)
    return predicted - observed.values.to(model.dtype)


def masked_loss(
    model: TensorFormat,
    observed: ObservedTensor,
    reduction: str = "mean",
    *,
    path: str = "auto",
    chunk_size: int | None = None,
    max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES,
    fused: bool = True,
) -> torch.Tensor:
    """Squared error of ``model`` on the observed entries only.

    Parameters
    ----------
    model : TensorFormat
    observed : ObservedTensor
        On the model's device; its values are cast to the model's dtype.
    reduction : {"mean", "sum"}, default="mean"
        ``"mean"``: (1/n) sum (T[i] - Y[i])^2; ``"sum"``: sum (T[i] - Y[i])^2.
    path : {"auto", "sparse", "dense"}, default="auto"
        See the module docstring. Both paths give the same value and gradient.
    chunk_size : int, optional
        Entries per chunk on the sparse path (bounds memory, see module docstring).
    max_dense_bytes : int
        Largest full tensor the dense path may build; forcing ``path="dense"`` above it
        raises ValueError.
    fused : bool, default=True
        Sparse path: compute the core gradients chunk by chunk during the forward call
        (bounded memory, cache-friendly). Set False when differentiating the loss twice.

    Returns
    -------
    loss : 0-d torch.Tensor, differentiable with respect to the cores.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    _check_observed(model, observed)
    _check_path(path)
    if path == "auto":
        path = choose_path(model, observed.n_observed, max_dense_bytes)
    cores = model.cores
    if (
        path == "sparse"
        and fused
        and torch.is_grad_enabled()
        and any(c.requires_grad for c in cores)
    ):
        values = observed.values.to(model.dtype)
        size = _resolve_chunk_size(model, chunk_size)
        total = _FusedSquaredError.apply(
            model._entries_from, observed.indices, values, size, *cores
        )
    else:
        total = (
            residuals(
                model, observed, path=path, chunk_size=chunk_size, max_dense_bytes=max_dense_bytes
            )
            .pow(2)
            .sum()
        )
    return total / observed.n_observed if reduction == "mean" else total
