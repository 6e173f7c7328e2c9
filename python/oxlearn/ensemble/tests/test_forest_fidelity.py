"""Forests keep scikit-learn's semantics where they are exact.

Bootstraps are scikit-learn's draws (``RandomState(seed).randint``), so
``estimators_samples_`` and the out-of-bag rows are the rows each tree was
grown on; a weighted bootstrap, drawn with probability proportional to the
weights, is scikit-learn's own fit; sparse X grows the forest dense X grows.
"""

import numpy as np
import pytest
from scipy import sparse
from sklearn import ensemble as sk_ensemble
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble._forest import _generate_sample_indices

import oxlearn
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

FORESTS = [RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier,
           ExtraTreesRegressor]


def _data(cls, n=200):
    if cls in (RandomForestClassifier, ExtraTreesClassifier):
        return make_classification(n_samples=n, n_features=6, random_state=0)
    return make_regression(n_samples=n, n_features=6, noise=1.0, random_state=0)


@pytest.mark.parametrize("cls", FORESTS)
@pytest.mark.parametrize("max_samples", [None, 0.5])
def test_estimators_samples_are_the_rows_each_tree_grew_on(cls, max_samples):
    X, y = _data(cls)
    forest = cls(n_estimators=6, bootstrap=True, max_samples=max_samples,
                 random_state=3).fit(X, y)
    assert forest._grown_by == "oxlearn"
    n_boot = 200 if max_samples is None else 100
    samples = forest.estimators_samples_
    assert len(samples) == 6
    for tree, idx in zip(forest.estimators_, samples, strict=True):
        # scikit-learn's own draw for the tree's seed ...
        np.testing.assert_array_equal(
            idx, _generate_sample_indices(tree.random_state, 200, n_boot, None))
        # ... is the sample the tree was grown on: its root holds those rows,
        # weighted by how often each was drawn.
        assert tree.tree_.n_node_samples[0] == np.unique(idx).size
        assert tree.tree_.weighted_n_node_samples[0] == n_boot


def test_estimators_samples_after_a_save_and_load(tmp_path):
    X, y = _data(RandomForestRegressor)
    forest = RandomForestRegressor(n_estimators=4, random_state=1).fit(X, y)
    oxlearn.save(forest, tmp_path / "f.oxl")
    loaded = oxlearn.load(tmp_path / "f.oxl")
    for a, b in zip(loaded.estimators_samples_, forest.estimators_samples_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_oob_prediction_is_the_mean_over_the_trees_that_left_the_row_out():
    X, y = _data(RandomForestRegressor, n=120)
    forest = RandomForestRegressor(n_estimators=15, oob_score=True, random_state=0).fit(X, y)
    samples = forest.estimators_samples_
    for i in range(0, 120, 7):
        preds = [t.predict(X[i:i + 1])[0] for t, idx in zip(forest.estimators_, samples,
                                                             strict=True) if i not in idx]
        assert preds
        np.testing.assert_allclose(forest.oob_prediction_[i], np.mean(preds), rtol=1e-12)


@pytest.mark.parametrize("cls", FORESTS)
def test_weighted_bootstrap_is_scikit_learns(cls):
    X, y = _data(cls)
    w = np.random.RandomState(0).rand(200) * 3
    params = dict(n_estimators=5, bootstrap=True, random_state=0)
    ours = cls(**params).fit(X, y, sample_weight=w)
    stock = getattr(sk_ensemble, cls.__name__)(**params).fit(X, y, sample_weight=w)
    assert ours._grown_by == "sklearn"
    # The same trees (oxlearn predicts with them in Rust: sums may round apart).
    np.testing.assert_allclose(ours.predict(X), stock.predict(X), rtol=1e-12)
    for a, b in zip(ours.estimators_samples_, stock.estimators_samples_, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", FORESTS)
def test_sparse_X_grows_the_dense_forest(cls):
    X, y = _data(cls)
    X[X < 0] = 0.0
    dense = cls(n_estimators=4, random_state=0).fit(X, y)
    for fmt in (sparse.csr_matrix, sparse.csc_matrix):
        forest = cls(n_estimators=4, random_state=0).fit(fmt(X), y)
        assert forest._grown_by == "oxlearn"
        np.testing.assert_array_equal(forest.predict(X), dense.predict(X))
        np.testing.assert_array_equal(forest.predict(fmt(X)), dense.predict(X))
        np.testing.assert_array_equal(forest.apply(fmt(X)), dense.apply(X))


def test_a_custom_joblib_backend_gets_scikit_learns_fit():
    import joblib
    from joblib._parallel_backends import ThreadingBackend

    class CountingBackend(ThreadingBackend):
        calls = 0

        def start_call(self):
            type(self).calls += 1
            return super().start_call()

    joblib.register_parallel_backend("oxlearn-test-counting", CountingBackend)
    X, y = _data(RandomForestClassifier)
    with joblib.parallel_backend("oxlearn-test-counting"):
        forest = RandomForestClassifier(n_estimators=4, n_jobs=2, random_state=0).fit(X, y)
    assert forest._grown_by == "sklearn" and CountingBackend.calls > 0
    with joblib.parallel_backend("threading"):
        forest = RandomForestClassifier(n_estimators=4, n_jobs=2, random_state=0).fit(X, y)
    assert forest._grown_by == "oxlearn"
