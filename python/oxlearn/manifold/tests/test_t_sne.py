"""TSNE: conformance, quality against scikit-learn on digits (KL divergence and
trustworthiness: embeddings are not comparable point-wise), the affinities
against scikit-learn's, determinism, scikit-learn's schedule and reports,
fallbacks, persistence and patching."""

import io
import pickle
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from scipy.spatial.distance import squareform
from sklearn import manifold as sk
from sklearn.datasets import load_digits, make_blobs
from sklearn.manifold import _t_sne as sk_t_sne
from sklearn.manifold import trustworthiness
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn import _core
from oxlearn.manifold import TSNE


@parametrize_with_checks([
    TSNE(perplexity=2),
    TSNE(perplexity=2, method="exact", init="random", random_state=0),
    TSNE(n_components=1, perplexity=2, n_jobs=2),
    TSNE(n_components=3, perplexity=2, learning_rate=100.0, max_iter=300, init="random"),
])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data


# The exact method is O(n²) per iteration in scikit-learn too: its comparison
# runs on the first 800 digits to keep the test fast.
@pytest.mark.parametrize("method, n", [("barnes_hut", None), ("exact", 800)])
@pytest.mark.parametrize("init", ["pca", "random"])
def test_digits_quality_matches_sklearn(digits, method, n, init):
    X = digits[:n]
    params = dict(method=method, init=init, random_state=0)
    ours = TSNE(**params).fit(X)
    ref = sk.TSNE(**params).fit(X)
    assert ours.embedding_.dtype == ref.embedding_.dtype == np.float32
    assert ours.embedding_.shape == ref.embedding_.shape
    assert ours.n_iter_ == ref.n_iter_ == 999
    assert ours.learning_rate_ == ref.learning_rate_
    assert_allclose(ours.kl_divergence_, ref.kl_divergence_, rtol=0.05)
    t_ours = trustworthiness(X, ours.embedding_, n_neighbors=5)
    t_ref = trustworthiness(X, ref.embedding_, n_neighbors=5)
    assert abs(t_ours - t_ref) <= 0.01, (t_ours, t_ref)
    assert t_ours > 0.98


@pytest.mark.parametrize("method", ["barnes_hut", "exact"])
def test_bit_identical_for_any_thread_count(digits, method):
    X = digits[:700]
    runs = [TSNE(method=method, max_iter=300, random_state=1, n_jobs=n_jobs).fit(X)
            for n_jobs in (1, 2, None)]
    for run in runs[1:]:
        assert_array_equal(run.embedding_, runs[0].embedding_)
        assert run.kl_divergence_ == runs[0].kl_divergence_
        assert run.n_iter_ == runs[0].n_iter_


def _sklearn_knn_graph(X, k):
    graph = NearestNeighbors(n_neighbors=k).fit(X).kneighbors_graph(mode="distance")
    graph.data **= 2
    return graph


@pytest.mark.parametrize("perplexity", [5.0, 30.0, 50.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nn_affinities_match_sklearn(digits, perplexity, dtype):
    # Digits have integer pixels, so many distances tie, and which of two
    # tied points is the k-th neighbour is an implementation detail: the
    # pixels get a small jitter here (ties are checked below).
    rng = np.random.default_rng(0)
    X = (digits[:500] + rng.uniform(-0.01, 0.01, (500, 64))).astype(dtype)
    k = min(len(X) - 1, int(3.0 * perplexity + 1))
    # scikit-learn's float32 neighbour distances are rounded to float32 twice
    # (the distance, then its square), oxlearn's once (the exact square): the
    # reference is built from the float64 distances of the same points.
    graph = _sklearn_knn_graph(X.astype(np.float64), k)
    ref = sparse.csr_matrix(sk_t_sne._joint_probabilities_nn(graph, perplexity, 0))
    data, indices, indptr, beta_sum = _core.tsne_joint_probabilities_nn(X, perplexity, k, 2)
    ours = sparse.csr_matrix((data, indices, indptr), shape=ref.shape)
    assert data.dtype == np.float64 and beta_sum > 0
    assert_array_equal(ours.indptr, ref.indptr)
    assert_array_equal(ours.indices, ref.indices)
    assert_allclose(ours.data, ref.data, rtol=1e-6, atol=0)
    assert_allclose(ours.sum(), 1.0, rtol=1e-12)
    assert_array_equal(ours.toarray(), ours.toarray().T)


@pytest.mark.parametrize("perplexity", [3.0, 30.0])
def test_dense_affinities_match_sklearn(digits, perplexity):
    X = digits[:400]
    distances = pairwise_distances(X, metric="euclidean", squared=True)
    ref = sk_t_sne._joint_probabilities(distances, perplexity, 0)
    P, _ = _core.tsne_joint_probabilities(X, perplexity, 2)
    assert P.shape == (400, 400) and np.all(np.diag(P) == 0)
    assert_allclose(squareform(P, checks=False), ref, rtol=1e-6, atol=0)
    assert_array_equal(P, P.T)


def test_binary_search_reaches_the_perplexity():
    # The entropy of every row's conditional distribution is ln(perplexity)
    # to the search's tolerance; the joint P is what symmetrising gives.
    X = make_blobs(300, 5, random_state=0)[0]
    P, beta_sum = _core.tsne_joint_probabilities(X, 20.0, 1)
    assert np.isfinite(beta_sum) and beta_sum > 0
    # Each entry is floored at machine epsilon, as scikit-learn floors it.
    assert_allclose(P.sum(), 1.0, rtol=1e-9)


def test_schedule_and_attributes_follow_sklearn():
    X = make_blobs(60, 4, random_state=0)[0]
    for method in ("exact", "barnes_hut"):
        params = dict(method=method, init="random", random_state=0, perplexity=10)
        # max_iter equal to the exploration: scikit-learn's second stage runs
        # no iteration, and reports the float maximum as its error.
        ours = TSNE(max_iter=250, **params).fit(X)
        ref = sk.TSNE(max_iter=250, **params).fit(X)
        assert ours.n_iter_ == ref.n_iter_ == 250
        assert ours.kl_divergence_ == ref.kl_divergence_ == np.finfo(float).max
        # The last iteration's error is computed even off the checks.
        ours = TSNE(max_iter=503, **params).fit(X)
        assert ours.n_iter_ == 502 and np.isfinite(ours.kl_divergence_)
        assert set(vars(ours)) == set(vars(sk.TSNE(max_iter=503, **params).fit(X)))
        # Exploration and check period are read from the instance, as
        # scikit-learn's tests set them.
        est = TSNE(max_iter=260, **params)
        est._EXPLORATION_MAX_ITER = 0
        est._N_ITER_CHECK = 1
        est.fit(X)
        assert est.n_iter_ == 259


def test_verbose_reports_like_sklearn():
    X = make_blobs(100, 10, random_state=0)[0]
    outputs = []
    for cls in (TSNE, sk.TSNE):
        est = cls(n_iter_without_progress=-1, verbose=2, learning_rate=1e8, random_state=0,
                  method="exact", max_iter=351, init="random")
        est._N_ITER_CHECK = 1
        est._EXPLORATION_MAX_ITER = 0
        with redirect_stdout(io.StringIO()) as out:
            est.fit(X)
        outputs.append(out.getvalue())
    for text in outputs:
        assert "did not make any progress during the last -1 episodes. Finished." in text
    ours = outputs[0]
    for phrase in ("[t-SNE] Computing pairwise distances...", "Mean sigma",
                   "Computed conditional probabilities for sample 100 / 100",
                   "with early exaggeration", "KL divergence after"):
        assert phrase in ours
    # The reported error of the last check is kl_divergence_.
    est = TSNE(n_iter_without_progress=2, verbose=2, random_state=0, method="barnes_hut",
               max_iter=500)
    with redirect_stdout(io.StringIO()) as out:
        est.fit(X)
    last = [line for line in out.getvalue().splitlines() if "Iteration" in line
            and "error = " in line][-1]
    assert_allclose(float(last.split("error = ")[1].split(",")[0]), est.kl_divergence_,
                    atol=1e-6)
    assert "nearest neighbors..." in out.getvalue()


def test_min_grad_norm_stops():
    X = make_blobs(100, 2, random_state=0)[0]
    est = TSNE(min_grad_norm=0.002, verbose=2, random_state=0, method="exact")
    with redirect_stdout(io.StringIO()) as out:
        est.fit(X)
    assert "Finished." in out.getvalue()
    assert est.n_iter_ < 999


def test_dtypes_and_inits():
    X = make_blobs(80, 5, random_state=0)[0]
    init = np.random.default_rng(0).standard_normal((80, 2)) * 1e-4
    for method in ("exact", "barnes_hut"):
        emb = TSNE(method=method, init=init, max_iter=260).fit_transform(X)
        assert emb.dtype == np.float64
        emb = TSNE(method=method, init=init.astype(np.float32), max_iter=260).fit_transform(X)
        assert emb.dtype == np.float32
        emb = TSNE(method=method, max_iter=260).fit_transform(X.astype(np.float32))
        assert emb.dtype == np.float32
    # Integer data are computed in float64, as scikit-learn's validation does.
    ints = np.arange(35 * 4).reshape(35, 4)
    assert TSNE(max_iter=260, random_state=0).fit_transform(ints).shape == (35, 2)
    # All points identical: no force anywhere, the start is kept.
    assert_array_equal(TSNE(init=np.zeros((100, 2))).fit_transform(np.ones((100, 5))),
                       np.zeros((100, 2)))
    with pytest.raises(ValueError, match=r"init has shape \(80, 3\)"):
        TSNE(init=np.zeros((80, 3))).fit(X)


def test_pandas_output():
    pytest.importorskip("pandas")
    from sklearn import config_context

    with config_context(transform_output="pandas"):
        out = TSNE(max_iter=260, random_state=0).fit_transform(np.arange(140.0).reshape(35, 4))
    assert list(out.columns) == ["tsne0", "tsne1"]


def test_bad_input_errors():
    X = np.ones((10, 3))
    X[6, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        TSNE(perplexity=2).fit(X)
    with pytest.raises(ValueError, match=r"perplexity \(30.0\) must be less than n_samples"):
        TSNE().fit(np.ones((20, 2)))
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        TSNE(perplexity=0.5).fit(np.ones((1, 2)))
    # A start that diverges is an error, not NaN coordinates.
    bad = np.full((20, 2), np.nan)
    with pytest.raises(RuntimeError, match="diverged"):
        TSNE(init=bad, perplexity=5).fit(np.random.default_rng(0).random((20, 3)))


def test_core_bindings_reject_bad_arguments():
    X = np.random.default_rng(0).random((10, 3))
    P, _ = _core.tsne_joint_probabilities(X, 3.0, 1)
    data, indices, indptr, _ = _core.tsne_joint_probabilities_nn(X, 3.0, 9, 1)
    init = np.zeros((10, 2))
    schedule = (12.0, 50.0, 300, 250, 50, 300, 1e-7)
    common = (schedule, 1)
    with pytest.raises(ValueError, match="n_neighbors"):
        _core.tsne_joint_probabilities_nn(X, 3.0, 10, 1)
    with pytest.raises(ValueError, match="perplexity"):
        _core.tsne_joint_probabilities(X, -1.0, 1)
    with pytest.raises(ValueError, match="P vs"):
        _core.tsne_optimize_exact(P[:5], init, *common)
    with pytest.raises(ValueError, match="n_components"):
        _core.tsne_optimize_barnes_hut(data, indices, indptr, np.zeros((10, 4)), 0.5, *common)
    bad = indices.copy()
    bad[3] = 10
    with pytest.raises(ValueError, match="out of range"):
        _core.tsne_optimize_barnes_hut(data, bad, indptr, init, 0.5, *common)
    bad[3] = -1
    with pytest.raises(ValueError, match="indices hold -1"):
        _core.tsne_optimize_barnes_hut(data, bad, indptr, init, 0.5, *common)
    with pytest.raises(ValueError, match="row offsets"):
        _core.tsne_optimize_barnes_hut(data, indices, indptr[::-1].copy(), init, 0.5, *common)
    with pytest.raises(ValueError, match="learning_rate"):
        _core.tsne_optimize_exact(P, init, (12.0, -1.0, *schedule[2:]), 1)
    with pytest.raises(ValueError, match="n_iter_check"):
        _core.tsne_optimize_exact(P, init, (*schedule[:4], 0, *schedule[5:]), 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.tsne_joint_probabilities(X.astype(int), 3.0, 1)


@pytest.mark.filterwarnings("ignore:Parameter p is found in metric_params")
def test_fallbacks_are_logged(caplog):
    X = make_blobs(60, 4, random_state=0)[0]
    params = dict(perplexity=5, max_iter=260, random_state=0, init="random")
    with caplog.at_level("INFO", logger="oxlearn"):
        TSNE(**params).fit(sparse.csr_matrix(X))
        TSNE(metric="cosine", **params).fit(X)
        D = pairwise_distances(X)
        TSNE(metric="precomputed", **params).fit(D)
        TSNE(metric="minkowski", metric_params={"p": 3}, **params).fit(X)
        with pytest.raises(ValueError, match="'n_components' should be inferior to 4"):
            TSNE(n_components=4, **params).fit(X)
        with pytest.raises(TypeError, match="Cannot cast"):  # scikit-learn's own error
            TSNE(**{**params, "init": np.zeros((60, 2), dtype=int)}).fit(X)
        TSNE(**params).fit(X)
    text = caplog.text
    assert "TSNE.fit: fallback to scikit-learn (sparse input" in text
    assert "TSNE.fit: fallback to scikit-learn (metric='cosine'" in text
    assert "TSNE.fit: fallback to scikit-learn (metric='precomputed'" in text
    assert "fallback to scikit-learn (metric='minkowski'" in text
    assert "fallback to scikit-learn (n_components=4 with method='barnes_hut'" in text
    assert "fallback to scikit-learn (init of dtype int64" in text
    assert "TSNE.fit: running accelerated version on CPU" in text
    # A fallback gives scikit-learn's result.
    ours = TSNE(metric="cosine", **params).fit(X)
    ref = sk.TSNE(metric="cosine", **params).fit(X)
    assert_array_equal(ours.embedding_, ref.embedding_)


# --- persistence ------------------------------------------------------------


def _persisted(model, tmp_path):
    oxlearn.save(model, tmp_path / "t.oxl")
    return [
        pickle.loads(pickle.dumps(model)),
        oxlearn.load(tmp_path / "t.oxl"),
        oxlearn.load(tmp_path / "t.oxl", mmap=True),
    ]


@pytest.mark.parametrize("method", ["barnes_hut", "exact"])
def test_persistence_round_trips(method, tmp_path):
    X = make_blobs(120, 6, random_state=0)[0]
    model = TSNE(method=method, perplexity=10, max_iter=300, random_state=0).fit(X)
    for other in _persisted(model, tmp_path):
        assert type(other) is TSNE
        assert other.get_params() == model.get_params()
        assert_array_equal(other.embedding_, model.embedding_)
        assert other.embedding_.dtype == model.embedding_.dtype
        assert other.kl_divergence_ == model.kl_divergence_
        assert other.n_iter_ == model.n_iter_
        assert other.learning_rate_ == model.learning_rate_
        assert other.n_features_in_ == 6
    plain = model.to_sklearn()
    assert type(plain) is sk.TSNE
    assert b"oxlearn" not in pickle.dumps(plain)
    assert_array_equal(plain.embedding_, model.embedding_)
    back = oxlearn.from_sklearn(sk.TSNE(perplexity=10, max_iter=300).fit(X))
    assert type(back) is TSNE and back.embedding_.shape == (120, 2)


def test_persistence_keeps_fallback_models(tmp_path):
    X = make_blobs(60, 4, random_state=0)[0]
    model = TSNE(metric="cosine", perplexity=5, max_iter=260, random_state=0).fit(X)
    for other in _persisted(model, tmp_path):
        assert_array_equal(other.embedding_, model.embedding_)


def test_patched():
    oxlearn.patch_sklearn("TSNE")
    try:
        from sklearn.manifold import TSNE as Patched

        assert Patched is TSNE
        assert sk_t_sne.TSNE is TSNE
        X = make_blobs(40, 3, random_state=0)[0]
        assert isinstance(Patched(perplexity=5, max_iter=260).fit(X), TSNE)
    finally:
        oxlearn.unpatch_sklearn()
    assert sk.TSNE is not TSNE
