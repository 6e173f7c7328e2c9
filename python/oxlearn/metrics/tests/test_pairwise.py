"""pairwise_distances: exact distances, scikit-learn's dtypes and semantics, fallback, patching."""

import logging

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from scipy.spatial.distance import cdist
from sklearn import datasets
from sklearn.metrics import pairwise as sk_pairwise

import oxlearn
from oxlearn.metrics import pairwise_distances

SK = sk_pairwise.pairwise_distances  # the original (tests run unpatched)
CDIST = {"euclidean": "euclidean", "l2": "euclidean", "manhattan": "cityblock",
         "cityblock": "cityblock", "l1": "cityblock", "chebyshev": "chebyshev",
         "cosine": "cosine"}
DATASETS = ["iris", "wine", "breast_cancer", "digits", "diabetes"]


def _data(name):
    return getattr(datasets, f"load_{name}")(return_X_y=True)[0]


@pytest.fixture(autouse=True)
def _unpatched():
    yield
    oxlearn.unpatch_sklearn()


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("metric", ["manhattan", "chebyshev", "minkowski"])
def test_cdist_metrics_match_sklearn(name, metric):
    X = _data(name)
    A, B = X[:150], X[-97:]
    kw = {"p": 3} if metric == "minkowski" else {}
    ours = pairwise_distances(A, B, metric=metric, **kw)
    assert ours.dtype == np.float64
    # scikit-learn calls scipy's cdist here: the same arithmetic.
    np.testing.assert_allclose(ours, SK(A, B, metric=metric, **kw), rtol=1e-13, atol=0)
    if metric != "minkowski":
        np.testing.assert_array_equal(ours, cdist(A, B, CDIST[metric]))


@pytest.mark.parametrize("name", DATASETS)
def test_euclidean_is_exact_and_matches_sklearn(name):
    X = _data(name)
    A, B = X[:150], X[-97:]
    ours = pairwise_distances(A, B)
    # Exact difference-based distances, bit for bit scipy's cdist.
    np.testing.assert_array_equal(ours, cdist(A, B))
    # scikit-learn's matrix-product expansion loses up to ~eps·‖x‖²/d digits.
    sk = SK(A, B)
    scale = np.max(np.sum(X**2, axis=1))
    assert np.all(np.abs(ours**2 - sk**2) <= 1e-13 * scale)
    far = ours**2 > 1e-3 * scale
    np.testing.assert_allclose(ours[far], sk[far], rtol=1e-10)
    np.testing.assert_array_equal(pairwise_distances(A, B, squared=True),
                                  cdist(A, B, "sqeuclidean"))


@pytest.mark.parametrize("name", DATASETS)
def test_cosine_matches_sklearn(name):
    X = _data(name)
    A, B = X[:150], X[-97:]
    np.testing.assert_allclose(pairwise_distances(A, B, metric="cosine"),
                               SK(A, B, metric="cosine"), rtol=1e-10, atol=1e-14)
    D = pairwise_distances(A, metric="cosine")
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_allclose(D, SK(A, metric="cosine"), rtol=1e-10, atol=1e-14)


def test_cosine_zero_rows_and_clipping():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [-2.0, 0.0], [0.0, 0.0]])
    D = pairwise_distances(X, metric="cosine")
    np.testing.assert_array_equal(D, SK(X, metric="cosine"))
    np.testing.assert_array_equal(D[0], [0.0, 1.0, 1.0, 1.0])
    assert D[1, 2] == 2.0
    np.testing.assert_array_equal(pairwise_distances(X, X.copy(), metric="cosine"),
                                  SK(X, X.copy(), metric="cosine"))


def test_near_identical_rows_keep_their_digits():
    rng = np.random.default_rng(0)
    X = 1e4 + rng.normal(size=(50, 8))
    Y = X + 1e-6 * rng.normal(size=X.shape)
    ours = pairwise_distances(X, Y)
    np.testing.assert_array_equal(ours, cdist(X, Y))
    diag = np.diag(ours)
    exact = np.sqrt(np.sum((X - Y) ** 2, axis=1))
    np.testing.assert_allclose(diag, exact, rtol=1e-9)
    # scikit-learn's expansion cannot resolve these distances at all.
    assert np.max(np.abs(np.diag(SK(X, Y)) - exact) / exact) > 1e-3


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "chebyshev"])
def test_float32_dtypes_follow_sklearn(metric):
    X = _data("wine").astype(np.float32)
    ours, sk = pairwise_distances(X, metric=metric), SK(X, metric=metric)
    assert ours.dtype == sk.dtype
    # Computed in float64 from the float32 values, rounded once.
    ref = pairwise_distances(X.astype(np.float64), metric=metric)
    np.testing.assert_array_equal(ours, ref.astype(ours.dtype))
    np.testing.assert_allclose(ours, sk, rtol=2e-5, atol=1e-3 if metric == "euclidean" else 1e-6)
    # Mixed float32/float64 computes in float64.
    assert pairwise_distances(X, X.astype(np.float64), metric=metric).dtype == np.float64


def test_same_answer_for_any_thread_count_and_layout():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(333, 13)), rng.normal(size=(271, 13))
    for metric in ["euclidean", "manhattan", "cosine"]:
        one = pairwise_distances(X, Y, metric=metric, n_jobs=1)
        np.testing.assert_array_equal(one, pairwise_distances(X, Y, metric=metric, n_jobs=2))
        np.testing.assert_array_equal(
            one, pairwise_distances(np.asfortranarray(X), Y[::1], metric=metric))
        np.testing.assert_array_equal(
            one[::2], pairwise_distances(np.repeat(X, 2, axis=0)[::4], Y, metric=metric))


def test_minkowski_orders_normalise_like_sklearn():
    X = _data("iris")
    for p, same_as in [(1, "manhattan"), (2, "euclidean"), (np.inf, "chebyshev")]:
        np.testing.assert_array_equal(pairwise_distances(X, metric="minkowski", p=p),
                                      pairwise_distances(X, metric=same_as))
    np.testing.assert_allclose(pairwise_distances(X, metric="minkowski", p=1.5),
                               cdist(X, X, "minkowski", p=1.5), rtol=1e-13)


def test_bad_input_is_a_clear_error():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="Incompatible dimension"):
        pairwise_distances(X, np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        pairwise_distances(np.array([[0.0, np.nan]]))
    # The core refuses what the Python layer never sends.
    with pytest.raises(ValueError, match="squared"):
        oxlearn._core.pairwise_distances(X, X, "cosine", None, True, True, False, None)
    with pytest.raises(TypeError, match="dtype of X"):
        oxlearn._core.pairwise_distances(X, X.astype(np.float32), "l1", None, False, False,
                                         False, None)


@pytest.mark.parametrize("call", [
    lambda X: ((sp.csr_matrix(X),), {}),
    lambda X: ((SK(X),), {"metric": "precomputed"}),
    lambda X: ((X,), {"metric": "seuclidean"}),
    lambda X: ((X,), {"metric": lambda a, b: float(np.abs(a - b).sum())}),
    lambda X: ((X,), {"metric": "minkowski", "p": 0.5}),
    lambda X: ((X,), {"metric": "minkowski", "p": 3, "w": np.ones(X.shape[1])}),
    lambda X: ((np.where(X > 5, np.nan, X),), {"ensure_all_finite": "allow-nan",
                                                "metric": "nan_euclidean"}),
])
def test_fallback_is_logged_and_answers_like_sklearn(call, caplog):
    X = np.abs(_data("iris")[:20])
    args, kw = call(X)
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        ours = pairwise_distances(*args, **kw)
    assert "fallback to scikit-learn" in caplog.text
    np.testing.assert_array_equal(ours, SK(*args, **kw))


def test_array_api_dispatch_runs_in_rust_and_returns_the_input_namespace(caplog):
    xp = pytest.importorskip("array_api_strict")
    X = _data("iris")[:10]
    device = xp.Device("device1")
    with sklearn.config_context(array_api_dispatch=True), \
            caplog.at_level(logging.INFO, logger="oxlearn"):
        ours = pairwise_distances(X)
        got = pairwise_distances(xp.asarray(X, device=device), metric="manhattan")
    assert "pairwise_distances: running accelerated version" in caplog.text
    assert "fallback" not in caplog.text
    np.testing.assert_allclose(ours, SK(X), atol=1e-7)
    assert type(got) is type(xp.asarray(0.0)) and got.device == device
    np.testing.assert_array_equal(np.from_dlpack(got), pairwise_distances(X, metric="manhattan"))


def test_patched_into_sklearn_and_used_by_its_code(caplog):
    from sklearn.metrics import silhouette_score

    X = _data("iris")
    labels = np.repeat([0, 1, 2], 50)
    expected = silhouette_score(X, labels)
    oxlearn.patch_sklearn("pairwise_distances")
    assert sklearn.metrics.pairwise_distances is pairwise_distances
    assert sk_pairwise.pairwise_distances is pairwise_distances
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        got = silhouette_score(X, labels)
    assert "pairwise_distances: running accelerated version" in caplog.text
    assert abs(got - expected) < 1e-12
    oxlearn.unpatch_sklearn("pairwise_distances")
    assert sklearn.metrics.pairwise_distances is SK


def test_gpu_offload_not_implemented():
    with oxlearn.config_context(target_offload="gpu"):
        with pytest.raises(NotImplementedError, match="pairwise_distances: GPU offload"):
            pairwise_distances(np.ones((2, 2)))
