"""TensorCompletion: a scikit-learn estimator for tensor completion."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import as_torch_dtype, check_random_state, check_shape, to_numpy
from .fitting import FitResult, fit
from .formats import get_format
from .formats.base import check_indices
from .kernels import predict as kernel_predict
from .observed import ObservedTensor
from .optim import BASE_OPTIMIZERS, SOLVERS

__all__ = ["TensorCompletion"]

#: ``complete()`` refuses to build a dense tensor larger than this many bytes by default
MAX_COMPLETE_BYTES = 4 * 2**30


class TensorCompletion(RegressorMixin, BaseEstimator):
    """Complete a tensor with missing entries by a low-rank CP, Tucker, TT or TR model.

    ``X`` describes observed entries, in one of three forms:

    * an :class:`~tcomp.ObservedTensor`;
    * integer indices of shape (n, order) with their values ``y`` (the scikit-learn form used
      by cross-validation, which splits the observed entries: pass ``shape`` so that every
      fold has the same tensor shape, and shuffle the folds, since indices from
      ``np.argwhere`` are sorted and unshuffled folds hold out whole slices; ``fit`` warns
      when a slice has no observed entry);
    * a dense float array with NaN at the missing entries.

    By default a random ``validation_fraction`` of the observed entries is held out, the fit
    stops when their error stops improving (``patience`` iterations) and the best iterate is
    restored, so a model with too large a rank still generalizes to the missing entries.
    Values are divided by their root mean square before fitting and multiplied back on
    prediction, so ``lr`` and ``alpha`` mean the same on data of any scale.

    Parameters
    ----------
    format : {"cp", "tucker", "tt", "tr"}, default="tr"
    rank : int or sequence of int, default=5
        In the format's tensorly convention.
    solver : {"gd", "sam", "das"}, default="das"
    optimizer : {"sgd", "adam"}, default="adam"
    lr : float, default=0.01
    rho : float, default=0.05
        SAM radius.
    alpha : float, default=0.05
        DAS strength, for the mean squared error on values scaled to unit RMS (``reduction``
        "mean"); with "sum" divide it by the number of training entries for the same effect.
    alpha_schedule : {"constant", "linear", "cosine"}, default="constant"
    weight_decay : float, default=0.0
        L2 penalty on the cores, passed to the base optimizer (coupled L2 for Adam and SGD),
        relative to the mean loss on unit-RMS values. A small value (e.g. 0.003) curbs the
        overfitting of over-large ranks when few entries are observed; tune it with ``rank`` by
        cross-validation. Too large a value collapses the model to zero: with three or more
        cores zero is a local minimum of the penalized loss, and ``fit`` warns when the result
        predicts the training entries worse than their mean.
    n_iter : int, default=5000
        Maximum number of iterations.
    reduction : {"mean", "sum"}, default="mean"
    shape : tuple of int, optional
        Shape of the full tensor; needed when ``X`` is given as indices (otherwise the
        smallest shape holding them is used).
    validation_fraction : float, default=0.1
        Fraction of the observed entries held out for early stopping.
    validation_groups : sequence of int, optional
        Modes whose indices define groups held out together (e.g. ``(0, 1)`` on an
        (H, W, 3) image holds out whole pixels), so the validation part looks like the
        missing part. Default: entries are held out one by one.
    early_stopping : bool, default=True
    patience : int, default=300
        Iterations without improvement of the validation error before stopping.
    tol : float, default=1e-4
        Relative improvement that counts.
    init_scale : float, default=1.0
        RMS of the initial model's entries, relative to the RMS of the data.
    device : str, default="cpu"
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or RandomState
        Seeds the validation split and the initial cores.
    verbose : bool, default=False
        Show a progress bar.
    warm_start : bool, default=False
        Continue from the fitted model instead of drawing a new one.

    Attributes
    ----------
    model_ : TensorFormat
        Fitted model (of the scaled values; use :meth:`predict` for data units).
    history_ : dict
        Fit history (see :class:`~tcomp.FitResult`); validation metrics are on the held-out
        validation entries.
    n_iter_ : int
    shape_ : tuple of int
    result_ : FitResult
    scale_ : float
        RMS of the training values the model was fitted to.

    Examples
    --------
    >>> import numpy as np
    >>> from tcomp import TensorCompletion
    >>> from tcomp.datasets import make_low_rank, make_mask
    >>> data = make_low_rank("cp", (20, 20, 20), 3, random_state=0)
    >>> X = np.where(make_mask(data.tensor.shape, 0.8, random_state=0), data.tensor, np.nan)
    >>> est = TensorCompletion(format="cp", rank=3, random_state=0).fit(X)
    >>> full = est.complete()
    """

    def __init__(
        self,
        format: str = "tr",
        rank: Any = 5,
        solver: str = "das",
        optimizer: str = "adam",
        lr: float = 0.01,
        rho: float = 0.05,
        alpha: float = 0.05,
        alpha_schedule: str = "constant",
        weight_decay: float = 0.0,
        n_iter: int = 5000,
        reduction: str = "mean",
        shape: tuple[int, ...] | None = None,
        validation_fraction: float = 0.1,
        validation_groups: tuple[int, ...] | None = None,
        early_stopping: bool = True,
        patience: int = 300,
        tol: float = 1e-4,
        init_scale: float = 1.0,
        device: str = "cpu",
        dtype: str = "float32",
        random_state: Any = None,
        verbose: bool = False,
        warm_start: bool = False,
    ) -> None:
        self.format = format
        self.rank = rank
        self.solver = solver
        self.optimizer = optimizer
        self.lr = lr
        self.rho = rho
        self.alpha = alpha
        self.alpha_schedule = alpha_schedule
        self.weight_decay = weight_decay
        self.n_iter = n_iter
        self.reduction = reduction
        self.shape = shape
        self.validation_fraction = validation_fraction
        self.validation_groups = validation_groups
        self.early_stopping = early_stopping
        self.patience = patience
        self.tol = tol
        self.init_scale = init_scale
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ input handling
    def _observed_from(self, X: Any, y: Any) -> ObservedTensor:
        """Turn the three accepted input forms into an ObservedTensor (copied)."""
        dtype = as_torch_dtype(self.dtype)
        if isinstance(X, ObservedTensor):
            if y is not None:
                raise ValueError("y must be None when X is an ObservedTensor")
            if self.shape is not None and tuple(self.shape) != X.shape:
                raise ValueError(f"shape={self.shape} does not match X.shape={X.shape}")
            return X.to(dtype=dtype)
        if scipy.sparse.issparse(X):
            raise TypeError(
                "sparse matrices are not supported as X; pass the observed entries as integer "
                "indices (n, order) with their values y, or as an ObservedTensor"
            )
        arr = to_numpy(X)
        if np.iscomplexobj(arr) or (y is not None and np.iscomplexobj(to_numpy(y))):
            raise ValueError("Complex data not supported: tensor values must be real numbers")
        if y is not None:
            if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(
                    "when y is given, X must be integer indices of shape (n, order); got an "
                    f"array of dtype {arr.dtype} and shape {arr.shape}"
                )
            if arr.shape[0] == 0:
                raise ValueError("no observed entries: X has 0 rows")
            shape = (
                check_shape(self.shape)
                if self.shape is not None
                else tuple(int(m) + 1 for m in arr.max(axis=0))
            )
            return ObservedTensor(arr, to_numpy(y), shape, dtype=dtype)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ValueError(f"a dense X must hold real numbers; got dtype {arr.dtype}")
        if arr.ndim < 2:
            raise ValueError(
                f"a dense X must be a tensor of order >= 2 with NaN as missing; got shape "
                f"{arr.shape} (for indices, pass their values as y)"
            )
        if np.isinf(arr).any():
            raise ValueError("X contains infinite values; mark missing entries with NaN")
        if self.shape is not None and tuple(self.shape) != arr.shape:
            raise ValueError(f"shape={self.shape} does not match X.shape={arr.shape}")
        return ObservedTensor.from_dense(arr, dtype=dtype)

    def _check_params(self) -> None:
        get_format(self.format)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}; got {self.solver!r}")
        if self.optimizer not in BASE_OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(BASE_OPTIMIZERS)}; got {self.optimizer!r}"
            )
        vf = self.validation_fraction
        if not isinstance(vf, (int, float)) or not 0 <= vf < 1:
            raise ValueError(f"validation_fraction must be in [0, 1); got {vf!r}")
        if self.early_stopping and vf == 0:
            raise ValueError("early_stopping=True needs validation_fraction > 0")
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not 0 <= wd < math.inf:
            raise ValueError(f"weight_decay must be a finite number >= 0; got {wd!r}")
        if not (isinstance(self.init_scale, (int, float)) and self.init_scale > 0):
            raise ValueError(f"init_scale must be a number > 0; got {self.init_scale!r}")

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> TensorCompletion:
        """Fit the model to the observed entries described by ``X`` (and ``y``).

        Returns
        -------
        self
        """
        self._check_params()
        observed = self._observed_from(X, y)
        rng = check_random_state(self.random_state)
        split_seed, init_seed = rng.randint(0, 2**31 - 1, size=2)
        train, validation = observed, None
        if self.early_stopping:
            # the split raises a clear error when a part would be empty
            validation, train = observed.split(
                self.validation_fraction,
                random_state=split_seed,
                group_modes=self.validation_groups,
            )
        _warn_unobserved_slices(observed)
        scale = float(train.values.pow(2).mean().sqrt())
        scale = scale if scale > 0 else 1.0
        device = torch.device(self.device)
        dtype = as_torch_dtype(self.dtype)
        train = _scaled(train, scale, device, dtype)
        validation = None if validation is None else _scaled(validation, scale, device, dtype)
        cls = get_format(self.format)
        reuse = (
            self.warm_start
            and hasattr(self, "model_")
            and isinstance(self.model_, cls)
            and self.model_.shape == observed.shape
        )
        if reuse:
            model = self.model_.to(device=device, dtype=dtype)
            with torch.no_grad():  # the old model fitted values / old scale
                model.rescale_(_root_factors(self.scale_ / scale, len(model.cores)))
        else:
            model = cls.random(
                observed.shape,
                self.rank,
                random_state=init_seed,
                dtype=dtype,
                device=device,
                init_scale=self.init_scale,
            )
        result: FitResult = fit(
            model,
            train,
            solver=self.solver,
            optimizer=self.optimizer,
            lr=self.lr,
            rho=self.rho,
            alpha=self.alpha,
            alpha_schedule=self.alpha_schedule,
            n_iter=self.n_iter,
            reduction=self.reduction,
            validation=validation,
            early_stopping=self.early_stopping,
            patience=self.patience,
            tol=self.tol,
            verbose=self.verbose,
            record_every=10,
            optimizer_kwargs={"weight_decay": float(self.weight_decay)},
        )
        self.model_ = model
        self.scale_ = scale
        _warn_if_worse_than_mean(model, train, float(self.weight_decay))
        self.result_ = result
        self.history_ = result.history
        self.n_iter_ = result.n_iter
        self.shape_ = observed.shape
        return self

    # ------------------------------------------------------------------ prediction
    def predict(self, X: Any) -> np.ndarray:
        """Predicted values at integer indices ``X`` of shape (n, order), as numpy."""
        check_is_fitted(self, "model_")
        arr = to_numpy(X)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"X must be integer indices of shape (n, {len(self.shape_)}); got dtype "
                f"{arr.dtype} and shape {arr.shape}"
            )
        idx = check_indices(
            torch.from_numpy(np.ascontiguousarray(arr)), self.shape_, self.model_.device
        )
        with torch.no_grad():
            values = kernel_predict(self.model_, idx)
        return values.cpu().numpy().astype(np.float64) * self.scale_

    def complete(self, max_bytes: int = MAX_COMPLETE_BYTES) -> np.ndarray:
        """The dense completed tensor (observed entries are model values too), as numpy.

        Refuses a tensor larger than ``max_bytes`` (float64); use :meth:`predict` on the
        entries you need instead.
        """
        check_is_fitted(self, "model_")
        needed = math.prod(self.shape_) * 8
        if needed > max_bytes:
            raise ValueError(
                f"the completed tensor of shape {self.shape_} needs {needed / 2**30:.1f} GiB, "
                f"above max_bytes={max_bytes / 2**30:.1f} GiB; predict the entries you need"
            )
        with torch.no_grad():
            full = self.model_.full()
        return full.cpu().numpy().astype(np.float64) * self.scale_

    def __sklearn_tags__(self):
        """X is 2-D integer indices (with y) or a dense tensor with NaN as missing."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = True
        return tags


def _warn_unobserved_slices(observed: ObservedTensor) -> None:
    """Warn when some index of a mode has no observed entry: the model cannot learn it."""
    for mode, size in enumerate(observed.shape):
        counts = torch.bincount(observed.indices[:, mode], minlength=size)
        empty = (counts == 0).nonzero().flatten()
        if empty.numel():
            shown = empty[:5].tolist()
            warnings.warn(
                f"{empty.numel()} of the {size} slices of mode {mode} (e.g. indices {shown}) "
                "have no observed entry: predictions there are not determined by the data. "
                "With indices from np.argwhere, shuffle cross-validation folds "
                "(KFold(shuffle=True)) so that no fold holds out whole slices.",
                UserWarning,
                stacklevel=3,
            )


def _warn_if_worse_than_mean(model: Any, train: ObservedTensor, weight_decay: float) -> None:
    """Warn when the fit predicts its own training entries worse than their mean does."""
    values = train.values
    total = (values - values.mean()).pow(2).sum()
    if values.numel() < 2 or not total > 0:
        return
    with torch.no_grad():
        residual = (kernel_predict(model, train.indices) - values).pow(2).sum()
    if residual <= total:
        return
    hint = (
        f"weight_decay={weight_decay:g} may have pulled the cores to zero (for three or more "
        "cores the data's pull vanishes faster near zero than the penalty's); lower it or "
        "choose it by cross-validation"
        if weight_decay > 0
        else "try another rank, lr or init_scale, or more iterations"
    )
    warnings.warn(
        # no number in the message: repeated fits give one identical warning, which Python's
        # default filter shows once (scikit-learn's cross-validation re-emits it per fit)
        f"the fitted model predicts its training entries worse than their mean does: {hint}.",
        UserWarning,
        stacklevel=3,
    )


def _scaled(
    obs: ObservedTensor, scale: float, device: torch.device, dtype: torch.dtype
) -> ObservedTensor:
    moved = obs.to(device=device, dtype=dtype)
    moved.values = moved.values / scale
    return moved


def _root_factors(c: float, k: int) -> list[float]:
    """k equal factors whose product is c (c > 0), to rescale a model by c evenly."""
    return [c ** (1.0 / k)] * k
