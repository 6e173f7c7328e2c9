"""Out-of-bag scores, warm starts and per-bootstrap balanced class weights,
all grown in Rust (no fallback)."""

import logging
import pickle
import warnings

import numpy as np
import pytest
import sklearn.ensemble as ske
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification
from sklearn.metrics import accuracy_score, r2_score

import oxlearn
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)


@pytest.fixture
def accelerated_only(caplog):
    """Fails the test if anything in it fell back to scikit-learn."""
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        yield
    assert "fallback" not in caplog.text, caplog.text


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_oob_classifier_matches_sklearn_quality(cls, accelerated_only):
    X, y = load_breast_cancer(return_X_y=True)
    ours = cls(n_estimators=100, oob_score=True, bootstrap=True, random_state=0).fit(X, y)
    stock = getattr(ske, cls.__name__)(n_estimators=100, oob_score=True, bootstrap=True,
                                       random_state=0).fit(X, y)
    assert abs(ours.oob_score_ - stock.oob_score_) < 0.03, (ours.oob_score_, stock.oob_score_)
    d = ours.oob_decision_function_
    assert d.shape == stock.oob_decision_function_.shape == (569, 2)
    assert_allclose(d.sum(axis=1), 1.0, rtol=1e-12)  # every row has out-of-bag trees
    assert ours.oob_score_ == accuracy_score(y, np.argmax(d, axis=1))
    # Out of bag is not in-sample: worse than the training accuracy's perfect fit.
    assert ours.oob_score_ < accuracy_score(y, ours.predict(X)) == 1.0


@pytest.mark.parametrize("cls", [RandomForestRegressor, ExtraTreesRegressor])
def test_oob_regressor_matches_sklearn_quality(cls, accelerated_only):
    X, y = load_diabetes(return_X_y=True)
    ours = cls(n_estimators=100, oob_score=True, bootstrap=True, random_state=0).fit(X, y)
    stock = getattr(ske, cls.__name__)(n_estimators=100, oob_score=True, bootstrap=True,
                                       random_state=0).fit(X, y)
    assert abs(ours.oob_score_ - stock.oob_score_) < 0.06, (ours.oob_score_, stock.oob_score_)
    assert ours.oob_prediction_.shape == (442,)
    assert ours.oob_score_ == r2_score(y, ours.oob_prediction_)
    Y = np.c_[y, -2 * y]
    multi = cls(n_estimators=30, oob_score=True, bootstrap=True, random_state=0).fit(X, Y)
    assert multi.oob_prediction_.shape == (442, 2)
    assert_allclose(multi.oob_prediction_[:, 1], -2 * multi.oob_prediction_[:, 0], rtol=1e-12)


def test_oob_callable_multilabel_and_errors(accelerated_only):
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    seen = {}

    def score(y_true, y_pred):
        seen["shapes"] = (np.shape(y_true), np.shape(y_pred))
        return 0.25

    m = RandomForestClassifier(n_estimators=20, oob_score=score, random_state=0).fit(X, y)
    assert m.oob_score_ == 0.25 and seen["shapes"] == ((300, 1), (300,))
    Y = np.c_[y == 0, y == 1].astype(int)  # multilabel-indicator: supported, as sklearn
    m = RandomForestClassifier(n_estimators=20, oob_score=True, random_state=0).fit(X, Y)
    assert m.oob_decision_function_.shape == (300, 2, 2)
    with pytest.raises(ValueError, match="only available if bootstrap=True"):
        RandomForestClassifier(n_estimators=3, oob_score=True, bootstrap=False).fit(X, y)
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        RandomForestClassifier(n_estimators=3, oob_score=True).fit(X, np.c_[y, y])
    with pytest.warns(UserWarning, match="Some inputs do not have OOB scores"):
        RandomForestClassifier(n_estimators=2, oob_score=True, random_state=0).fit(X, y)


def test_oob_is_thread_count_independent_and_persists(tmp_path):
    X, y = make_classification(1000, 8, random_state=1)
    a = RandomForestClassifier(n_estimators=16, oob_score=True, n_jobs=1, random_state=3)
    b = RandomForestClassifier(n_estimators=16, oob_score=True, n_jobs=4, random_state=3)
    a.fit(X, y)
    b.fit(X, y)
    assert_array_equal(a.oob_decision_function_, b.oob_decision_function_)
    oxlearn.save(a, tmp_path / "m.oxl")
    for loaded in (pickle.loads(pickle.dumps(a)), oxlearn.load(tmp_path / "m.oxl", mmap=True)):
        assert loaded.oob_score_ == a.oob_score_
        assert_array_equal(loaded.oob_decision_function_, a.oob_decision_function_)
    r = RandomForestRegressor(n_estimators=8, oob_score=True, random_state=0).fit(X, y * 1.5)
    assert_array_equal(pickle.loads(pickle.dumps(r)).oob_prediction_, r.oob_prediction_)


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesRegressor])
def test_warm_start_adds_the_trees_a_full_fit_grows(cls, accelerated_only):
    X, y = make_classification(500, 8, random_state=0)
    full = cls(n_estimators=12, random_state=7).fit(X, y)
    warm = cls(n_estimators=5, warm_start=True, random_state=7).fit(X, y)
    first = {k: np.array(v) for k, v in warm._oxlearn_forest.items()}
    warm.set_params(n_estimators=12).fit(X, y)
    f = warm._oxlearn_forest
    n_first = first["tree_offsets"][-1]
    for key in ("feature", "threshold", "children_left", "value"):
        assert_array_equal(f[key][:n_first], first[key])  # the old trees are kept
        assert_array_equal(f[key], full._oxlearn_forest[key])
    assert len(warm.estimators_) == 12
    predict = "predict_proba" if hasattr(full, "predict_proba") else "predict"
    assert_array_equal(getattr(warm, predict)(X), getattr(full, predict)(X))
    assert_allclose(warm.feature_importances_, full.feature_importances_, rtol=1e-12,
                    atol=1e-15)


def test_warm_start_oob_errors_and_warnings():
    X, y = make_classification(400, 6, random_state=0)
    full = RandomForestClassifier(n_estimators=10, oob_score=True, random_state=1).fit(X, y)
    warm = RandomForestClassifier(n_estimators=4, oob_score=True, warm_start=True,
                                  random_state=1).fit(X, y)
    warm.set_params(n_estimators=10).fit(X, y)
    assert_array_equal(warm.oob_decision_function_, full.oob_decision_function_)
    assert warm.oob_score_ == full.oob_score_
    with pytest.raises(ValueError, match="must be larger or equal to len"):
        warm.set_params(n_estimators=3).fit(X, y)
    with pytest.warns(UserWarning, match="does not fit new trees"):
        warm.set_params(n_estimators=10).fit(X, y)
    assert len(warm.estimators_) == 10
    with pytest.raises(ValueError, match="6 features, now 5"):
        warm.set_params(n_estimators=12).fit(X[:, :5], y)
    with pytest.raises(ValueError, match="other classes"):
        warm.set_params(n_estimators=12).fit(X, y + 1)
    with pytest.raises(ValueError, match="out-of-bag"):
        warm.set_params(n_estimators=12).fit(X[:300], y[:300])
    assert warm.n_features_in_ == 6 and list(warm.classes_) == [0, 1]  # left as it was
    assert_array_equal(warm.oob_decision_function_, full.oob_decision_function_)
    # Without oob_score a warm start may use other rows (scikit-learn's rule).
    warm.set_params(n_estimators=12, oob_score=False).fit(X[:300], y[:300])
    assert len(warm.estimators_) == 12


def test_warm_start_on_scikit_learn_trees_falls_back(caplog):
    X, y = make_classification(300, 5, random_state=0)
    m = RandomForestClassifier(n_estimators=3, warm_start=True, random_state=0)
    m.fit(X, y, sample_weight=np.ones(len(y)))  # weighted bootstrap: grown by scikit-learn
    first = [e.tree_.threshold.copy() for e in m.estimators_]
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        m.set_params(n_estimators=6).fit(X, y)
    assert "fallback to scikit-learn (warm_start=True on trees grown by scikit-learn)" \
        in caplog.text
    assert len(m.estimators_) == 6
    for a, b in zip(m.estimators_[:3], first, strict=True):
        assert_array_equal(a.tree_.threshold, b)
    assert_array_equal(pickle.loads(pickle.dumps(m)).predict(X), m.predict(X))


def test_balanced_subsample_weighs_each_bootstrap(accelerated_only):
    X, y = make_classification(2000, 10, weights=[0.9], random_state=0)
    m = RandomForestClassifier(n_estimators=20, class_weight="balanced_subsample",
                               random_state=0).fit(X, y)
    for tree in m.estimators_:
        # The root's class fractions are weighted: balanced within its bootstrap.
        assert_allclose(tree.tree_.value[0, 0], [0.5, 0.5], rtol=1e-12)
    plain = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    assert abs(plain.estimators_[0].tree_.value[0, 0, 1] - 0.1) < 0.03
    stock = ske.RandomForestClassifier(n_estimators=20, class_weight="balanced_subsample",
                                       random_state=0).fit(X, y)
    Xt, yt = make_classification(2000, 10, weights=[0.9], random_state=1)
    assert abs(m.score(X, y) - stock.score(X, y)) < 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Without bootstrap it is "balanced" (scikit-learn's rule), in Rust too.
        nb = ExtraTreesClassifier(n_estimators=3, class_weight="balanced_subsample",
                                  random_state=0).fit(Xt, yt)
    assert_allclose(nb.estimators_[0].tree_.value[0, 0], [0.5, 0.5], rtol=1e-12)
