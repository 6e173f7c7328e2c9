"""pickle, copy and joblib keep every estimator state scikit-learn's do (issue 21).

Unfitted, fitted and half-fitted estimators; parameters the model file cannot
hold (RandomState, callables, dicts with non-string keys); attributes a user
set. The canonical, checksummed form still carries the fitted model, and
``oxlearn.save`` stays strict.
"""

import copy
import json
import pickle

import cloudpickle
import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.callback._callback_context import _from_reconstruction_attributes
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import VotingClassifier
from sklearn.inspection import permutation_importance
from sklearn.model_selection import GridSearchCV, cross_val_score

import oxlearn
from oxlearn import _core
from oxlearn._io import _registry
from oxlearn._persistence import EXTRAS_KEY, STATE_KEY
from oxlearn.cluster import KMeans
from oxlearn.ensemble import RandomForestClassifier
from oxlearn.linear_model import LogisticRegression
from oxlearn.neighbors import KNeighborsClassifier
from oxlearn.tests._golden import output

KINDS = sorted(_registry().values(), key=lambda c: c.__name__)


def _new(cls):
    """``cls()``, made deterministic."""
    est = cls()
    if "random_state" in est.get_params():
        est.set_params(random_state=0)
    return est


def _data(est):
    if is_classifier(est):
        return make_classification(120, 5, n_informative=3, n_classes=3, random_state=0)
    return make_regression(120, 5, noise=1.0, random_state=0)


def _fit(est):
    X, y = _data(est)
    return est.fit(X, y), X


def _roundtrips(tmp_path):
    def via_joblib(m):
        joblib.dump(m, tmp_path / "m.joblib")
        return joblib.load(tmp_path / "m.joblib")

    return {
        "pickle": lambda m: pickle.loads(pickle.dumps(m)),
        "cloudpickle": lambda m: cloudpickle.loads(cloudpickle.dumps(m)),
        "joblib": via_joblib,
        "deepcopy": copy.deepcopy,
        "copy": copy.copy,
    }


def _same_dict(a, b):
    """The two estimators' ``__dict__`` agree, caches aside."""
    keys = {k for k in vars(a) if not k.startswith("_oxl") and k not in ("_tree",
                                                                           "_oxlearn_estimators")}
    assert keys <= set(vars(b)), keys - set(vars(b))
    for k in keys:
        va, vb = vars(a)[k], vars(b)[k]
        if isinstance(va, np.ndarray):
            assert_array_equal(va, vb, err_msg=k)
        elif isinstance(va, float) and np.isnan(va):
            assert np.isnan(vb), k
        elif hasattr(va, "get_params"):
            assert type(va) is type(vb) and va.get_params() == vb.get_params(), k
        elif not isinstance(va, (dict, list)) or k != "_oxlearn_forest":
            try:
                equal = bool(va == vb)
            except (ValueError, TypeError):  # arrays inside containers
                equal = pickle.dumps(va) == pickle.dumps(vb)
            assert equal, (k, va, vb)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
def test_unfitted_estimators_round_trip_and_fit(cls, tmp_path):
    est = _new(cls)
    X, y = _data(est)
    expected = output(clone(est).fit(X, y), X)
    for how, rt in _roundtrips(tmp_path).items():
        back = rt(est)
        assert type(back) is cls
        assert back.get_params() == est.get_params(), how
        _same_dict(est, back)  # e.g. a forest's tree template (estimator)
        assert_array_equal(output(back.fit(X, y), X), expected, err_msg=how)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
def test_fitted_estimators_keep_extra_attributes(cls, tmp_path):
    model, X = _fit(_new(cls))
    model.custom_ = {"note": "kept", "values": np.arange(3)}
    model._private_note = [1, 2]
    state = model.__getstate__()
    # The fitted model travels in the checksummed canonical form.
    assert json.loads(state[STATE_KEY])["fitted"] is True
    assert "custom_" in state[EXTRAS_KEY]["attrs"]
    expected = output(model, X)
    for how, rt in _roundtrips(tmp_path).items():
        back = rt(model)
        assert_array_equal(output(back, X), expected, err_msg=how)
        assert back.custom_["note"] == "kept" and back._private_note == [1, 2], how
        assert_array_equal(back.custom_["values"], np.arange(3))
        _same_dict(model, back)


def _half_fitted(cls):
    """A fitted model missing one fitted array, as during a fit."""
    model, X = _fit(_new(cls))
    schema = _core.schema(model._oxlearn_kind)
    for name, required in schema["arrays"]:
        if required and name in vars(model):
            del model.__dict__[name]
            return model, X
    if "_oxlearn_forest" in vars(model):  # forests keep their arrays in one dict
        del model.__dict__["_oxlearn_forest"]
        return model, X
    for name, _ in schema["arrays"]:  # all optional: none computed yet
        model.__dict__.pop(name, None)
    return model, X


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
def test_half_fitted_estimators_round_trip(cls, tmp_path):
    model, _ = _half_fitted(cls)
    assert json.loads(model.__getstate__()[STATE_KEY])["fitted"] is False
    for how, rt in _roundtrips(tmp_path).items():
        back = rt(model)
        caches = {k for k in vars(model) if k.startswith("_oxl_")} | {
            "_oxlearn_estimators", "_tree"}
        assert set(vars(back)) - {"_oxlearn_estimators"} >= set(vars(model)) - caches, how
        _same_dict(model, back)
    with pytest.raises(ValueError, match="not completely fitted"):
        oxlearn.save(model, tmp_path / "half.oxl")


def test_callback_copy_of_a_half_fitted_estimator():
    # scikit-learn's callbacks copy.copy() the estimator while it fits and
    # set the attributes it has so far: that copy must predict.
    X, y = make_classification(100, 4, random_state=0)
    fitted = LogisticRegression().fit(X, y)
    half = LogisticRegression()
    half.n_features_in_ = 4
    half.classes_ = fitted.classes_
    copied = _from_reconstruction_attributes(
        half, {"coef_": fitted.coef_, "intercept_": fitted.intercept_,
               "n_iter_": fitted.n_iter_})
    assert_array_equal(copied.predict(X), fitted.predict(X))
    assert not hasattr(half, "coef_")


def _function_weights(distances):
    return 1.0 / (1.0 + distances)


def _function_init(X, k, random_state):
    return X[:k].copy()


@pytest.mark.parametrize("est", [
    RandomForestClassifier(n_estimators=4, random_state=np.random.RandomState(0)),
    LogisticRegression(class_weight={0: 1.0, 1: 2.0, 2: 0.5}),
    KNeighborsClassifier(weights=_function_weights),
    KMeans(3, init=_function_init, n_init=1),
], ids=["RandomState", "dict-int-keys", "callable-weights", "callable-init"])
def test_any_parameter_value_round_trips(est, tmp_path):
    for fitted in (False, True):
        model = clone(est) if not fitted else _fit(clone(est))[0]
        X = _data(est)[0]
        for how, rt in _roundtrips(tmp_path).items():
            back = rt(model)
            params, got = model.get_params(), back.get_params()
            assert params.keys() == got.keys()
            for k, v in params.items():
                if isinstance(v, np.random.RandomState):
                    assert isinstance(got[k], np.random.RandomState)
                    assert pickle.dumps(got[k].get_state()) == pickle.dumps(v.get_state())
                else:
                    assert got[k] == v, (how, k)
            if fitted:
                assert_array_equal(back.predict(X), model.predict(X), err_msg=how)


def test_model_file_refuses_what_it_cannot_hold_and_keeps_int_key_dicts(tmp_path):
    X, y = make_classification(100, 5, n_classes=3, n_informative=3, random_state=0)
    with pytest.raises(TypeError, match=r"parameter random_state=RandomState.*pickle"):
        oxlearn.save(RandomForestClassifier(3, random_state=np.random.RandomState(0)).fit(X, y),
                     tmp_path / "rs.oxl")
    with pytest.raises(TypeError, match=r"parameter weights=.*_function_weights.*pickle"):
        oxlearn.save(KNeighborsClassifier(weights=_function_weights).fit(X, y),
                     tmp_path / "w.oxl")
    assert list(tmp_path.iterdir()) == []
    weights = {0: 1.0, 1: 2.0, np.int64(2): 0.5}
    model = LogisticRegression(class_weight=weights).fit(X, y)
    oxlearn.save(model, tmp_path / "cw.oxl")
    loaded = oxlearn.load(tmp_path / "cw.oxl")
    assert loaded.class_weight == {0: 1.0, 1: 2.0, 2: 0.5}
    assert all(type(k) is int for k in loaded.class_weight)
    assert_array_equal(loaded.predict(X), model.predict(X))
    labels = {"a": 1.0, "b": 2.0}
    named = LogisticRegression(class_weight=labels).fit(X, np.array(["a", "b", "a"])[y % 3])
    oxlearn.save(named, tmp_path / "str.oxl")
    assert oxlearn.load(tmp_path / "str.oxl").class_weight == labels


def test_model_file_warns_about_attributes_it_does_not_keep(tmp_path):
    X, y = make_regression(50, 3, random_state=0)
    model = _registry()["linear_model.LinearRegression"]().fit(X, y)
    model.custom_ = 1
    with pytest.warns(UserWarning, match=r"\['custom_'\] .* not saved"):
        oxlearn.save(model, tmp_path / "m.oxl")
    assert not hasattr(oxlearn.load(tmp_path / "m.oxl"), "custom_")


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
def test_model_file_saves_every_fitted_kind_without_warnings(cls, tmp_path, recwarn):
    # Everything a fit sets is in the model, or rebuilt from it on load.
    model, X = _fit(_new(cls))
    oxlearn.save(model, tmp_path / "m.oxl")
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)], [
        str(w.message) for w in recwarn]
    assert_array_equal(output(oxlearn.load(tmp_path / "m.oxl"), X), output(model, X))


# --- parallel model selection pickles estimators to its workers -------------


def _scorer(est, X, y=None):
    """A score every estimator has: its output on X, summed."""
    return float(np.nansum(np.asarray(output(est, X), dtype=np.float64)))


# Estimators (classes); the patched functions are tested with their modules.
PATCHED = [name for name in oxlearn.get_patch_names() if name[0].isupper()]


@pytest.fixture
def patched():
    oxlearn.patch_sklearn()
    try:
        yield
    finally:
        oxlearn.unpatch_sklearn()


def _sklearn_class(name):
    """The stock class ``name`` replaces, found through the patch table."""
    import importlib

    from oxlearn import _patch

    return getattr(importlib.import_module(_patch._PATCHABLE[name][1][0]), name)


@pytest.mark.parametrize("name", PATCHED)
def test_cross_val_score_and_grid_search_in_parallel(name, patched):
    cls = _sklearn_class(name)
    assert cls.__module__.startswith("oxlearn.")
    est = _new(cls)
    X, y = _data(est)
    serial = cross_val_score(est, X, y, cv=3, scoring=_scorer, n_jobs=1)
    parallel = cross_val_score(est, X, y, cv=3, scoring=_scorer, n_jobs=2)
    assert_array_equal(parallel, serial)
    first = next(k for k in est.get_params() if k != "n_jobs")
    grid_param = {first: [est.get_params()[first]]}
    search = GridSearchCV(est, grid_param, cv=2, scoring=_scorer, n_jobs=2).fit(X, y)
    assert type(search.best_estimator_) is cls
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    if is_classifier(est) or is_regressor(est):
        assert_array_equal(search.predict(X), clone(search.best_estimator_).fit(X, y).predict(X))


def test_voting_and_permutation_importance_in_parallel(patched):
    from sklearn.ensemble import RandomForestClassifier as RF
    from sklearn.linear_model import LogisticRegression as LR
    from sklearn.neighbors import KNeighborsClassifier as KNN

    assert RF.__module__.startswith("oxlearn.")
    X, y = make_classification(150, 5, n_informative=3, random_state=0)
    members = [("lr", LR()), ("rf", RF(n_estimators=5, random_state=0)), ("knn", KNN())]
    serial = VotingClassifier(members, voting="soft", n_jobs=1).fit(X, y)
    parallel = VotingClassifier(members, voting="soft", n_jobs=2).fit(X, y)
    assert_array_equal(parallel.predict_proba(X), serial.predict_proba(X))
    forest = RF(n_estimators=5, random_state=0).fit(X, y)
    one = permutation_importance(forest, X, y, n_repeats=3, random_state=0, n_jobs=1)
    two = permutation_importance(forest, X, y, n_repeats=3, random_state=0, n_jobs=2)
    assert_array_equal(two.importances, one.importances)
    scores = cross_val_score(RF(n_estimators=5, random_state=0), X, y, cv=3, n_jobs=2)
    assert_array_equal(scores, cross_val_score(RF(n_estimators=5, random_state=0), X, y, cv=3))
