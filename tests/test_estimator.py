"""TensorCompletion: scikit-learn behaviour, model selection, input forms and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from tcomp import ObservedTensor, TensorCompletion
from tcomp.datasets import make_low_rank, make_mask

SHAPE = (20, 20, 20)


@pytest.fixture(scope="module")
def planted_cp():
    data = make_low_rank("cp", SHAPE, 3, noise=0.01, random_state=0)
    observed = make_mask(SHAPE, 0.7, random_state=0)
    return (
        data,
        np.argwhere(observed),
        data.tensor[observed],
        np.argwhere(~observed),
        data.tensor[~observed],
    )


# rank-1 candidates fit some folds worse than the mean; the warning is expected there
@pytest.mark.filterwarnings("ignore:the fitted model predicts:UserWarning")
def test_grid_search_picks_planted_rank(planted_cp):
    _, idx, y, test_idx, test_y = planted_cp
    est = TensorCompletion(format="cp", shape=SHAPE, random_state=0, n_iter=2000, lr=0.02)
    search = GridSearchCV(est, {"rank": [1, 2, 3, 5]}, cv=KFold(3, shuffle=True, random_state=0))
    search.fit(idx, y)
    assert search.best_params_ == {"rank": 3}
    assert search.best_estimator_.score(test_idx, test_y) > 0.99  # held-out entries


def test_cross_val_score_and_reproducibility(planted_cp):
    _, idx, y, test_idx, _ = planted_cp
    est = TensorCompletion(format="cp", rank=3, shape=SHAPE, random_state=1, n_iter=300)
    scores = cross_val_score(est, idx, y, cv=KFold(2, shuffle=True, random_state=0))
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    a = clone(est).fit(idx, y).predict(test_idx)
    b = clone(est).fit(idx, y).predict(test_idx)
    np.testing.assert_array_equal(a, b)
    c = clone(est).set_params(random_state=2).fit(idx, y).predict(test_idx)
    assert not np.array_equal(a, c)


def test_three_input_forms_agree(planted_cp):
    data, idx, y, test_idx, _ = planted_cp
    dense = np.where(make_mask(SHAPE, 0.7, random_state=0), data.tensor, np.nan)
    kwargs = {"format": "tt", "rank": 3, "n_iter": 100, "random_state": 0}
    from_indices = TensorCompletion(shape=SHAPE, **kwargs).fit(idx, y)
    from_dense = TensorCompletion(**kwargs).fit(dense)
    from_obs = TensorCompletion(**kwargs).fit(ObservedTensor(idx, y, SHAPE))
    p = from_indices.predict(test_idx)
    np.testing.assert_allclose(from_dense.predict(test_idx), p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_obs.predict(test_idx), p, rtol=1e-5, atol=1e-6)
    assert from_dense.shape_ == SHAPE and from_dense.complete().shape == SHAPE
    assert not np.isnan(dense).all()  # caller's array untouched
    inferred = TensorCompletion(**kwargs).fit(idx, y)
    assert inferred.shape_ == tuple(int(m) + 1 for m in idx.max(axis=0))


def test_early_stopping_restores_best_and_scale_is_undone():
    data = make_low_rank("tr", (12, 12, 12), 2, noise=0.3, random_state=3)
    data.tensor *= 1000.0  # large units: scaling makes lr mean the same
    mask = make_mask(data.tensor.shape, 0.6, random_state=3)
    X = np.where(mask, data.tensor, np.nan)
    params = {"format": "tr", "rank": 3, "n_iter": 4000, "random_state": 0, "dtype": "float64"}
    est = TensorCompletion(**params).fit(X)
    h = est.history_
    assert est.result_.status == 1  # stopped early: rank 3 overfits the noise eventually
    assert est.result_.best_iteration == h["iteration"][int(np.argmin(h["val_loss"]))]
    assert est.scale_ > 100
    held = est.score(np.argwhere(~mask), data.tensor[~mask])
    assert held > 0.6  # noise 0.3 caps the attainable R^2 near 1 / 1.09 = 0.92
    overfit = TensorCompletion(early_stopping=False, **params).fit(X)
    assert overfit.score(np.argwhere(~mask), data.tensor[~mask]) < held


def test_warm_start_continues():
    data = make_low_rank("cp", (10, 10, 10), 2, random_state=0)
    est = TensorCompletion(
        format="cp",
        rank=2,
        n_iter=300,
        early_stopping=False,
        warm_start=True,
        random_state=0,
        dtype="float64",
    ).fit(data.tensor)
    first_end = est.history_["loss"][-1]
    est.fit(data.tensor)
    assert est.history_["loss"][0] == pytest.approx(first_end, rel=0.05)
    cold = clone(est).set_params(warm_start=False).fit(data.tensor)
    assert cold.history_["loss"][0] > 2 * first_end


@pytest.mark.filterwarnings("ignore:the fitted model predicts:UserWarning")
def test_complete_refuses_huge_tensor():
    est = TensorCompletion(
        format="cp", rank=2, n_iter=5, random_state=0, shape=(100, 100, 100), early_stopping=False
    )
    with pytest.warns(UserWarning, match="no observed entry"):  # 3 entries in 100^3
        est.fit(np.array([[0, 0, 0], [1, 2, 3], [5, 5, 5]]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="predict the entries"):
        est.complete(max_bytes=1000)


@pytest.mark.parametrize(
    ("params", "X", "y", "error", "match"),
    [
        ({}, np.full((5, 3), 0.5), np.ones(5), ValueError, "integer indices"),
        ({}, np.array([[1.0, np.inf], [np.nan, 2.0]]), None, ValueError, "infinite"),
        ({}, np.array([1.0, 2.0]), None, ValueError, "order >= 2"),
        ({"shape": (3, 3)}, np.ones((2, 2)), None, ValueError, "does not match"),
        ({"format": "hooi"}, np.ones((2, 2)), None, ValueError, "format"),
        ({"solver": "adam"}, np.ones((2, 2)), None, ValueError, "solver"),
        ({"validation_fraction": 1.5}, np.ones((2, 2)), None, ValueError, "validation_fraction"),
        ({"weight_decay": -0.1}, np.ones((2, 2)), None, ValueError, "weight_decay"),
        ({"validation_fraction": 0.0}, np.ones((2, 2)), None, ValueError, "early_stopping"),
        ({"rank": 0, "format": "cp"}, np.ones((3, 3)), None, ValueError, ">= 1"),
        ({}, scipy.sparse.eye(3).tocsr(), None, TypeError, "sparse"),
        ({}, np.ones((2, 2)) * 1j, None, ValueError, "Complex"),
        ({"shape": (3, 3)}, np.array([[0, 5]]), np.array([1.0]), ValueError, "out of range"),
    ],
)
def test_bad_input(params, X, y, error, match):
    with pytest.raises(error, match=match):
        TensorCompletion(n_iter=5, **params).fit(X, y)


def test_predict_before_fit_and_bad_indices():
    with pytest.raises(NotFittedError):
        TensorCompletion().predict(np.zeros((1, 2), dtype=int))
    est = TensorCompletion(format="cp", rank=1, n_iter=5, random_state=0).fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="integer indices"):
        est.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="out of range"):
        est.predict(np.array([[3, 0]]))


# Checks of scikit-learn's suite that cannot pass by design: they feed a float feature
# matrix X, while TensorCompletion's X is a table of integer tensor indices (or a dense
# tensor with NaN as missing). Each is listed with that reason; the rest must pass.
_FLOAT_FEATURES = (
    "X is integer tensor indices (or a dense tensor with NaN), not a float "
    "feature matrix; sklearn's generic data is refused by design"
)
EXPECTED_FAILED = {
    name: _FLOAT_FEATURES
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_regressors_train",
        "check_regressor_data_not_an_array",
        "check_regressors_no_decision_function",
        "check_supervised_y_2d",
        "check_regressors_int",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
        "check_estimators_empty_data_messages",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
    )
}


# scikit-learn's generic data is no low-rank tensor: a 20-iteration fit may be worse than the mean
@pytest.mark.filterwarnings("ignore:the fitted model predicts:UserWarning")
@parametrize_with_checks(
    [TensorCompletion(format="cp", rank=2, n_iter=20, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_warns_when_a_slice_has_no_observed_entry():
    idx = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [1, 2]])
    with pytest.warns(UserWarning, match="mode 0"):
        TensorCompletion(
            format="cp", rank=1, n_iter=5, shape=(3, 3), early_stopping=False, random_state=0
        ).fit(idx, np.ones(6))


def test_weight_decay_shrinks_the_cores():
    data = make_low_rank("cp", (10, 10, 10), 2, random_state=0)
    params = {
        "format": "cp",
        "rank": 4,
        "n_iter": 300,
        "early_stopping": False,
        "random_state": 0,
        "dtype": "float64",
    }
    plain = TensorCompletion(**params).fit(data.tensor)
    with pytest.warns(UserWarning, match="weight_decay=0.5 may have pulled the cores to zero"):
        decayed = TensorCompletion(weight_decay=0.5, **params).fit(data.tensor)
    assert float(decayed.model_.core_norms().sum()) < 0.8 * float(plain.model_.core_norms().sum())


def test_fit_warns_when_weight_decay_collapses_the_model():
    data = make_low_rank("cp", (10, 10, 10), 2, random_state=0)
    values = data.tensor + 3.0  # far from zero: the zero model is much worse than the mean
    params = {"format": "cp", "rank": 4, "n_iter": 400, "random_state": 0, "dtype": "float64"}
    params["early_stopping"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good fit gives no warning
        good = TensorCompletion(**params).fit(values)
    assert good.score(np.argwhere(np.ones(values.shape)), values.ravel()) > 0.5
    with pytest.warns(UserWarning, match=r"weight_decay=5 may have pulled the cores to zero"):
        collapsed = TensorCompletion(weight_decay=5.0, **params).fit(values)
    assert np.abs(collapsed.complete()).max() < 0.1 * np.abs(values).mean()
