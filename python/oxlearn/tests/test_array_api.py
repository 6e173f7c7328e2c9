"""Array API dispatch (issue 13): any namespace in, attributes and outputs in
the input's namespace and device, persistence that keeps them.

oxlearn computes on host copies, so a model fitted on array API input has
exactly the attributes of the same fit on numpy: these tests compare bit for
bit. They run on array-api-strict (installed by the project's set-up; its
``device1`` stands for a non-default device) and on torch where torch is
installed (CPU, and CUDA where a GPU is).
"""

import io
import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import joblib
import numpy as np
import pytest
import sklearn
from numpy.testing import assert_array_equal
from sklearn.datasets import load_diabetes, load_iris

import oxlearn
from oxlearn import _array_api
from oxlearn.basic_statistics import BasicStatistics
from oxlearn.cluster import KMeans
from oxlearn.covariance import EmpiricalCovariance
from oxlearn.decomposition import PCA, IncrementalPCA
from oxlearn.linear_model import LinearRegression, LogisticRegression, Ridge
from oxlearn.metrics import pairwise_distances
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from oxlearn.tests.test_model_file import cli


def _namespaces():
    out = []
    try:
        import array_api_strict as xp

        out += [pytest.param((xp, xp.Device("CPU_DEVICE")), id="strict-cpu"),
                pytest.param((xp, xp.Device("device1")), id="strict-device1")]
    except ImportError:  # pragma: no cover - the project's set-up installs it
        out.append(pytest.param(None, id="strict", marks=pytest.mark.skip(
            reason="array-api-strict is not installed")))
    try:
        import torch

        out.append(pytest.param((torch, torch.device("cpu")), id="torch-cpu"))
        if torch.cuda.is_available():
            out.append(pytest.param((torch, torch.device("cuda:0")), id="torch-cuda"))
    except ImportError:
        out.append(pytest.param(None, id="torch", marks=pytest.mark.skip(
            reason="torch is not installed (an optional test dependency)")))
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            # cupy.asarray takes no device=: through array_api_compat's wrapper.
            from sklearn.externals.array_api_compat import array_namespace

            xp = array_namespace(cupy.empty(0))
            out.append(pytest.param((xp, cupy.cuda.Device(0)), id="cupy"))
        else:  # pragma: no cover - cupy without a GPU
            raise ImportError("no GPU")
    except Exception:  # noqa: BLE001 - not installed, or no GPU / driver
        out.append(pytest.param(None, id="cupy", marks=pytest.mark.skip(
            reason="cupy with a GPU is not available (an optional test dependency)")))
    return out


NAMESPACES = _namespaces()

# (estimator, data, methods compared); every estimator issue 13 names.
ESTIMATORS = [
    (LinearRegression(), "regression", ("predict",)),
    (Ridge(alpha=0.5), "regression", ("predict",)),
    (PCA(n_components=3), "regression", ("transform", "inverse_transform")),
    (IncrementalPCA(n_components=3, batch_size=100), "regression", ("transform",)),
    (KMeans(n_clusters=3, n_init=2, random_state=0), "classification", ("predict", "transform")),
    (LogisticRegression(max_iter=500), "classification",
     ("predict", "predict_proba", "decision_function")),
    (EmpiricalCovariance(), "regression", ("mahalanobis",)),
    (BasicStatistics(), "regression", ()),
    (KNeighborsClassifier(n_neighbors=4), "classification", ("predict", "predict_proba")),
    (KNeighborsRegressor(n_neighbors=4), "regression", ("predict",)),
    (NearestNeighbors(n_neighbors=3), "regression", ("kneighbors",)),
]


def _data(kind):
    if kind == "regression":
        X, y = load_diabetes(return_X_y=True)
    else:
        X, y = load_iris(return_X_y=True)
    return X, y


def _as(xp_device, a):
    xp, device = xp_device
    return xp.asarray(a, device=device)


def _host(a):
    return _array_api.to_host(a)


def _fit_pair(est, kind, xp_device):
    X, y = _data(kind)
    ref = sklearn.clone(est).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        got = sklearn.clone(est).fit(_as(xp_device, X), _as(xp_device, y))
    return ref, got, X


def _arrays(est):
    return {k: v for k, v in vars(est).items()
            if isinstance(v, np.ndarray) or _array_api.is_foreign(v)}


def _assert_placed(value, xp_device):
    xp, device = xp_device
    assert _array_api.is_foreign(value), type(value)
    assert (_array_api.namespace_name(_array_api.placement(value)[0])
            == _array_api.namespace_name(xp))
    assert _array_api.placement(value)[1] == device


def _outputs(est, X, methods):
    out = {}
    for m in methods:
        r = getattr(est, m)(est.transform(X) if m == "inverse_transform" else X)
        out[m] = r if isinstance(r, tuple) else (r,)
    return out


def _assert_same_model(got, ref, X, methods, xp_device):
    """``got`` (array API) has ``ref``'s (numpy) attributes and outputs, bit for bit."""
    ref_arrays = _arrays(ref)
    assert ref_arrays
    for name, value in ref_arrays.items():
        mine = getattr(got, name)
        if value.dtype.kind in "biuf":
            _assert_placed(mine, xp_device)
        assert_array_equal(_host(mine), value, err_msg=name)
    with sklearn.config_context(array_api_dispatch=True):
        outs = _outputs(got, _as(xp_device, X), methods)
    for m, expected in _outputs(ref, X, methods).items():
        for e, o in zip(expected, outs[m], strict=True):
            _assert_placed(o, xp_device)
            assert_array_equal(_host(o), e, err_msg=m)


@pytest.mark.parametrize("xp_device", NAMESPACES)
@pytest.mark.parametrize("est, kind, methods", ESTIMATORS, ids=lambda v: type(v).__name__
                         if hasattr(v, "fit") else None)
def test_fit_and_outputs_follow_the_input_namespace_bit_for_bit(est, kind, methods, xp_device):
    ref, got, X = _fit_pair(est, kind, xp_device)
    _assert_same_model(got, ref, X, methods, xp_device)


@pytest.mark.parametrize("xp_device", NAMESPACES)
@pytest.mark.parametrize("dumps, loads", [
    (pickle.dumps, pickle.loads),
    (cloudpickle.dumps, pickle.loads),
    (lambda m: _joblib_dump(m), lambda b: joblib.load(io.BytesIO(b))),
], ids=["pickle", "cloudpickle", "joblib"])
@pytest.mark.parametrize("est, kind, methods", ESTIMATORS, ids=lambda v: type(v).__name__
                         if hasattr(v, "fit") else None)
def test_pickles_keep_namespace_and_device(est, kind, methods, dumps, loads, xp_device):
    ref, got, X = _fit_pair(est, kind, xp_device)
    back = loads(dumps(got))
    _assert_same_model(back, ref, X, methods, xp_device)


def _joblib_dump(model):
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return buf.getvalue()


@pytest.mark.parametrize("xp_device", NAMESPACES)
@pytest.mark.parametrize("est, kind, methods", ESTIMATORS, ids=lambda v: type(v).__name__
                         if hasattr(v, "fit") else None)
def test_model_file_records_and_restores_namespace_and_device(est, kind, methods, xp_device,
                                                              tmp_path):
    ref, got, X = _fit_pair(est, kind, xp_device)
    path = tmp_path / "m.oxl"
    oxlearn.save(got, path)
    loaded = oxlearn.load(path)
    _assert_same_model(loaded, ref, X, methods, xp_device)
    for mmap in (True, "copy-on-verify"):
        _assert_same_model(oxlearn.load(path, mmap=mmap), ref, X, methods, xp_device)
    # device="cpu": a host model, whatever the file says.
    host = oxlearn.load(path, device="cpu")
    for name, value in _arrays(ref).items():
        assert type(getattr(host, name)) is np.ndarray
        assert_array_equal(getattr(host, name), value)
    # The file holds the same host bytes as a numpy fit's file, plus the placement.
    oxlearn.save(ref, tmp_path / "ref.oxl")
    oxlearn.save(got.to_numpy(), tmp_path / "to_numpy.oxl")
    assert (tmp_path / "to_numpy.oxl").read_bytes() == (tmp_path / "ref.oxl").read_bytes()


def _strict_device1():
    xp = pytest.importorskip("array_api_strict")
    return xp, xp.Device("device1")


def test_inspect_shows_namespace_and_predict_serves_from_the_host_copy(tmp_path):
    xp_device = _strict_device1()
    ref, got, X = _fit_pair(LinearRegression(), "regression", xp_device)
    path = tmp_path / "m.oxl"
    oxlearn.save(got, path)
    run = subprocess.run([cli(), "inspect", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert ("on array_api_strict device array_api_strict.Device('device1') (array API; "
            "served here from its host copy)") in run.stdout
    np.save(tmp_path / "X.npy", X)
    run = subprocess.run([cli(), "predict", str(path), "--input", str(tmp_path / "X.npy"),
                          "--output", str(tmp_path / "y.npy")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert_array_equal(np.load(tmp_path / "y.npy"), ref.predict(X))


def test_a_host_model_file_names_no_namespace(tmp_path):
    X, y = _data("regression")
    oxlearn.save(LinearRegression().fit(X, y), tmp_path / "m.oxl")
    run = subprocess.run([cli(), "inspect", str(tmp_path / "m.oxl")], capture_output=True,
                         text=True, timeout=60)
    assert "fitted: true on cpu;" in run.stdout
    assert b"array_namespace" not in (tmp_path / "m.oxl").read_bytes()


def _subprocess(code, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def test_missing_namespace_is_named_with_the_way_out(tmp_path):
    xp_device = _strict_device1()
    _, got, X = _fit_pair(LinearRegression(), "regression", xp_device)
    oxlearn.save(got, tmp_path / "m.oxl")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(got))
    np.save(tmp_path / "X.npy", X)
    run = _subprocess("""
        import sys
        sys.modules["array_api_strict"] = None  # not installed here
        import pickle, numpy as np, oxlearn
        X = np.load("X.npy")
        try:
            oxlearn.load("m.oxl")
        except ImportError as e:
            print("FILE:", e)
        host = oxlearn.load("m.oxl", device="cpu")
        print("HOST:", type(host.coef_).__name__, host.predict(X)[:2].tolist())
        with oxlearn.config_context(load_device="cpu"):
            from_pickle = pickle.loads(open("m.pkl", "rb").read())
        print("PICKLE:", type(from_pickle.coef_).__name__)
    """, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "array namespace 'array_api_strict', which cannot be imported here" in run.stdout
    assert "oxlearn.load(path, device='cpu')" in run.stdout
    assert "config_context(load_device='cpu')" in run.stdout
    assert "HOST: ndarray" in run.stdout and "PICKLE: ndarray" in run.stdout


def test_absent_device_is_named_and_another_can_be_chosen(tmp_path):
    xp, device = _strict_device1()
    ref, got, X = _fit_pair(Ridge(), "regression", (xp, device))
    oxlearn.save(got, tmp_path / "m.oxl")
    with pytest.raises(RuntimeError, match=r"device 'nowhere', which this machine does not "
                       r"have .*oxlearn.load\(path, device=\.\.\.\)"):
        oxlearn.load(tmp_path / "m.oxl", device="nowhere")
    other = xp.Device("device2")
    moved = oxlearn.load(tmp_path / "m.oxl", device=str(other))
    _assert_same_model(moved, ref, X, ("predict",), (xp, other))
    with oxlearn.config_context(load_device=str(other)):
        unpickled = pickle.loads(pickle.dumps(got))
    _assert_same_model(unpickled, ref, X, ("predict",), (xp, other))


def test_predicting_on_another_namespace_or_device_is_refused():
    xp, device = _strict_device1()
    _, got, X = _fit_pair(KMeans(n_clusters=2, n_init=1, random_state=0), "regression",
                          (xp, device))
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match=r"KMeans.predict\(\) must use the same namespace"
                           r".*the input is numpy"):
            got.predict(X)
        with pytest.raises(ValueError, match="the input is array_api_strict on .*CPU_DEVICE"):
            got.predict(xp.asarray(X, device=xp.Device("CPU_DEVICE")))
        # The model's own device, and to_numpy() for numpy input.
        on_device = got.predict(xp.asarray(X, device=device))
        assert_array_equal(got.to_numpy().predict(X), _host(on_device))


def test_mixed_inputs_follow_X():
    """y and sample_weight from another namespace are moved; X decides."""
    xp, device = _strict_device1()
    X, y = _data("regression")
    w = np.linspace(0.5, 2.0, len(y))
    ref = LinearRegression().fit(X, y, sample_weight=w)
    with sklearn.config_context(array_api_dispatch=True):
        got = LinearRegression().fit(xp.asarray(X, device=device), y, sample_weight=w)
        host = LinearRegression().fit(X, xp.asarray(y, device=device),
                                      sample_weight=xp.asarray(w, device=device))
    _assert_placed(got.coef_, (xp, device))
    assert_array_equal(_host(got.coef_), ref.coef_)
    assert type(host.coef_) is np.ndarray
    assert_array_equal(host.coef_, ref.coef_)


def test_a_failed_fit_leaves_the_model_as_it_was():
    xp, device = _strict_device1()
    _, got, X = _fit_pair(LinearRegression(), "regression", (xp, device))
    before = dict(vars(got))
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError):
            got.fit(xp.asarray(X[:, :3], device=device), xp.asarray(np.ones(7), device=device))
    assert vars(got).keys() == before.keys()
    assert all(vars(got)[k] is v for k, v in before.items())


def test_without_dispatch_nothing_changes():
    X, y = _data("regression")
    m = LinearRegression().fit(X, y)
    assert type(m.coef_) is np.ndarray and not sklearn.get_config()["array_api_dispatch"]
    assert _array_api.saved_placement(m) == (None, "cpu")


def test_dispatch_is_never_saved_a_fresh_process_must_enable_it(tmp_path):
    xp_device = _strict_device1()
    ref, got, X = _fit_pair(LinearRegression(), "regression", xp_device)
    oxlearn.save(got, tmp_path / "m.oxl")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(got))
    assert b"array_api_dispatch" not in (tmp_path / "m.oxl").read_bytes()
    assert b"array_api_dispatch" not in (tmp_path / "m.pkl").read_bytes()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", ref.predict(X))
    run = _subprocess("""
        import pickle, numpy as np, sklearn, oxlearn
        import array_api_strict as xp
        X = np.load("X.npy")
        Xd = xp.asarray(X, device=xp.Device("device1"))
        for model in (oxlearn.load("m.oxl"), pickle.loads(open("m.pkl", "rb").read())):
            assert not sklearn.get_config()["array_api_dispatch"]
            print("DEVICE:", model.coef_.device)
            try:
                model.predict(Xd)
            except Exception as e:
                print("OFF:", type(e).__name__)
            with sklearn.config_context(array_api_dispatch=True):
                y = model.predict(Xd)
            print("SAME:", bool((np.from_dlpack(y) == np.load("expected.npy")).all()))
    """, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("DEVICE: array_api_strict.Device('device1')") == 2
    assert run.stdout.count("OFF: ") == 2
    assert run.stdout.count("SAME: True") == 2


def test_pairwise_distances_follow_the_input():
    xp, device = _strict_device1()
    X, _ = _data("classification")
    with sklearn.config_context(array_api_dispatch=True):
        got = pairwise_distances(xp.asarray(X, device=device))
    _assert_placed(got, (xp, device))
    assert_array_equal(_host(got), pairwise_distances(X))


@pytest.mark.parametrize("dispatch", [False, True])
def test_warnings_point_at_the_callers_line(dispatch):
    """The dispatch wrapper is one more frame: warnings still name the user's code."""
    X, _ = _data("classification")
    Xin = X
    if dispatch:
        xp, device = _strict_device1()
        Xin = xp.asarray(X, device=device)
    with sklearn.config_context(array_api_dispatch=dispatch):
        with pytest.warns(RuntimeWarning, match="single cluster") as record:
            KMeans(n_clusters=1, algorithm="elkan", n_init=1).fit(Xin)
        with pytest.warns(UserWarning, match="Only one sample available") as record2:
            EmpiricalCovariance().fit(Xin[:1, ...])
    assert record[0].filename == __file__
    assert record2[0].filename == __file__


@pytest.mark.parametrize("device_name, dtype_name", [("CPU_DEVICE", "float64"),
                                                     ("device1", "float32")])
@pytest.mark.parametrize("est, kind, methods", ESTIMATORS, ids=lambda v: type(v).__name__
                         if hasattr(v, "fit") else None)
def test_sklearn_check_array_api_input_with_values(est, kind, methods, device_name, dtype_name):
    """scikit-learn's own check, also comparing values (its default compares shapes only)."""
    pytest.importorskip("array_api_strict")
    from sklearn.utils.estimator_checks import check_array_api_input

    # The check's data has redundant features: a covariance's log-likelihood
    # (score) is -inf for numpy and array API fits alike, and -inf - -inf
    # fails its tolerance; its attributes are compared bit for bit above.
    values = not isinstance(est, EmpiricalCovariance)
    check_array_api_input(type(est).__name__, est, "array_api_strict", device_name=device_name,
                          dtype_name=dtype_name, check_values=values, check_sample_weight=True)


TORCH = [p for p in NAMESPACES if p.id.startswith("torch")]


@pytest.mark.parametrize("xp_device", TORCH)
def test_attributes_changed_in_place_are_seen(xp_device):
    """Host copies of a torch model's attributes are reused only while unchanged."""
    ref, got, X = _fit_pair(LinearRegression(), "regression", xp_device)
    Xd = _as(xp_device, X)
    with sklearn.config_context(array_api_dispatch=True):
        first = _host(got.predict(Xd))
        assert_array_equal(_host(got.predict(Xd)), first)  # from the cached copies
        got.coef_.mul_(2.0)  # in place: the same tensor, a new version
        ref.coef_ = ref.coef_ * 2.0
        assert_array_equal(_host(got.predict(Xd)), ref.predict(X))
        got.coef_ = got.coef_ * 0.5  # replaced: another tensor
        ref.coef_ = ref.coef_ * 0.5
        assert_array_equal(_host(got.predict(Xd)), ref.predict(X))


def test_a_device_without_float64_gets_float32_outputs():
    """docs/devices.md: devices without float64 (torch mps) get float32, as in scikit-learn."""
    xp = pytest.importorskip("array_api_strict")
    device = xp.Device("no_float64")
    X, y = _data("classification")
    X = X.astype(np.float32)
    ref = KNeighborsClassifier(n_neighbors=4).fit(X, y)
    assert ref.predict_proba(X).dtype == np.float64  # on the host: float64 probabilities
    with sklearn.config_context(array_api_dispatch=True):
        got = KNeighborsClassifier(n_neighbors=4).fit(xp.asarray(X, device=device),
                                                      xp.asarray(y, device=device))
        proba = got.predict_proba(xp.asarray(X, device=device))
    assert proba.dtype == xp.float32 and proba.device == device
    np.testing.assert_array_equal(_host(proba), ref.predict_proba(X).astype(np.float32))
