"""Numerical agreement with scikit-learn, dtypes, determinism and input errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes, make_regression

from oxlearn.linear_model import (
    IncrementalLinearRegression,
    IncrementalRidge,
    LinearRegression,
    Ridge,
)

PAIRS = [
    (LinearRegression, sk.LinearRegression, {}),
    (Ridge, sk.Ridge, {"alpha": 0.7}),
    (Ridge, sk.Ridge, {"alpha": 0.7, "solver": "svd"}),
]


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _check_same_model(ours, ref, X, rtol=1e-8):
    assert ours.coef_.shape == ref.coef_.shape
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    assert _rel(ours.predict(X), ref.predict(X)) < rtol


def _synthetic(kind, rng):
    if kind == "n>>p":
        X = rng.standard_normal((3000, 20))
    elif kind == "p~n":
        X = rng.standard_normal((60, 55))
    elif kind == "p>n":
        X = rng.standard_normal((25, 40))
    elif kind == "constant":
        X = rng.standard_normal((400, 6))
        X[:, 2] = 3.0
    elif kind == "duplicated":
        X = rng.standard_normal((400, 6))
        X[:, 4] = X[:, 1]
        X[:, 5] = 2 * X[:, 0] - X[:, 3]
    elif kind == "ill-conditioned":
        X = rng.standard_normal((500, 8))
        X[:, 7] = X[:, 6] + 1e-7 * rng.standard_normal(500)
    y = X @ rng.standard_normal(X.shape[1]) + rng.standard_normal(X.shape[0])
    return X, y


@pytest.mark.parametrize("ours_cls, ref_cls, params", PAIRS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_diabetes_matches_sklearn(ours_cls, ref_cls, params, fit_intercept, weighted):
    X, y = load_diabetes(return_X_y=True)
    sw = np.random.default_rng(0).uniform(0.1, 3.0, len(y)) if weighted else None
    ours = ours_cls(fit_intercept=fit_intercept, **params).fit(X, y, sample_weight=sw)
    ref = ref_cls(fit_intercept=fit_intercept, **params).fit(X, y, sample_weight=sw)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-9 * np.abs(ref.coef_).max())
    assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9, atol=1e-9)
    _check_same_model(ours, ref, X, rtol=1e-10)
    if ours_cls is LinearRegression:
        assert ours.rank_ == ref.rank_
        assert_allclose(ours.singular_, ref.singular_, rtol=1e-8)


@pytest.mark.parametrize(
    "kind", ["n>>p", "p~n", "p>n", "constant", "duplicated", "ill-conditioned"]
)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_synthetic_shapes_match_sklearn(kind, weighted, fit_intercept):
    rng = np.random.default_rng(42)
    X, y = _synthetic(kind, rng)
    sw = rng.uniform(0.5, 2.0, len(y)) if weighted else None
    for ours_cls, ref_cls, params in PAIRS:
        ours = ours_cls(fit_intercept=fit_intercept, **params).fit(X, y, sample_weight=sw)
        ref = ref_cls(fit_intercept=fit_intercept, **params).fit(X, y, sample_weight=sw)
        # The bar: the same (minimum-norm) solution within 1e-6 relative
        # on the predictions, also for rank-deficient and ill-conditioned X.
        _check_same_model(ours, ref, X, rtol=1e-6)
        if ours_cls is LinearRegression:
            assert ours.rank_ == ref.rank_, kind
            assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-6 * np.abs(ref.coef_).max())


def test_rank_deficient_minimum_norm_coefficients():
    rng = np.random.default_rng(1)
    X, y = _synthetic("duplicated", rng)
    ours = LinearRegression().fit(X, y)
    ref = sk.LinearRegression().fit(X, y)
    assert ours.rank_ == 4
    # Minimum norm: no coefficient mass along the null space.
    assert_allclose(ours.coef_[1], ours.coef_[4], rtol=1e-9)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cls", [LinearRegression, Ridge])
def test_multi_target(cls):
    X, Y = make_regression(500, 8, n_targets=3, noise=0.5, random_state=0)
    ours = cls().fit(X, Y)
    ref = getattr(sk, cls.__name__)().fit(X, Y)
    assert ours.coef_.shape == (3, 8) and ours.intercept_.shape == (3,)
    _check_same_model(ours, ref, X, rtol=1e-10)
    ours2 = cls().fit(X, Y[:, :1])
    ref2 = getattr(sk, cls.__name__)().fit(X, Y[:, :1])
    # scikit-learn's shapes: Ridge ravels coef_ of a (n, 1) target, OLS does not.
    assert ours2.coef_.shape == ref2.coef_.shape
    assert np.shape(ours2.intercept_) == np.shape(ref2.intercept_)
    assert ours2.predict(X).shape == ref2.predict(X).shape


def test_ridge_per_target_alpha_and_bad_count():
    X, Y = make_regression(300, 5, n_targets=2, random_state=1)
    alpha = np.array([0.1, 50.0])
    ours = Ridge(alpha=alpha).fit(X, Y)
    ref = sk.Ridge(alpha=alpha).fit(X, Y)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-10)
    with pytest.raises(ValueError, match="Number of targets and number of penalties"):
        Ridge(alpha=[1.0, 2.0, 3.0]).fit(X, Y)


@pytest.mark.parametrize(
    "cls", [LinearRegression, Ridge, IncrementalLinearRegression, IncrementalRidge]
)
def test_float32_kept_float32(cls):
    X, y = make_regression(2000, 10, noise=1.0, random_state=0)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    ours = cls().fit(X32, y32)
    assert ours.coef_.dtype == np.float32
    assert np.asarray(ours.intercept_).dtype == np.float32
    assert ours.predict(X32).dtype == np.float32
    ref = cls().fit(X, y)
    assert _rel(ours.predict(X32), ref.predict(X)) < 1e-5


def _big():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40_000, 12))
    return X, X @ rng.standard_normal(12) + rng.standard_normal(40_000)


@pytest.mark.parametrize("cls", [LinearRegression, IncrementalRidge, IncrementalLinearRegression])
def test_result_independent_of_thread_count(cls):
    X, y = _big()
    cls.get_hyperparameters("fit").chunk_rows = 1000  # 40 chunks
    try:
        coefs = []
        for n_jobs in (1, 2, 3, 8):
            coefs.append(cls(n_jobs=n_jobs).fit(X, y).coef_)
        for c in coefs[1:]:
            assert_array_equal(c, coefs[0])
    finally:
        cls.reset_hyperparameters("fit")


def test_layouts_agree_and_predict_is_layout_exact():
    X, y = _big()
    model = LinearRegression().fit(X, y)
    for Xv in (np.asfortranarray(X), X[::-1][::-1], np.asfortranarray(X)[:, :]):
        other = LinearRegression().fit(Xv, y)
        assert_allclose(other.coef_, model.coef_, rtol=1e-12)
    strided = np.ascontiguousarray(np.repeat(X, 2, axis=0))[::2]
    assert not strided.flags.c_contiguous
    p = model.predict(X)
    assert_array_equal(model.predict(np.asfortranarray(X)), p)
    assert_array_equal(model.predict(strided), p)


@pytest.mark.parametrize("inc_cls, ref_cls, params", [
    (IncrementalLinearRegression, LinearRegression, {}),
    (IncrementalRidge, Ridge, {"alpha": 2.5}),
])
def test_incremental_equals_one_shot(inc_cls, ref_cls, params):
    X, y = make_regression(5000, 15, noise=2.0, random_state=3)
    one = ref_cls(**params).fit(X, y)
    inc = inc_cls(**params)
    for start in range(0, len(y), 700):
        inc.partial_fit(X[start:start + 700], y[start:start + 700])
    assert inc.n_samples_seen_ == len(y)
    assert_allclose(inc.coef_, one.coef_, rtol=1e-8)
    assert_allclose(inc.intercept_, one.intercept_, rtol=1e-8)
    batched = inc_cls(batch_size=700, **params).fit(X, y)
    assert batched.batch_size_ == 700
    assert_allclose(batched.coef_, inc.coef_, rtol=1e-12)
    assert inc_cls(**params).fit(X, y).batch_size_ == 5 * 15


def test_incremental_weighted_matches_linear_regression():
    X, y = make_regression(1000, 6, noise=1.0, random_state=5)
    sw = np.random.default_rng(0).uniform(0, 2, 1000)
    inc = IncrementalLinearRegression().partial_fit(X[:400], y[:400], sw[:400])
    inc.partial_fit(X[400:], y[400:], sw[400:])
    ref = sk.LinearRegression().fit(X, y, sample_weight=sw)
    assert_allclose(inc.coef_, ref.coef_, rtol=1e-8)


@pytest.mark.parametrize("cls", [LinearRegression, Ridge, IncrementalLinearRegression])
def test_bad_input_errors(cls):
    X, y = make_regression(50, 3, random_state=0)
    Xn = X.copy()
    Xn[17, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN\. The first one is at row 17, column 2"):
        cls().fit(Xn, y)
    Xi = X.copy()
    Xi[3, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        cls().fit(Xi, y)
    with pytest.raises(ValueError, match="Input y contains"):
        cls().fit(X, np.where(np.arange(50) == 4, np.nan, y))
    sw = np.ones(50)
    sw[9] = -1.0
    with pytest.raises(ValueError, match="[Nn]egative"):
        cls().fit(X, y, sample_weight=sw)
    model = cls().fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(Xn)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :2])


def test_unsupported_parameters_fall_back(caplog):
    X, y = make_regression(200, 4, random_state=0)
    with caplog.at_level("INFO", logger="oxlearn"):
        ours = LinearRegression(positive=True).fit(X, y)
        ridge = Ridge(solver="lsqr").fit(X, y)
    assert "LinearRegression.fit: fallback to scikit-learn (positive=True" in caplog.text
    assert "Ridge.fit: fallback to scikit-learn (solver='lsqr'" in caplog.text
    assert_allclose(ours.coef_, sk.LinearRegression(positive=True).fit(X, y).coef_)
    assert_allclose(ridge.coef_, sk.Ridge(solver="lsqr").fit(X, y).coef_)


@pytest.mark.parametrize("cls", [LinearRegression, Ridge, IncrementalLinearRegression])
def test_large_offset_data_is_stable(cls):
    # Raw sums of squares would lose ~12 digits here; shifted, centred
    # moments do not.
    rng = np.random.default_rng(11)
    X = 1e6 + rng.standard_normal((20_000, 5))
    y = (X - 1e6) @ np.arange(1.0, 6.0) + 0.01 * rng.standard_normal(20_000)
    ours = cls().fit(X, y)
    ref = getattr(sk, cls.__name__.replace("Incremental", ""))().fit(X, y)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-7)
    # Predictions cancel a ~1.5e7 intercept against X @ coef: both libraries
    # round at that scale, so compare at 1e-7 relative to |y| ~ 10.
    assert _rel(ours.predict(X), ref.predict(X)) < 1e-7
