"""Decomposition formats with explicit cores: CP, Tucker, TT and TR.

``FORMATS`` maps each format's name to its class; tests and the estimator iterate over it,
so a newly registered format is covered by construction.
"""

from __future__ import annotations

from .base import TensorFormat
from .cp import CP
from .tr import TR
from .tt import TT
from .tucker import Tucker

FORMATS: dict[str, type[TensorFormat]] = {cls.name: cls for cls in (CP, Tucker, TT, TR)}


def get_format(name: str | type[TensorFormat]) -> type[TensorFormat]:
    """Return the format class registered under ``name`` (or the class itself)."""
    if isinstance(name, type) and issubclass(name, TensorFormat):
        return name
    if not isinstance(name, str) or name.lower() not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}; got {name!r}")
    return FORMATS[name.lower()]


__all__ = ["CP", "FORMATS", "TR", "TT", "TensorFormat", "Tucker", "get_format"]
