"""tcomp: tensor completion with explicit-core CP, Tucker, TT and TR models."""

from __future__ import annotations

from . import formats, kernels
from .formats import CP, TR, TT, TensorFormat, Tucker
from .kernels import masked_loss
from .observed import ObservedTensor

__version__ = "0.1.0"

__all__ = [
    "CP",
    "TR",
    "TT",
    "ObservedTensor",
    "TensorFormat",
    "Tucker",
    "__version__",
    "formats",
    "kernels",
    "masked_loss",
]
