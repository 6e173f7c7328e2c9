"""DBSCAN: conformance, identity with scikit-learn (labels, core samples,
components, label numbering), exact boundary cases, determinism, fallbacks
and persistence."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn import cluster as sk
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
    make_moons,
)
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn import _core
from oxlearn.cluster import DBSCAN


def expected_failed_checks(estimator):
    """Checks expected to fail, with the reason: all concern sparse input,
    which runs scikit-learn's own DBSCAN, and stock scikit-learn fails them
    identically with these metrics."""
    if estimator.metric == "manhattan":
        reason = ("scikit-learn's sparse manhattan distances reject 64-bit sparse indices "
                  "with an unhelpful message; stock DBSCAN fails identically")
        return {"check_estimator_sparse_array": reason, "check_estimator_sparse_matrix": reason}
    if estimator.metric in ("chebyshev", "minkowski"):
        reason = (f"scikit-learn's brute force does not support metric={estimator.metric!r} on "
                  "sparse input although DBSCAN's tags claim sparse support; stock DBSCAN "
                  "fails identically")
        return {"check_estimator_sparse_tag": reason,
                "check_sample_weight_equivalence_on_sparse_data": reason}
    return {}


@parametrize_with_checks([
    DBSCAN(),
    DBSCAN(eps=0.3, min_samples=3),
    DBSCAN(metric="manhattan", eps=1.5),
    DBSCAN(metric="chebyshev", min_samples=2),
    DBSCAN(metric="minkowski", p=3, eps=0.8),
    DBSCAN(algorithm="brute", leaf_size=5, n_jobs=2),
], expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def assert_same_fit(ours, ref):
    """Identical fitted attributes, dtypes included."""
    assert_array_equal(ours.labels_, ref.labels_)
    assert ours.labels_.dtype == ref.labels_.dtype
    assert_array_equal(ours.core_sample_indices_, ref.core_sample_indices_)
    assert ours.core_sample_indices_.dtype == ref.core_sample_indices_.dtype
    dense = (lambda a: a.toarray()) if sparse.issparse(ref.components_) else np.asarray
    assert sparse.issparse(ours.components_) == sparse.issparse(ref.components_)
    assert_array_equal(dense(ours.components_), dense(ref.components_))
    assert ours.components_.dtype == ref.components_.dtype
    assert ours.components_.shape == ref.components_.shape
    assert ours.n_features_in_ == ref.n_features_in_


def _fit_both(X, sample_weight=None, **params):
    ours = DBSCAN(**params).fit(X, sample_weight=sample_weight)
    ref = sk.DBSCAN(**params).fit(X, sample_weight=sample_weight)
    assert_same_fit(ours, ref)
    return ours


def _metric_params():
    return [
        {"metric": "euclidean"},
        {"metric": "manhattan"},
        {"metric": "chebyshev"},
        {"metric": "minkowski", "p": 3},
        {"metric": "minkowski", "p": 1.5},
    ]


def _pair_distance_quantile(X, q, metric_params):
    """A radius equal to an actual pairwise distance (the q-quantile), so
    that some pairs lie exactly at eps."""
    from sklearn.metrics import pairwise_distances

    metric = metric_params["metric"]
    kw = {"p": metric_params["p"]} if metric == "minkowski" else {}
    d = pairwise_distances(X, metric=metric, **kw)
    return float(np.sort(d[np.triu_indices(len(X), 1)])[int(q * len(X) * (len(X) - 1) / 2)])


def _real_datasets():
    scaler = StandardScaler()
    yield "iris", load_iris().data
    yield "wine-standardised", scaler.fit_transform(load_wine().data)
    yield "blobs", make_blobs(600, 4, centers=5, cluster_std=1.5, random_state=0)[0]
    yield "moons", make_moons(500, noise=0.08, random_state=0)[0]


@pytest.mark.parametrize("name, X", [pytest.param(n, X, id=n) for n, X in _real_datasets()])
@pytest.mark.parametrize("metric_params", _metric_params(), ids=lambda m: str(m))
@pytest.mark.parametrize("min_samples", [3, 8])
def test_identical_to_sklearn(name, X, metric_params, min_samples):
    # eps exactly at a pairwise distance: boundary pairs decide core points.
    eps = _pair_distance_quantile(X, 0.02, metric_params)
    ours = _fit_both(X, eps=eps, min_samples=min_samples, **metric_params)
    n_clusters = ours.labels_.max() + 1
    assert n_clusters >= 1 and len(ours.core_sample_indices_) > 0


def test_several_clusters_and_noise_are_numbered_like_sklearn():
    X = make_blobs(2000, 3, centers=12, cluster_std=0.6, random_state=3)[0]
    ours = _fit_both(X, eps=0.35, min_samples=6)
    assert ours.labels_.max() >= 10 and (ours.labels_ == -1).sum() > 50
    # Border points shared by clusters: labels still match (checked above);
    # make sure some non-core clustered points exist.
    border = np.setdiff1d(np.flatnonzero(ours.labels_ >= 0), ours.core_sample_indices_)
    assert len(border) > 20


@pytest.mark.parametrize("metric_params", _metric_params(), ids=lambda m: str(m))
@pytest.mark.parametrize("dim", [2, 3, 5])
def test_integer_grid_at_exactly_eps(metric_params, dim):
    # Points on an integer grid with holes: axis neighbours are at exactly
    # eps = 1 (and diagonal ones at exactly 1 under chebyshev).
    rng = np.random.default_rng(dim)
    side = {2: 12, 3: 6, 5: 3}[dim]
    grid = np.stack(np.meshgrid(*[np.arange(side)] * dim, indexing="ij"), -1).reshape(-1, dim)
    X = grid[rng.random(len(grid)) < 0.7].astype(np.float64)
    for eps in (1.0, np.sqrt(2.0), 2.0):
        for min_samples in (2, 3, 4, 5):
            _fit_both(X, eps=eps, min_samples=min_samples, **metric_params)


def test_grid_float32_int_and_bool_inputs():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(400, 3))
    for Xd in (X, X.astype(np.int32), X.astype(np.float32), (X > 2)):
        ours = _fit_both(Xd, eps=1.0, min_samples=4)
        assert ours.components_.dtype == Xd.dtype
    # float32 data whose float64 distances sit exactly at eps.
    X32 = (rng.integers(0, 40, size=(500, 2)) * 0.25).astype(np.float32)
    _fit_both(X32, eps=0.25, min_samples=3)
    _fit_both(X32, eps=0.5, min_samples=5, metric="manhattan")


def test_duplicates():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 3))
    X = np.repeat(base, rng.integers(1, 7, size=60), axis=0)
    X = X[rng.permutation(len(X))]
    for min_samples in (1, 2, 4, 6, 7):
        _fit_both(X, eps=1e-9, min_samples=min_samples)
        _fit_both(X, eps=0.6, min_samples=min_samples, metric="chebyshev")
    same = np.zeros((50, 2))
    ours = _fit_both(same, eps=0.1, min_samples=50)
    assert_array_equal(ours.labels_, 0)
    ours = _fit_both(same, eps=0.1, min_samples=51)
    assert_array_equal(ours.labels_, -1)
    assert ours.components_.shape == (0, 2) and ours.components_.dtype == np.float64


def test_many_features_brute_force_path():
    # 64 integer features (digits): scikit-learn uses brute force, exact on
    # integers; oxlearn's brute force decides by exact distances too.
    digits = load_digits().data
    for eps, min_samples in ((15.0, 4), (20.0, 10), (np.sqrt(300.0), 5)):
        ours = _fit_both(digits, eps=eps, min_samples=min_samples)
        assert ours.labels_.max() >= 1
    _fit_both(digits, eps=40.0, min_samples=5, metric="manhattan")
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    for params in _metric_params():
        eps = {"manhattan": 9.0, "chebyshev": 1.5}.get(params["metric"], 2.5)
        ours = _fit_both(X, eps=eps, min_samples=5, **params)
        assert len(ours.core_sample_indices_) > 10


@pytest.mark.parametrize("algorithm", ["auto", "kd_tree", "ball_tree", "brute"])
@pytest.mark.parametrize("leaf_size", [1, 7, 30, 100])
def test_algorithm_and_leaf_size_change_nothing(algorithm, leaf_size):
    X = make_moons(400, noise=0.1, random_state=1)[0]
    _fit_both(X, eps=0.12, min_samples=4, algorithm=algorithm, leaf_size=leaf_size)


def test_sample_weight():
    X = make_blobs(500, 2, centers=4, cluster_std=0.8, random_state=2)[0]
    rng = np.random.default_rng(5)
    for weights in (
        rng.integers(0, 4, size=500).astype(float),  # integer: exact sums
        rng.integers(-2, 5, size=500).astype(float),  # negative weights inhibit
        np.full(500, 0.5),
        rng.integers(1, 3, size=500).astype(np.float32),
    ):
        for min_samples in (3, 6, 10):
            _fit_both(X, sample_weight=weights, eps=0.3, min_samples=min_samples)
    # A point with weight >= min_samples is core by itself.
    w = np.ones(500)
    w[7] = 10
    ours = _fit_both(X, sample_weight=w, eps=1e-6, min_samples=10)
    assert_array_equal(ours.core_sample_indices_, [7])
    with pytest.raises(ValueError, match="at least one non-zero"):
        DBSCAN().fit(X, sample_weight=np.zeros(500))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        DBSCAN().fit(X, sample_weight=np.ones(3))


def test_precomputed():
    from sklearn.metrics import pairwise_distances

    X = make_moons(300, noise=0.05, random_state=0)[0]
    D = pairwise_distances(X)
    ours = _fit_both(D, eps=0.1, min_samples=4, metric="precomputed")
    assert ours.labels_.max() >= 1
    # The same clusters as from the points (distances computed differently
    # may differ in the last bit, so compare away from the boundary).
    points = DBSCAN(eps=0.1, min_samples=4).fit(X)
    assert_array_equal(points.labels_, ours.labels_)
    _fit_both(D.astype(np.float32), eps=0.1, min_samples=4, metric="precomputed")
    with pytest.raises(ValueError, match="Negative values"):
        DBSCAN(metric="precomputed").fit(D - 1)
    with pytest.raises(ValueError, match="must be square"):
        DBSCAN(metric="precomputed").fit(D[:, :10])


def test_independent_of_threads_and_chunks():
    X = make_blobs(6000, 3, centers=8, random_state=4)[0]
    runs = []
    for n_jobs in (1, 2, 3, None):
        runs.append(DBSCAN(eps=0.3, min_samples=5, n_jobs=n_jobs).fit(X))
    DBSCAN.get_hyperparameters("fit").chunk_rows = 37
    try:
        runs.append(DBSCAN(eps=0.3, min_samples=5).fit(X))
    finally:
        DBSCAN.reset_hyperparameters("fit")
    assert runs[0].labels_.max() >= 3
    for run in runs[1:]:
        assert_same_fit(run, runs[0])


def test_fallbacks_are_logged_and_match(caplog):
    X = make_blobs(300, 3, random_state=0)[0]
    with caplog.at_level("INFO", logger="oxlearn"):
        _fit_both(sparse.csr_matrix(X), eps=0.8, min_samples=4)
        _fit_both(X, eps=0.1, min_samples=4, metric="cosine")
        _fit_both(X, eps=0.8, min_samples=4, metric="minkowski", metric_params={"p": 3})
        DBSCAN(eps=0.8, metric=lambda a, b: np.abs(a - b).sum()).fit(X)
        with pytest.warns(UserWarning, match="0 < p < 1"):
            DBSCAN(eps=0.8, metric="minkowski", p=0.5).fit(X)
        DBSCAN(eps=0.8).fit(X)
    text = caplog.text
    assert "DBSCAN.fit: fallback to scikit-learn (sparse input" in text
    assert "DBSCAN.fit: fallback to scikit-learn (metric='cosine'" in text
    assert "fallback to scikit-learn (metric_params" in text
    assert "fallback to scikit-learn (metric=<function" in text
    assert "fallback to scikit-learn (metric='minkowski' with p=0.5" in text
    assert "DBSCAN.fit: running accelerated version on CPU" in text
    # scikit-learn's own error for minkowski without p, through the fallback.
    with pytest.raises(TypeError):
        DBSCAN(metric="minkowski").fit(X)


def test_bad_input_errors():
    X = np.ones((10, 3))
    X[6, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN. The first one is at row 6, column 2"):
        DBSCAN().fit(X)
    X[6, 2] = np.inf
    with pytest.raises(ValueError, match="X contains infinity"):
        DBSCAN().fit(X)
    with pytest.raises(ValueError, match="eps"):
        DBSCAN(eps=0.0).fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="min_samples"):
        DBSCAN(min_samples=0).fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="minimum of 1 is required"):
        DBSCAN().fit(np.ones((0, 2)))


def test_core_binding_rejects_bad_arguments():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="metric"):
        _core.fit_dbscan(X, 1.0, 2, "cosine", None, None, "auto", 30, 0, None)
    with pytest.raises(ValueError, match="algorithm"):
        _core.fit_dbscan(X, 1.0, 2, "euclidean", None, None, "octree", 30, 0, None)
    with pytest.raises(ValueError, match="p"):
        _core.fit_dbscan(X, 1.0, 2, "minkowski", 0.5, None, "auto", 30, 0, None)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.fit_dbscan(X.astype(int), 1.0, 2, "euclidean", None, None, "auto", 30, 0, None)


# --- persistence ------------------------------------------------------------


def _persisted(model, tmp_path):
    oxlearn.save(model, tmp_path / "d.oxl")
    return [
        pickle.loads(pickle.dumps(model)),
        oxlearn.load(tmp_path / "d.oxl"),
        oxlearn.load(tmp_path / "d.oxl", mmap=True),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_persistence_round_trips(dtype, tmp_path):
    X = (make_blobs(300, 3, random_state=0)[0] * 4).astype(dtype)
    model = DBSCAN(eps=2.5, min_samples=4, metric="manhattan").fit(X)
    assert model.labels_.max() >= 1
    for other in _persisted(model, tmp_path):
        assert type(other) is DBSCAN
        assert other.get_params() == model.get_params()
        assert_same_fit(other, model)
    ref = sk.DBSCAN(**model.get_params()).fit(X)
    assert len(pickle.dumps(model)) <= 1.1 * len(pickle.dumps(ref)) + 4096
    back = oxlearn.from_sklearn(ref)
    assert type(back) is DBSCAN
    assert_same_fit(back, ref)
    plain = model.to_sklearn()
    assert type(plain) is sk.DBSCAN
    assert b"oxlearn" not in pickle.dumps(plain)
    assert_same_fit(plain, ref)


def test_persistence_without_core_samples_and_sparse_fallback(tmp_path):
    X = make_blobs(200, 3, random_state=0)[0].astype(np.float32)
    model = DBSCAN(eps=1e-3).fit(X)
    assert model.components_.shape == (0, 3) and model.components_.dtype == np.float64
    for other in _persisted(model, tmp_path):
        assert_same_fit(other, model)
    # A fallback model fitted on sparse data keeps sparse components_.
    model = DBSCAN(eps=1.0, min_samples=4).fit(sparse.csr_matrix(X))
    assert sparse.issparse(model.components_) and model.components_.shape[0] > 0
    for other in _persisted(model, tmp_path):
        assert sparse.issparse(other.components_)
        assert_array_equal(other.components_.toarray(), model.components_.toarray())
        assert other.components_.dtype == model.components_.dtype
        assert_array_equal(other.labels_, model.labels_)


def test_patched():
    oxlearn.patch_sklearn("DBSCAN")
    try:
        from sklearn.cluster import DBSCAN as Patched

        assert Patched is DBSCAN
        X = make_blobs(200, 2, random_state=0)[0]
        assert isinstance(sk.DBSCAN, type)
        assert isinstance(Patched().fit(X), DBSCAN)
    finally:
        oxlearn.unpatch_sklearn()
