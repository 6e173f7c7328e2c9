"""Forged model files that pass the checksum, and the faults around saving (issue 20).

The forger recomputes every digest and the header checksum the way the
reader does, so only the checks behind them stand between the file and the
process: nothing may execute, panic, allocate without bound, compute on
unverified bytes, or load as a model that silently mispredicts.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import InconsistentVersionWarning

import oxlearn
from oxlearn import _core
from oxlearn._io import _registry
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
from oxlearn.exceptions import ModelFileCorruptError
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
from oxlearn.svm import SVC, SVR, NuSVC, NuSVR, OneClassSVM
from oxlearn.tests.test_model_file import cli

# One model of every kind, and the variants whose paths differ (fallbacks).
MODELS = [
    LinearRegression(),
    Ridge(alpha=2.0),
    IncrementalLinearRegression(batch_size=50),
    IncrementalRidge(),
    LogisticRegression(),
    ElasticNet(alpha=0.5),
    Lasso(alpha=0.1),
    EmpiricalCovariance(),
    IncrementalEmpiricalCovariance(),
    BasicStatistics(),
    IncrementalBasicStatistics(),
    PCA(n_components=3),
    IncrementalPCA(n_components=3),
    KMeans(3, n_init=1, random_state=0),
    DBSCAN(eps=3.0),
    NearestNeighbors(n_neighbors=4),
    KNeighborsClassifier(),
    KNeighborsRegressor(p=3, metric_params={"w": np.arange(1.0, 7.0)}),  # scikit-learn search
    LocalOutlierFactor(novelty=True),
    RandomForestClassifier(4, random_state=0),
    RandomForestRegressor(4, random_state=0),
    ExtraTreesClassifier(4, random_state=0),
    ExtraTreesRegressor(4, random_state=0),
    TSNE(perplexity=10, max_iter=260, init="random", random_state=0),
    SVC(),
    NuSVC(nu=0.3, probability=True, random_state=0),
    SVR(kernel="poly"),
    NuSVR(),
    OneClassSVM(nu=0.2),
]


def test_models_cover_every_kind():
    # Stock scikit-learn kinds (pipelines, preprocessing): test_pipelines.py.
    from oxlearn._composite import handles_kind

    assert {m._oxlearn_kind for m in MODELS} == set(_registry()) == {
        k for k in _core.known_kinds() if not handles_kind(k)}


def _fit(est):
    if is_classifier(est):
        X, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    else:
        X, y = make_regression(200, 6, noise=1.0, random_state=0)
    return clone(est).fit(X, y), X, y


# --- forging ----------------------------------------------------------------


def _read(path):
    """``(header dict, [(name, array)])`` of a model file, without verification."""
    raw = np.fromfile(path, np.uint8)
    n = int(raw[:8].view("<u8")[0])
    header = json.loads(raw[8:8 + n].tobytes().decode().rstrip(" "))
    data = raw[8 + n:]
    arrays = []
    for e in header["arrays"]:
        dtype = np.dtype(e["dtype"]).newbyteorder("<")
        count = int(np.prod(e["shape"], dtype=np.int64))
        arr = data[e["offset"]:e["offset"] + count * dtype.itemsize].view(dtype)
        arrays.append((e["name"], arr.reshape(e["shape"]).copy()))
    return header, arrays


def _forge(path, header, arrays):
    """Write ``header`` and ``arrays`` as a model file, digests and checksum
    recomputed as the reader computes them: a forger's file."""
    offset, blobs = 0, []
    for entry, (_, arr) in zip(header["arrays"], arrays, strict=True):
        entry["xxh3"] = _core.digest(np.ascontiguousarray(arr))
        entry["offset"] = offset
        blobs.append((offset, np.ascontiguousarray(arr).tobytes()))
        offset += -(-arr.nbytes // 64) * 64
    header["checksum"] = ""
    blank = json.dumps(header, separators=(",", ":"))
    header["checksum"] = _core.checksum(blank)
    text = json.dumps(header, separators=(",", ":")).encode()
    padded = -(-(8 + len(text)) // 64) * 64 - 8
    with open(path, "wb") as f:
        f.write(np.uint64(padded).tobytes())
        f.write(text + b" " * (padded - len(text)))
        pos = 0
        for off, blob in blobs:
            f.write(b"\0" * (off - pos))
            f.write(blob)
            pos = off + len(blob)


def _saved(est, tmp_path, name="m.oxl"):
    model, X, y = _fit(est)
    oxlearn.save(model, tmp_path / name)
    return model, X, tmp_path / name


# --- 1. memory bombs ------------------------------------------------------

RSS = textwrap.dedent(
    """
    import resource, subprocess, sys, warnings
    import numpy as np
    import oxlearn
    from oxlearn.exceptions import ModelFileCorruptError
    warnings.simplefilter("ignore")
    oxlearn.load(sys.argv[1])  # warm up: every lazy import done
    kb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base = kb()
    for path in sys.argv[2:]:
        for mmap in (False, True):
            try:
                oxlearn.load(path, mmap=mmap)
            except ModelFileCorruptError:
                pass
            else:
                raise SystemExit(f"{path} loaded")
    print(kb() - base)
    """
)

# Run from a process that imports nothing large: a forked child's peak RSS
# counts its parent's pages until it executes the binary.
RSS_CLI = textwrap.dedent(
    """
    import resource, subprocess, sys
    for path in sys.argv[2:]:
        run = subprocess.run([sys.argv[1], "inspect", path], capture_output=True, text=True)
        assert run.returncode == 1 and "loadable by this binary: no" in run.stdout, run.stdout
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
)


def _peak_kb(valid, paths):
    """Peak RSS growth (kB) of loading ``paths`` in Python, and the binary's peak RSS."""
    out = subprocess.run([sys.executable, "-c", RSS, str(valid), *map(str, paths)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    binary = subprocess.run([sys.executable, "-c", RSS_CLI, cli(), *map(str, paths)],
                            capture_output=True, text=True, timeout=300)
    assert binary.returncode == 0, binary.stderr
    return int(out.stdout), int(binary.stdout)


def test_dtype_memory_bombs_are_refused_in_bounded_memory(tmp_path):
    forged = []
    lin, _, lin_path = _saved(LinearRegression(), tmp_path, "lin.oxl")
    for i, dtype in enumerate(["<U100000000", "(10000,10000)<f8", ">f8", "<V100000000"]):
        header, arrays = _read(lin_path)
        value = ["x"] if dtype.startswith("<U") else [0.0]
        header["params"]["tol"] = {"__ndarray__": value, "dtype": dtype, "shape": [1]}
        _forge(tmp_path / f"tol{i}.oxl", header, arrays)
        forged.append(tmp_path / f"tol{i}.oxl")
    X, y = make_classification(100, 4, random_state=0)
    labels = np.array(["cat", "dog"])[y]
    knn = KNeighborsClassifier().fit(X, labels)
    oxlearn.save(knn, tmp_path / "knn.oxl")
    header, arrays = _read(tmp_path / "knn.oxl")
    header["attrs"]["_classes_dtype"] = "<U100000000"
    _forge(tmp_path / "knn-bomb.oxl", header, arrays)
    logistic = LogisticRegression().fit(X, labels)
    oxlearn.save(logistic, tmp_path / "logistic.oxl")
    header, arrays = _read(tmp_path / "logistic.oxl")
    assert header["attrs"]["classes_"]["dtype"] == "<U3"
    header["attrs"]["classes_"]["dtype"] = "<U100000000"
    _forge(tmp_path / "logistic-bomb.oxl", header, arrays)
    forged += [tmp_path / "knn-bomb.oxl", tmp_path / "logistic-bomb.oxl"]
    for path in forged:
        assert path.stat().st_size < 8192  # tiny files (kNN: its training data)
        with pytest.raises(ModelFileCorruptError, match="dtype|decode"):
            oxlearn.load(path)
    growth, binary = _peak_kb(lin_path, forged)
    # Without the checks these took 0.9 to 2.5 GB each.
    assert growth < 64 * 1024, f"{growth} kB"
    assert binary < 64 * 1024, f"{binary} kB"


def test_a_header_of_millions_of_values_is_refused_in_bounded_memory(tmp_path):
    _, _, lin_path = _saved(LinearRegression(), tmp_path, "lin.oxl")
    header, arrays = _read(lin_path)
    header["params"]["tol"] = [0] * 31_000_000  # 59 MiB of JSON, under the 64 MiB cap
    big = tmp_path / "zeros.oxl"
    _forge(big, header, arrays)
    size_kb = big.stat().st_size // 1024
    assert size_kb > 55 * 1024
    with pytest.raises(ModelFileCorruptError, match="JSON values is over the limit"):
        oxlearn.load(big, mmap=True)
    growth, binary = _peak_kb(lin_path, [big])
    # Parsed, it took 2 GB. Now: the file's bytes once (read into memory).
    assert growth < 2 * size_kb, (growth, size_kb)
    assert binary < 2 * size_kb, (binary, size_kb)


# --- 2. parameters --------------------------------------------------------


def _forged_linear(tmp_path, change):
    model, X, path = _saved(LinearRegression(), tmp_path)
    header, arrays = _read(path)
    change(header)
    _forge(tmp_path / "f.oxl", header, arrays)
    return tmp_path / "f.oxl", X


@pytest.mark.parametrize("change, match", [
    (lambda h: h["params"].update(predict=5), r"\['predict'\] are not parameters"),
    (lambda h: h["params"].pop("copy_X"), r"\['copy_X'\] of LinearRegression are missing"),
    (lambda h: h["params"].update(fit_intercept="yes"), "'fit_intercept' parameter"),
    (lambda h: h["params"].update(n_jobs="many"), "'n_jobs' parameter"),
    (lambda h: h["params"].update(tol={"__tuple__": 5}), "__tuple__ is not a list"),
    (lambda h: h["params"].update(tol={"__dict__": [1]}), "__dict__ is not an object"),
    (lambda h: h["params"].update(tol={"x": 1}), "not a tagged value"),
    (lambda h: h["params"].update(tol={"__float__": "1e999"}), "__float__"),
    (lambda h: h["params"].update(tol={"__items__": [[1, 2], [True, 3]]}), "repeated"),
    (lambda h: h["attrs"].update(rank_="full"), "rank_"),
])
def test_parameters_are_exactly_the_constructors(change, match, tmp_path):
    path, _ = _forged_linear(tmp_path, change)
    for mmap in (False, True):
        with pytest.raises(ModelFileCorruptError, match=match):
            oxlearn.load(path, mmap=mmap)


def test_parameters_injected_into_a_pickle_are_refused():
    model, _, _ = _fit(LinearRegression())
    state = model.__getstate__()
    header = json.loads(state["__oxlearn__"])
    header["params"]["predict"] = 5
    header["checksum"] = ""
    header["checksum"] = _core.checksum(json.dumps(header, separators=(",", ":")))
    state["__oxlearn__"] = json.dumps(header, separators=(",", ":"))
    fresh = LinearRegression.__new__(LinearRegression)
    with pytest.raises(ModelFileCorruptError, match="not parameters"):
        fresh.__setstate__(state)


def test_parameters_missing_under_another_sklearn_version_take_defaults(tmp_path):
    def older(h):
        h["params"].pop("tol")
        h["sklearn_version"] = "1.5.0"

    path, X = _forged_linear(tmp_path, older)
    with pytest.warns(InconsistentVersionWarning):
        loaded = oxlearn.load(path)
    assert loaded.tol == LinearRegression().tol


# --- 3. lazily loaded models never compute on unverified bytes --------------

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform",
           "inverse_transform", "score", "score_samples", "kneighbors", "radius_neighbors",
           "kneighbors_graph", "radius_neighbors_graph", "apply", "decision_path",
           "mahalanobis", "error_norm", "get_precision", "get_covariance", "partial_fit")


def _calls(model, X, y):
    """Every public method that reads the fitted model, with dense and sparse X."""
    p = X.shape[1]
    for name in METHODS:
        if not hasattr(type(model), name):
            continue
        method = getattr(type(model), name)
        if name in ("get_precision", "get_covariance"):
            yield name, lambda m=method: m(model)
        elif name == "error_norm":
            yield name, lambda m=method: m(model, np.eye(p))
        else:
            for arg in (X, sparse.csr_matrix(X)):
                if name == "inverse_transform":
                    arg = arg[:, :3]
                rest = (y,) if name in ("score", "partial_fit") else ()
                kind = "sparse" if sparse.issparse(arg) else "dense"
                yield f"{name}({kind})", lambda m=method, a=arg, r=rest: m(model, a, *r)


@pytest.mark.parametrize("est", MODELS, ids=lambda e: type(e).__name__)
def test_lazy_models_verify_before_any_use(est, tmp_path):
    model, X, y = _fit(est)
    oxlearn.save(model, tmp_path / "m.oxl")
    header, arrays = _read(tmp_path / "m.oxl")
    raw = bytearray((tmp_path / "m.oxl").read_bytes())
    # Change 8 bytes in the middle of the largest array; the header (and its
    # digests) stay as they were.
    n = int(np.frombuffer(raw[:8], "<u8")[0])
    entry = max(header["arrays"], key=lambda e: np.prod(e["shape"]) * np.dtype(
        e["dtype"]).itemsize)
    size = int(np.prod(entry["shape"])) * np.dtype(entry["dtype"]).itemsize
    at = 8 + n + entry["offset"] + max(0, size // 2 - 4)
    raw[at:at + 8] = bytes(b ^ 0x5A for b in raw[at:at + 8])
    (tmp_path / "bad.oxl").write_bytes(bytes(raw))
    intact = oxlearn.load(tmp_path / "m.oxl", mmap=True)
    calls = dict(_calls(intact, X, y))  # none for BasicStatistics: attributes only
    expected = {}
    for name, call in calls.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
            expected[name] = None
        except Exception as e:  # noqa: BLE001  (what the intact model raises, if anything)
            expected[name] = type(e)
    for name in calls:
        corrupt = oxlearn.load(tmp_path / "bad.oxl", mmap=True)
        call = dict(_calls(corrupt, X, y))[name]
        for _ in range(2):  # and again: a failure is never forgotten
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call()
            except ModelFileCorruptError:
                continue
            except Exception as e:  # noqa: BLE001
                # Refused before reading the model, as the intact one is.
                assert type(e) is expected[name], (name, e)
                continue
            pytest.fail(f"{name} computed on unverified bytes")
    names = [e["name"] for e in header["arrays"]]
    checked = 0
    for name in names + ["coef_", "components_", "mean_", "labels_", "classes_", "estimators_"]:
        corrupt = oxlearn.load(tmp_path / "bad.oxl", mmap=True)
        if hasattr(intact, name):
            checked += 1
            with pytest.raises(ModelFileCorruptError):
                getattr(corrupt, name)
    assert checked >= 1
    corrupt = oxlearn.load(tmp_path / "bad.oxl", mmap=True)
    with pytest.raises(ModelFileCorruptError):
        corrupt.fit(X, y)  # refitting verifies first (warm start, partial_fit see it)


# --- 4. neighbour labels ----------------------------------------------------


@pytest.mark.parametrize("change, match", [
    (lambda c: c[::-1], "not strictly increasing"),
    (lambda c: [c[0], c[0], c[2]], "not strictly increasing"),
    (lambda c: c[:2], "class number 2"),
    (lambda c: c + ["zzz"], None),  # an extra label no sample has: harmless, loads
])
def test_forged_knn_labels_are_refused_in_python_and_the_binary(change, match, tmp_path):
    X, y = make_classification(150, 6, n_informative=3, n_classes=3, random_state=0)
    labels = np.array(["ant", "bee", "cat"])[y]
    for multi in (False, True):
        Y = np.c_[labels, labels] if multi else labels
        model = KNeighborsClassifier(3).fit(X, Y)
        oxlearn.save(model, tmp_path / "m.oxl")
        header, arrays = _read(tmp_path / "m.oxl")
        lists = header["attrs"]["_classes_list"]
        if multi:
            lists[1] = change(lists[1])
        else:
            header["attrs"]["_classes_list"] = change(lists)
        if match is None:
            header["attrs"]["_classes_dtype"] = (["<U3", "<U3"] if multi else "<U3")
        _forge(tmp_path / "f.oxl", header, arrays)
        if match is None:
            assert_array_equal(oxlearn.load(tmp_path / "f.oxl").predict(X), model.predict(X))
            continue
        with pytest.raises(ModelFileCorruptError, match=match):
            oxlearn.load(tmp_path / "f.oxl")
        run = subprocess.run([cli(), "inspect", str(tmp_path / "f.oxl")], capture_output=True,
                             text=True)
        assert run.returncode == 1 and "loadable by this binary: no" in run.stdout


# --- 5. concurrent first use of a lazily loaded model -------------------------


def _first_use(model):
    """What the racing threads do first: a method of the model, else an attribute."""
    for method in ("predict", "transform", "score_samples", "mahalanobis"):
        if hasattr(model, method):
            return lambda m, X, method=method: np.asarray(getattr(m, method)(X))
    if hasattr(model, "kneighbors"):
        return lambda m, X: m.kneighbors(X)[1]
    attr = next(a for a in ("labels_", "embedding_", "mean_") if hasattr(model, a))
    return lambda m, X: np.asarray(getattr(m, attr))


@pytest.mark.parametrize("est", MODELS, ids=lambda e: type(e).__name__)
def test_threads_racing_for_first_use(est, tmp_path):
    model, X, _ = _fit(est)
    oxlearn.save(model, tmp_path / "m.oxl")
    use = _first_use(model)
    expected = use(model, X)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for _ in range(3):
            loaded = oxlearn.load(tmp_path / "m.oxl", mmap=True)
            barrier = threading.Barrier(8)
            results, errors = [None] * 8, []

            def work(i, loaded=loaded, barrier=barrier, results=results, errors=errors):
                try:
                    barrier.wait()
                    results[i] = use(loaded, X)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors, errors
            for r in results:
                assert_array_equal(r, expected)
    finally:
        sys.setswitchinterval(old)


@pytest.mark.parametrize("est", [LinearRegression(), KMeans(3, n_init=1, random_state=0),
                                 KNeighborsClassifier(), RandomForestRegressor(4, random_state=0)],
                         ids=lambda e: type(e).__name__)
def test_input_mutated_by_another_thread_during_a_call(est):
    """The GIL is released while oxlearn computes on the caller's array in
    place (as scikit-learn's nogil code does): another thread that writes to
    it meanwhile makes that call's result unspecified, never unsafe: the
    call holds a reference, so the buffer stays alive and its size fixed."""
    model, X, y = _fit(est)
    big = np.ascontiguousarray(np.tile(X, (200, 1)))
    stop = threading.Event()

    def scribble():
        while not stop.is_set():
            big[::7] *= -1.0

    t = threading.Thread(target=scribble)
    t.start()
    try:
        for _ in range(5):
            out = model.predict(big)
            assert out.shape == (big.shape[0],)
            refit = clone(est).fit(big, np.tile(y, 200))
            assert refit.predict(X).shape == (X.shape[0],)
    finally:
        stop.set()
        t.join(60)


# --- 7. saving -------------------------------------------------------------

SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import oxlearn
    from sklearn.datasets import make_regression
    from oxlearn.linear_model import LinearRegression
    X, y = make_regression(200, 20, random_state=int(sys.argv[2]))
    model = LinearRegression().fit(X, y)
    for _ in range(int(sys.argv[3])):
        oxlearn.save(model, sys.argv[1])
    """
)


def test_concurrent_saves_never_collide(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path / name), str(seed),
                               "60"])
             for name, seed in (("m.oxl", 1), ("m.bak", 2), ("m.oxl", 3))]
    for p in procs:
        assert p.wait(timeout=300) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bak", "m.oxl"]
    X = make_regression(200, 20, random_state=2)[0]
    bak = oxlearn.load(tmp_path / "m.bak")
    expected = LinearRegression().fit(*make_regression(200, 20, random_state=2))
    assert_array_equal(bak.predict(X), expected.predict(X))
    oxl = oxlearn.load(tmp_path / "m.oxl")  # whichever writer renamed last, whole
    coefs = [LinearRegression().fit(*make_regression(200, 20, random_state=s)).coef_
             for s in (1, 3)]
    assert any(np.array_equal(oxl.coef_, c) for c in coefs)


def test_save_never_follows_a_planted_symlink(tmp_path):
    model, _, _ = _fit(LinearRegression())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    # The old fixed temporary name, planted by another user.
    os.symlink(victim, tmp_path / "m.oxl-partial")
    oxlearn.save(model, tmp_path / "m.oxl")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "m.oxl").is_symlink()
    # A symlink at the destination is replaced, never written through.
    os.symlink(victim, tmp_path / "link.oxl")
    oxlearn.save(model, tmp_path / "link.oxl")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "link.oxl").is_symlink()
    assert_array_equal(oxlearn.load(tmp_path / "link.oxl").coef_, model.coef_)


FULL_DISK = textwrap.dedent(
    """
    import errno, resource, signal, sys
    import numpy as np
    import oxlearn
    from oxlearn.linear_model import LinearRegression
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.standard_normal((400, 300)), rng.standard_normal(400))
    try:
        oxlearn.save(model, sys.argv[1])
    except OSError as e:
        assert e.errno == errno.EFBIG, e
        assert not isinstance(e, ValueError)
        assert "cannot write" in str(e)
        print("OSError", e.errno)
    """
)


def test_a_failed_write_is_an_oserror_and_leaves_the_old_file(tmp_path):
    model, X, path = _saved(LinearRegression(), tmp_path)
    before = path.read_bytes()
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OSError", "27"]  # EFBIG
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.oxl"]  # no temporary file left


KILLED = textwrap.dedent(
    """
    import sys
    import numpy as np
    import oxlearn
    from oxlearn.linear_model import LinearRegression
    rng = np.random.default_rng(int(sys.argv[2]))
    model = LinearRegression().fit(rng.standard_normal((3000, 1500)), rng.standard_normal(3000))
    print("ready", flush=True)
    while True:
        oxlearn.save(model, sys.argv[1])
    """
)


def test_sigkill_during_save_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "m.oxl"
    oxlearn.save(_fit(LinearRegression())[0], path)
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path), "0"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    rng = np.random.default_rng(1)
    import time
    time.sleep(rng.uniform(0.05, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    model = oxlearn.load(path)  # the old model or the complete new one, never a broken one
    assert model.coef_.shape in ((6,), (1500,))
    for leftover in tmp_path.iterdir():
        assert leftover.name == "m.oxl" or (
            leftover.name.startswith("m.oxl.") and leftover.name.endswith(".oxl-partial")
            and len(leftover.name) == len("m.oxl.") + 16 + len(".oxl-partial")), leftover.name


# --- weaker points ------------------------------------------------------------


@pytest.mark.parametrize("change, match", [
    (lambda h: h.update(format_version="1.0.9"), "format_version"),
    (lambda h: h.update(format_version="+1.+0"), "format_version"),
    (lambda h: h.update(format_version="01.0"), "format_version"),
    (lambda h: h.update(schema_version=0), "schema versions start at 1"),
    (lambda h: h.update(python_version="+3.11.7"), "python_version"),
    (lambda h: h.update(numpy_version=" 2.4.6"), "numpy_version"),
])
def test_versions_are_parsed_strictly(change, match, tmp_path):
    path, _ = _forged_linear(tmp_path, change)
    with pytest.raises(ModelFileCorruptError, match=match):
        oxlearn.load(path)


def test_an_empty_file_is_corrupt(tmp_path):
    (tmp_path / "e.oxl").write_bytes(b"")
    for mmap in (False, True):
        with pytest.raises(ModelFileCorruptError, match="empty"):
            oxlearn.load(tmp_path / "e.oxl", mmap=mmap)


def test_copy_on_verify_no_longer_depends_on_the_file(tmp_path):
    model, X, path = _saved(LinearRegression(), tmp_path)
    other, _, other_path = _saved(Ridge(alpha=50.0), tmp_path, "o.oxl")
    copied = oxlearn.load(path, mmap="copy-on-verify")
    mapped = oxlearn.load(path, mmap=True)
    expected = model.predict(X)
    assert_array_equal(copied.predict(X), expected)
    assert_array_equal(mapped.predict(X), expected)
    assert not isinstance(copied.coef_, np.memmap) and isinstance(mapped.coef_, np.memmap)
    # Rewritten in place (what the docs warn against): a Ridge of the same
    # layout. The copy is unaffected; the mapped model sees the new bytes.
    header, arrays = _read(path)
    header_o, arrays_o = _read(other_path)
    replacement = dict(arrays_o)
    with open(path, "r+b") as f:
        raw = f.read()
        n = int(np.frombuffer(raw[:8], "<u8")[0])
        for e in header["arrays"]:
            if e["name"] in replacement:
                f.seek(8 + n + e["offset"])
                f.write(np.ascontiguousarray(replacement[e["name"]]).tobytes())
    assert_array_equal(copied.predict(X), expected)
    assert not np.array_equal(mapped.predict(X), expected)
    with pytest.raises(ValueError, match="mmap"):
        oxlearn.load(path, mmap="yes")
