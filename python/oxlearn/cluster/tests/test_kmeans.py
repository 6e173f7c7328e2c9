"""KMeans: conformance, agreement with scikit-learn, determinism, fallbacks."""

import logging
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import cluster as sk
from sklearn.cluster._kmeans import _kmeans_plusplus
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.extmath import row_norms

import oxlearn
from oxlearn import _core
from oxlearn.cluster import KMeans


def _callable_init(X, n_clusters, random_state):
    # The first rows: a deterministic init that works for any data shape.
    first = X[:n_clusters]
    return first.toarray() if sparse.issparse(first) else first.copy()


def expected_failed_checks(estimator):
    """Checks expected to fail, with the reason."""
    # scikit-learn lists these two for its own KMeans
    # (sklearn/utils/_test_common/instance_generator.py).
    reason = "sample_weight is not equivalent to removing/repeating samples."
    failures = {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }
    return failures


@parametrize_with_checks(
    [
        KMeans(n_clusters=2, n_init=2, max_iter=5),
        KMeans(n_clusters=3, algorithm="elkan", random_state=0),
        KMeans(n_clusters=2, init="random", n_init=3, random_state=1),
        KMeans(n_clusters=2, init=_callable_init, n_init=1, tol=0.0),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _datasets():
    yield "iris", load_iris().data
    yield "wine", load_wine().data
    yield "breast_cancer", load_breast_cancer().data
    yield "digits", load_digits().data
    yield "blobs", make_blobs(5000, 8, centers=6, cluster_std=2.0, random_state=0)[0]
    rng = np.random.default_rng(0)
    yield "offset", 1e4 + rng.standard_normal((3000, 5))


DATASETS = [pytest.param(X, id=name) for name, X in _datasets()]


def _sklearn_init(X, k, seed):
    """scikit-learn's own k-means++ centres (on centred data, as its fit)."""
    mean = X.mean(axis=0)
    Xc = X - mean
    centers, _ = _kmeans_plusplus(Xc, k, row_norms(Xc, squared=True), np.ones(len(X)),
                                  np.random.RandomState(seed))
    return centers + mean


def _assert_same_fit(ours, ref, rtol=1e-6):
    assert_allclose(ours.inertia_, ref.inertia_, rtol=rtol)
    assert_array_equal(ours.labels_, ref.labels_)
    scale = np.abs(ref.cluster_centers_).max()
    assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("X", DATASETS)
@pytest.mark.parametrize("k", [3, 8])
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_same_explicit_init_gives_same_fit(X, k, algorithm):
    init = _sklearn_init(X, k, seed=k)
    params = dict(n_clusters=k, init=init, n_init=1, algorithm=algorithm)
    ours = KMeans(**params).fit(X)
    ref = sk.KMeans(**params).fit(X)
    _assert_same_fit(ours, ref)
    # Lloyd and Elkan take the same steps, so the iteration counts agree
    # (Elkan's bounds can end one iteration apart at a tie in the shift).
    assert abs(ours.n_iter_ - ref.n_iter_) <= (0 if algorithm == "lloyd" else 1)
    assert ours.labels_.dtype == np.int32
    assert isinstance(ours.inertia_, float) and isinstance(ours.n_iter_, int)


@pytest.mark.parametrize("X", DATASETS)
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_seed_gives_sklearns_result(X, init):
    # k-means++ runs in Rust on the draws scikit-learn's own k-means++ takes
    # from the same RandomState; 'random' is prepared by scikit-learn's code.
    params = dict(n_clusters=5, init=init, n_init=3, random_state=7)
    ours = KMeans(**params).fit(X)
    ref = sk.KMeans(**params).fit(X)
    _assert_same_fit(ours, ref)
    assert ours.n_iter_ == ref.n_iter_


def test_benchmark_workload_matches_sklearn():
    X, _ = make_blobs(20_000, 20, centers=10, random_state=0)
    params = dict(n_clusters=10, n_init=1, max_iter=50, random_state=0)
    ours, ref = KMeans(**params).fit(X), sk.KMeans(**params).fit(X)
    _assert_same_fit(ours, ref)
    assert_array_equal(ours.predict(X[:1000]), ref.predict(X[:1000]))


def test_predict_transform_score_match_sklearn():
    X = load_digits().data
    model = KMeans(n_clusters=10, random_state=0, n_init=1).fit(X)
    ref = model.to_sklearn()
    assert type(ref) is sk.KMeans
    Xt = X[::3] + 0.25
    assert_array_equal(model.predict(Xt), ref.predict(Xt))
    assert model.predict(Xt).dtype == np.int32
    assert_allclose(model.transform(Xt), ref.transform(Xt), rtol=1e-10)
    w = np.random.default_rng(0).random(len(Xt))
    assert_allclose(model.score(Xt), ref.score(Xt), rtol=1e-10)
    assert_allclose(model.score(Xt, sample_weight=w), ref.score(Xt, sample_weight=w),
                    rtol=1e-10)
    assert_array_equal(model.fit_predict(X), model.labels_)
    assert_allclose(model.fit_transform(X), ref.transform(X), rtol=1e-10)
    assert_array_equal(model.predict(X), model.labels_)
    assert list(model.get_feature_names_out()) == [f"kmeans{i}" for i in range(10)]
    assert list(ref.get_feature_names_out()) == [f"kmeans{i}" for i in range(10)]


def test_predict_ties_go_to_the_lowest_index():
    X = np.array([[0.0], [2.0], [5.0]])
    model = KMeans(n_clusters=3, init=np.array([[1.0], [-1.0], [3.0]]), max_iter=1).fit(
        np.array([[1.0], [-1.0], [3.0]])
    )
    assert_array_equal(model.predict(X), [0, 0, 2])
    assert_array_equal(model.to_sklearn().predict(X), [0, 0, 2])


@pytest.mark.parametrize("X", DATASETS[:4])
def test_sample_weight_matches_sklearn(X):
    w = np.random.default_rng(1).integers(0, 4, len(X)).astype(float)
    init = _sklearn_init(X, 4, seed=0)
    ours = KMeans(4, init=init, n_init=1).fit(X, sample_weight=w)
    ref = sk.KMeans(4, init=init, n_init=1).fit(X, sample_weight=w)
    _assert_same_fit(ours, ref)
    # Integer weights are repetitions (from the same initial centres).
    rep = np.repeat(X, w.astype(int), axis=0)
    again = KMeans(4, init=init, n_init=1).fit(rep)
    assert_allclose(again.cluster_centers_, ours.cluster_centers_, rtol=1e-9,
                    atol=1e-9 * np.abs(X).max())
    assert_allclose(again.inertia_, ours.inertia_, rtol=1e-9)
    # Weighted k-means++ follows scikit-learn's weighted sampling too.
    params = dict(n_clusters=4, random_state=3, n_init=2)
    _assert_same_fit(KMeans(**params).fit(X, sample_weight=w),
                     sk.KMeans(**params).fit(X, sample_weight=w))


def test_float32():
    X = load_digits().data
    init = _sklearn_init(X, 6, seed=2)
    m64 = KMeans(6, init=init, n_init=1).fit(X)
    m32 = KMeans(6, init=init.astype(np.float32), n_init=1).fit(X.astype(np.float32))
    ref = sk.KMeans(6, init=init.astype(np.float32), n_init=1).fit(X.astype(np.float32))
    assert m32.cluster_centers_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    assert m32.transform(X).dtype == np.float64
    # Digits are small integers: exact in float32, so oxlearn (which works in
    # float64 whatever the input) gives the float64 fit, rounded.
    assert_array_equal(m32.labels_, m64.labels_)
    assert_array_equal(m32.cluster_centers_, m64.cluster_centers_.astype(np.float32))
    assert_allclose(m32.inertia_, ref.inertia_, rtol=1e-5)
    assert_array_equal(m32.predict(X.astype(np.float32)), ref.predict(X.astype(np.float32)))


def test_thread_count_and_chunking():
    # 300000 values: enough for the passes to run in parallel.
    X, _ = make_blobs(50_000, 6, centers=7, random_state=3)
    draws = np.random.RandomState(0).random_sample((2, 1 + 6 * 3))
    fit = [_core.fit_kmeans(X, None, None, draws, 7, 100, 1e-4, 3, 512, n)
           for n in (1, 2, 3, 5)]
    for other in fit[1:]:
        for a, b in zip(fit[0], other, strict=True):
            assert_array_equal(a, b)
    # Another chunk size sums in another order: equal up to rounding.
    other = _core.fit_kmeans(X, None, None, draws, 7, 100, 1e-4, 3, 1000, 2)
    assert other[3] == fit[0][3]
    assert_array_equal(other[1], fit[0][1])
    assert_allclose(other[0], fit[0][0], rtol=1e-12)
    assert_allclose(other[2], fit[0][2], rtol=1e-12)
    # Column-major or strided input: the same bits as C order.
    F = _core.fit_kmeans(np.asfortranarray(X), None, None, draws, 7, 100, 1e-4, 3, 512, 2)
    S = _core.fit_kmeans(np.hstack([X, X])[:, :6], None, None, draws, 7, 100, 1e-4, 3, 512, 2)
    for a, b, c in zip(fit[0], F, S, strict=True):
        assert_array_equal(a, b)
        assert_array_equal(a, c)
    labels = [_core.predict_kmeans(X, fit[0][0].astype(np.float64), 256, n) for n in (1, 4)]
    assert_array_equal(labels[0], labels[1])
    # The hyperparameter reaches the fit.
    KMeans.get_hyperparameters("fit").chunk_rows = 1000
    try:
        model = KMeans(7, random_state=0, n_init=2).fit(X)
    finally:
        KMeans.reset_hyperparameters("fit")
    assert_array_equal(model.labels_, KMeans(7, random_state=0, n_init=2).fit(X).labels_)


def test_same_random_state_same_result():
    X = load_wine().data
    a = KMeans(4, random_state=11, n_init=4).fit(X)
    b = KMeans(4, random_state=11, n_init=4).fit(X)
    assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_ and a.n_iter_ == b.n_iter_
    rs = np.random.RandomState(5)
    c = KMeans(4, random_state=rs, n_init=1).fit(X)
    d = sk.KMeans(4, random_state=np.random.RandomState(5), n_init=1).fit(X)
    _assert_same_fit(c, d)


def test_empty_cluster_is_relocated_like_sklearn():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [10.0, 10.0], [10.0, 11.0],
                  [30.0, 30.0]])
    init = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]])
    ours = KMeans(3, init=init, n_init=1).fit(X)
    ref = sk.KMeans(3, init=init, n_init=1).fit(X)
    _assert_same_fit(ours, ref)
    assert ours.n_iter_ == ref.n_iter_


def test_duplicate_points_warn_like_sklearn():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 5, axis=0)
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(2\)"):
        model = KMeans(3, random_state=0, n_init=1).fit(X)
    assert len(np.unique(model.labels_)) == 2
    assert model.inertia_ == 0.0


def test_max_iter_and_tol():
    X = load_digits().data
    init = _sklearn_init(X, 10, seed=0)
    for max_iter in (1, 2, 5):
        ours = KMeans(10, init=init, n_init=1, max_iter=max_iter).fit(X)
        ref = sk.KMeans(10, init=init, n_init=1, max_iter=max_iter).fit(X)
        assert ours.n_iter_ == ref.n_iter_ == max_iter
        _assert_same_fit(ours, ref)
    for tol in (0.0, 1e-2, 1.0):
        ours = KMeans(10, init=init, n_init=1, tol=tol).fit(X)
        ref = sk.KMeans(10, init=init, n_init=1, tol=tol).fit(X)
        assert ours.n_iter_ == ref.n_iter_
        _assert_same_fit(ours, ref)


def test_parameter_checks_and_warnings():
    X = load_iris().data
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        KMeans(4).fit(X[:3])
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        KMeans(2, init=X[:2], n_init=3).fit(X)
    with pytest.warns(RuntimeWarning, match="Using 'lloyd' instead"):
        KMeans(1, algorithm="elkan").fit(X)
    with pytest.raises(ValueError, match="does not match the number of clusters"):
        KMeans(3, init=X[:2]).fit(X)
    with pytest.raises(ValueError, match="n_clusters"):
        KMeans(0).fit(X)
    Xn = X.copy()
    Xn[7, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        KMeans(3).fit(Xn)
    model = KMeans(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(Xn)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="at least one non-zero"):
        KMeans(3).fit(X, sample_weight=np.zeros(len(X)))


def _log_records(caplog, fn):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        result = fn()
    return result, " ".join(r.getMessage() for r in caplog.records)


def test_fallbacks_agree_with_sklearn_and_pickle(caplog):
    X = load_iris().data
    Xs = sparse.csr_matrix(X)
    model, log = _log_records(caplog, lambda: KMeans(3, random_state=0, n_init=2).fit(Xs))
    assert "fallback to scikit-learn (sparse input" in log
    ref = sk.KMeans(3, random_state=0, n_init=2).fit(Xs)
    _assert_same_fit(model, ref)
    assert_array_equal(model.predict(Xs), ref.predict(Xs))
    assert_array_equal(model.predict(X), ref.predict(X))
    loaded = pickle.loads(pickle.dumps(model))
    assert_array_equal(loaded.predict(Xs), ref.predict(Xs))
    assert_allclose(loaded.transform(Xs), ref.transform(Xs))
    w = np.ones(len(X))
    w[0] = -1.0
    init = X[[0, 50, 100]]
    model, log = _log_records(caplog, lambda: KMeans(3, init=init).fit(X, sample_weight=w))
    assert "negative sample_weight" in log
    _assert_same_fit(model, sk.KMeans(3, init=init).fit(X, sample_weight=w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()) as out:
            model, log = _log_records(caplog, lambda: KMeans(3, verbose=1).fit(X))
    assert "verbose output" in log and "Iteration" in out.getvalue()
    _, log = _log_records(caplog, lambda: KMeans(3, random_state=0).fit(X))
    assert "running accelerated version" in log


def test_callable_init_agrees_pickles_and_refuses_the_model_file(tmp_path):
    X = load_iris().data
    ours = KMeans(3, init=_callable_init, n_init=2).fit(X)
    ref = sk.KMeans(3, init=_callable_init, n_init=2).fit(X)
    _assert_same_fit(ours, ref)
    # Pickle keeps the function beside the model, as scikit-learn's does.
    back = pickle.loads(pickle.dumps(ours))
    assert back.init is _callable_init
    np.testing.assert_array_equal(back.predict(X), ours.predict(X))
    # A model file holds no code: the error names the parameter.
    with pytest.raises(TypeError, match="parameter init=.* cannot be stored"):
        oxlearn.save(ours, tmp_path / "k.oxl")
    assert list(tmp_path.iterdir()) == []


def test_patching():
    X = load_iris().data
    oxlearn.patch_sklearn("KMeans")
    try:
        from sklearn.cluster import KMeans as Patched

        assert Patched is KMeans
        assert sklearn.cluster._kmeans.KMeans is KMeans
        assert isinstance(Patched(3, random_state=0).fit(X), KMeans)
    finally:
        oxlearn.unpatch_sklearn("KMeans")
    assert sklearn.cluster.KMeans is sk.KMeans


def test_persistence_roundtrip_and_conversion(tmp_path):
    X = load_wine().data
    model = KMeans(4, random_state=0, n_init=2).fit(X.astype(np.float32))
    oxlearn.save(model, tmp_path / "k.oxl")
    for mmap in (False, True):
        loaded = oxlearn.load(tmp_path / "k.oxl", mmap=mmap)
        assert_array_equal(loaded.predict(X), model.predict(X))
        assert_array_equal(loaded.labels_, model.labels_)
        assert loaded.cluster_centers_.dtype == np.float32
        assert loaded.inertia_ == model.inertia_ and loaded.n_iter_ == model.n_iter_
        assert list(loaded.get_feature_names_out()) == list(model.get_feature_names_out())
    stock = model.to_sklearn()
    assert b"oxlearn" not in pickle.dumps(stock)
    assert_array_equal(stock.predict(X.astype(np.float32)), model.predict(X.astype(np.float32)))
    back = oxlearn.from_sklearn(sk.KMeans(4, random_state=0, n_init=2).fit(X))
    assert type(back) is KMeans
    assert_array_equal(back.predict(X), back.labels_)
