"""k-nearest neighbours: conformance, agreement with scikit-learn (same
neighbours, distances to 1e-10 relative, ties by index), predictions,
fallbacks, determinism and persistence."""

import logging
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import neighbors as sk
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.metrics import DistanceMetric
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors

ESTIMATORS = [
    NearestNeighbors(),
    NearestNeighbors(n_neighbors=3, algorithm="brute", metric="manhattan"),
    KNeighborsClassifier(),
    KNeighborsClassifier(n_neighbors=3, weights="distance", algorithm="kd_tree"),
    KNeighborsClassifier(metric="chebyshev", algorithm="brute", n_jobs=2),
    KNeighborsClassifier(metric="minkowski", p=3, algorithm="ball_tree", leaf_size=4),
    KNeighborsRegressor(),
    KNeighborsRegressor(n_neighbors=2, weights="distance", algorithm="brute"),
]


def expected_failed_checks(estimator):
    """Checks expected to fail, with the reason: sparse input runs
    scikit-learn's own implementation, whose brute force does not support
    these metrics on sparse data although the tags claim sparse support;
    stock scikit-learn fails identically."""
    if estimator.metric == "chebyshev" or (estimator.metric == "minkowski"
                                           and estimator.p not in (1, 2)):
        return {"check_estimator_sparse_tag": "scikit-learn's sparse brute force rejects "
                f"metric={estimator.metric!r} (p={estimator.p}); stock fails identically"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _tie_aware_equal(d_ours, i_ours, d_ref, i_ref, exact_ties):
    """Same distances (1e-10 relative); same neighbours where distances are
    not tied at the k-th distance; with ``exact_ties`` (integer data, whose
    equal distances are exactly equal before the square root too) ours
    break ties by index."""
    assert_allclose(d_ours, d_ref, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(d_ours, axis=1) >= 0)
    for r in range(len(d_ours)):
        kth = d_ours[r, -1]
        inner_o = set(i_ours[r][d_ours[r] < kth - 1e-9])
        inner_r = set(i_ref[r][d_ref[r] < kth - 1e-9])
        assert inner_o == inner_r
        # Within a run of equal distances, indices increase.
        for a in range(len(d_ours[r]) - 1):
            if exact_ties and d_ours[r, a] == d_ours[r, a + 1]:
                assert i_ours[r, a] < i_ours[r, a + 1]


def _datasets():
    out = []
    for loader in (load_iris, load_wine, load_breast_cancer, load_digits):
        X, y = loader(return_X_y=True)
        out.append((loader.__name__, StandardScaler().fit_transform(X), y))
    X, y = make_classification(600, 8, random_state=0)
    out.append(("synthetic8", X, y))
    X, y = make_classification(600, 20, random_state=1)
    out.append(("synthetic20", X, y))
    rng = np.random.default_rng(0)
    out.append(("ties", rng.integers(0, 3, (400, 5)).astype(float), rng.integers(0, 3, 400)))
    return out


@pytest.mark.parametrize("name,X,y", _datasets(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("metric,p", [("euclidean", 2), ("manhattan", 2), ("chebyshev", 2),
                                      ("minkowski", 3)])
@pytest.mark.parametrize("algorithm", ["auto", "brute", "kd_tree"])
def test_kneighbors_match_scikit_learn(name, X, y, metric, p, algorithm):
    Q = X[::4] + 0.01
    ours = NearestNeighbors(n_neighbors=6, metric=metric, p=p, algorithm=algorithm).fit(X)
    ref = sk.NearestNeighbors(n_neighbors=6, metric=metric, p=p, algorithm="kd_tree").fit(X)
    for q in (Q, None):
        d_o, i_o = ours.kneighbors(q)
        d_r, i_r = ref.kneighbors(q)
        _tie_aware_equal(d_o, i_o, d_r, i_r, name == "ties" and q is None)
        if name.startswith("synthetic"):  # continuous: no ties
            assert_array_equal(i_o, i_r)
    # Exact distances, checked directly.
    d_o, i_o = ours.kneighbors(Q)
    direct = DistanceMetric.get_metric(metric, p=p) if metric == "minkowski" else \
        DistanceMetric.get_metric(metric)
    want = np.array([direct.pairwise(Q[r:r + 1], X[i_o[r]])[0] for r in range(len(Q))])
    assert_allclose(d_o, want, rtol=1e-12)


@pytest.mark.parametrize("name,X,y", _datasets(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_predictions_match_scikit_learn(name, X, y, weights):
    Q = X[1::3] + 0.013
    for dtype in (np.float64, np.float32):
        Xd, Qd = X.astype(dtype), Q.astype(dtype)
        ours = KNeighborsClassifier(5, weights=weights).fit(Xd, y)
        ref = sk.KNeighborsClassifier(5, weights=weights).fit(Xd, y)
        tol = 1e-9 if dtype == np.float64 else 1e-5  # float32: its product is float32
        if name.startswith("synthetic"):
            assert_array_equal(ours.predict(Qd), ref.predict(Qd))
            # scikit-learn's brute distances come from a matrix product
            # (about 1e-12 relative); oxlearn's are exact.
            assert_allclose(ours.predict_proba(Qd), ref.predict_proba(Qd), atol=tol)
            assert ours.score(Qd, y[1::3]) == ref.score(Qd, y[1::3])
        reg = KNeighborsRegressor(5, weights=weights).fit(Xd, y.astype(float))
        refr = sk.KNeighborsRegressor(5, weights=weights).fit(Xd, y.astype(float))
        if name.startswith("synthetic"):
            assert_allclose(reg.predict(Qd), refr.predict(Qd), rtol=tol)
        # Output dtype as scikit-learn's: float32 targets stay float32 under
        # uniform weights only (its distance-weighted sum is float64).
        y32 = y.astype(np.float32)
        assert (KNeighborsRegressor(5, weights=weights).fit(Xd, y32).predict(Qd).dtype
                == sk.KNeighborsRegressor(5, weights=weights).fit(Xd, y32).predict(Qd).dtype)
    # Predictions are the vote of the neighbours oxlearn returns (ties included).
    ours = KNeighborsClassifier(5, weights=weights).fit(X, y)
    dist, ind = ours.kneighbors(Q)
    w = np.ones_like(dist) if weights == "uniform" else 1 / np.maximum(dist, 1e-300)
    votes = np.zeros((len(Q), len(ours.classes_)))
    for c in range(5):
        votes[np.arange(len(Q)), ours._y[ind[:, c]]] += w[:, c]
    assert_array_equal(ours.predict(Q), ours.classes_[np.argmax(votes, axis=1)])


def test_string_labels_multioutput_and_diabetes():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    ours = KNeighborsClassifier(3).fit(X + 0.001 * np.arange(4), labels)
    ref = sk.KNeighborsClassifier(3).fit(X + 0.001 * np.arange(4), labels)
    assert_array_equal(ours.predict(X[::5]), ref.predict(X[::5]))
    back = pickle.loads(pickle.dumps(ours))
    assert_array_equal(back.predict(X[::5]), ref.predict(X[::5]))
    Y = np.c_[y, y % 2]
    ours = KNeighborsClassifier(3).fit(X, Y)
    assert ours.predict(X[::5]).shape == (30, 2)
    back = pickle.loads(pickle.dumps(ours))
    assert_array_equal(back.predict(X[::5]), ours.predict(X[::5]))
    Xd, yd = load_diabetes(return_X_y=True)
    Yd = np.c_[yd, -yd]
    ours = KNeighborsRegressor(7, weights="distance").fit(Xd, Yd)
    ref = sk.KNeighborsRegressor(7, weights="distance").fit(Xd, Yd)
    assert_allclose(ours.predict(Xd[::3] + 0.001), ref.predict(Xd[::3] + 0.001), rtol=1e-12)


def test_radius_neighbors_and_graphs():
    X, _ = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for algorithm in ("kd_tree", "brute"):
        ours = NearestNeighbors(radius=2.5, algorithm=algorithm).fit(X)
        ref = sk.NearestNeighbors(radius=2.5).fit(X)
        for q in (X[::7] + 0.01, None):
            d_o, i_o = ours.radius_neighbors(q, sort_results=True)
            d_r, i_r = ref.radius_neighbors(q, sort_results=True)
            for a, b, c, e in zip(d_o, d_r, i_o, i_r, strict=True):
                assert_array_equal(np.sort(c), np.sort(e))
                assert_allclose(a, b, rtol=1e-10)
        g_o = ours.radius_neighbors_graph(X[::3], mode="distance")
        g_r = ref.radius_neighbors_graph(X[::3], mode="distance")
        assert_allclose(g_o.toarray(), g_r.toarray(), rtol=1e-10)
        g_o = ours.kneighbors_graph(X[::3], 4, mode="distance")
        g_r = ref.kneighbors_graph(X[::3], 4, mode="distance")
        assert_allclose(g_o.toarray(), g_r.toarray(), rtol=1e-10)


def test_errors_and_fallbacks(caplog):
    X, y = load_iris(return_X_y=True)
    est = KNeighborsClassifier(5).fit(X, y)
    with pytest.raises(ValueError, match="n_neighbors <= n_samples_fit"):
        est.kneighbors(X[:2], 200)
    with pytest.raises(ValueError, match="n_neighbors > 0"):
        est.kneighbors(X[:2], 0)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :2])
    bad = X[:3].copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad)
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        for kw in ({"metric": "cosine"}, {"metric": lambda a, b: np.abs(a - b).sum()},
                   {"metric_params": {"p": 3}}):
            m = KNeighborsClassifier(5, **kw).fit(X, y)
            r = sk.KNeighborsClassifier(5, **kw).fit(X, y)
            assert_array_equal(m.predict(X[::4]), r.predict(X[::4]))
        m = KNeighborsClassifier(5, weights=lambda d: 1 / (1 + d)).fit(X, y)
        r = sk.KNeighborsClassifier(5, weights=lambda d: 1 / (1 + d)).fit(X, y)
        assert_array_equal(m.predict(X[::4] + 0.01), r.predict(X[::4] + 0.01))
        m = KNeighborsRegressor(5).fit(sparse.csr_matrix(X), y)
        ref = sk.KNeighborsRegressor(5).fit(sparse.csr_matrix(X), y)
        assert_allclose(m.predict(X[::4]), ref.predict(X[::4]))
        back = pickle.loads(pickle.dumps(m))
        assert_allclose(back.predict(X[::4]), m.predict(X[::4]))
        m = KNeighborsClassifier(5, metric="cosine", algorithm="brute").fit(X, y)
        back = pickle.loads(pickle.dumps(m))
        assert_array_equal(back.predict(X[::4]), m.predict(X[::4]))
    assert "fallback to scikit-learn" in caplog.text


def test_thread_count_independent_and_persistence(tmp_path):
    X, y = make_classification(3000, 12, random_state=3)
    a = KNeighborsClassifier(7, n_jobs=1).fit(X, y)
    b = KNeighborsClassifier(7, n_jobs=3).fit(X, y)
    assert_array_equal(a.kneighbors(X[:500])[1], b.kneighbors(X[:500])[1])
    assert_array_equal(a.predict_proba(X[:500]), b.predict_proba(X[:500]))
    back = pickle.loads(pickle.dumps(a))
    assert back._fit_method == a._fit_method
    assert_array_equal(back.predict_proba(X[:500]), a.predict_proba(X[:500]))
    path = tmp_path / "knn.oxl"
    oxlearn.save(a, path)
    mapped = oxlearn.load(path, mmap=True)
    assert isinstance(mapped._fit_X, np.memmap) or isinstance(mapped._fit_X.base, np.memmap)
    assert_array_equal(mapped.predict(X[:500]), a.predict(X[:500]))
    stock = a.to_sklearn()
    assert type(stock) is sk.KNeighborsClassifier
    assert_array_equal(stock.predict(X[:500]), a.predict(X[:500]))
    again = oxlearn.from_sklearn(sk.KNeighborsClassifier(7).fit(X, y))
    assert_array_equal(again.predict(X[:500]), a.predict(X[:500]))


def test_pickle_size_close_to_stock():
    X, y = make_classification(20000, 20, random_state=0)
    ours = len(pickle.dumps(KNeighborsClassifier().fit(X, y)))
    stock = len(pickle.dumps(sk.KNeighborsClassifier().fit(X, y)))
    assert ours <= 1.1 * stock, (ours, stock)


@pytest.mark.parametrize("loader", [load_wine, load_digits, load_breast_cancer])
def test_cosine_matches_scikit_learn(loader, caplog):
    """Cosine neighbours by a euclidean search on unit rows (squared distance
    = 2 × cosine distance): same neighbours and order as scikit-learn, the
    distances to 1e-12 absolute (scikit-learn's ``1 - x·y`` cancels near 0)."""
    X, y = loader(return_X_y=True)
    Q = X[::5] * 1.01 + 0.02
    ours = NearestNeighbors(n_neighbors=6, metric="cosine").fit(X)
    ref = sk.NearestNeighbors(n_neighbors=6, metric="cosine").fit(X)
    assert ours._fit_method == ref._fit_method == "brute"
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        for q in (Q, None):
            d_o, i_o = ours.kneighbors(q)
            d_r, i_r = ref.kneighbors(q)
            assert_allclose(d_o, d_r, rtol=1e-9, atol=1e-12)
            assert np.all(np.diff(d_o, axis=1) >= 0)
            assert np.mean(i_o == i_r) > 0.995  # the rest: distances tied to 1e-15
    assert "fallback" not in caplog.text
    for weights in ("uniform", "distance"):
        clf = KNeighborsClassifier(5, metric="cosine", weights=weights).fit(X, y)
        refc = sk.KNeighborsClassifier(5, metric="cosine", weights=weights).fit(X, y)
        assert_array_equal(clf.predict(Q), refc.predict(Q))
        assert_allclose(clf.predict_proba(Q), refc.predict_proba(Q), atol=1e-9)
        reg = KNeighborsRegressor(5, metric="cosine", weights=weights).fit(X, y)
        refr = sk.KNeighborsRegressor(5, metric="cosine", weights=weights).fit(X, y)
        # 'distance' weights 1/d: scikit-learn's d carries ~1e-16 absolute error.
        assert_allclose(reg.predict(Q), refr.predict(Q), rtol=1e-8, atol=1e-9)
    assert type(clf.to_sklearn()) is sk.KNeighborsClassifier
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict(Q), clf.predict(Q))


def test_cosine_zero_rows_and_trees(caplog):
    """Zero rows (cosine distance 1 to everything in scikit-learn) and tree
    algorithms (which scikit-learn refuses) run scikit-learn's code."""
    X, y = load_iris(return_X_y=True)
    Xz = X.copy()
    Xz[3] = 0.0
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        ours = NearestNeighbors(n_neighbors=4, metric="cosine").fit(Xz)
        ref = sk.NearestNeighbors(n_neighbors=4, metric="cosine").fit(Xz)
        assert not ours._accelerated()
        assert_allclose(ours.kneighbors(X[:9])[0], ref.kneighbors(X[:9])[0])
        ours = NearestNeighbors(n_neighbors=4, metric="cosine").fit(X)
        ref = sk.NearestNeighbors(n_neighbors=4, metric="cosine").fit(X)
        assert ours._accelerated()
        assert_allclose(ours.kneighbors(Xz[:9])[0], ref.kneighbors(Xz[:9])[0], atol=1e-12)
        ours.radius_neighbors(X[:3], 0.01)
    assert "all-zero training row" in caplog.text and "all-zero query row" in caplog.text
    with pytest.raises(ValueError, match="cosine"):
        NearestNeighbors(metric="cosine", algorithm="kd_tree").fit(X)
