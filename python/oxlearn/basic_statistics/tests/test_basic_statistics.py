"""BasicStatistics and IncrementalBasicStatistics: conformance, agreement with
numpy's two-pass statistics, scikit-learn-intelex's definitions, determinism."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn import _core
from oxlearn.basic_statistics import BasicStatistics, IncrementalBasicStatistics
from oxlearn.basic_statistics._basic_statistics import OPTIONS

# scikit-learn-intelex's BasicStatistics accepts a 1-D X as one feature and
# oxlearn keeps that API; scikit-learn's generic check expects an error.
# Weights scale rows (intelex's definition), so all-zero weights are valid
# input (intelex allows them too). IncrementalBasicStatistics.partial_fit
# keeps intelex's signature (X, sample_weight, check_input), without y.
_ZERO_WEIGHTS = "weights scale rows: all-zero weights are valid (scikit-learn-intelex's API)"
_EXPECTED_FAILED = {
    BasicStatistics: {
        "check_fit1d": "a 1-D X is one feature (scikit-learn-intelex's BasicStatistics API)",
        "check_all_zero_sample_weights_error": _ZERO_WEIGHTS,
    },
    IncrementalBasicStatistics: {
        "check_all_zero_sample_weights_error": _ZERO_WEIGHTS,
        "check_fit_score_takes_y": "partial_fit(X, sample_weight, check_input) is "
                                   "scikit-learn-intelex's signature",
    },
}


def _expected_failed_checks(estimator):
    return _EXPECTED_FAILED[type(estimator)]


@parametrize_with_checks([
    BasicStatistics(),
    BasicStatistics(result_options=["mean", "variance"]),
    IncrementalBasicStatistics(),
    IncrementalBasicStatistics(result_options="min", batch_size=7),
], expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _reference(X):
    """numpy's two-pass statistics, in float64."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    mean = X.mean(axis=0)
    var = X.var(axis=0, ddof=1)
    ss = (X * X).sum(axis=0)
    return {
        "min": X.min(axis=0), "max": X.max(axis=0), "sum": X.sum(axis=0), "mean": mean,
        "variance": var, "variation": np.sqrt(var) / mean, "sum_squares": ss,
        "sum_squares_centered": ((X - mean) ** 2).sum(axis=0),
        "second_order_raw_moment": ss / n, "standard_deviation": np.sqrt(var),
    }


def _datasets():
    rng = np.random.default_rng(0)
    yield "iris", load_iris().data
    yield "wine", load_wine().data
    yield "diabetes", load_diabetes().data
    yield "offset", 1e8 + rng.standard_normal((20_000, 4))
    yield "fortran", np.asfortranarray(rng.standard_normal((3000, 7)) * 5 + 2)


def _close(got, want, X, option, rtol):
    # Sums and means of centred data cancel: their error scales with Σ|x|.
    scale = np.abs(_reference(np.abs(X))[option]) if option in ("sum", "mean") else np.abs(want)
    if option == "variation":  # std / mean: only meaningful where the mean is
        keep = np.abs(_reference(X)["mean"]) > 1e-6 * np.abs(X).mean(axis=0)
        got, want, scale = got[keep], want[keep], scale[keep]
    assert_allclose(got, want, rtol=rtol, atol=1e-13 * scale.max(initial=0), err_msg=option)


@pytest.mark.parametrize("name, X", [pytest.param(n, X, id=n) for n, X in _datasets()])
def test_matches_numpy(name, X):
    ours = BasicStatistics().fit(X)
    ref = _reference(X)
    # 1e8 + N(0, 1): the inputs themselves carry ~1e-8 relative rounding
    # of their spread, so two algorithms agree only to that.
    rtol = 1e-7 if name == "offset" else 1e-9
    for option in OPTIONS:
        got = getattr(ours, option + "_")
        assert got.shape == (X.shape[1],) and got.dtype == np.float64
        _close(got, ref[option], X, option, rtol)
    assert_array_equal(ours.variation_, ours.standard_deviation_ / ours.mean_)
    assert ours.n_features_in_ == X.shape[1]
    inc = IncrementalBasicStatistics()
    for start in range(0, len(X), 41):
        inc.partial_fit(X[start:start + 41])
    assert inc.n_samples_seen_ == len(X)
    batched = IncrementalBasicStatistics(batch_size=13).fit(X)
    for option in OPTIONS:
        for est in (inc, batched):
            _close(getattr(est, option + "_"), getattr(ours, option + "_"), X, option, rtol)
    assert batched.batch_size_ == 13 and batched.n_samples_seen_ == len(X)


def test_large_offset_variance_is_exact_to_rounding():
    # Raw sums of squares would lose all digits: the values differ from 1e9
    # by O(1), so Σx² ~ 1e22 has no digit left for a variance of ~1.
    X = 1e9 + np.random.default_rng(2).standard_normal((50_000, 3))
    ours = BasicStatistics(result_options="variance").fit(X).variance_
    assert_allclose(ours, (X - 1e9).var(axis=0, ddof=1), rtol=1e-7)


def test_result_options_choose_attributes():
    X = load_iris().data
    est = BasicStatistics(result_options=["max", "mean"]).fit(X)
    assert hasattr(est, "max_") and hasattr(est, "mean_")
    assert not any(hasattr(est, o + "_") for o in OPTIONS if o not in ("max", "mean"))
    est.set_params(result_options="sum").fit(X)
    assert not hasattr(est, "mean_") and hasattr(est, "sum_")
    with pytest.raises(ValueError, match="unknown: \\['median'\\]"):
        BasicStatistics(result_options=["mean", "median"]).fit(X)
    with pytest.raises(ValueError, match="result_options"):
        BasicStatistics(result_options="median").fit(X)


def test_weights_scale_rows_as_intelex_defines():
    # scikit-learn-intelex: statistics of sample_weight[:, None] * X (its
    # own gold test: X=[[0,0],[1,1]], w=[1,0.5] -> mean 0.25, max 0.5).
    est = BasicStatistics().fit([[0.0, 0.0], [1.0, 1.0]], sample_weight=[1.0, 0.5])
    assert_allclose(est.mean_, [0.25, 0.25])
    assert_allclose(est.max_, [0.5, 0.5])
    assert_allclose(est.min_, [0.0, 0.0])
    rng = np.random.default_rng(3)
    X, w = rng.standard_normal((500, 4)), rng.uniform(-0.5, 1.0, 500)
    est = BasicStatistics().fit(X, sample_weight=w)
    ref = _reference(w[:, None] * X)
    for option in OPTIONS:
        assert_allclose(getattr(est, option + "_"), ref[option], rtol=1e-9, atol=1e-13,
                        err_msg=option)
    inc = IncrementalBasicStatistics().partial_fit(X[:200], sample_weight=w[:200])
    inc.partial_fit(X[200:], sample_weight=w[200:])
    assert_allclose(inc.variance_, est.variance_, rtol=1e-12)


def test_one_dimensional_input_and_single_row():
    est = BasicStatistics().fit(np.array([1.0, 2.0, 3.0]))
    assert est.n_features_in_ == 1
    assert np.ndim(est.mean_) == 0 and est.mean_ == 2.0 and est.variance_ == 1.0
    one = BasicStatistics().fit([[1.0, 2.0, 3.0]])
    assert_array_equal(one.mean_, [1.0, 2.0, 3.0])
    assert np.isnan(one.variance_).all()  # n - 1 = 0, as numpy and intelex


def test_float32_stays_float32_and_threads_do_not_matter():
    X = np.random.default_rng(4).standard_normal((40_000, 6))
    est = BasicStatistics().fit(X.astype(np.float32))
    assert all(getattr(est, o + "_").dtype == np.float32 for o in OPTIONS)
    assert_allclose(est.variance_, X.astype(np.float32).astype(np.float64).var(axis=0, ddof=1),
                    rtol=1e-6)
    runs = [_core.column_moments_update(None, X, None, 1000, n) for n in (1, 2, 3, 8)]
    for run in runs[1:]:
        for k in ("sum", "mean", "m2", "min", "max"):
            assert_array_equal(run[k], runs[0][k])
    a = BasicStatistics(n_jobs=1).fit(X)
    b = BasicStatistics(n_jobs=3).fit(X)
    for o in OPTIONS:
        assert_array_equal(getattr(a, o + "_"), getattr(b, o + "_"))


def test_bad_input_is_named():
    X = np.ones((5, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        BasicStatistics().fit(X)
    with pytest.raises(ValueError, match="sample_weight"):
        BasicStatistics().fit(np.ones((5, 2)), sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="sample_weight"):
        BasicStatistics().fit(np.ones((2, 2)), sample_weight=[1.0, np.inf])
    inc = IncrementalBasicStatistics().partial_fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="features"):
        inc.partial_fit(np.ones((3, 3)))


@pytest.mark.parametrize("cls", [BasicStatistics, IncrementalBasicStatistics])
def test_persistence_round_trips(cls, tmp_path):
    X = load_wine().data.astype(np.float32)
    est = cls(result_options=["mean", "variance", "max"]).fit(X)
    back = pickle.loads(pickle.dumps(est))
    for o in ("mean", "variance", "max"):
        assert_array_equal(getattr(back, o + "_"), getattr(est, o + "_"))
        assert getattr(back, o + "_").dtype == np.float32
    assert not hasattr(back, "sum_")
    path = tmp_path / "stats.oxl"
    oxlearn.save(est, path)
    for mmap in (False, True):
        loaded = oxlearn.load(path, mmap=mmap)
        assert type(loaded) is cls
        assert_array_equal(loaded.variance_, est.variance_)
    if cls is IncrementalBasicStatistics:
        # The merged state persists: a loaded model keeps accumulating.
        loaded = oxlearn.load(path)
        loaded.partial_fit(X[:10])
        est.partial_fit(X[:10])
        assert_array_equal(loaded.mean_, est.mean_)
        assert loaded.n_samples_seen_ == len(X) + 10
    with pytest.raises(TypeError, match="no scikit-learn counterpart"):
        est.to_sklearn()
