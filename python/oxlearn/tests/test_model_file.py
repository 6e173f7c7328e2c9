"""The native model file: oxlearn.save / oxlearn.load, the oxlearn binary,
golden files of every format version, and conversion to/from scikit-learn."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import linear_model as sk
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_blobs, make_classification, make_regression

import oxlearn
from oxlearn import _core
from oxlearn.cluster import DBSCAN, KMeans
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from oxlearn.exceptions import IncompatibleModelError, ModelFileCorruptError
from oxlearn.linear_model import (
    ElasticNet,
    IncrementalLinearRegression,
    IncrementalRidge,
    Lasso,
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
from oxlearn.tests._golden import output as golden_output
from oxlearn.tests._kinds import with_every_kind

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parents[3]

# The cases these checks are about, then an example of every other kind (_kinds).
ESTIMATORS = with_every_kind([
    LinearRegression(),
    LinearRegression(fit_intercept=False),
    Ridge(alpha=np.array([0.5, 2.0])),
    IncrementalLinearRegression(batch_size=64),
    IncrementalRidge(alpha=3.0),
    ElasticNet(alpha=0.5, l1_ratio=0.7),
    # Random selection stands for the multi-output case (see _fitted).
    ElasticNet(alpha=0.2, selection="random", random_state=0),
    Lasso(alpha=0.1, fit_intercept=False),
    Lasso(alpha=0.1, positive=True, precompute=True),
    DBSCAN(eps=1.5, min_samples=4),
    TSNE(perplexity=10, max_iter=260, random_state=0),
    LogisticRegression(),
    LogisticRegression(solver="newton-cg", fit_intercept=False),
    KMeans(n_clusters=3, n_init=2, random_state=0),
    KNeighborsClassifier(),
    KNeighborsClassifier(7, weights="distance", metric="manhattan", algorithm="brute"),
    KNeighborsRegressor(4, weights="distance"),
    KNeighborsRegressor(metric="minkowski", p=3, algorithm="kd_tree"),
    KNeighborsRegressor(2, metric="chebyshev"),
    LocalOutlierFactor(10),
    RandomForestClassifier(n_estimators=5, random_state=0),
    ExtraTreesClassifier(n_estimators=4, max_depth=5, random_state=0),
    RandomForestRegressor(n_estimators=5, min_samples_leaf=2, random_state=0),
    ExtraTreesRegressor(n_estimators=4, random_state=0),
    RandomForestClassifier(n_estimators=3, criterion="entropy", ccp_alpha=0.01,
                           random_state=0),  # fitted by scikit-learn (fallback)
])


def _fitted(est, dtype=np.float64):
    if is_classifier(est):
        X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
        return clone(est).fit(X.astype(dtype), y), X.astype(dtype)
    multi = (isinstance(est, Ridge) and np.ndim(est.alpha) == 1) or (
        isinstance(est, ElasticNet) and est.selection == "random")
    X, y = make_regression(300, 6, n_targets=2 if multi else 1, noise=1.0, random_state=0)
    return clone(est).fit(X.astype(dtype), y.astype(dtype)), X.astype(dtype)


def cli():
    """The oxlearn binary: $OXLEARN_CLI, else the newest cargo build."""
    path = os.environ.get("OXLEARN_CLI")
    if path:
        return path
    candidates = [ROOT / "target" / p / "oxlearn" for p in ("release", "debug")]
    found = [c for c in candidates if c.exists()]
    assert found, "build the binary first: cargo build -p oxlearn-cli (scripts/test.sh does)"
    return str(max(found, key=lambda c: c.stat().st_mtime))


@pytest.mark.parametrize("est", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_bit_identical(est, dtype, mmap, tmp_path):
    model, X = _fitted(est, dtype)
    oxlearn.save(model, tmp_path / "m.oxl")
    loaded = oxlearn.load(tmp_path / "m.oxl", mmap=mmap)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    assert_array_equal(golden_output(loaded, X), golden_output(model, X))
    attr = model._oxlearn_dtype_attr
    assert getattr(loaded, attr).dtype == getattr(model, attr).dtype
    assert_array_equal(getattr(loaded, attr), getattr(model, attr))
    if mmap:
        assert isinstance(getattr(loaded, attr), np.memmap)


def test_saving_is_deterministic_and_atomic(tmp_path):
    model, _ = _fitted(LinearRegression())
    oxlearn.save(model, tmp_path / "a.oxl")
    oxlearn.save(pickle.loads(pickle.dumps(model)), tmp_path / "b.oxl")
    assert (tmp_path / "a.oxl").read_bytes() == (tmp_path / "b.oxl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.oxl", "b.oxl"]


def test_unfitted_and_sklearn_models_save(tmp_path):
    oxlearn.save(Ridge(alpha=4.0), tmp_path / "u.oxl")
    assert repr(oxlearn.load(tmp_path / "u.oxl")) == "Ridge(alpha=4.0)"
    X, y = make_regression(100, 3, random_state=0)
    stock = sk.LinearRegression().fit(X, y)
    oxlearn.save(stock, tmp_path / "s.oxl")
    loaded = oxlearn.load(tmp_path / "s.oxl")
    assert isinstance(loaded, LinearRegression)
    assert_allclose(loaded.predict(X), stock.predict(X), rtol=1e-12)
    with pytest.raises(TypeError, match="cannot convert"):
        oxlearn.save(sk.Lars().fit(X, y), tmp_path / "l.oxl")


def test_every_flipped_byte_is_corrupt(tmp_path):
    model, _ = _fitted(LinearRegression())
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    original = path.read_bytes()
    bad_path = tmp_path / "bad.oxl"
    for pos in range(len(original)):
        bad = bytearray(original)
        bad[pos] ^= 1 << (pos % 8)
        bad_path.write_bytes(bytes(bad))
        with pytest.raises(ModelFileCorruptError):
            oxlearn.load(bad_path)
    for cut in (0, 7, 8, 100, len(original) - 1):
        bad_path.write_bytes(original[:cut])
        with pytest.raises(ModelFileCorruptError):
            oxlearn.load(bad_path)


def test_mmap_defers_array_verification_to_first_use(tmp_path):
    model, X = _fitted(LinearRegression())
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # inside the last array's bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileCorruptError):
        oxlearn.load(path)
    lazy = oxlearn.load(path, mmap=True)
    for _ in range(2):  # refused every time, never skipped
        with pytest.raises(ModelFileCorruptError, match="checksum mismatch in the array"):
            lazy.predict(X)
    with pytest.raises(ModelFileCorruptError):
        pickle.dumps(lazy)  # a damaged model is never re-sealed as a valid one


def _write_forged(path, header, arrays):
    """Write a file with any header, checksums recomputed (a forger's file)."""
    offset = 0
    for entry, (_, arr) in zip(header["arrays"], arrays, strict=True):
        entry["xxh3"] = _core.digest(arr)
        entry["offset"] = offset
        offset += -(-arr.nbytes // 64) * 64
    header["checksum"] = ""
    blank = json.dumps(header, separators=(",", ":"))
    header["checksum"] = _core.checksum(blank)
    _core.write_model_file(str(path), json.dumps(header, separators=(",", ":")), arrays)


def _header_and_arrays(tmp_path):
    model, _ = _fitted(LinearRegression())
    oxlearn.save(model, tmp_path / "m.oxl")
    header = json.loads(oxlearn.load.__globals__["_core"].open_model_file(
        np.fromfile(tmp_path / "m.oxl", np.uint8), oxlearn._persistence.runtime_versions(), False
    )[0])
    arrays = [(e["name"], np.asarray(getattr(model, e["name"]))) for e in header["arrays"]]
    return header, arrays


def test_forged_files_are_refused(tmp_path):
    header, arrays = _header_and_arrays(tmp_path)
    forged = tmp_path / "f.oxl"
    _write_forged(forged, dict(header, kind="builtins.eval"), arrays)
    with pytest.raises(IncompatibleModelError, match="unknown model kind"):
        oxlearn.load(forged)
    h = json.loads(json.dumps(header))
    h["n_features_in"] = 9
    _write_forged(forged, h, arrays)
    with pytest.raises(ModelFileCorruptError, match="coef_.*expected \\(9\\)"):
        oxlearn.load(forged)
    h = json.loads(json.dumps(header))
    h["attrs"]["rank_"] = 1000
    _write_forged(forged, h, arrays)
    with pytest.raises(ModelFileCorruptError, match="rank_"):
        oxlearn.load(forged)
    _write_forged(forged, dict(header, format_version="1.9"), arrays)
    with pytest.raises(IncompatibleModelError, match="newer"):
        oxlearn.load(forged)
    _write_forged(forged, dict(header, python_version="2.7.0"), arrays)
    with pytest.raises(IncompatibleModelError, match="Python major"):
        oxlearn.load(forged)


def test_config_is_not_saved_in_files(tmp_path):
    X, y = make_regression(100, 3, random_state=0)
    with oxlearn.config_context(strict_persistence=True, target_offload="cpu",
                                assume_finite=True):
        model = Ridge().fit(X, y)
        oxlearn.save(model, tmp_path / "m.oxl")
    header = (tmp_path / "m.oxl").read_bytes()[8:600]
    for key in (b"strict_persistence", b"target_offload", b"assume_finite"):
        assert key not in header
    code = (
        "import sys, numpy as np, oxlearn\n"
        "m = oxlearn.load(sys.argv[1]); np.save(sys.argv[3], m.predict(np.load(sys.argv[2])))\n"
    )
    np.save(tmp_path / "X.npy", X)
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.oxl"), str(tmp_path / "X.npy"),
                    str(tmp_path / "p.npy")], check=True)
    assert_array_equal(np.load(tmp_path / "p.npy"), model.predict(X))


# --- golden files: old files keep loading ----------------------------------


def _golden():
    for version in sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()):
        for f in sorted((GOLDEN / version).glob("*.oxl")):
            yield pytest.param(f, id=f"{version}/{f.stem}")


@pytest.mark.parametrize("path", list(_golden()))
def test_golden_files_load_and_predict_exactly(path, tmp_path):
    stem = str(path)[:-4]
    if not Path(stem + ".X.npy").exists():  # an unfitted model
        assert not hasattr(oxlearn.load(path), "coef_")
        return
    X, expected = np.load(stem + ".X.npy"), np.load(stem + ".pred.npy")
    if "-array-api-" in stem:
        # Saved from array-api-strict's device1: it comes back there, and
        # its host copy gives the recorded output.
        xp = pytest.importorskip("array_api_strict")
        restored = oxlearn.load(path)
        assert restored.coef_.device == xp.Device("device1")
    for mmap in (False, True, "copy-on-verify"):
        model = oxlearn.load(path, mmap=mmap, device="cpu")
        if hasattr(model, "mahalanobis"):
            # Covariance models have no oxlearn predict: mahalanobis is
            # scikit-learn's numpy code, whose LAPACK pseudo-inverse (for a
            # model saved without precision_) depends on the BLAS build. The
            # fitted arrays themselves are exact (checksummed).
            tol = 1e-4 if model.covariance_.dtype == np.float32 else 1e-10
            assert_allclose(golden_output(model, X), expected, rtol=tol)
        else:
            assert_array_equal(golden_output(model, X), expected)
    if hasattr(model, "labels_") and not hasattr(model, "predict"):
        # DBSCAN: X is the data it was fitted on; fitting again labels it the same.
        assert_array_equal(clone(model).fit(X).labels_, expected)
    inspect = subprocess.run([cli(), "inspect", str(path)], capture_output=True, text=True)
    assert "checksum: ok" in inspect.stdout
    out = tmp_path / "out.npy"
    if not (hasattr(model, "predict") or hasattr(model, "transform")):
        run = subprocess.run([cli(), "predict", str(path), "--input", stem + ".X.npy",
                              "--output", str(out)], capture_output=True, text=True)
        assert run.returncode == 1
        assert "nothing for the binary to serve" in run.stderr or "has no predict" in run.stderr
        return
    run = subprocess.run([cli(), "predict", str(path), "--input", stem + ".X.npy", "--output",
                          str(out)], capture_output=True, text=True)
    if is_classifier(model) and np.ndim(expected) == 2:
        # The binary writes one label per row: several outputs are refused.
        assert run.returncode == 1 and "several outputs" in run.stderr
        return
    assert run.returncode == 0, run.stderr
    assert_array_equal(np.load(out), expected)


# --- the oxlearn binary ----------------------------------------------------


@pytest.mark.parametrize("est", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cli_predict_bit_identical(est, dtype, tmp_path):
    model, X = _fitted(est, dtype)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", np.asfortranarray(X))
    # The binary's predict is Python's predict, or transform for a transformer (PCA).
    served = getattr(model, "predict", None) or getattr(model, "transform", None)
    if served is None:
        out = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                              str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                             capture_output=True, text=True)
        assert out.returncode == 1
        assert f"{model._oxlearn_kind} has no predict" in out.stderr, out.stderr
        assert not (tmp_path / "y.npy").exists()
        return
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", header="a,b,c,d,e,f", comments="")
    for ext in ("npy", "csv"):
        out = tmp_path / f"y.{ext}"
        subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                        str(tmp_path / f"X.{ext}"), "--output", str(out)], check=True)
        if ext == "npy":
            got = np.load(out)
            assert got.dtype == served(X).dtype
            assert_array_equal(got, served(X))
        else:
            X64 = np.loadtxt(tmp_path / "X.csv", delimiter=",", skiprows=1)
            expected = served(X64)
            # float32 predictions (a kNN regressor of float32 targets) are
            # written in float32's shortest form: compare in their dtype.
            got = np.loadtxt(out, delimiter=",", ndmin=2).reshape(expected.shape)
            assert_array_equal(got.astype(expected.dtype), expected)


def test_cli_inspect_and_errors(tmp_path):
    model, X = _fitted(LinearRegression())
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    out = subprocess.run([cli(), "inspect", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "kind: linear_model.LinearRegression" in out.stdout
    assert "checksum: ok" in out.stdout and "loadable by this binary: yes" in out.stdout
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    bad = tmp_path / "bad.oxl"
    bad.write_bytes(bytes(raw))
    out = subprocess.run([cli(), "inspect", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "checksum: FAILED" in out.stdout and "loadable by this binary: no" in out.stdout
    np.save(tmp_path / "X.npy", X[:, :3])
    out = subprocess.run([cli(), "predict", str(path), "--input", str(tmp_path / "X.npy"),
                          "--output", str(tmp_path / "y.npy")], capture_output=True, text=True)
    # scikit-learn's message, as Python's predict raises it.
    with pytest.raises(ValueError) as python:
        oxlearn.load(path).predict(X[:, :3])
    assert out.returncode == 1 and out.stderr == f"oxlearn: {python.value}\n"
    Xn = X.copy()
    Xn[4, 1] = np.nan
    np.save(tmp_path / "X.npy", Xn)
    out = subprocess.run([cli(), "predict", str(path), "--input", str(tmp_path / "X.npy"),
                          "--output", str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert out.returncode == 1 and "row 4, column 1" in out.stderr


# --- conversion ------------------------------------------------------------


@pytest.mark.parametrize("ours, stock, params", [
    (LinearRegression, sk.LinearRegression, {}),
    (Ridge, sk.Ridge, {"alpha": 2.0}),
])
def test_from_and_to_sklearn(ours, stock, params, tmp_path):
    X, y = make_regression(200, 5, noise=1.0, random_state=0)
    ref = stock(**params).fit(X, y)
    converted = oxlearn.from_sklearn(ref)
    assert type(converted) is ours
    assert_array_equal(converted.coef_, ref.coef_)
    assert_allclose(converted.predict(X), ref.predict(X), rtol=1e-12)
    back = converted.to_sklearn()
    assert type(back) is stock
    assert_array_equal(back.predict(X), ref.predict(X))  # same class, same arithmetic
    model = ours(**params).fit(X, y)
    plain = model.to_sklearn()
    assert type(plain) is stock
    assert_allclose(plain.predict(X), model.predict(X), rtol=1e-12)
    blob = pickle.dumps(plain)
    assert b"oxlearn" not in blob  # loads where oxlearn is not installed
    with pytest.raises(Exception, match="not fitted"):
        oxlearn.from_sklearn(stock())


def test_incremental_to_sklearn():
    X, y = make_regression(200, 5, noise=1.0, random_state=0)
    model = IncrementalRidge(alpha=2.0).fit(X, y)
    plain = model.to_sklearn()
    assert type(plain) is sk.Ridge and plain.alpha == 2.0
    assert_allclose(plain.predict(X), model.predict(X), rtol=1e-12)



@pytest.mark.parametrize("labels", [
    np.array(["a,b", "plain", 'say "hi"']),
    np.array(["no", "yes"], dtype=object),
    np.array([-3, 7, 1000], dtype=np.int16),
    np.array([-2.0, 1.0]),
    np.array([False, True]),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls", [LogisticRegression, KNeighborsClassifier])
def test_cli_predicts_class_labels(labels, dtype, cls, tmp_path):
    X, y = make_classification(300, 5, n_informative=3, n_redundant=0,
                               n_classes=len(labels), random_state=1)
    X = X.astype(dtype)
    model = cls().fit(X, labels[y])
    expected = model.predict(X)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "y.npy"
    subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                    str(tmp_path / "X.npy"), "--output", str(out)], check=True)
    got = np.load(out)  # no pickle: strings come back as numpy's '<U' dtype
    assert_array_equal(got, expected)
    if expected.dtype != object:
        assert got.dtype == expected.dtype
    csv = tmp_path / "y.csv"
    subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                    str(tmp_path / "X.npy"), "--output", str(csv)], check=True)
    import csv as csvlib

    with open(csv, newline="") as f:
        rows = [r[0] for r in csvlib.reader(f)]
    if expected.dtype.kind == "f":
        assert [float(r) for r in rows] == expected.tolist()
    else:  # integers, strings, and booleans as numpy prints them
        assert rows == [str(v) for v in expected.tolist()]


def test_cli_inspect_logistic(tmp_path):
    X, y = make_classification(100, 4, random_state=0)
    oxlearn.save(LogisticRegression().fit(X, np.array(["neg", "pos"])[y]), tmp_path / "m.oxl")
    out = subprocess.run([cli(), "inspect", str(tmp_path / "m.oxl")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "kind: linear_model.LogisticRegression" in out.stdout
    assert '"classes_":{"__ndarray__":["neg","pos"]' in out.stdout


def test_logistic_from_and_to_sklearn():
    X, y = make_classification(200, 5, n_informative=3, n_classes=3, random_state=0)
    ref = sk.LogisticRegression().fit(X, y)
    converted = oxlearn.from_sklearn(ref)
    assert type(converted) is LogisticRegression
    assert_array_equal(converted.predict(X), ref.predict(X))
    assert_allclose(converted.predict_proba(X), ref.predict_proba(X), rtol=1e-12)
    back = LogisticRegression().fit(X, y).to_sklearn()
    assert type(back) is sk.LogisticRegression
    assert b"oxlearn" not in pickle.dumps(back)
    assert_array_equal(back.predict(X), LogisticRegression().fit(X, y).predict(X))


# --- k-nearest neighbours in the binary --------------------------------------


@pytest.mark.parametrize("y_dtype", [np.float64, np.float32, np.int64])
def test_cli_knn_regressor_outputs_and_dtypes(y_dtype, tmp_path):
    """Several outputs and integer or float32 targets predict as in Python,
    on queries that are not training points (ties of distance included:
    integer-valued features)."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 4, size=(200, 3)).astype(np.float64)
    Y = (rng.standard_normal((200, 2)) * 10).astype(y_dtype)
    Xq = rng.integers(0, 4, size=(50, 3)).astype(np.float64) + 0.5 * rng.integers(0, 2, (50, 3))
    for weights in ("uniform", "distance"):
        model = KNeighborsRegressor(5, weights=weights).fit(X, Y)
        oxlearn.save(model, tmp_path / "m.oxl")
        np.save(tmp_path / "X.npy", Xq)
        subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                        str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                       check=True)
        got, expected = np.load(tmp_path / "y.npy"), model.predict(Xq)
        assert got.dtype == expected.dtype and got.shape == expected.shape == (50, 2)
        assert_array_equal(got, expected)


@pytest.mark.parametrize("make, match", [
    (lambda X, y: KNeighborsRegressor(metric="cosine").fit(np.r_[X[:-1], X[-1:] * 0], y),
     "all-zero training row"),
    (lambda X, y: KNeighborsRegressor().fit(sparse.csr_matrix(X), y), "sparse"),
    (lambda X, y: KNeighborsClassifier().fit(X, np.c_[y > 0, y > 1].astype(int)),
     "several outputs"),
    (lambda X, y: KNeighborsRegressor(metric_params={"p": 3}, metric="minkowski").fit(X, y),
     "metric_params"),
    (lambda X, y: NearestNeighbors().fit(X), "has no predict"),
])
def test_cli_knn_refuses_what_python_serves_with_sklearn(make, match, tmp_path):
    X, y = make_regression(80, 4, random_state=0)
    model = make(X, y)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X)
    out = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                          str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and match in out.stderr, out.stderr
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cli_knn_cosine_as_python(dtype, tmp_path):
    """Cosine models: the binary searches the same unit rows as Python."""
    X, y = make_classification(300, 6, random_state=1)
    X = X.astype(dtype)
    Xq = (X[:60] + 0.3).astype(dtype)
    np.save(tmp_path / "X.npy", Xq)
    for model in (KNeighborsClassifier(7, metric="cosine", weights="distance").fit(X, y),
                  KNeighborsRegressor(4, metric="cosine", weights="distance").fit(X, X[:, 0])):
        oxlearn.save(model, tmp_path / "m.oxl")
        subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                        str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                       check=True)
        got, expected = np.load(tmp_path / "y.npy"), model.predict(Xq)
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)
    # An all-zero query row has no direction: Python runs scikit-learn's code.
    np.save(tmp_path / "X.npy", np.r_[Xq[:3], np.zeros((1, 6), dtype)])
    out = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                          str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "all-zero query row" in out.stderr, out.stderr


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
def test_cli_lof_novelty_predicts_as_python(metric, tmp_path):
    X, _ = make_blobs(400, 5, random_state=2)
    rng = np.random.default_rng(0)
    Xq = np.r_[X[:100] + 0.1, rng.uniform(-15, 15, size=(100, 5))]
    model = LocalOutlierFactor(12, novelty=True, metric=metric).fit(X)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", Xq)
    subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                    str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")], check=True)
    got, expected = np.load(tmp_path / "y.npy"), model.predict(Xq)
    assert got.dtype == expected.dtype
    assert_array_equal(got, expected)
    assert set(expected) == {-1, 1}


@pytest.mark.parametrize("make, match", [
    (lambda X: LocalOutlierFactor(10).fit(X), "novelty=False"),
    (lambda X: LocalOutlierFactor(10, novelty=True).fit(X.astype(np.float32)), "float32"),
])
def test_cli_lof_refusals(make, match, tmp_path):
    X, _ = make_blobs(100, 3, random_state=0)
    oxlearn.save(make(X), tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X)
    out = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                          str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and match in out.stderr, out.stderr


def test_cli_knn_errors(tmp_path):
    X, y = make_classification(30, 4, random_state=0)
    model = KNeighborsClassifier(5).fit(X, y)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X[:, :3])
    out = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                          str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    with pytest.raises(ValueError) as python:
        model.predict(X[:, :3])
    assert out.returncode == 1 and out.stderr == f"oxlearn: {python.value}\n"
    # More neighbours than training samples: refused, as Python's predict does.
    big = KNeighborsClassifier(40).fit(X, y)
    with pytest.raises(ValueError, match="n_neighbors <= n_samples_fit"):
        big.predict(X)
    oxlearn.save(big, tmp_path / "big.oxl")
    np.save(tmp_path / "X.npy", X)
    out = subprocess.run([cli(), "predict", str(tmp_path / "big.oxl"), "--input",
                          str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "n_neighbors <= n_samples_fit" in out.stderr
