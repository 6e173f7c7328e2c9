"""EmpiricalCovariance and IncrementalEmpiricalCovariance: conformance,
agreement with scikit-learn, determinism and persistence."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import covariance as sk
from sklearn.datasets import load_iris, load_wine
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn.covariance import EmpiricalCovariance, IncrementalEmpiricalCovariance


@parametrize_with_checks([
    EmpiricalCovariance(),
    EmpiricalCovariance(assume_centered=True, store_precision=False),
    IncrementalEmpiricalCovariance(),
    IncrementalEmpiricalCovariance(store_precision=True, batch_size=7),
])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _datasets():
    rng = np.random.default_rng(0)
    yield "iris", load_iris().data
    yield "wine", load_wine().data
    yield "offset", 1e5 + rng.standard_normal((5000, 6))
    X = rng.standard_normal((300, 5))
    X[:, 4] = X[:, 0] - X[:, 1]  # singular covariance: precision is a pseudo-inverse
    yield "singular", X


@pytest.mark.parametrize("name, X", [pytest.param(n, X, id=n) for n, X in _datasets()])
@pytest.mark.parametrize("assume_centered", [False, True])
def test_matches_sklearn(name, X, assume_centered):
    ours = EmpiricalCovariance(assume_centered=assume_centered).fit(X)
    ref = sk.EmpiricalCovariance(assume_centered=assume_centered).fit(X)
    scale = np.abs(ref.covariance_).max()
    assert_allclose(ours.covariance_, ref.covariance_, rtol=1e-9, atol=1e-12 * scale)
    assert_allclose(ours.location_, ref.location_, rtol=1e-12)
    cond = np.linalg.cond(ref.covariance_)
    if cond < 1e8:
        assert_allclose(ours.precision_, ref.precision_, rtol=1e-6,
                        atol=1e-8 * np.abs(ref.precision_).max())
        assert_allclose(ours.mahalanobis(X), ref.mahalanobis(X), rtol=1e-6)
    else:
        # Uncentred data far from the origin: cond ~1e11, so either library's
        # precision has only a few digits. Compare how well each satisfies the
        # pseudo-inverse property C P C = C.
        def residual(e):
            c = e.covariance_
            return np.abs(c @ e.precision_ @ c - c).max() / scale

        assert residual(ours) <= 10 * residual(ref) + 1e-9
    if cond < 1e8:  # the log-likelihood of a singular covariance is meaningless
        assert_allclose(ours.score(X), ref.score(X), rtol=1e-8)
    inc = IncrementalEmpiricalCovariance(assume_centered=assume_centered)
    for start in range(0, len(X), 37):
        inc.partial_fit(X[start:start + 37])
    assert inc.n_samples_seen_ == len(X)
    assert_allclose(inc.covariance_, ours.covariance_, rtol=1e-8, atol=1e-12 * scale)
    assert inc.precision_ is None


def test_float32_and_threads():
    X = np.random.default_rng(1).standard_normal((30_000, 8))
    ours = EmpiricalCovariance().fit(X.astype(np.float32))
    assert ours.covariance_.dtype == np.float32 and ours.location_.dtype == np.float32
    assert_allclose(ours.covariance_, np.cov(X.T, bias=True), rtol=1e-5, atol=1e-6)
    EmpiricalCovariance.get_hyperparameters("fit").chunk_rows = 500
    try:
        import oxlearn._core as core

        runs = [core.fit_covariance(X, False, True, 500, n)[1] for n in (1, 2, 5)]
    finally:
        EmpiricalCovariance.reset_hyperparameters("fit")
    for r in runs[1:]:
        assert_array_equal(r, runs[0])


def test_nan_is_refused_with_position():
    X = np.ones((10, 3))
    X[6, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN. The first one is at row 6, column 2"):
        EmpiricalCovariance().fit(X)


@pytest.mark.parametrize("est", [EmpiricalCovariance(), EmpiricalCovariance(store_precision=False),
                                 IncrementalEmpiricalCovariance(batch_size=10)], ids=repr)
def test_persistence(est, tmp_path):
    X = load_wine().data
    model = est.fit(X)
    expected = model.mahalanobis(X)
    loaded = [pickle.loads(pickle.dumps(model))]
    oxlearn.save(model, tmp_path / "c.oxl")
    loaded += [oxlearn.load(tmp_path / "c.oxl"), oxlearn.load(tmp_path / "c.oxl", mmap=True)]
    for other in loaded:
        assert type(other) is type(model)
        assert (other.precision_ is None) == (model.precision_ is None)
        assert_array_equal(other.mahalanobis(X), expected)
        assert_array_equal(other.covariance_, model.covariance_)
    ref = sk.EmpiricalCovariance(store_precision=model.store_precision).fit(X)
    extra = model._cxx.nbytes + model._mean_x.nbytes if hasattr(model, "_cxx") else 0
    assert len(pickle.dumps(model)) <= 1.1 * len(pickle.dumps(ref)) + 4096 + extra
    back = oxlearn.from_sklearn(ref).to_sklearn()
    assert type(back) is sk.EmpiricalCovariance
    assert_array_equal(back.covariance_, ref.covariance_)


def test_patched():
    oxlearn.patch_sklearn("EmpiricalCovariance")
    try:
        from sklearn.covariance import EmpiricalCovariance as Patched

        assert Patched is EmpiricalCovariance
    finally:
        oxlearn.unpatch_sklearn()
