"""Shared fixtures: one seed, and model factories driven by the format registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tcomp.formats import FORMATS

SEED = 20261204

#: uneven ranks for every format and order, in each format's own convention
UNEVEN_RANKS = {
    "cp": {3: 3, 4: 2, 5: 2},
    "tucker": {3: (2, 3, 4), 4: (2, 3, 2, 3), 5: (2, 1, 3, 2, 2)},
    "tt": {3: (1, 2, 3, 1), 4: (1, 3, 2, 4, 1), 5: (1, 2, 3, 2, 2, 1)},
    "tr": {3: (2, 3, 4, 2), 4: (3, 2, 4, 2, 3), 5: (2, 3, 2, 1, 2, 2)},
}
SHAPES = {3: (5, 6, 7), 4: (4, 5, 3, 6), 5: (3, 4, 2, 3, 4)}


@pytest.fixture
def seed() -> int:
    return SEED


@pytest.fixture
def rng() -> np.random.RandomState:
    return np.random.RandomState(SEED)


def make_model(name: str, order: int = 3, dtype=torch.float64, seed: int = SEED):
    """A random model of format ``name`` with uneven ranks."""
    return FORMATS[name].random(
        SHAPES[order], UNEVEN_RANKS[name][order], random_state=seed, dtype=dtype
    )


def random_indices(shape, n, seed=SEED, unique=True):
    """``n`` distinct random positions in a tensor of ``shape`` (int64 tensor (n, order))."""
    rng = np.random.RandomState(seed)
    size = int(np.prod(shape))
    flat = rng.choice(size, size=n, replace=False) if unique else rng.randint(0, size, n)
    return torch.from_numpy(np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64))
