"""PCA and IncrementalPCA: conformance, agreement with scikit-learn,
determinism, fallbacks and persistence."""

import logging
import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import decomposition as sk
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn import _core
from oxlearn.decomposition import PCA, IncrementalPCA


def _expected_failed_checks(estimator):
    if type(estimator) is not PCA:
        return {}
    keeps_all = PCA().get_params() | {"svd_solver": estimator.svd_solver}
    if estimator.get_params() == keeps_all and estimator.svd_solver in ("auto",
                                                                         "covariance_eigh"):
        # The check scores a PCA keeping all 10 components of rank-8 data
        # (make_classification's redundant features): score() inverts a
        # model covariance with two ~1e-32 eigenvalues, and whether
        # scipy.linalg.inv reports it singular or only warns depends on the
        # last rounding bit (scikit-learn's own PCA only warns, by chance).
        # 'auto' is covariance_eigh here; which of the two configurations
        # raises depends on the machine (on an AVX-512 Xeon both do, on a
        # Zen 1 EPYC only 'auto').
        return {"check_array_api_input": "scipy.linalg.inv of a numerically singular "
                                         "covariance: raises or warns by rounding"}
    return {}


@parametrize_with_checks([
    PCA(),
    PCA(n_components=2, whiten=True),
    PCA(svd_solver="covariance_eigh"),
    PCA(n_components=0.8, svd_solver="full"),
    IncrementalPCA(),
    IncrementalPCA(n_components=2, batch_size=11, whiten=True),
], expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _datasets():
    rng = np.random.default_rng(0)
    yield "iris", load_iris().data
    yield "wine", StandardScaler().fit_transform(load_wine().data)
    yield "breast_cancer", StandardScaler().fit_transform(load_breast_cancer().data)
    yield "digits", load_digits().data
    scales = np.linspace(1.0, 10.0, 8)
    yield "tall-offset", 1e4 + rng.standard_normal((20_000, 8)) * scales
    yield "wide", rng.standard_normal((30, 50)) * np.linspace(1, 5, 50)


def _aligned(ours, ref, k):
    """Components agree up to the numerics of their eigengap."""
    ev = ref.explained_variance_
    gaps = np.abs(np.diff(np.r_[np.inf, ev[:k + 1], 0.0]))
    for i in range(k):
        gap = min(gaps[i], gaps[i + 1]) / ev[0]
        if gap > 1e-6:  # a well-separated component is determined to ~eps/gap
            assert_allclose(ours.components_[i], ref.components_[i], atol=1e-9 / gap,
                            err_msg=f"component {i}")


DATA = [pytest.param(n, X, id=n) for n, X in _datasets()]


@pytest.mark.parametrize("name, X", DATA)
@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "auto"])
@pytest.mark.parametrize("n_components", [None, 3, 0.9, "mle"])
@pytest.mark.parametrize("whiten", [False, True])
def test_matches_sklearn(name, X, solver, n_components, whiten):
    if n_components == "mle" and X.shape[0] < X.shape[1]:
        with pytest.raises(ValueError, match="mle"):
            PCA(n_components="mle", svd_solver=solver).fit(X)
        return
    params = dict(n_components=n_components, svd_solver=solver, whiten=whiten)
    if solver == "covariance_eigh" and name == "wide":
        params["svd_solver"] = "full"  # scikit-learn's eigh of a rank-deficient C is noise
    ours = PCA(**params).fit(X)
    assert ours.n_components_ == sk.PCA(**params).fit(X).n_components_
    # The reference spectrum is scikit-learn's exact SVD: its covariance_eigh
    # forms XᵀX - n·mean·meanᵀ from raw data, which loses digits on offset
    # data where oxlearn's merged centred moments do not.
    ref = sk.PCA(**{**params, "svd_solver": "full"}).fit(X)
    k = ours.n_components_
    top = ref.explained_variance_[0]
    for attr in ("explained_variance_", "singular_values_"):
        scale = np.abs(getattr(ref, attr)).max()
        # From an eigendecomposition, a zero variance comes out as ~eps·λmax,
        # so its singular value as ~sqrt(eps)·σmax (scikit-learn's too).
        eigh = ours._fit_svd_solver == "covariance_eigh" and attr == "singular_values_"
        assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=1e-9,
                        atol=(1e-7 if eigh else 1e-11) * scale, err_msg=attr)
    assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_,
                    atol=1e-11)
    assert_allclose(ours.mean_, ref.mean_, rtol=1e-12, atol=1e-12 * np.abs(X).max())
    assert_allclose(ours.noise_variance_, ref.noise_variance_, atol=1e-10 * top)
    assert ours.n_samples_ == ref.n_samples_ and ours.n_features_in_ == ref.n_features_in_
    _aligned(ours, ref, k)
    if whiten:
        return  # a tiny variance amplifies rounding without bound
    Xt = ours.transform(X)
    assert_allclose(np.abs(Xt[:, :3]), np.abs(ref.transform(X)[:, :3]),
                    atol=1e-8 * np.sqrt(top))
    assert_allclose(ours.fit_transform(X), Xt, rtol=1e-12, atol=1e-12 * np.sqrt(top))
    assert_allclose(ours.inverse_transform(Xt), ref.inverse_transform(ref.transform(X)),
                    atol=1e-7 * np.abs(X).max())
    if k < min(X.shape) and ref.noise_variance_ > 1e-8 * top:
        assert_allclose(ours.score(X), ref.score(X), rtol=1e-6)


def test_sign_convention_is_sklearns():
    X = load_iris().data
    ours = PCA().fit(X)
    rows = np.arange(ours.components_.shape[0])
    biggest = ours.components_[rows, np.argmax(np.abs(ours.components_), axis=1)]
    assert (biggest > 0).all()
    assert_allclose(ours.components_, sk.PCA().fit(X).components_, atol=1e-12)


def test_float32_stays_float32():
    X = load_digits().data.astype(np.float32)
    ours = PCA(n_components=5).fit(X)
    ref = sk.PCA(n_components=5).fit(X)
    for attr in ("components_", "explained_variance_", "mean_", "singular_values_"):
        assert getattr(ours, attr).dtype == np.float32
    assert np.asarray(ours.noise_variance_).dtype == np.float32
    assert ours.transform(X).dtype == np.float32
    assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-4)
    assert_allclose(np.abs(ours.transform(X)), np.abs(ref.transform(X)), atol=1e-3)


@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
def test_independent_of_thread_count(solver):
    X = np.random.default_rng(3).standard_normal((20_000, 12)) * np.arange(1, 13)
    runs = [_core.fit_pca(X, solver, 1000, n) for n in (1, 2, 3, 8)]
    for run in runs[1:]:
        for a, b in zip(run, runs[0], strict=True):
            assert_array_equal(a, b)


@pytest.mark.parametrize("params, reason", [
    ({"svd_solver": "randomized", "n_components": 2, "random_state": 0},
     "svd_solver='randomized'"),
    ({"svd_solver": "arpack", "n_components": 2, "random_state": 0}, "svd_solver='arpack'"),
    ({"n_components": 5, "random_state": 0}, "svd_solver='randomized'"),  # 'auto' picks it
])
def test_fallbacks_are_logged_and_equal_sklearn(params, reason, caplog):
    X = np.random.default_rng(1).standard_normal((600, 700))
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        ours = PCA(**params).fit(X)
    assert f"fallback to scikit-learn ({reason})" in caplog.text
    ref = sk.PCA(**params).fit(X)
    assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-10)


def test_sparse_input_falls_back():
    X = sparse.random(200, 30, density=0.2, random_state=0, format="csr")
    ours = PCA(n_components=3, svd_solver="arpack", random_state=0).fit(X)
    ref = sk.PCA(n_components=3, svd_solver="arpack", random_state=0).fit(X)
    assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-8)
    assert_allclose(np.abs(ours.transform(X)), np.abs(ref.transform(X)), atol=1e-8)


def test_bad_input_is_refused():
    X = np.ones((10, 3))
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        PCA().fit(X)
    with pytest.raises(ValueError, match="n_components=5 must be between 0 and"):
        PCA(n_components=5, svd_solver="full").fit(np.ones((4, 3)))
    model = PCA(n_components=2).fit(load_iris().data)
    with pytest.raises(ValueError, match="4 features"):
        model.transform(np.ones((3, 5)))


# --- IncrementalPCA ----------------------------------------------------------


@pytest.mark.parametrize("name, X", DATA[:5])
@pytest.mark.parametrize("n_components", [None, 2])
@pytest.mark.parametrize("batch_size", [None, 37])
def test_incremental_matches_sklearn(name, X, n_components, batch_size):
    ours = IncrementalPCA(n_components=n_components, batch_size=batch_size).fit(X)
    ref = sk.IncrementalPCA(n_components=n_components, batch_size=batch_size).fit(X)
    top = ref.explained_variance_[0]
    for attr in ("explained_variance_", "singular_values_", "mean_", "var_"):
        want = getattr(ref, attr)
        scale = np.abs(X).max() if attr == "mean_" else np.abs(want).max()
        assert_allclose(getattr(ours, attr), want, rtol=1e-8, atol=1e-12 * scale, err_msg=attr)
    assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, atol=1e-10)
    assert_allclose(ours.noise_variance_, ref.noise_variance_, rtol=1e-8, atol=1e-10 * top)
    assert ours.n_samples_seen_ == ref.n_samples_seen_ and ours.batch_size_ == ref.batch_size_
    _aligned(ours, ref, ours.n_components_)
    assert_allclose(np.abs(ours.transform(X)[:, :2]), np.abs(ref.transform(X)[:, :2]),
                    atol=1e-7 * np.sqrt(top))


def test_incremental_partial_fit_and_errors():
    X = load_wine().data
    ours, ref = IncrementalPCA(n_components=3), sk.IncrementalPCA(n_components=3)
    for start in range(0, len(X), 50):
        ours.partial_fit(X[start:start + 50])
        ref.partial_fit(X[start:start + 50])
    assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-8)
    with pytest.raises(ValueError, match="must be less or equal to the batch number"):
        IncrementalPCA(n_components=5).partial_fit(X[:3])
    with pytest.raises(ValueError, match="invalid for n_features=13"):
        IncrementalPCA(n_components=20).fit(X)
    with pytest.raises(ValueError, match="13 features"):
        ours.partial_fit(X[:10, :5])


# --- persistence -------------------------------------------------------------


@pytest.mark.parametrize("est", [PCA(n_components=3), PCA(whiten=True), PCA(n_components=0.95),
                                 IncrementalPCA(n_components=2, batch_size=40)], ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_persistence(est, dtype, tmp_path):
    X = load_wine().data.astype(dtype)
    model = est.fit(X)
    expected = model.transform(X)
    joblib.dump(model, tmp_path / "m.joblib")
    oxlearn.save(model, tmp_path / "m.oxl")
    loaded = [pickle.loads(pickle.dumps(model)), joblib.load(tmp_path / "m.joblib"),
              joblib.load(tmp_path / "m.joblib", mmap_mode="r"),
              oxlearn.load(tmp_path / "m.oxl"), oxlearn.load(tmp_path / "m.oxl", mmap=True)]
    for other in loaded:
        assert type(other) is type(model)
        assert_array_equal(other.transform(X), expected)
        assert other.components_.dtype == dtype
        assert other.n_components_ == model.n_components_
    stock = model.to_sklearn()
    assert type(stock) is model._sklearn_counterpart()
    assert b"oxlearn" not in pickle.dumps(stock)
    assert_allclose(stock.transform(X), expected, rtol=1e-5 if dtype == np.float32 else 1e-10,
                    atol=1e-4 if dtype == np.float32 else 1e-9)
    assert len(pickle.dumps(model)) <= 1.1 * len(pickle.dumps(stock)) + 4096


def test_from_sklearn_transforms_the_same():
    X = load_digits().data
    ref = sk.PCA(n_components=10).fit(X)
    ours = oxlearn.from_sklearn(ref)
    assert type(ours) is PCA
    assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-10, atol=1e-9)


def test_patched():
    oxlearn.patch_sklearn(["PCA", "IncrementalPCA"])
    try:
        from sklearn.decomposition import PCA as Patched
        from sklearn.decomposition import IncrementalPCA as PatchedIncremental

        assert Patched is PCA and PatchedIncremental is IncrementalPCA
    finally:
        oxlearn.unpatch_sklearn()
