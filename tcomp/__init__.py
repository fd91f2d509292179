"""tcomp: tensor completion with explicit-core CP, Tucker, TT and TR models."""

from __future__ import annotations

from . import datasets, diagnostics, formats, io, kernels, metrics, optim
from .estimator import TensorCompletion
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
    "TensorCompletion",
    "TensorFormat",
    "Tucker",
    "__version__",
    "datasets",
    "diagnostics",
    "fit",
    "formats",
    "io",
    "kernels",
    "masked_loss",
    "metrics",
    "optim",
]
