"""LocalOutlierFactor: conformance, agreement with scikit-learn (outlier
factors, labels, novelty scores), fallbacks, determinism and persistence."""

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
    make_blobs,
)
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import oxlearn
from oxlearn.neighbors import LocalOutlierFactor, NearestNeighbors

ESTIMATORS = [
    LocalOutlierFactor(),
    LocalOutlierFactor(n_neighbors=5, contamination=0.1, algorithm="brute"),
    LocalOutlierFactor(novelty=True),
    LocalOutlierFactor(n_neighbors=7, novelty=True, metric="manhattan", algorithm="kd_tree"),
    LocalOutlierFactor(metric="minkowski", p=3, n_jobs=2),
]


def expected_failed_checks(estimator):
    """Checks expected to fail, with the reason (stock scikit-learn fails
    them identically): sparse input runs scikit-learn's implementation,
    whose sparse brute force rejects these metrics (minkowski with p=3) or
    int64 sparse indices (manhattan)."""
    if estimator.metric == "minkowski" and estimator.p not in (1, 2):
        return {"check_estimator_sparse_tag": "scikit-learn's sparse brute force rejects "
                f"metric='minkowski' (p={estimator.p}); stock fails identically"}
    if estimator.metric == "manhattan":
        why = ("scikit-learn's sparse manhattan distance rejects int64 indices "
               "(Buffer dtype mismatch); stock fails identically")
        return {"check_estimator_sparse_array": why, "check_estimator_sparse_matrix": why}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _datasets():
    """Real and synthetic data. iris has duplicated rows: a jitter far below
    its 0.1 resolution separates them, so that neighbourhoods are not tied
    (scikit-learn's tree breaks ties in traversal order, oxlearn by index:
    with ties the factors differ, see test_duplicates_and_ties)."""
    out = []
    rng = np.random.default_rng(0)
    for loader in (load_iris, load_wine, load_breast_cancer, load_digits, load_diabetes):
        X, _ = loader(return_X_y=True)
        if loader is load_iris:
            X = X + 1e-6 * rng.standard_normal(X.shape)
        out.append((loader.__name__, StandardScaler().fit_transform(X)))
    X, _ = make_blobs(2000, 10, random_state=0)
    out.append(("blobs", X))
    return out


@pytest.mark.parametrize("name,X", _datasets(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("params", [
    {"n_neighbors": 20},
    {"n_neighbors": 5, "contamination": 0.05, "algorithm": "brute"},
    {"n_neighbors": 10, "metric": "manhattan"},
    {"n_neighbors": 8, "metric": "minkowski", "p": 3, "algorithm": "kd_tree"},
])
def test_outlier_factors_match_scikit_learn(name, X, params):
    ours = LocalOutlierFactor(**params)
    ref = sk.LocalOutlierFactor(**params)
    labels_o, labels_r = ours.fit_predict(X), ref.fit_predict(X)
    assert_allclose(ours.negative_outlier_factor_, ref.negative_outlier_factor_, rtol=1e-10)
    assert_allclose(ours._lrd, ref._lrd, rtol=1e-10)
    assert_allclose(ours.offset_, ref.offset_, rtol=1e-10)
    assert ours.n_neighbors_ == ref.n_neighbors_
    assert_array_equal(labels_o, labels_r)
    # Novelty: scores of new points (and of training points, now their own neighbour).
    params = {**params, "novelty": True}
    ours = LocalOutlierFactor(**params).fit(X)
    ref = sk.LocalOutlierFactor(**params).fit(X)
    Q = np.vstack([X[::5] + 0.05, X[:7] * 3.0])
    assert_allclose(ours.score_samples(Q), ref.score_samples(Q), rtol=1e-10)
    assert_allclose(ours.decision_function(Q), ref.decision_function(Q), rtol=1e-9, atol=1e-12)
    assert_array_equal(ours.predict(Q), ref.predict(Q))
    assert_allclose(ours.score_samples(X[:50]), ref.score_samples(X[:50]), rtol=1e-10)


def _lof_reference(X, k):
    """LOF by its definition (scikit-learn's formulas) on the neighbours of
    oxlearn's NearestNeighbors, whose ties go to the smaller index."""
    d, i = NearestNeighbors(n_neighbors=k).fit(X).kneighbors()
    reach = np.maximum(d, d[i, k - 1])
    lrd = 1.0 / (np.mean(reach, axis=1) + 1e-10)
    return -np.mean(lrd[i] / lrd[:, None], axis=1)


def test_duplicates_and_ties():
    """Duplicated points and integer data: the factors are those of the
    neighbours with ties broken by index (scikit-learn's tree breaks them
    in its traversal order, so with ties its factors may differ); with
    duplicates, scikit-learn's warning."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, (300, 3)).astype(float)
    X = np.vstack([X, X[:40]])
    ours = LocalOutlierFactor(n_neighbors=6)
    with pytest.warns(UserWarning, match="Duplicate values"):
        ours.fit(X)
    assert_array_equal(ours.negative_outlier_factor_, _lof_reference(X, 6))
    X, _ = load_iris(return_X_y=True)  # exact duplicated rows
    ours = LocalOutlierFactor(n_neighbors=10).fit(X)
    assert_array_equal(ours.negative_outlier_factor_, _lof_reference(X, 10))
    ref = sk.LocalOutlierFactor(n_neighbors=10).fit(X)
    assert np.mean(np.isclose(ours.negative_outlier_factor_, ref.negative_outlier_factor_,
                              rtol=1e-10)) > 0.8


def test_float32():
    X, _ = make_blobs(800, 6, random_state=2)
    X32 = X.astype(np.float32)
    ours = LocalOutlierFactor(novelty=True).fit(X32)
    ref = sk.LocalOutlierFactor(novelty=True).fit(X32)
    assert ours.negative_outlier_factor_.dtype == np.float32
    assert ours._distances_fit_X_.dtype == ref._distances_fit_X_.dtype == np.float32
    assert_allclose(ours.negative_outlier_factor_, ref.negative_outlier_factor_, rtol=1e-5)
    assert_allclose(ours.score_samples(X32[:100] + 0.1), ref.score_samples(X32[:100] + 0.1),
                    rtol=1e-5)


def test_errors_and_fallbacks(caplog):
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(AttributeError, match="predict"):
        LocalOutlierFactor().fit(X).predict(X)
    with pytest.raises(AttributeError, match="fit_predict"):
        LocalOutlierFactor(novelty=True).fit_predict(X)
    est = LocalOutlierFactor(novelty=True).fit(X)
    with pytest.raises(ValueError, match="features"):
        est.score_samples(X[:, :2])
    bad = X[:3].copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.score_samples(bad)
    with pytest.warns(UserWarning, match="n_neighbors will be set"):
        small = LocalOutlierFactor(n_neighbors=50).fit(X[:20])
    assert small.n_neighbors_ == 19
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        for kw, data in (({"metric": "cosine"}, X), ({}, sparse.csr_matrix(X)),
                         ({"metric_params": {"p": 3}}, X)):
            if "metric_params" in kw:
                with pytest.warns(SyntaxWarning):
                    m = LocalOutlierFactor(**kw).fit(data)
                    r = sk.LocalOutlierFactor(**kw).fit(data)
            else:
                m = LocalOutlierFactor(**kw).fit(data)
                r = sk.LocalOutlierFactor(**kw).fit(data)
            assert_allclose(m.negative_outlier_factor_, r.negative_outlier_factor_)
            back = pickle.loads(pickle.dumps(m))
            assert_array_equal(back.negative_outlier_factor_, m.negative_outlier_factor_)
    assert "fallback to scikit-learn" in caplog.text


def test_thread_count_independent_and_persistence(tmp_path):
    X, _ = make_blobs(3000, 8, random_state=3)
    a = LocalOutlierFactor(15, novelty=True, n_jobs=1).fit(X)
    b = LocalOutlierFactor(15, novelty=True, n_jobs=3).fit(X)
    assert_array_equal(a.negative_outlier_factor_, b.negative_outlier_factor_)
    Q = X[:300] + 0.2
    assert_array_equal(a.score_samples(Q), b.score_samples(Q))
    back = pickle.loads(pickle.dumps(a))
    assert_array_equal(back.score_samples(Q), a.score_samples(Q))
    path = tmp_path / "lof.oxl"
    oxlearn.save(a, path)
    mapped = oxlearn.load(path, mmap=True)
    assert_array_equal(mapped.score_samples(Q), a.score_samples(Q))
    assert_array_equal(mapped.predict(Q), a.predict(Q))
    stock = a.to_sklearn()
    assert type(stock) is sk.LocalOutlierFactor
    # The same model; novelty scores differ only by the summation order of
    # the means (numpy's pairwise sum against oxlearn's sequential one).
    assert_allclose(stock.score_samples(Q), a.score_samples(Q), rtol=1e-14)
    assert_array_equal(stock.predict(Q), a.predict(Q))
    again = oxlearn.from_sklearn(sk.LocalOutlierFactor(15, novelty=True).fit(X))
    assert type(again) is LocalOutlierFactor
    assert_allclose(again.score_samples(Q), a.score_samples(Q), rtol=1e-10)


def test_patched_sklearn_uses_oxlearn():
    X, _ = load_wine(return_X_y=True)
    oxlearn.patch_sklearn()
    try:
        from sklearn.neighbors import LocalOutlierFactor as Patched
        assert Patched is LocalOutlierFactor
    finally:
        oxlearn.unpatch_sklearn()
    from sklearn.neighbors import LocalOutlierFactor as Stock
    assert Stock is sk.LocalOutlierFactor
    assert_array_equal(Patched(10).fit_predict(X), Stock(10).fit_predict(X))


def _forged_lof(arrays=None, **attrs):
    """The state of a fitted LOF with arrays and attrs replaced and the
    checksum recomputed, as a deliberate forger would."""
    import json

    from oxlearn import _core

    state = LocalOutlierFactor(5).fit(make_blobs(40, 3, random_state=0)[0]).__getstate__()
    header = json.loads(state["__oxlearn__"])
    for name, value in (arrays or {}).items():
        state["arrays"][name] = value
        for entry in header["arrays"]:
            if entry["name"] == name:
                entry["shape"] = list(value.shape)
    header["attrs"].update(attrs)
    for entry in header["arrays"]:
        entry["xxh3"] = _core.digest(state["arrays"][entry["name"]])
    header["checksum"] = ""
    header["checksum"] = _core.checksum(json.dumps(header, separators=(",", ":")))
    state["__oxlearn__"] = json.dumps(header, separators=(",", ":"))
    est = LocalOutlierFactor.__new__(LocalOutlierFactor)
    return lambda: est.__setstate__(state)


@pytest.mark.parametrize("arrays, attrs, match", [
    ({"_lrd": np.ones(39)}, {}, "_lrd"),
    ({"_distances_fit_X_": np.ones((40, 4))}, {}, "_distances_fit_X_"),
    ({"negative_outlier_factor_": np.ones(40, dtype=np.float32)}, {}, "negative_outlier"),
    ({}, {"n_neighbors_": 40}, "n_neighbors_"),
    ({}, {"n_neighbors_": 0}, "n_neighbors_"),
    ({}, {"offset_": "x"}, "offset_"),
    ({}, {"n_samples_fit_": 39}, "n_samples_fit_"),
])
def test_forged_files_are_refused(arrays, attrs, match):
    from oxlearn.exceptions import ModelFileCorruptError

    with pytest.raises(ModelFileCorruptError, match=match):
        _forged_lof(arrays, **attrs)()
