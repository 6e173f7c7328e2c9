"""Random forests and extra trees: scikit-learn compatibility, accuracy against
scikit-learn's own forests, agreement with the scikit-learn trees built from
the flat arrays, thread-count independence and fallback."""

import logging
import pickle

import numpy as np
import pytest
import sklearn.ensemble as ske
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
    make_regression,
)
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, export_text
from sklearn.utils.estimator_checks import parametrize_with_checks

from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

CLASSIFIERS = [RandomForestClassifier, ExtraTreesClassifier]
REGRESSORS = [RandomForestRegressor, ExtraTreesRegressor]

ESTIMATORS = [
    RandomForestClassifier(n_estimators=5, random_state=0),
    RandomForestClassifier(n_estimators=5, criterion="entropy", max_depth=4,
                           class_weight="balanced", random_state=0),
    RandomForestClassifier(n_estimators=5, max_leaf_nodes=6, bootstrap=False, random_state=0),
    ExtraTreesClassifier(n_estimators=5, random_state=0),
    RandomForestRegressor(n_estimators=5, random_state=0),
    RandomForestRegressor(n_estimators=5, max_features="sqrt", min_samples_leaf=3,
                          max_samples=0.5, random_state=0),
    ExtraTreesRegressor(n_estimators=5, random_state=0),
    # Out-of-bag scores, warm starts and per-bootstrap class weights, in Rust.
    RandomForestClassifier(n_estimators=5, oob_score=True, class_weight="balanced_subsample",
                           random_state=0),
    ExtraTreesRegressor(n_estimators=5, bootstrap=True, oob_score=True, warm_start=True,
                        random_state=0),
    RandomForestClassifier(n_estimators=4, warm_start=True, random_state=0),
]


def expected_failed_checks(estimator):
    """Checks expected to fail, with the reason: the ones scikit-learn itself
    lists for its forests (a bootstrap draws rows uniformly and multiplies
    their weights by the draw counts, so weights are not repeated rows)."""
    failed = {}
    if estimator.bootstrap:
        reason = "sample_weight is not equivalent to removing/repeating samples (bootstrap)"
        failed["check_sample_weight_equivalence_on_dense_data"] = reason
        failed["check_sample_weight_equivalence_on_sparse_data"] = reason
    class_weight = getattr(estimator, "class_weight", None)
    if class_weight is not None and not (class_weight == "balanced_subsample"
                                         and estimator.bootstrap):
        # scikit-learn lists it for its RandomForestClassifier: balanced class
        # weights of a one-label fit raise a message without 'class' (weights
        # of each bootstrap sample are computed per tree, with no such error).
        failed["check_classifiers_one_label_sample_weights"] = (
            "failed when fitted on one label after sample_weight trimming."
        )
    return failed


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _split(X, y, seed):
    return train_test_split(X, y, random_state=seed, test_size=0.3)


@pytest.mark.parametrize("ox_cls", CLASSIFIERS)
@pytest.mark.parametrize("loader", [load_breast_cancer, load_digits, load_wine])
def test_classification_accuracy_matches_sklearn(ox_cls, loader):
    X, y = loader(return_X_y=True)
    sk_cls = getattr(ske, ox_cls.__name__)
    ox_acc, sk_acc = [], []
    for seed in range(3):
        Xtr, Xte, ytr, yte = _split(X, y, seed)
        ox_acc.append(ox_cls(n_estimators=60, random_state=seed).fit(Xtr, ytr).score(Xte, yte))
        sk_acc.append(sk_cls(n_estimators=60, random_state=seed).fit(Xtr, ytr).score(Xte, yte))
    # Held-out accuracy within noise of scikit-learn's (mean over 3 splits).
    assert np.mean(ox_acc) > np.mean(sk_acc) - 0.03, (ox_acc, sk_acc)


@pytest.mark.parametrize("ox_cls", REGRESSORS)
def test_regression_r2_matches_sklearn(ox_cls):
    sk_cls = getattr(ske, ox_cls.__name__)
    Xd, yd = load_diabetes(return_X_y=True)
    Xs, ys = make_regression(1500, 8, n_informative=5, noise=10.0, random_state=0)
    for X, y, tol in [(Xd, yd, 0.05), (Xs, ys, 0.03)]:
        ox_r2, sk_r2 = [], []
        for seed in range(3):
            Xtr, Xte, ytr, yte = _split(X, y, seed)
            ox_r2.append(ox_cls(n_estimators=60, random_state=seed).fit(Xtr, ytr)
                         .score(Xte, yte))
            sk_r2.append(sk_cls(n_estimators=60, random_state=seed).fit(Xtr, ytr)
                         .score(Xte, yte))
        assert np.mean(ox_r2) > np.mean(sk_r2) - tol, (ox_r2, sk_r2)


@pytest.mark.parametrize("ox_cls", CLASSIFIERS + REGRESSORS)
def test_estimators_are_sklearn_trees_that_agree(ox_cls):
    X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=1)
    if ox_cls in REGRESSORS:
        y = X[:, 0] * 3 + y
    est = ox_cls(n_estimators=7, random_state=0).fit(X, y)
    trees = est.estimators_
    assert len(trees) == 7 and est.estimators_ is trees  # built once
    base = DecisionTreeClassifier if ox_cls in CLASSIFIERS else DecisionTreeRegressor
    assert all(isinstance(t, base) and type(t) is type(est.estimator_) for t in trees)
    assert "feature_" in export_text(trees[0])
    np.testing.assert_array_equal(est.apply(X), np.stack([t.apply(X) for t in trees], axis=1))
    if ox_cls in CLASSIFIERS:
        mean = np.mean([t.predict_proba(X) for t in trees], axis=0)
        np.testing.assert_allclose(est.predict_proba(X), mean, atol=1e-12)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(est.predict_log_proba(X), np.log(est.predict_proba(X)))
    else:
        mean = np.mean([t.predict(X) for t in trees], axis=0)
        np.testing.assert_allclose(est.predict(X), mean, rtol=1e-12)
    # scikit-learn's own decision_path runs on the built trees.
    indicator, ptr = est.decision_path(X[:5])
    assert indicator.shape[0] == 5 and ptr.shape == (8,)
    imp = est.feature_importances_
    assert imp.shape == (6,) and abs(imp.sum() - 1) < 1e-12
    ref = np.mean([t.feature_importances_ for t in trees], axis=0)
    np.testing.assert_allclose(imp, ref / ref.sum(), atol=1e-12)


@pytest.mark.parametrize("ox_cls", CLASSIFIERS + REGRESSORS)
def test_same_forest_whatever_n_jobs(ox_cls):
    X, y = make_classification(600, 8, random_state=3)
    a = ox_cls(n_estimators=6, random_state=5, n_jobs=1).fit(X, y)
    b = ox_cls(n_estimators=6, random_state=5, n_jobs=2).fit(X, y)
    for k, v in a._oxlearn_forest.items():
        np.testing.assert_array_equal(v, b._oxlearn_forest[k], err_msg=k)
    pa = a.predict(X)
    b.set_params(n_jobs=2)
    np.testing.assert_array_equal(pa, b.predict(X))
    c = ox_cls(n_estimators=6, random_state=6).fit(X, y)
    assert not np.array_equal(c._oxlearn_forest["threshold"], a._oxlearn_forest["threshold"])


def test_multi_output_and_string_labels():
    X, y = make_classification(500, 5, random_state=0)
    labels = np.array(["no", "yes"])[y]
    Y = np.column_stack([labels, np.array(["a", "b", "c"])[np.arange(500) % 3]])
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, Y)
    proba = est.predict_proba(X)
    assert [p.shape for p in proba] == [(500, 2), (500, 3)]
    pred = est.predict(X)
    assert pred.shape == (500, 2) and set(pred[:, 0]) <= {"no", "yes"}
    assert np.mean(pred[:, 0] == labels) > 0.95
    Yr = np.column_stack([X[:, 0], -X[:, 1]])
    reg = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, Yr)
    assert reg.predict(X).shape == (500, 2)


def test_parameters_are_honoured():
    X, y = make_classification(800, 6, random_state=0)
    est = RandomForestClassifier(n_estimators=4, max_leaf_nodes=5, random_state=0).fit(X, y)
    assert all(t.get_n_leaves() == 5 for t in est.estimators_)
    est = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    assert all(t.get_depth() <= 3 for t in est.estimators_)
    est = RandomForestClassifier(n_estimators=4, min_samples_leaf=20, random_state=0).fit(X, y)
    assert all(t.tree_.n_node_samples.min() >= 20 for t in est.estimators_)
    w = np.where(y == 1, 5.0, 1.0)
    a = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y, sample_weight=w)
    b = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    assert a.predict_proba(X)[:, 1].mean() > b.predict_proba(X)[:, 1].mean()


def test_unsupported_parameters_fall_back_and_log(caplog):
    X, y = make_classification(200, 5, random_state=0)
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        est = RandomForestRegressor(n_estimators=3, criterion="absolute_error",
                                    random_state=0).fit(X, y)
    assert "fallback to scikit-learn (criterion='absolute_error')" in caplog.text
    assert est.predict(X).shape == (200,) and len(est.estimators_) == 3
    Xn = X.copy()
    Xn[3, 2] = np.nan
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="oxlearn"):
        est = RandomForestClassifier(n_estimators=3, random_state=0).fit(Xn, y)
    assert "missing or infinite values in X" in caplog.text
    assert est.predict(Xn).shape == (200,)
    est = RandomForestClassifier(n_estimators=3, oob_score=True, random_state=0).fit(X, y)
    assert 0.5 < est.oob_score_ <= 1.0
    assert pickle.loads(pickle.dumps(est)).predict(X).tolist() == est.predict(X).tolist()


def test_pickle_excludes_trees_and_round_trips():
    X, y = make_classification(2000, 10, random_state=0)
    est = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    before = est.predict_proba(X)
    _ = est.estimators_
    blob = pickle.dumps(est)
    stock = pickle.dumps(ske.RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y))
    assert len(blob) <= len(stock), (len(blob), len(stock))
    back = pickle.loads(blob)
    assert back.__dict__["_oxlearn_estimators"] is None  # trees are built only on request
    np.testing.assert_array_equal(back.predict_proba(X), before)


def test_bad_input_errors():
    X, y = make_classification(50, 4, random_state=0)
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="infinity"):
        est.predict(np.full((2, 4), np.inf))
    # Missing values predict as scikit-learn's forests do (its trees, built
    # from the flat arrays: a missing value goes to the child with more samples).
    Xn = X.copy()
    Xn[::3, 1] = np.nan
    stock = ske.RandomForestClassifier(n_estimators=3)
    stock.estimators_, stock.n_outputs_, stock.classes_ = est.estimators_, 1, est.classes_
    stock.n_classes_, stock.n_features_in_ = est.n_classes_, 4
    np.testing.assert_array_equal(est.predict_proba(Xn), stock.predict_proba(Xn))
    np.testing.assert_array_equal(est.predict_proba(Xn[1::3]), est.predict_proba(X[1::3]))
    with pytest.raises(ValueError, match="max_features"):
        RandomForestClassifier(n_estimators=2, max_features=9).fit(X, y)


def test_patching_swaps_the_forests_in():
    import sklearn.ensemble

    import oxlearn

    oxlearn.patch_sklearn(["RandomForestClassifier", "ExtraTreesRegressor"])
    try:
        assert sklearn.ensemble.RandomForestClassifier is RandomForestClassifier
        assert sklearn.ensemble._forest.ExtraTreesRegressor is ExtraTreesRegressor
    finally:
        oxlearn.unpatch_sklearn()
    assert sklearn.ensemble.RandomForestClassifier is not RandomForestClassifier


def test_packed_forest_is_reused_and_rebuilt_when_arrays_change():
    from oxlearn import _core
    from oxlearn.ensemble import RandomForestClassifier

    X, y = make_classification(300, 6, random_state=0)
    a = RandomForestClassifier(5, random_state=0).fit(X, y)
    b = RandomForestClassifier(7, random_state=1).fit(X, y)
    expected = a.predict_proba(X)
    pack = a._packed()
    assert a._packed() is pack  # reused across calls
    np.testing.assert_array_equal(a.predict_proba(X), expected)
    # A pack of other arrays is refused, never traversed.
    with pytest.raises(ValueError, match="changed since it was packed"):
        _core.forest_predict(a._oxlearn_forest, a.n_features_in_, X, None, b._packed())
    # Replacing the arrays (as a refit or load does) re-packs.
    a._oxlearn_forest = dict(b._oxlearn_forest)
    assert a._packed() is not pack
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
