"""Pickle-family round trips and the checks every load performs."""

import copy
import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import cloudpickle
import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import InconsistentVersionWarning

import oxlearn
from oxlearn import _core
from oxlearn.cluster import DBSCAN, KMeans
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from oxlearn.exceptions import (
    EnvironmentMismatchWarning,
    IncompatibleModelError,
    ModelFileCorruptError,
    OxlearnVersionWarning,
)
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
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, LocalOutlierFactor
from oxlearn.tests._golden import output as golden_output
from oxlearn.tests._kinds import with_every_kind

# The cases these checks are about, then an example of every other kind (_kinds).
ESTIMATORS = with_every_kind([
    LinearRegression(),
    LinearRegression(fit_intercept=False, tol=1e-4),
    Ridge(alpha=np.array([0.5, 2.0])),
    IncrementalLinearRegression(batch_size=64),
    IncrementalRidge(alpha=3.0),
    ElasticNet(alpha=0.5, l1_ratio=0.7),
    # Random selection stands for the multi-output case (see _data).
    ElasticNet(alpha=0.2, selection="random", random_state=0),
    Lasso(alpha=0.1, fit_intercept=False),
    DBSCAN(eps=1.5, min_samples=4),
    TSNE(perplexity=10, max_iter=260, random_state=0),
    LogisticRegression(),
    LogisticRegression(solver="newton-cg", C=0.5, class_weight="balanced"),
    KNeighborsRegressor(3, weights="distance"),
    KMeans(n_clusters=3, n_init=2, random_state=0),
    KNeighborsClassifier(),
    KNeighborsClassifier(4, weights="distance", metric="minkowski", p=1.5),
    LocalOutlierFactor(15, novelty=True, contamination=0.05),
    RandomForestClassifier(n_estimators=5, random_state=0),
    ExtraTreesClassifier(n_estimators=4, max_depth=5, class_weight="balanced", random_state=0),
    RandomForestRegressor(n_estimators=5, max_samples=0.5, random_state=0),
    ExtraTreesRegressor(n_estimators=4, bootstrap=True, random_state=0),
    # Fitted by scikit-learn (fallback): persists in the same flat form.
    RandomForestRegressor(n_estimators=3, criterion="absolute_error", random_state=0),
])


def _data(est):
    if is_classifier(est):
        return make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    multi = (isinstance(est, Ridge) and np.ndim(est.alpha) == 1) or (
        isinstance(est, ElasticNet) and est.selection == "random")
    X, y = make_regression(300, 6, n_targets=2 if multi else 1, noise=1.0, random_state=0)
    return X, y


def _fitted(est):
    X, y = _data(est)
    return clone(est).fit(X, y), X


def _output(model, X):
    """What a model gives for X: what its golden files record (predictions,
    else transform, mahalanobis, the labels of the data it was fitted on,
    neighbours, or its fitted arrays)."""
    return golden_output(model, X)


def _fitted_names(model):
    """The model's persisted fitted attributes."""
    arrays = [name for name, _ in _core.schema(model._oxlearn_kind)["arrays"]]
    return [n for n in arrays if hasattr(model, n)] + ["n_features_in_"]


def _roundtrips(tmp_path):
    def via_joblib(m):
        joblib.dump(m, tmp_path / "m.joblib")
        return joblib.load(tmp_path / "m.joblib")

    def via_joblib_mmap(m):
        joblib.dump(m, tmp_path / "mm.joblib")
        return joblib.load(tmp_path / "mm.joblib", mmap_mode="r")

    return {
        "pickle": lambda m: pickle.loads(pickle.dumps(m)),
        "cloudpickle": lambda m: cloudpickle.loads(cloudpickle.dumps(m)),
        "deepcopy": copy.deepcopy,
        "joblib": via_joblib,
        "joblib-mmap": via_joblib_mmap,
    }


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: repr(e))
def test_roundtrips_bit_identical(est, tmp_path):
    model, X = _fitted(est)
    expected = _output(model, X)
    for how, rt in _roundtrips(tmp_path).items():
        loaded = rt(model)
        assert type(loaded) is type(model)
        assert_array_equal(_output(loaded, X), expected, err_msg=how)
        assert loaded.get_params().keys() == model.get_params().keys()
        for name in _fitted_names(model):
            assert_array_equal(getattr(loaded, name), getattr(model, name))
            assert np.asarray(getattr(loaded, name)).dtype == np.asarray(getattr(model, name)).dtype
    assert_array_equal(_output(clone(model).fit(X, expected), X).shape, expected.shape)


def test_joblib_mmap_is_zero_copy(tmp_path):
    X, y = make_regression(2000, 300, random_state=0)
    model = LinearRegression().fit(X, y)
    joblib.dump(model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib", mmap_mode="r")
    assert isinstance(loaded.coef_, np.memmap)
    assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: repr(e))
def test_unfitted_pickles(est):
    loaded = pickle.loads(pickle.dumps(est))
    assert repr(loaded) == repr(est)
    assert not hasattr(loaded, "n_features_in_")


def test_incremental_continues_after_load():
    X, y = make_regression(1000, 5, random_state=1)
    a = IncrementalLinearRegression().partial_fit(X[:500], y[:500])
    b = pickle.loads(pickle.dumps(a)).partial_fit(X[500:], y[500:])
    a.partial_fit(X[500:], y[500:])
    assert_array_equal(a.coef_, b.coef_)
    assert b.n_samples_seen_ == 1000


FRESH = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np
    X = np.load(sys.argv[2])
    with open(sys.argv[1], "rb") as f:
        model = pickle.load(f)
    from oxlearn.tests._golden import output  # test_persistence._output
    np.save(sys.argv[3], output(model, X))
    """
)


def _predict_in_fresh_process(model, X, tmp_path):
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X)
    subprocess.run(
        [sys.executable, "-c", FRESH, str(tmp_path / "model.pkl"), str(tmp_path / "X.npy"),
         str(tmp_path / "out.npy")],
        check=True,
    )
    return np.load(tmp_path / "out.npy")


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: repr(e))
def test_fresh_process_bit_identical(est, tmp_path):
    model, X = _fitted(est)
    assert_array_equal(_predict_in_fresh_process(model, X, tmp_path), _output(model, X))


def test_issue_example_and_patched(tmp_path):
    X, y = make_regression()
    model = oxlearn.linear_model.LinearRegression().fit(X, y)
    assert_array_equal(_predict_in_fresh_process(model, X, tmp_path), model.predict(X))
    oxlearn.patch_sklearn()
    try:
        from sklearn.linear_model import LinearRegression as Patched

        patched = Patched().fit(X, y)
        assert isinstance(patched, LinearRegression)
        assert_array_equal(_predict_in_fresh_process(patched, X, tmp_path), patched.predict(X))
    finally:
        oxlearn.unpatch_sklearn()


ISSUE_SNIPPET = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np
    from sklearn.datasets import make_regression
    import oxlearn
    X, y = make_regression()
    if sys.argv[1] == "patched":
        oxlearn.patch_sklearn()
        from sklearn.linear_model import LinearRegression
        model = LinearRegression().fit(X, y)
        assert type(model).__module__.startswith("oxlearn.")
    else:
        model = oxlearn.linear_model.LinearRegression().fit(X, y)
    with open(sys.argv[2], "wb") as f:
        pickle.dump(model, f)
    with open(sys.argv[2], "rb") as f:
        loaded = pickle.load(f)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    """
)


@pytest.mark.parametrize("mode", ["plain", "patched"])
def test_issue_snippet_runs_unchanged(mode, tmp_path):
    subprocess.run([sys.executable, "-c", ISSUE_SNIPPET, mode, str(tmp_path / "m.pkl")],
                   check=True)


def test_config_is_not_saved(tmp_path):
    X, y = make_regression(200, 4, random_state=0)
    with oxlearn.config_context(assume_finite=True, strict_persistence=True,
                                target_offload="cpu"):
        model = Ridge().fit(X, y)
        state = model.__getstate__()
    header = json.loads(state["__oxlearn__"])
    for key in ("assume_finite", "strict_persistence", "target_offload"):
        assert key not in json.dumps(header)
    LinearRegression.get_hyperparameters("fit").chunk_rows = 128
    try:
        assert "chunk_rows" not in pickle.dumps(LinearRegression().fit(X, y)).decode("latin1")
    finally:
        LinearRegression.reset_hyperparameters("fit")
    assert_array_equal(_predict_in_fresh_process(model, X, tmp_path), model.predict(X))


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: repr(e))
def test_pickle_size_close_to_sklearn(est):
    model, _ = _fitted(est)
    try:
        ref_cls = type(est)._sklearn_counterpart()
    except TypeError:
        # scikit-learn-intelex's APIs (BasicStatistics): no scikit-learn class
        # to compare with; the reference is the fitted arrays alone.
        ref = {n: getattr(model, n) for n in _fitted_names(model)}
    else:
        params = {k: v for k, v in est.get_params().items() if k in ref_cls().get_params()}
        ref = ref_cls(**params).fit(*_data(est))
    # The incremental state (p x p moments) is part of the model: partial_fit
    # must be able to continue after loading. Count it as array payload.
    extra = sum(getattr(model, n).nbytes for n in ("_cxx", "_cxy", "_mean_x", "_mean_y")
                if hasattr(model, n))
    assert len(pickle.dumps(model)) <= 1.1 * len(pickle.dumps(ref)) + 4096 + extra


# --- every load checks integrity and compatibility -------------------------


def _state():
    X, y = make_regression(100, 3, random_state=0)
    model = LinearRegression().fit(X, y)
    return model.__getstate__()


def _load(state):
    est = LinearRegression.__new__(LinearRegression)
    est.__setstate__(state)
    return est


def _forge(state=None, new_arrays=None, **changes):
    """A state whose header fields (and arrays) were edited and whose checksum
    was recomputed, as a deliberate forger would."""
    state = _state() if state is None else state
    state["arrays"].update(new_arrays or {})
    header = json.loads(state["__oxlearn__"])
    header.update(changes)
    for entry in header["arrays"]:
        entry["xxh3"] = _core.digest(state["arrays"][entry["name"]])
    header["checksum"] = ""
    header["checksum"] = _core.checksum(json.dumps(header, separators=(",", ":")))
    state["__oxlearn__"] = json.dumps(header, separators=(",", ":"))
    return state


def test_flipped_array_byte_is_corrupt():
    state = _state()
    raw = bytearray(state["arrays"]["coef_"].tobytes())
    for pos in range(len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        state["arrays"]["coef_"] = np.frombuffer(bytes(bad), dtype=np.float64)
        with pytest.raises(ModelFileCorruptError, match="checksum mismatch"):
            _load(state)


def test_flipped_header_byte_is_refused():
    state = _state()
    header = state["__oxlearn__"].encode()
    for pos in range(len(header)):
        bad = bytearray(header)
        bad[pos] ^= 0x01
        state["__oxlearn__"] = bad.decode("latin1")
        with pytest.raises((ModelFileCorruptError, IncompatibleModelError)):
            _load(state)


def test_not_an_oxlearn_state():
    with pytest.raises(ModelFileCorruptError, match="not an oxlearn model state"):
        _load({"coef_": np.zeros(3)})


def test_forged_structure_with_valid_checksum_is_refused():
    # Even a forger who recomputes the checksum cannot get past validation.
    state = _state()
    manifest = json.loads(state["__oxlearn__"])["arrays"]
    manifest[0]["shape"] = [5]
    with pytest.raises(ModelFileCorruptError, match=r"coef_.*shape is \[5\], expected \(3\)"):
        _load(_forge(state, {"coef_": np.zeros(5)}, arrays=manifest))
    with pytest.raises(ModelFileCorruptError, match="rank_"):
        _load(_forge(attrs={"rank_": 99}))
    with pytest.raises(ModelFileCorruptError, match="n_features_in"):
        _load(_forge(n_features_in=0))
    state = _state()
    manifest = json.loads(state["__oxlearn__"])["arrays"]
    manifest.append({"name": "payload", "dtype": "uint8", "shape": [4], "xxh3": ""})
    with pytest.raises(ModelFileCorruptError, match="unexpected array"):
        _load(_forge(state, {"payload": np.zeros(4, np.uint8)}, arrays=manifest))


def test_unknown_kind_is_refused():
    with pytest.raises(IncompatibleModelError, match="unknown model kind \"builtins.eval\""):
        _load(_forge(kind="builtins.eval"))


@pytest.mark.parametrize("changes, error, match", [
    ({"format_version": "2.0"}, IncompatibleModelError, "format version 2.0 is incompatible"),
    ({"format_version": "1.7"}, IncompatibleModelError, "format version 1.7 is newer"),
    ({"python_version": "2.7.18"}, IncompatibleModelError, "Python major versions differ"),
])
def test_forged_versions_errors(changes, error, match):
    with pytest.raises(error, match=match):
        _load(_forge(**changes))


@pytest.mark.parametrize("changes, category, match", [
    ({"oxlearn_version": "0.0.1"}, OxlearnVersionWarning, "saved by oxlearn 0.0.1"),
    ({"sklearn_version": "1.0"}, InconsistentVersionWarning, "1.0"),
    ({"python_version": "3.99.0"}, EnvironmentMismatchWarning, "Python 3.99.0"),
    ({"numpy_version": "1.26.4"}, EnvironmentMismatchWarning, "numpy 1.26.4"),
])
def test_forged_versions_warnings_and_strict(changes, category, match):
    state = _forge(**changes)
    with pytest.warns(category, match=match):
        model = _load(state)
    assert model.coef_.shape == (3,)
    with oxlearn.config_context(strict_persistence=True):
        with pytest.raises(IncompatibleModelError, match="strict_persistence"):
            _load(_forge(**changes))


def test_older_python_minor_and_same_versions_load_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load(_forge(python_version="3.8.0"))
        _load(_state())


@pytest.mark.parametrize("labels", [
    np.array(["setosa", "versicolor", "virginica"]),
    np.array(["no", "yes"], dtype=object),
    np.array([3, 9, 200], dtype=np.uint16),
    np.array([-1.0, 2.0, 4.0], dtype=np.float32),
])
def test_classifier_labels_round_trip(labels, tmp_path):
    X, y = make_classification(200, 4, n_informative=3, n_redundant=0,
                               n_classes=len(labels), random_state=0)
    model = LogisticRegression().fit(X, labels[y])
    for how, rt in _roundtrips(tmp_path).items():
        loaded = rt(model)
        assert loaded.classes_.dtype == model.classes_.dtype, how
        assert_array_equal(loaded.classes_, model.classes_)
        assert_array_equal(loaded.predict(X), model.predict(X))
        assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def _logistic_state():
    X, y = make_classification(100, 3, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=0)
    return LogisticRegression().fit(X, np.array(["a", "b", "c"])[y]).__getstate__()


def _load_logistic(state):
    est = LogisticRegression.__new__(LogisticRegression)
    est.__setstate__(state)
    return est


@pytest.mark.parametrize("classes, match", [
    ({"__ndarray__": ["b", "a", "c"], "dtype": "<U1", "shape": [3]}, "not strictly increasing"),
    ({"__ndarray__": ["a", "a", "c"], "dtype": "<U1", "shape": [3]}, "not strictly increasing"),
    ({"__ndarray__": ["a", "b"], "dtype": "<U1", "shape": [2]}, "coef_"),
    ({"__ndarray__": ["a", "b", "cc"], "dtype": "<U1", "shape": [3]}, "longer than dtype"),
    ({"__ndarray__": ["a", "b", "c"], "dtype": "<f2", "shape": [3]}, "not a value of dtype <f2"),
        ({"__ndarray__": [0.5, 1.5, 2.5], "dtype": "<f2", "shape": [3]}, "not a label dtype"),
    ({"__ndarray__": [1, 2, 300], "dtype": "|i1", "shape": [3]}, "not a value of dtype [|]i1"),
    ({"__ndarray__": ["a", "b", "c"], "dtype": "|O", "shape": [4]}, "holds 4 elements"),
    ("abc", "expected an object"),
])
def test_forged_class_labels_are_refused(classes, match):
    state = _logistic_state()
    attrs = json.loads(state["__oxlearn__"])["attrs"]
    assert attrs["classes_"]["dtype"] == "<U1"
    with pytest.raises(ModelFileCorruptError, match=match):
        _load_logistic(_forge(state, attrs=dict(attrs, classes_=classes)))
    # Labels both as an array and as an attribute: ambiguous, refused.
    state = _logistic_state()
    header = json.loads(state["__oxlearn__"])
    header["arrays"].append({"name": "classes_", "dtype": "int64", "shape": [3], "xxh3": ""})
    with pytest.raises(ModelFileCorruptError, match="both as an array and as an attribute"):
        _load_logistic(_forge(state, {"classes_": np.arange(3)}, arrays=header["arrays"]))


def test_forged_logistic_shapes_are_refused():
    state = _logistic_state()
    header = json.loads(state["__oxlearn__"])
    manifest = header["arrays"]
    for e in manifest:
        if e["name"] == "n_iter_":
            e["shape"] = [1]
    with pytest.raises(ModelFileCorruptError, match="negative iteration count"):
        _load_logistic(_forge(state, {"n_iter_": np.array([-4], dtype=np.int32)},
                              arrays=manifest))
    state = _logistic_state()
    with pytest.raises(ModelFileCorruptError, match="_coef_sparse"):
        _load_logistic(_forge(state, attrs=dict(json.loads(state["__oxlearn__"])["attrs"],
                                                _coef_sparse=False)))


def test_float_parameters_survive_bit_exactly(tmp_path):
    # The header goes through Rust's JSON parser and printer: every float must
    # come back as the same double (shortest repr both ways).
    rng = np.random.default_rng(0)
    values = [0.1 + 0.2, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
    values += (np.abs(rng.standard_normal(300)) * 10.0 ** rng.integers(-300, 300, 300)).tolist()
    for v in values:
        model = LogisticRegression(C=v, tol=v)
        assert pickle.loads(pickle.dumps(model)).get_params()["C"] == v, v
        header = json.loads(model.__getstate__()["__oxlearn__"])
        assert header["params"]["tol"] == v, v
    oxlearn.save(LogisticRegression(C=values[0]), tmp_path / "m.oxl")
    assert oxlearn.load(tmp_path / "m.oxl").C == values[0]
