"""Unaligned arrays (a buffer viewed at an odd offset) never reach Rust.

Every estimator fits and predicts on them exactly as on aligned copies; the
bindings refuse an unaligned X handed to them directly.
"""

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor

import oxlearn
from oxlearn import _core
from oxlearn.basic_statistics import BasicStatistics, IncrementalBasicStatistics
from oxlearn.cluster import DBSCAN, KMeans
from oxlearn.covariance import EmpiricalCovariance, IncrementalEmpiricalCovariance
from oxlearn.decomposition import PCA, IncrementalPCA
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from oxlearn.linear_model import (
    IncrementalLinearRegression,
    IncrementalRidge,
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from oxlearn.manifold import TSNE
from oxlearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    LocalOutlierFactor,
    NearestNeighbors,
)
from oxlearn.tests._kinds import missing


def unaligned(a):
    """A copy of ``a`` in a buffer at an odd offset: not aligned for its dtype."""
    a = np.ascontiguousarray(a)
    out = np.frombuffer(b"\0" + a.tobytes(), dtype=a.dtype, offset=1).reshape(a.shape)
    assert not out.flags.aligned
    return out


rng = np.random.RandomState(0)
X = rng.rand(60, 4)
y_reg = X @ [1.0, -2.0, 0.5, 3.0] + 0.1 * rng.rand(60)
y_clf = (y_reg > np.median(y_reg)).astype(int)

# (estimator, y or None, methods compared after fit)
CASES = [
    (LinearRegression(), y_reg, ["predict"]),
    (Ridge(alpha=0.5), y_reg, ["predict"]),
    (LogisticRegression(), y_clf, ["predict_proba", "decision_function"]),
    (IncrementalLinearRegression(), y_reg, ["predict"]),
    (IncrementalRidge(), y_reg, ["predict"]),
    (KMeans(n_clusters=3, n_init=1, random_state=0), None, ["predict", "transform"]),
    (DBSCAN(eps=0.3), None, []),
    (TSNE(perplexity=10, max_iter=260, random_state=0), None, []),
    (EmpiricalCovariance(), None, ["mahalanobis"]),
    (IncrementalEmpiricalCovariance(), None, ["mahalanobis"]),
    (PCA(n_components=2), None, ["transform"]),
    (IncrementalPCA(n_components=2), None, ["transform"]),
    (BasicStatistics(), None, []),
    (IncrementalBasicStatistics(), None, []),
    (NearestNeighbors(n_neighbors=3), None, ["kneighbors"]),
    (KNeighborsClassifier(n_neighbors=3), y_clf, ["predict_proba"]),
    (KNeighborsRegressor(n_neighbors=3), y_reg, ["predict"]),
    (LocalOutlierFactor(n_neighbors=5, novelty=True), None, ["score_samples"]),
    (RandomForestClassifier(n_estimators=5, random_state=0), y_clf, ["predict_proba", "apply"]),
    (RandomForestRegressor(n_estimators=5, random_state=0), y_reg, ["predict"]),
    (ExtraTreesClassifier(n_estimators=5, random_state=0), y_clf, ["predict_proba"]),
    (ExtraTreesRegressor(n_estimators=5, random_state=0), y_reg, ["predict"]),
]


def _case(est):
    """``(est, y, methods)`` for an example of ``_kinds``: every method it has."""
    y = y_clf if is_classifier(est) else y_reg if is_regressor(est) else None
    methods = ["predict", "predict_proba", "decision_function", "transform", "score_samples",
               "mahalanobis", "kneighbors"]
    return est, y, [m for m in methods if hasattr(est, m)]


# Then an example of every other kind.
CASES += [_case(est) for est in missing([c[0] for c in CASES])]


def _fitted_state(est):
    return {k: v for k, v in vars(est).items()
            if k.endswith("_") and not k.startswith("_") and isinstance(v, np.ndarray)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("est", "y", "methods"), CASES,
                         ids=[type(c[0]).__name__ for c in CASES])
def test_unaligned_fit_and_predict_equal_aligned(est, y, methods, dtype):
    from sklearn.base import clone

    Xa = X.astype(dtype)
    Xu = unaligned(Xa)
    ref = clone(est).fit(Xa, y)
    got = clone(est).fit(Xu, y)
    for name, value in _fitted_state(ref).items():
        np.testing.assert_array_equal(getattr(got, name), value, err_msg=name)
    for method in methods:
        expected = getattr(ref, method)(Xa)
        for model in (ref, got):
            out = getattr(model, method)(Xu)
            for a, b in zip(np.atleast_1d(out), np.atleast_1d(expected), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=method)


def test_unaligned_weights_and_targets():
    sw = unaligned(rng.rand(60) + 0.5)
    yu = unaligned(y_reg)
    ref = LinearRegression().fit(X, y_reg, sample_weight=np.array(sw))
    got = LinearRegression().fit(unaligned(X), yu, sample_weight=sw)
    np.testing.assert_array_equal(got.coef_, ref.coef_)


def test_pairwise_distances_unaligned():
    Xu = unaligned(X)
    np.testing.assert_array_equal(oxlearn.metrics.pairwise_distances(Xu),
                                  oxlearn.metrics.pairwise_distances(X))


def test_bindings_refuse_an_unaligned_X():
    # Past the Python guard, the binding itself refuses (never a panic).
    raw = _core.predict_linear.__wrapped__
    coef = np.ones((1, 4))
    with pytest.raises(ValueError, match="not aligned"):
        raw(unaligned(X), coef, np.zeros(1), None)
    np.testing.assert_allclose(raw(X, coef, np.zeros(1), None).ravel(), X.sum(axis=1))
