"""Metrics against hand-computed values, and their refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tcomp.metrics import psnr, r2, rmse, rse, uncentered_r2

T = np.array([1.0, 2.0, 3.0, 4.0])
P = np.array([1.0, 2.0, 3.0, 6.0])  # one error of 2


def test_hand_values():
    assert rmse(T, P) == pytest.approx(1.0)  # sqrt(4 / 4)
    assert rse(T, P) == pytest.approx(2 / math.sqrt(30))
    assert r2(T, P) == pytest.approx(1 - 4 / 5)  # SST about the mean 2.5 is 5
    assert uncentered_r2(T, P) == pytest.approx(1 - 4 / 30)
    assert psnr(T, P) == pytest.approx(10 * math.log10(9 / 1))  # range 3, MSE 1
    assert psnr(T, P, data_range=1.0) == pytest.approx(0.0)
    assert psnr(T, T) == math.inf
    assert r2(torch.tensor(T), torch.tensor(P)) == pytest.approx(0.2)  # torch input


@pytest.mark.parametrize(
    ("fn", "args", "match"),
    [
        (rmse, (T, P[:3]), "same shape"),
        (rmse, (np.array([]), np.array([])), "at least one"),
        (r2, (np.ones(3), np.zeros(3)), "constant"),
        (rse, (np.zeros(3), np.ones(3)), "all zeros"),
        (psnr, (T, P, -1.0), "data_range"),
        (rmse, (T, np.array([1.0, np.nan, 3.0, 4.0])), "finite"),
    ],
)
def test_bad_input(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
