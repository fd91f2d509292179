"""Error metrics for completed entries. Each takes the true and the predicted values.

All accept numpy arrays or torch tensors of the same shape and return a Python float. Say
which entries a metric is computed on: tcomp reports held-out entries unless stated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validation import to_numpy

__all__ = ["psnr", "r2", "rmse", "rse", "uncentered_r2"]


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(to_numpy(y_true), dtype=np.float64)
    p = np.asarray(to_numpy(y_pred), dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}")
    if t.size == 0:
        raise ValueError("metrics need at least one entry; got empty arrays")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("y_true and y_pred must be finite")
    return t, p


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def rse(y_true: Any, y_pred: Any) -> float:
    """Relative squared error ||p - t|| / ||t|| (Frobenius norms; common in completion)."""
    t, p = _pair(y_true, y_pred)
    denom = np.linalg.norm(t)
    if denom == 0:
        raise ValueError("rse is undefined when y_true is all zeros")
    return float(np.linalg.norm(p - t) / denom)


def r2(y_true: Any, y_pred: Any) -> float:
    """Centered coefficient of determination 1 - SSE / SST (SST about the mean of y_true)."""
    t, p = _pair(y_true, y_pred)
    sst = np.sum((t - t.mean()) ** 2)
    if sst == 0:
        raise ValueError("r2 is undefined when y_true is constant")
    return float(1.0 - np.sum((t - p) ** 2) / sst)


def uncentered_r2(y_true: Any, y_pred: Any) -> float:
    """1 - ||p - t||^2 / ||t||^2: the form the paper's reference code reports."""
    return 1.0 - rse(y_true, y_pred) ** 2


def psnr(y_true: Any, y_pred: Any, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(range^2 / MSE).

    ``data_range`` defaults to max(y_true) - min(y_true) (use 1.0 for images in [0, 1]).
    """
    t, p = _pair(y_true, y_pred)
    if data_range is None:
        data_range = float(t.max() - t.min())
    if data_range <= 0:
        raise ValueError(f"data_range must be > 0; got {data_range}")
    mse = float(np.mean((t - p) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)
