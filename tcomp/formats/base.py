"""Base class shared by the four decomposition formats.

A format holds its cores as ``torch.nn.Parameter`` objects and knows how to reconstruct
the full tensor (:meth:`TensorFormat.full`) or only chosen entries
(:meth:`TensorFormat.entries`). It knows nothing of how it is trained.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from .._validation import as_torch_dtype, check_random_state, check_shape, to_numpy

__all__ = ["TensorFormat", "check_indices"]


def check_indices(indices: Any, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Validate entry positions against ``shape`` and return them as int64 on ``device``."""
    idx = indices if isinstance(indices, torch.Tensor) else torch.as_tensor(np.asarray(indices))
    if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
        raise TypeError(f"indices must have an integer dtype; got {idx.dtype}")
    if idx.ndim != 2 or idx.shape[1] != len(shape):
        raise ValueError(
            f"indices must have shape (n, {len(shape)}) for a tensor of shape {shape}; "
            f"got {tuple(idx.shape)}"
        )
    idx = idx.to(device=device, dtype=torch.int64)
    if idx.shape[0] and (
        bool((idx < 0).any()) or bool((idx >= torch.tensor(shape, device=device)).any())
    ):
        raise ValueError(f"indices out of range for a tensor of shape {shape}")
    return idx


class TensorFormat(torch.nn.Module):
    """A low-rank tensor held as explicit cores (abstract base class).

    Subclasses define the core shapes, the reconstruction and the rank rules. The cores are
    multilinear in the reconstruction: scaling core ``k`` by ``c_k`` with
    ``prod(c_k) = 1`` leaves the tensor unchanged.

    Parameters
    ----------
    cores : sequence of torch.Tensor
        The cores, in the order documented by the subclass. They are copied into new
        parameters, so the caller's tensors are never modified.
    """

    #: short lowercase name used by registries, files and the command line
    name: ClassVar[str] = ""
    #: smallest tensor order the format supports
    min_order: ClassVar[int] = 2
    #: how many times more multiply-adds per second ``full()`` achieves than the sparse path
    #: (large matrix products against gathers and tiny batched products); measured with
    #: benchmarks/kernels.py on CPU and used by the kernels' automatic path choice
    dense_speedup: ClassVar[float] = 8.0

    def __init__(self, cores: Sequence[Any]) -> None:
        super().__init__()
        if isinstance(cores, (torch.Tensor, np.ndarray)) or not isinstance(cores, Sequence):
            raise TypeError(f"cores must be a sequence of tensors; got {type(cores).__name__}")
        tensors = []
        for i, core in enumerate(cores):
            t = (
                core.detach().clone()
                if isinstance(core, torch.Tensor)
                else torch.tensor(np.asarray(core))
            )
            if not t.dtype.is_floating_point:
                raise TypeError(f"cores[{i}] must be a floating tensor; got dtype {t.dtype}")
            tensors.append(t)
        if not tensors:
            raise ValueError("cores must not be empty")
        dtypes = {t.dtype for t in tensors}
        devices = {t.device for t in tensors}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(
                f"all cores must share one dtype and device; got {dtypes} and {devices}"
            )
        self._shape, self._rank = self._shape_and_rank(tensors)
        self._cores = torch.nn.ParameterList([torch.nn.Parameter(t) for t in tensors])

    # ------------------------------------------------------------------ to subclass
    @classmethod
    @abstractmethod
    def validate_rank(cls, rank: Any, shape: tuple[int, ...]) -> Any:
        """Return the rank in canonical form, raising ValueError if it breaks a rule."""

    @classmethod
    @abstractmethod
    def core_shapes(cls, shape: tuple[int, ...], rank: Any) -> list[tuple[int, ...]]:
        """Shapes of the cores for a tensor ``shape`` and a canonical ``rank``."""

    @abstractmethod
    def _shape_and_rank(self, cores: list[torch.Tensor]) -> tuple[tuple[int, ...], Any]:
        """Check the cores fit together; return the tensor shape and canonical rank."""

    @abstractmethod
    def full(self) -> torch.Tensor:
        """Reconstruct the full dense tensor (differentiable)."""

    @classmethod
    @abstractmethod
    def _entries_from(cls, cores: Sequence[torch.Tensor], indices: torch.Tensor) -> torch.Tensor:
        """Entries at validated int64 ``indices`` (n, order) of the model with ``cores``.

        A pure function of the cores, so kernels can differentiate it with respect to
        detached copies of them.
        """

    def _entries(self, indices: torch.Tensor) -> torch.Tensor:
        """Entries at validated int64 ``indices`` of shape (n, order) (differentiable)."""
        return self._entries_from(self.cores, indices)

    @classmethod
    @abstractmethod
    def _n_terms(cls, shape: tuple[int, ...], rank: Any) -> int:
        """Number of products of core entries summed in one tensor entry."""

    @classmethod
    @abstractmethod
    def _entry_cost(cls, shape: tuple[int, ...], rank: Any) -> int:
        """Approximate multiply-adds to evaluate one entry on the sparse path."""

    @classmethod
    @abstractmethod
    def _full_cost(cls, shape: tuple[int, ...], rank: Any) -> int:
        """Approximate multiply-adds to build the full tensor."""

    @classmethod
    @abstractmethod
    def _entry_workspace(cls, shape: tuple[int, ...], rank: Any) -> int:
        """Approximate scalars held per entry on the sparse path (slices and products)."""

    @abstractmethod
    def to_tensorly(self) -> Any:
        """Return the equivalent tensorly object (see subclass docstring)."""

    @classmethod
    @abstractmethod
    def _cores_from_tensorly(cls, obj: Any) -> list[np.ndarray]:
        """Extract the cores of a tensorly object as numpy arrays, in tcomp's order."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        shape: Sequence[int],
        rank: Any,
        random_state: Any = None,
        dtype: Any = torch.float32,
        device: Any = "cpu",
        init_scale: float = 1.0,
        balanced: bool = True,
    ) -> TensorFormat:
        """Draw a random model with Gaussian cores.

        Parameters
        ----------
        shape : sequence of int
            Shape of the tensor the model represents.
        rank : int or sequence of int
            Rank, following tensorly's convention for the format.
        random_state : None, int or numpy RandomState
            Seed; the same seed gives the same cores on every device.
        dtype : {"float32", "float64"} or torch.dtype, default=torch.float32
        device : str or torch.device, default="cpu"
        init_scale : float, default=1.0
            Target root-mean-square of the reconstructed entries.
        balanced : bool, default=True
            If True every core has the same squared Frobenius norm (norm deviation Q = 0);
            if False the cores are i.i.d. Gaussian with one common entry scale.

        Returns
        -------
        model : instance of the calling class
        """
        shape = check_shape(shape, "shape")
        if len(shape) < cls.min_order:
            raise ValueError(
                f"{cls.__name__} needs a tensor of order >= {cls.min_order}; got shape {shape}"
            )
        rank = cls.validate_rank(rank, shape)
        if not (isinstance(init_scale, (int, float)) and math.isfinite(init_scale)) or (
            init_scale <= 0
        ):
            raise ValueError(f"init_scale must be a finite number > 0; got {init_scale!r}")
        dtype = as_torch_dtype(dtype)
        rng = check_random_state(random_state)
        core_shapes = cls.core_shapes(shape, rank)
        numels = [math.prod(s) for s in core_shapes]
        n_terms = cls._n_terms(shape, rank)
        k = len(core_shapes)
        # Entry variance = n_terms * prod_k sigma_k^2 and s_k = numel_k * sigma_k^2.
        # Balanced: s_k = s for every k, so s^K = init_scale^2 * prod(numel) / n_terms.
        if balanced:
            log_s = (2 * math.log(init_scale) + sum(map(math.log, numels)) - math.log(n_terms)) / k
            variances = [math.exp(log_s) / m for m in numels]
        else:
            log_var = (2 * math.log(init_scale) - math.log(n_terms)) / k
            variances = [math.exp(log_var)] * k
        cores = []
        for core_shape, var in zip(core_shapes, variances):
            draw = rng.standard_normal(core_shape)
            if balanced:
                draw *= math.sqrt(draw.size / max(float(np.sum(draw**2)), 1e-300))
            cores.append(torch.tensor(draw * math.sqrt(var), dtype=dtype, device=device))
        return cls(cores)

    @classmethod
    def from_tensorly(cls, obj: Any, dtype: Any = None, device: Any = None) -> TensorFormat:
        """Build from a tensorly decomposition (any tensorly backend).

        Parameters
        ----------
        obj : tensorly decomposition object or the equivalent tuple / list
            See the subclass docstring for the accepted forms.
        dtype : {"float32", "float64"} or torch.dtype, optional
            Default: the dtype of the arrays (float64 if they are not floating point).
        device : str or torch.device, optional
        """
        arrays = cls._cores_from_tensorly(obj)
        cores = []
        for arr in arrays:
            t = torch.from_numpy(np.array(arr, copy=True))
            if not t.dtype.is_floating_point:
                t = t.to(torch.float64)
            if dtype is not None:
                t = t.to(as_torch_dtype(dtype))
            if device is not None:
                t = t.to(device)
            cores.append(t)
        return cls(cores)

    # ------------------------------------------------------------------ properties
    @property
    def cores(self) -> list[torch.nn.Parameter]:
        """The cores, as a list of parameters, in the order of the class docstring."""
        return list(self._cores)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the represented tensor."""
        return self._shape

    @property
    def order(self) -> int:
        return len(self._shape)

    @property
    def rank(self) -> Any:
        """Rank in tensorly's canonical form for this format."""
        return self._rank

    @property
    def n_params(self) -> int:
        """Total number of scalars in the cores."""
        return sum(c.numel() for c in self._cores)

    @property
    def dtype(self) -> torch.dtype:
        return self._cores[0].dtype

    @property
    def device(self) -> torch.device:
        return self._cores[0].device

    def entry_cost(self) -> int:
        """Approximate multiply-adds to evaluate one entry on the sparse path."""
        return self._entry_cost(self._shape, self._rank)

    def full_cost(self) -> int:
        """Approximate multiply-adds to build the full tensor with :meth:`full`."""
        return self._full_cost(self._shape, self._rank)

    def entry_workspace(self) -> int:
        """Approximate scalars held per entry on the sparse path (for chunk sizing)."""
        return self._entry_workspace(self._shape, self._rank)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, rank={self.rank}, dtype={self.dtype}, device={self.device}"

    # ------------------------------------------------------------------ operations
    def entries(self, indices: Any) -> torch.Tensor:
        """Entries of the tensor at ``indices``, without building the dense tensor.

        Parameters
        ----------
        indices : array-like of int, shape (n, order)

        Returns
        -------
        values : torch.Tensor, shape (n,)
            Differentiable with respect to the cores.
        """
        idx = check_indices(indices, self.shape, self.device)
        return self._entries(idx)

    def forward(self, indices: Any) -> torch.Tensor:
        """Same as :meth:`entries`, so a format can be called like any torch module."""
        return self.entries(indices)

    def core_norms(self) -> torch.Tensor:
        """Squared Frobenius norms ``s_k`` of the cores, shape (K,), detached."""
        with torch.no_grad():
            return torch.stack([c.pow(2).sum() for c in self._cores])

    @torch.no_grad()
    def rescale_(self, factors: Sequence[float] | torch.Tensor) -> TensorFormat:
        """Multiply core ``k`` by ``factors[k]`` in place; returns ``self``.

        The tensor is unchanged when the product of the factors is 1.
        """
        f = torch.as_tensor(
            to_numpy(factors) if not isinstance(factors, torch.Tensor) else factors
        ).detach()
        if f.ndim != 1 or f.shape[0] != len(self._cores):
            raise ValueError(
                f"factors must have one entry per core ({len(self._cores)}); got shape "
                f"{tuple(f.shape)}"
            )
        if not bool(torch.isfinite(f).all()):
            raise ValueError("factors must be finite")
        for core, c in zip(self._cores, f.to(self.device, self.dtype)):
            core.mul_(c)
        return self
