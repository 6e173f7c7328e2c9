"""A converted stock forest predicts what scikit-learn does, to the documented last bit.

Both sum the trees' leaf values in tree order; scikit-learn then divides by
the number of trees, oxlearn multiplies by its reciprocal (one fixed kernel
for every forest, in Python and in the binary). With a power-of-two number of
trees the two are the same bits; otherwise they may differ by one unit in
the last place (docs/saving-and-serving.md, "Forests converted from
scikit-learn"). These tests pin exactly that, and nothing more.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import oxlearn

X, y = load_digits(return_X_y=True)


def _tree_sum(sk, method):
    total = np.zeros_like(getattr(sk.estimators_[0], method)(X), dtype=np.float64)
    for tree in sk.estimators_:
        total += getattr(tree, method)(X)
    return total


@pytest.mark.parametrize("n_trees", [1, 2, 4, 10, 100])
@pytest.mark.parametrize("cls", [RandomForestClassifier, RandomForestRegressor])
def test_converted_forest_is_the_tree_sum_times_the_reciprocal(cls, n_trees):
    sk = cls(n_trees, max_depth=8, random_state=0).fit(X, y)
    ox = oxlearn.from_sklearn(sk)
    method = "predict_proba" if cls is RandomForestClassifier else "predict"
    total = _tree_sum(sk, method)
    stock, ours = getattr(sk, method)(X), getattr(ox, method)(X)
    np.testing.assert_array_equal(stock, total / n_trees)
    np.testing.assert_array_equal(ours, total * (1.0 / n_trees))
    # At most one unit in the last place apart, and equal for 1, 2, 4 trees.
    assert np.all(np.abs(ours - stock) <= np.spacing(np.abs(stock)))
    if n_trees in (1, 2, 4):
        np.testing.assert_array_equal(ours, stock)
    if cls is RandomForestClassifier:
        np.testing.assert_array_equal(ox.predict(X), sk.predict(X))
