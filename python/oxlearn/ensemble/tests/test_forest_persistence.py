"""Forests in the canonical form: the flat node arrays persist (pickle,
joblib, model files, memory-mapped loads), forged files are refused before
any traversal, stock scikit-learn forests convert both ways, and the
``oxlearn`` binary serves forest files."""

import json
import pickle
import subprocess

import joblib
import numpy as np
import pytest
import sklearn.ensemble as ske
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.datasets import make_classification, make_regression

import oxlearn
from oxlearn import _core
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from oxlearn.exceptions import ModelFileCorruptError
from oxlearn.tests.test_model_file import cli

_FOREST_KEYS = ("tree_offsets", "feature", "threshold", "children_left", "children_right",
                "impurity", "n_node_samples", "weighted_n_node_samples", "value", "_seeds",
                "_feature_importances")


def _clf(n_estimators=4, **kw):
    X, y = make_classification(200, 5, n_informative=3, n_classes=3, random_state=0)
    return RandomForestClassifier(n_estimators=n_estimators, random_state=0, **kw).fit(X, y), X


def _forged(model, arrays=None, **attrs):
    """``model``'s state with arrays and attrs replaced and every checksum
    recomputed, as a deliberate forger would; returns a loader."""
    state = model.__getstate__()
    header = json.loads(state["__oxlearn__"])
    for name, value in (arrays or {}).items():
        state["arrays"][name] = value
        for entry in header["arrays"]:
            if entry["name"] == name:
                entry["shape"] = list(value.shape)
                entry["dtype"] = value.dtype.name
    header["attrs"].update(attrs)
    for entry in header["arrays"]:
        entry["xxh3"] = _core.digest(state["arrays"][entry["name"]])
    header["checksum"] = ""
    header["checksum"] = _core.checksum(json.dumps(header, separators=(",", ":")))
    state["__oxlearn__"] = json.dumps(header, separators=(",", ":"))
    est = type(model).__new__(type(model))
    return lambda: est.__setstate__(state)


def _changed(model, name, edit):
    arr = np.array(model._oxlearn_forest[name])
    edit(arr)
    return {name: arr}


def _split_node(model):
    return int(np.flatnonzero(model._oxlearn_forest["children_left"] >= 0)[0])


@pytest.mark.parametrize("forge, match", [
    (lambda m: _changed(m, "children_left", lambda a: a.__setitem__(0, 10**6)), "children"),
    (lambda m: _changed(m, "children_right", lambda a: a.__setitem__(_split_node(m), 0)),
     "children"),  # a loop back to the root
    (lambda m: _changed(m, "children_left", lambda a: a.__setitem__(0, -1)), "children"),
    (lambda m: _changed(m, "feature", lambda a: a.__setitem__(_split_node(m), 5)),
     "feature 5 is not in"),
    (lambda m: _changed(m, "feature", lambda a: a.__setitem__(_split_node(m), -7)),
     "feature -7"),
    (lambda m: _changed(m, "tree_offsets", lambda a: a.__setitem__(2, a[1] - 1)), "offsets"),
    (lambda m: _changed(m, "tree_offsets", lambda a: a.__setitem__(-1, a[-1] - 1)),
     "tree_offsets"),
    (lambda m: {"value": np.array(m._oxlearn_forest["value"])[:-1]}, "value"),
    (lambda m: {"threshold": np.array(m._oxlearn_forest["threshold"], dtype=np.float32)},
     "threshold.*dtype"),
    (lambda m: {"feature": np.array(m._oxlearn_forest["feature"], dtype=np.int64)},
     "feature.*dtype"),
    (lambda m: {"_seeds": np.zeros(3, dtype=np.int64)}, "_seeds"),
    (lambda m: {"_feature_importances": np.zeros(4)}, "_feature_importances"),
    (lambda m: {"classes_": np.array([2, 1, 0])}, "increasing"),
])
def test_forged_forests_are_refused(forge, match):
    model, _ = _clf()
    with pytest.raises(ModelFileCorruptError, match=match):
        _forged(model, forge(model))()


@pytest.mark.parametrize("attrs, match", [
    ({"n_classes_": 4}, "n_classes_"),
    ({"n_outputs_": 2}, "n_outputs_"),
    ({"_n_samples": 0}, "_n_samples"),
    ({"_n_samples_bootstrap": -3}, "_n_samples_bootstrap"),
    ({"oob_score_": "high"}, "oob_score_"),
])
def test_forged_forest_attributes_are_refused(attrs, match):
    model, _ = _clf()
    with pytest.raises(ModelFileCorruptError, match=match):
        _forged(model, **attrs)()


def test_forged_regressor_and_multi_output_labels_are_refused():
    X, y = make_regression(100, 4, random_state=0)
    reg = ExtraTreesRegressor(n_estimators=2, random_state=0).fit(X, y)
    with pytest.raises(ModelFileCorruptError, match="regressor has no classes"):
        _forged(reg, n_classes_=2)()
    value = np.repeat(np.array(reg._oxlearn_forest["value"]), 2, axis=2)
    with pytest.raises(ModelFileCorruptError, match="last axis is 1"):
        _forged(reg, {"value": value})()
    Y = np.c_[y > 0, y > 1].astype(int)
    clf = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, Y)
    bad = {"__ndarray__": [1, 0], "dtype": "<i8", "shape": [2]}
    ok = {"__ndarray__": [0, 1], "dtype": "<i8", "shape": [2]}
    with pytest.raises(ModelFileCorruptError, match="_classes_per_output.*output 0"):
        _forged(clf, _classes_per_output=[bad, ok])()
    with pytest.raises(ModelFileCorruptError, match="_classes_per_output"):
        _forged(clf, _classes_per_output=[ok])()
    with pytest.raises(ModelFileCorruptError, match="n_classes_"):
        _forged(clf, n_classes_=[2, 3])()


def _forged_file(model, path, arrays):
    """Save ``model``, then rewrite ``arrays`` in the file with every checksum recomputed."""
    from oxlearn.tests.test_model_file import _write_forged

    oxlearn.save(model, path)
    header = json.loads(_core.open_model_file(np.fromfile(path, np.uint8),
                                              oxlearn._persistence.runtime_versions(),
                                              False)[0])
    state = model.__getstate__()["arrays"]
    state.update(arrays)
    _write_forged(path, header, [(e["name"], state[e["name"]]) for e in header["arrays"]])


def test_forged_file_never_reaches_a_traversal(tmp_path):
    """A bad child index with valid checksums: refused on a full load; a
    memory-mapped load (which reads no node at load) refuses it before the
    first prediction, tree building or pickling, every time."""
    model, X = _clf()
    path = tmp_path / "f.oxl"
    _forged_file(model, path, _changed(model, "children_left", lambda a: a.__setitem__(0, 10**6)))
    with pytest.raises(ModelFileCorruptError, match="children"):
        oxlearn.load(path)
    lazy = oxlearn.load(path, mmap=True)
    for use in (lazy.predict, lazy.predict_proba, lazy.apply):
        with pytest.raises(ModelFileCorruptError, match="children"):
            use(X)
    with pytest.raises(ModelFileCorruptError, match="children"):
        lazy.estimators_  # noqa: B018 (scikit-learn's trees would trust the index)
    with pytest.raises(ModelFileCorruptError):
        pickle.dumps(lazy)
    out = subprocess.run([cli(), "predict", str(path), "--input", str(tmp_path / "none.npy"),
                          "--output", str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert out.returncode == 1 and "children" in out.stderr, out.stderr


def test_mmap_load_maps_the_node_arrays(tmp_path):
    model, X = _clf(n_estimators=10)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    loaded = oxlearn.load(path, mmap=True)
    for key in _FOREST_KEYS:
        arr = loaded._oxlearn_forest[key]
        assert isinstance(arr, np.memmap), key
        assert not arr.flags.writeable and not arr.flags.owndata, key
    # Nothing was read at load: a damaged node array is only found on first use.
    raw = bytearray(path.read_bytes())
    off = raw.index(model._oxlearn_forest["children_right"].tobytes())
    raw[off + 4] ^= 0x40
    (tmp_path / "bad.oxl").write_bytes(bytes(raw))
    lazy = oxlearn.load(tmp_path / "bad.oxl", mmap=True)
    with pytest.raises(ModelFileCorruptError, match="checksum mismatch"):
        lazy.predict(X)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.__dict__.get("_oxlearn_estimators") is None  # trees are built only on request
    assert len(loaded.estimators_) == 10


def test_joblib_mmap_is_zero_copy(tmp_path):
    model, X = _clf(n_estimators=6)
    joblib.dump(model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib", mmap_mode="r")
    assert isinstance(loaded._oxlearn_forest["value"], np.memmap)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_pickle_no_larger_than_stock(cls):
    X, y = make_classification(3000, 12, random_state=0)
    # Summed over a few seeds: ten trees' node counts vary by seed (both
    # forests draw the same bootstraps, but grow different trees on them).
    ours = [pickle.dumps(cls(n_estimators=10, random_state=rs).fit(X, y)) for rs in range(3)]
    stock = [pickle.dumps(getattr(ske, cls.__name__)(n_estimators=10, random_state=rs)
                          .fit(X, y)) for rs in range(3)]
    assert sum(map(len, ours)) <= sum(map(len, stock))
    ours, stock = ours[0], stock[0]
    # estimators_ is never pickled: no fitted scikit-learn Tree travels (the
    # unfitted tree template, `estimator`, does, as in scikit-learn's pickle).
    assert b"sklearn.tree._tree" not in ours and b"sklearn.tree._tree" in stock


def test_multi_output_and_string_labels_persist(tmp_path):
    X, y = make_classification(200, 5, n_informative=3, n_classes=3, random_state=0)
    Y = np.c_[np.array(["ant", "bee", "cat"])[y], (y % 2).astype(str)].astype(object)
    model = ExtraTreesClassifier(n_estimators=4, random_state=0).fit(X, Y)
    oxlearn.save(model, tmp_path / "m.oxl")
    for loaded in (pickle.loads(pickle.dumps(model)), oxlearn.load(tmp_path / "m.oxl"),
                   oxlearn.load(tmp_path / "m.oxl", mmap=True)):
        assert_array_equal(loaded.predict(X), model.predict(X))
        assert [list(c) for c in loaded.classes_] == [list(c) for c in model.classes_]
        assert loaded.n_classes_ == model.n_classes_ == [3, 2]
    Yr = make_regression(200, 5, n_targets=3, random_state=0)[1]
    reg = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, Yr)
    assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


@pytest.mark.parametrize("make", [
    lambda X, y: RandomForestRegressor(n_estimators=3, criterion="absolute_error",
                                       random_state=0).fit(X, y),
    lambda X, y: ExtraTreesRegressor(n_estimators=3, random_state=0).fit(sparse.csr_matrix(X), y),
    lambda X, y: RandomForestRegressor(n_estimators=3, monotonic_cst=[1, 0, 0, 0],
                                       random_state=0).fit(X, y),
])
def test_fallback_forests_persist_in_the_flat_form(make, tmp_path):
    X, y = make_regression(150, 4, random_state=0)
    model = make(X, y)
    assert "_oxlearn_forest" in model.__dict__ and "estimators_" not in model.__dict__
    trees = model.estimators_  # scikit-learn's own, kept
    oxlearn.save(model, tmp_path / "m.oxl")
    for loaded in (pickle.loads(pickle.dumps(model)), oxlearn.load(tmp_path / "m.oxl")):
        assert_array_equal(loaded.predict(X), model.predict(X))
        # Sparse X: scikit-learn's own prediction (it divides where Rust multiplies).
        assert_allclose(loaded.predict(sparse.csr_matrix(X)), model.predict(X), rtol=1e-13)
        for a, b in zip(loaded.estimators_, trees, strict=True):
            assert_array_equal(a.predict(X), b.predict(X))


def test_missing_values_fallback_keeps_its_routing(tmp_path):
    X, y = make_classification(200, 5, random_state=0)
    X[::5, 1] = np.nan
    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y)
    assert "missing_go_to_left" in model._oxlearn_forest
    oxlearn.save(model, tmp_path / "m.oxl")
    loaded = oxlearn.load(tmp_path / "m.oxl")
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("ours, n_outputs", [
    (RandomForestClassifier, 1), (ExtraTreesClassifier, 1), (RandomForestRegressor, 1),
    (ExtraTreesRegressor, 2),
])
def test_from_and_to_sklearn(ours, n_outputs, tmp_path):
    stock_cls = getattr(ske, ours.__name__)
    if ours in (RandomForestClassifier, ExtraTreesClassifier):
        X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
        y = np.array(["x", "y", "z"])[y]
    else:
        X, y = make_regression(300, 6, n_targets=n_outputs, random_state=0)
    stock = stock_cls(n_estimators=8, max_depth=6, random_state=0).fit(X, y)
    model = oxlearn.from_sklearn(stock)
    assert type(model) is ours and len(model.estimators_) == 8
    assert_allclose(model.predict_proba(X) if hasattr(model, "predict_proba")
                    else model.predict(X),
                    stock.predict_proba(X) if hasattr(stock, "predict_proba")
                    else stock.predict(X), rtol=1e-12, atol=1e-15)
    assert_allclose(model.feature_importances_, stock.feature_importances_, rtol=1e-12)
    assert_array_equal(model.apply(X), stock.apply(X))
    # A stock model saved by oxlearn is served by the binary, as Python predicts.
    oxlearn.save(stock, tmp_path / "m.oxl")
    loaded = oxlearn.load(tmp_path / "m.oxl")
    assert_array_equal(loaded.predict(X), model.predict(X))
    np.save(tmp_path / "X.npy", X)
    subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                    str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")], check=True)
    assert_array_equal(np.load(tmp_path / "y.npy"), model.predict(X))
    # ... and back: the same trees, so the same predictions, without oxlearn.
    back = model.to_sklearn()
    assert type(back) is stock_cls
    blob = pickle.dumps(back)
    assert b"oxlearn" not in blob
    assert_array_equal(pickle.loads(blob).predict(X), stock.predict(X))
    fitted = ours(n_estimators=5, random_state=0).fit(X, y)
    plain = fitted.to_sklearn()
    assert type(plain) is stock_cls and b"oxlearn" not in pickle.dumps(plain)
    if hasattr(plain, "predict_proba"):
        assert_allclose(plain.predict_proba(X), fitted.predict_proba(X), rtol=1e-12, atol=1e-15)
    else:
        assert_allclose(plain.predict(X), fitted.predict(X), rtol=1e-12)


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("labels", [np.array(["no", "yes", "maybe"]), np.array([-4, 2, 9])])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cli_predicts_forest_labels(cls, labels, dtype, tmp_path):
    X, y = make_classification(300, 5, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=1)
    X = X.astype(dtype)
    model = cls(n_estimators=6, random_state=0).fit(X, labels[y])
    oxlearn.save(model, tmp_path / "m.oxl")
    Xq = X + np.asarray(0.05, dtype=dtype)  # off the training points
    np.save(tmp_path / "X.npy", Xq)
    subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                    str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")], check=True)
    got = np.load(tmp_path / "y.npy")
    assert_array_equal(got, model.predict(Xq))
    assert got.dtype == model.predict(Xq).dtype


def test_cli_forest_regressor_outputs_and_refusals(tmp_path):
    X, Y = make_regression(200, 4, n_targets=2, random_state=0)
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, Y)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X)
    subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                    str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")], check=True)
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (200, 2) and got.dtype == np.float64
    assert_array_equal(got, model.predict(X))
    clf = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, np.c_[Y > 0].astype(int))
    oxlearn.save(clf, tmp_path / "c.oxl")
    out = subprocess.run([cli(), "predict", str(tmp_path / "c.oxl"), "--input",
                          str(tmp_path / "X.npy"), "--output", str(tmp_path / "c.npy")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "several outputs" in out.stderr, out.stderr
    np.save(tmp_path / "X3.npy", X[:, :3])
    out = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                          str(tmp_path / "X3.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    with pytest.raises(ValueError) as python:
        model.predict(X[:, :3])
    assert out.returncode == 1 and out.stderr == f"oxlearn: {python.value}\n"
