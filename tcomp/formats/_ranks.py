"""Rank validators shared by the formats (each named after the rule it enforces)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

__all__ = ["rank_as_tuple_of_positive_ints"]


def rank_as_tuple_of_positive_ints(rank: Any, length: int, fmt: str) -> tuple[int, ...]:
    """Expand an int to ``length`` copies, or check a sequence has ``length`` ints >= 1."""
    if isinstance(rank, numbers.Integral) and not isinstance(rank, bool):
        ranks = (int(rank),) * length
    elif isinstance(rank, Sequence) and not isinstance(rank, str):
        ranks = tuple(rank)
        if len(ranks) != length:
            raise ValueError(
                f"{fmt} rank must be an int or a sequence of {length} ints; got {rank!r} "
                f"(length {len(ranks)})"
            )
        for i, r in enumerate(ranks):
            if isinstance(r, bool) or not isinstance(r, numbers.Integral):
                raise TypeError(f"{fmt} rank[{i}] must be an integer; got {r!r}")
        ranks = tuple(int(r) for r in ranks)
    else:
        raise TypeError(f"{fmt} rank must be an int or a sequence of ints; got {rank!r}")
    if any(r < 1 for r in ranks):
        raise ValueError(f"{fmt} ranks must all be >= 1; got {ranks}")
    return ranks
