"""GPU fitting (``target_offload="gpu"``).

Tests marked ``gpu`` need an NVIDIA GPU and skip (with the probe's reason)
without one; the others check the policy without a GPU: the error, the
logged fallback, and that configuration never travels with a model.
"""

import logging
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import datasets

import oxlearn
from oxlearn import _gpu
from oxlearn.basic_statistics import BasicStatistics
from oxlearn.cluster import KMeans
from oxlearn.decomposition import PCA
from oxlearn.exceptions import GpuUnavailableError
from oxlearn.linear_model import LinearRegression, LogisticRegression, Ridge
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors


def _probe():
    try:
        return _gpu.gpu_info(0), None
    except GpuUnavailableError as e:
        return None, str(e)


INFO, REASON = _probe()
HAVE_GPU = INFO is not None


def needs_gpu(f):
    return pytest.mark.gpu(pytest.mark.skipif(not HAVE_GPU, reason=f"{REASON}")(f))


def no_gpu_only(f):
    return pytest.mark.skipif(HAVE_GPU, reason="a GPU is present")(f)


# --- data -----------------------------------------------------------------
def _regression(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 12)) + 50.0
    y = X @ rng.normal(size=12) + rng.normal(size=3000)
    return X.astype(dtype), y.astype(dtype)


def _diabetes(dtype):
    X, y = datasets.load_diabetes(return_X_y=True)
    return X.astype(dtype), y.astype(dtype)


def _blobs(dtype):
    X, y = datasets.make_blobs(n_samples=4000, n_features=8, centers=6, cluster_std=0.5,
                               random_state=0)
    return X.astype(dtype), y


def _iris(dtype):
    X, y = datasets.load_iris(return_X_y=True)
    return X.astype(dtype), y


def _digits(dtype):
    X, y = datasets.load_digits(return_X_y=True)
    return X.astype(dtype), y


REGRESSION = {"synthetic": _regression, "diabetes": _diabetes}
TABLES = {"blobs": _blobs, "iris": _iris, "digits": _digits}


def _weights(n, use):
    if not use:
        return None
    return np.random.default_rng(1).uniform(0.1, 2.0, size=n)


def _fit(make, X, y=None, sample_weight=None, offload="cpu", **kw):
    with oxlearn.config_context(target_offload=offload):
        est = make()
        if sample_weight is None:
            return est.fit(X, y, **kw)
        return est.fit(X, y, sample_weight=sample_weight.astype(X.dtype), **kw)


def _close(a, b, dtype):
    """float64: 1e-9 relative; float32 attributes also carry their own rounding."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    rtol = 1e-9 if dtype == np.float64 else 4e-7
    scale = max(np.max(np.abs(b)) if b.size else 0.0, 1e-300)
    assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


# --- GPU vs CPU -------------------------------------------------------------
LINEAR = {
    "LinearRegression": lambda: LinearRegression(),
    "LinearRegression-nointercept": lambda: LinearRegression(fit_intercept=False),
    "Ridge": lambda: Ridge(alpha=1.0),
}


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("data", sorted(REGRESSION))
@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_gpu_matches_cpu(name, data, weighted, dtype):
    X, y = REGRESSION[data](dtype)
    sw = _weights(len(X), weighted)
    cpu = _fit(LINEAR[name], X, y, sw, "cpu")
    gpu = _fit(LINEAR[name], X, y, sw, "gpu")
    _close(gpu.coef_, cpu.coef_, dtype)
    _close(gpu.intercept_, cpu.intercept_, dtype)
    assert isinstance(gpu.coef_, np.ndarray) and gpu.coef_.dtype == cpu.coef_.dtype


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
@pytest.mark.parametrize("data", ["iris", "digits", "blobs"])
def test_pca_gpu_matches_cpu(data, solver, dtype):
    X, _ = TABLES[data](dtype)
    make = lambda: PCA(n_components=3, svd_solver=solver)  # noqa: E731
    cpu, gpu = _fit(make, X), _fit(make, X, offload="gpu")
    for attr in ("mean_", "components_", "explained_variance_", "singular_values_"):
        _close(getattr(gpu, attr), getattr(cpu, attr), dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("data", ["iris", "digits", "blobs"])
def test_basic_statistics_gpu_matches_cpu(data, weighted, dtype):
    X, _ = TABLES[data](dtype)
    sw = _weights(len(X), weighted)
    cpu, gpu = _fit(BasicStatistics, X, None, sw), _fit(BasicStatistics, X, None, sw, "gpu")
    for attr in ("min_", "max_", "sum_", "mean_", "variance_", "sum_squares_",
                 "sum_squares_centered_", "standard_deviation_"):
        if hasattr(cpu, attr):
            _close(getattr(gpu, attr), getattr(cpu, attr), dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("data,k", [("blobs", 6), ("iris", 3)])
def test_kmeans_gpu_matches_cpu(data, k, weighted, dtype):
    X, _ = TABLES[data](dtype)
    sw = _weights(len(X), weighted)
    make = lambda: KMeans(n_clusters=k, n_init=2, random_state=0)  # noqa: E731
    cpu, gpu = _fit(make, X, None, sw), _fit(make, X, None, sw, "gpu")
    assert_array_equal(gpu.labels_, cpu.labels_)
    assert gpu.n_iter_ == cpu.n_iter_
    _close(gpu.cluster_centers_, cpu.cluster_centers_, dtype)
    _close(gpu.inertia_, cpu.inertia_, dtype)


KNN = {
    "NearestNeighbors": lambda: NearestNeighbors(n_neighbors=7),
    "KNeighborsClassifier": lambda: KNeighborsClassifier(n_neighbors=7, algorithm="brute"),
    "KNeighborsRegressor": lambda: KNeighborsRegressor(n_neighbors=7),
}


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("data", ["iris", "digits", "blobs"])
@pytest.mark.parametrize("name", sorted(KNN))
def test_kneighbors_gpu_matches_cpu(name, data, dtype):
    # digits are small integers: many exact ties, broken to the smaller index.
    X, y = TABLES[data](dtype)
    est = KNN[name]().fit(X, y)
    Q = X[::3] + dtype(0.25)
    with oxlearn.config_context(target_offload="cpu"):
        d_cpu, i_cpu = est.kneighbors(Q)
        self_cpu = est.kneighbors()
    with oxlearn.config_context(target_offload="gpu"):
        d_gpu, i_gpu = est.kneighbors(Q)
        self_gpu = est.kneighbors()
    assert_array_equal(i_gpu, i_cpu)
    assert_array_equal(d_gpu, d_cpu)
    assert_array_equal(self_gpu[1], self_cpu[1])


# Uploads of 2**17 values or more go through the pinned staging buffers of
# 2**22 values: these are big enough for three chunks, the last partial.
STAGED_ROWS = 2 * (2**22 // 3) + 1001


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_staged_uploads_give_the_cpu_fit(dtype):
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(STAGED_ROWS, 3)) + 20.0).astype(dtype)
    y = (X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=STAGED_ROWS)).astype(dtype)
    for make in (LinearRegression, BasicStatistics):
        cpu = _fit(make, X, y if make is LinearRegression else None)
        gpu = _fit(make, X, y if make is LinearRegression else None, offload="gpu")
        for attr in ("coef_", "intercept_", "mean_", "variance_", "min_", "max_"):
            if hasattr(cpu, attr):
                _close(getattr(gpu, attr), getattr(cpu, attr), dtype)


@needs_gpu
def test_staged_upload_names_the_first_non_finite_value():
    X = np.ones((STAGED_ROWS, 3))
    X[2 * (2**22 // 3) + 7, 0] = np.nan  # third chunk
    X[(2**22 // 3) + 5, 2] = np.inf  # second chunk: the first one
    y = np.ones(STAGED_ROWS)
    errors = []
    for offload in ("cpu", "gpu"):
        with pytest.raises(ValueError) as e:
            _fit(LinearRegression, X, y, offload=offload)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert f"row {(2**22 // 3) + 5}, column 2" in errors[1]


@needs_gpu
@pytest.mark.parametrize("k", [1, 112])
@pytest.mark.parametrize("grid", [False, True])
def test_kneighbors_gpu_matches_cpu_on_many_points(k, grid):
    # 30000 points: many radix passes over each query's products; integer
    # grid points tie in distance (the smaller index wins, or the CPU
    # answers); k = 112 keeps 128 candidates, the kernel's limit.
    rng = np.random.default_rng(4)
    if grid:
        X = rng.integers(0, 6, size=(30000, 5)).astype(np.float64)
    else:
        X = rng.normal(size=(30000, 5))
    Q = X[::37] + 0.25
    est = NearestNeighbors(n_neighbors=k).fit(X)
    with oxlearn.config_context(target_offload="cpu"):
        d_cpu, i_cpu = est.kneighbors(Q)
    with oxlearn.config_context(target_offload="gpu"):
        d_gpu, i_gpu = est.kneighbors(Q)
    assert_array_equal(i_gpu, i_cpu)
    assert_array_equal(d_gpu, d_cpu)


@needs_gpu
def test_row_blocks_give_the_same_fit(monkeypatch):
    X, y = _regression(np.float64)
    whole = _fit(LinearRegression, X, y, offload="gpu")
    monkeypatch.setenv("OXLEARN_GPU_BLOCK_BYTES", str(64 * 1024))
    blocked = _fit(LinearRegression, X, y, offload="gpu")
    _close(blocked.coef_, whole.coef_, np.float64)
    km = lambda: KMeans(n_clusters=6, n_init=1, random_state=0)  # noqa: E731
    Xb, _ = _blobs(np.float64)
    assert_array_equal(_fit(km, Xb, offload="gpu").labels_, _fit(km, Xb).labels_)


@needs_gpu
def test_gpu_fitted_model_is_a_host_model(tmp_path, caplog):
    X, y = _regression(np.float64)
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        est = _fit(LinearRegression, X, y, offload="gpu")
    assert "LinearRegression.fit: running accelerated version on GPU" in caplog.text
    expected = est.predict(X)
    again = pickle.loads(pickle.dumps(est))
    assert_array_equal(again.predict(X), expected)
    path = tmp_path / "m.oxl"
    oxlearn.save(est, path)
    loaded = oxlearn.load(path)
    assert_array_equal(loaded.predict(X), expected)
    assert "target_offload" not in pickle.dumps(est).decode("latin-1")
    # predict under target_offload="gpu" runs on the host, same numbers.
    with oxlearn.config_context(target_offload="gpu"):
        assert_array_equal(loaded.predict(X), expected)


@needs_gpu
def test_unsupported_parameter_names_it():
    X, y = _iris(np.float64)
    est = NearestNeighbors(n_neighbors=3, metric="manhattan").fit(X)
    with oxlearn.config_context(target_offload="gpu"):
        with pytest.raises(GpuUnavailableError, match="no GPU path for metric='manhattan'"):
            est.kneighbors(X)
    with oxlearn.config_context(target_offload="gpu", allow_fallback_to_host=True):
        assert_array_equal(est.kneighbors(X)[1], NearestNeighbors(
            n_neighbors=3, metric="manhattan").fit(X).kneighbors(X)[1])


@needs_gpu
def test_probe_describes_the_device():
    assert INFO["name"]
    assert INFO["total_memory"] > 0
    assert INFO["compute_capability"][0] >= 5
    assert INFO["driver_cuda_version"] >= 12000


# --- without a GPU ----------------------------------------------------------
@no_gpu_only
def test_no_gpu_error_says_why_and_what_to_do():
    X, y = _diabetes(np.float64)
    with oxlearn.config_context(target_offload="gpu"):
        with pytest.raises(GpuUnavailableError) as e:
            LinearRegression().fit(X, y)
    msg = str(e.value)
    assert msg.startswith("LinearRegression.fit: target_offload='gpu': no usable GPU:")
    assert "allow_fallback_to_host=True" in msg and "target_offload='cpu'" in msg
    assert isinstance(e.value, RuntimeError)


FALLBACK = [
    ("LinearRegression", LinearRegression, _diabetes, ("coef_", "intercept_")),
    ("Ridge", Ridge, _diabetes, ("coef_", "intercept_")),
    ("PCA", lambda: PCA(n_components=2), _iris, ("components_", "explained_variance_")),
    ("KMeans", lambda: KMeans(3, n_init=1, random_state=0), _iris,
     ("cluster_centers_", "labels_")),
    ("BasicStatistics", BasicStatistics, _iris, ("mean_", "variance_")),
]


@no_gpu_only
@pytest.mark.parametrize("offload", ["gpu", "gpu:0", "cuda", "cuda:1"])
@pytest.mark.parametrize("name,make,data,attrs", FALLBACK, ids=[f[0] for f in FALLBACK])
def test_fallback_to_host_is_logged_and_equals_the_cpu_fit(name, make, data, attrs, offload,
                                                          caplog):
    X, y = data(np.float64)
    y = None if name in ("PCA", "KMeans", "BasicStatistics") else y
    cpu = _fit(make, X, y)
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        with oxlearn.config_context(target_offload=offload, allow_fallback_to_host=True):
            host = make().fit(X, y)
    assert f"{name}.fit: running on host (allow_fallback_to_host): no usable GPU" in caplog.text
    assert f"{name}.fit: running accelerated version on CPU" in caplog.text
    for attr in attrs:
        assert_array_equal(getattr(host, attr), getattr(cpu, attr))


@no_gpu_only
def test_kneighbors_fallback():
    X, _ = _digits(np.float64)
    est = NearestNeighbors(n_neighbors=4).fit(X)
    with oxlearn.config_context(target_offload="gpu"):
        with pytest.raises(GpuUnavailableError, match="NearestNeighbors.kneighbors"):
            est.kneighbors(X[:5])
    with oxlearn.config_context(target_offload="gpu", allow_fallback_to_host=True):
        got = est.kneighbors(X[:5])
    want = est.kneighbors(X[:5])
    assert_array_equal(got[1], want[1])


def test_estimator_without_gpu_path_raises_not_implemented():
    X, y = _iris(np.float64)
    with oxlearn.config_context(target_offload="gpu"):
        with pytest.raises(NotImplementedError, match="LogisticRegression.fit: GPU offload"):
            LogisticRegression(max_iter=200).fit(X, y)
    with oxlearn.config_context(target_offload="gpu", allow_fallback_to_host=True):
        LogisticRegression(max_iter=200).fit(X, y)


def test_predict_of_a_gpu_capable_estimator_runs_on_host():
    X, y = _diabetes(np.float64)
    est = LinearRegression().fit(X, y)
    expected = est.predict(X)
    with oxlearn.config_context(target_offload="cuda:3"):
        assert_array_equal(est.predict(X), expected)


def test_offload_values():
    for v in ("gpu", "gpu:2", "cuda", "cuda:0", "cpu", "auto"):
        with oxlearn.config_context(target_offload=v):
            assert oxlearn.get_config()["target_offload"] == v
    for v in ("gpu:", "cuda:x", "tpu", "GPU"):
        with pytest.raises(ValueError, match="target_offload"):
            oxlearn.set_config(target_offload=v)
    with oxlearn.config_context(target_offload="cuda:2"):
        assert _gpu.requested() == 2
    with oxlearn.config_context(target_offload="cpu"):
        assert _gpu.requested() is None


def test_config_is_never_saved_with_the_model(tmp_path):
    X, y = _diabetes(np.float64)
    with oxlearn.config_context(target_offload="gpu", allow_fallback_to_host=True):
        est = LinearRegression().fit(X, y)
        blob = pickle.dumps(est)
        oxlearn.save(est, tmp_path / "m.oxl")
    for raw in (blob, (tmp_path / "m.oxl").read_bytes()):
        assert b"target_offload" not in raw and b"allow_fallback" not in raw
    assert oxlearn.get_config()["target_offload"] == "auto"
    assert_array_equal(oxlearn.load(tmp_path / "m.oxl").predict(X), est.predict(X))


def test_spmd_estimators_have_no_gpu_path():
    pytest.importorskip("mpi4py")
    from oxlearn import spmd

    for cls in (spmd.LinearRegression, spmd.Ridge, spmd.PCA, spmd.KMeans,
                spmd.BasicStatistics, spmd.NearestNeighbors):
        assert cls._oxlearn_gpu_methods == ()
