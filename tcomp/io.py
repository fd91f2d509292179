"""Save and load tcomp objects as HDF5 files (through h5py; never pickle).

Layout (plain datasets and attributes, readable by any HDF5 tool)::

    /                       attrs: tcomp_file = "tcomp", file_version, kind, tcomp_version
    /observed               (kind "observed")  indices (n, N) int64, values (n,); attr shape
    /model                  (kinds "model", "estimator") attrs format, shape, rank (JSON);
                            datasets core_0 .. core_{K-1}
    /estimator              (kind "estimator") attrs params (JSON), scale, n_iter, shape,
                            status, message, success, best_iteration, loss
    /estimator/history      one dataset per recorded quantity

Loading checks the marker and the version first and evaluates nothing from the file: JSON is
parsed as data, arrays are read as arrays.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np
import torch

from .fitting import FitResult
from .formats import get_format
from .formats.base import TensorFormat
from .observed import ObservedTensor

__all__ = ["FILE_VERSION", "load", "read_info", "save"]

#: version of the file layout; files with a larger number are refused
FILE_VERSION = 1
_MARKER = "tcomp"


def _json_safe(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"cannot save a parameter of type {type(value).__name__} ({value!r}); HDF5 files hold "
        "plain values only (e.g. give random_state as an int)"
    )


def _write_model(group: h5py.Group, model: TensorFormat) -> None:
    group.attrs["format"] = model.name
    group.attrs["shape"] = np.asarray(model.shape, dtype=np.int64)
    group.attrs["rank"] = json.dumps(_json_safe(model.rank))
    group.attrs["n_cores"] = len(model.cores)
    for k, core in enumerate(model.cores):
        group.create_dataset(f"core_{k}", data=core.detach().cpu().numpy())


def _read_model(group: h5py.Group) -> TensorFormat:
    cls = get_format(str(group.attrs["format"]))
    n_cores = int(group.attrs["n_cores"])
    cores = [torch.from_numpy(np.array(group[f"core_{k}"])) for k in range(n_cores)]
    model = cls(cores)
    if tuple(model.shape) != tuple(int(s) for s in group.attrs["shape"]):
        raise ValueError("the file's cores do not match its recorded shape: the file is corrupt")
    return model


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save an ObservedTensor, a format object or a fitted TensorCompletion to ``path``.

    An existing file at ``path`` is overwritten.
    """
    from .estimator import TensorCompletion

    if isinstance(obj, ObservedTensor):
        kind = "observed"
    elif isinstance(obj, TensorFormat):
        kind = "model"
    elif isinstance(obj, TensorCompletion):
        if not hasattr(obj, "model_"):
            raise ValueError("the estimator is not fitted: there is nothing to save yet")
        kind = "estimator"
    else:
        raise TypeError(
            "save expects an ObservedTensor, a tcomp format or a fitted TensorCompletion; got "
            f"{type(obj).__name__}"
        )
    from . import __version__

    with h5py.File(path, "w") as f:
        f.attrs["tcomp_file"] = _MARKER
        f.attrs["file_version"] = FILE_VERSION
        f.attrs["kind"] = kind
        f.attrs["tcomp_version"] = __version__
        if kind == "observed":
            g = f.create_group("observed")
            g.attrs["shape"] = np.asarray(obj.shape, dtype=np.int64)
            g.create_dataset("indices", data=obj.indices.cpu().numpy())
            g.create_dataset("values", data=obj.values.cpu().numpy())
        elif kind == "model":
            _write_model(f.create_group("model"), obj)
        else:
            _write_model(f.create_group("model"), obj.model_)
            g = f.create_group("estimator")
            g.attrs["params"] = json.dumps(_json_safe_params(obj.get_params()))
            g.attrs["scale"] = float(obj.scale_)
            g.attrs["n_iter"] = int(obj.n_iter_)
            g.attrs["shape"] = np.asarray(obj.shape_, dtype=np.int64)
            r = obj.result_
            for key in ("status", "best_iteration"):
                g.attrs[key] = int(getattr(r, key))
            g.attrs["success"] = bool(r.success)
            g.attrs["message"] = r.message
            g.attrs["loss"] = float(r.loss)
            h = g.create_group("history")
            for key, values in obj.history_.items():
                h.create_dataset(key, data=np.asarray(values, dtype=np.float64))


def _json_safe_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_safe(v) for k, v in params.items()}


def _open_checked(path: str | os.PathLike) -> h5py.File:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(
            f"{path} is not a readable HDF5 file (truncated, corrupt or another format): {exc}"
        ) from exc
    if f.attrs.get("tcomp_file") != _MARKER:
        f.close()
        raise ValueError(f"{path} is an HDF5 file but not one written by tcomp")
    version = int(f.attrs.get("file_version", -1))
    if version > FILE_VERSION:
        f.close()
        raise ValueError(
            f"{path} has file version {version}, newer than this tcomp reads ({FILE_VERSION}); "
            "upgrade tcomp"
        )
    if version < 1:
        f.close()
        raise ValueError(f"{path} has no valid file_version attribute: the file is corrupt")
    return f


def read_info(path: str | os.PathLike) -> dict[str, Any]:
    """Summary of a tcomp file (kind, versions, shape, format, rank, ...) without loading it."""
    with _open_checked(path) as f:
        info: dict[str, Any] = {
            "kind": str(f.attrs["kind"]),
            "file_version": int(f.attrs["file_version"]),
            "tcomp_version": str(f.attrs.get("tcomp_version", "?")),
        }
        if "observed" in f:
            g = f["observed"]
            info["shape"] = tuple(int(s) for s in g.attrs["shape"])
            info["n_observed"] = int(g["values"].shape[0])
        if "model" in f:
            g = f["model"]
            info["format"] = str(g.attrs["format"])
            info["shape"] = tuple(int(s) for s in g.attrs["shape"])
            info["rank"] = json.loads(g.attrs["rank"])
            info["n_params"] = int(sum(g[f"core_{k}"].size for k in range(int(g.attrs["n_cores"]))))
        if "estimator" in f:
            g = f["estimator"]
            info["params"] = json.loads(g.attrs["params"])
            info["n_iter"] = int(g.attrs["n_iter"])
            info["message"] = str(g.attrs["message"])
    return info


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote: an ObservedTensor, a format object or an estimator."""
    f = _open_checked(path)
    try:
        with f:
            kind = str(f.attrs.get("kind"))
            if kind == "observed":
                g = f["observed"]
                return ObservedTensor(
                    np.array(g["indices"]),
                    np.array(g["values"]),
                    tuple(int(s) for s in g.attrs["shape"]),
                )
            if kind == "model":
                return _read_model(f["model"])
            if kind == "estimator":
                return _read_estimator(f)
            raise ValueError(f"{path} holds an unknown kind of object: {kind!r}")
    except (KeyError, OSError) as exc:
        raise ValueError(f"{path} is incomplete or corrupt (missing {exc})") from exc


def _read_estimator(f: h5py.File) -> Any:
    from .estimator import TensorCompletion

    g = f["estimator"]
    params = json.loads(g.attrs["params"])
    for key in ("shape", "rank", "validation_groups"):  # JSON has no tuples
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    est = TensorCompletion(**params)
    est.model_ = _read_model(f["model"]).to(torch.device(est.device))
    est.scale_ = float(g.attrs["scale"])
    est.n_iter_ = int(g.attrs["n_iter"])
    est.shape_ = tuple(int(s) for s in g.attrs["shape"])
    history: dict[str, list] = {}
    for key in g["history"]:
        arr = np.array(g["history"][key])
        history[key] = (
            arr.tolist()
            if arr.ndim > 1
            else [int(v) if key == "iteration" else float(v) for v in arr]
        )
    est.history_ = history
    est.result_ = FitResult(
        success=bool(g.attrs["success"]),
        status=int(g.attrs["status"]),
        message=str(g.attrs["message"]),
        n_iter=est.n_iter_,
        best_iteration=int(g.attrs["best_iteration"]),
        loss=float(g.attrs["loss"]),
        history=history,
    )
    return est
