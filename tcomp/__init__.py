"""tcomp: tensor completion with explicit-core CP, Tucker, TT and TR models."""

from __future__ import annotations

from . import diagnostics, formats, kernels, metrics, optim
from .fitting import FitResult, fit
from .formats import CP, TR, TT, TensorFormat, Tucker
from .kernels import masked_loss
from .observed import ObservedTensor

__version__ = "0.1.0"

__all__ = [
    "CP",
    "TR",
    "TT",
    "FitResult",
    "ObservedTensor",
    "TensorFormat",
    "Tucker",
    "__version__",
    "diagnostics",
    "fit",
    "formats",
    "kernels",
    "masked_loss",
    "metrics",
    "optim",
]
