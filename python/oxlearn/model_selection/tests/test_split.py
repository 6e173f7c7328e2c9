"""``oxlearn.model_selection.train_test_split``: scikit-learn's split, rows copied in Rust."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn.model_selection import train_test_split as sk_train_test_split
from threadpoolctl import threadpool_limits

from oxlearn import patch_sklearn, unpatch_sklearn
from oxlearn.model_selection import train_test_split


def _same(ours, ref):
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref, strict=True):
        assert type(a) is type(b)
        if isinstance(a, (pd.DataFrame, pd.Series)):
            pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
        elif sparse.issparse(a):
            assert_array_equal(a.toarray(), b.toarray())
        else:
            assert_array_equal(a, b)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert a.flags.writeable


@pytest.mark.parametrize("kwargs", [
    {"random_state": 0},
    {"test_size": 0.3, "random_state": 7},
    {"train_size": 50, "test_size": 30, "random_state": np.random.RandomState(2)},
    {"shuffle": False, "train_size": 0.6},
    {"stratify": "y", "random_state": 3},
    {"stratify": "y", "test_size": 17, "random_state": 4},
])
def test_identical_splits_for_every_input_type(kwargs):
    rng = np.random.default_rng(0)
    n = 240
    X = rng.normal(size=(n, 6))
    y = rng.integers(0, 3, n)
    inputs = [X, y, np.asfortranarray(X), X[:, ::2], X.astype(np.float32), X > 0,
              rng.integers(0, 9, (n, 2, 3)).astype(np.int16), np.array(["a", "bc"] * (n // 2)),
              np.empty((n, 0)), pd.DataFrame(X), pd.Series(y), sparse.csr_matrix(X),
              list(range(n)), np.array([object()] * n)]
    kwargs = {k: (y if v == "y" else v) for k, v in kwargs.items()}
    # The same RandomState instance for both: each run gets its own copy.
    if isinstance(kwargs.get("random_state"), np.random.RandomState):
        ours = train_test_split(*inputs, **{**kwargs, "random_state": np.random.RandomState(2)})
        ref = sk_train_test_split(*inputs, **{**kwargs, "random_state": np.random.RandomState(2)})
    else:
        ours, ref = train_test_split(*inputs, **kwargs), sk_train_test_split(*inputs, **kwargs)
    _same(ours, ref)


def test_copies_are_independent_of_the_input():
    X = np.arange(40.0).reshape(10, 4)
    X_train, X_test = train_test_split(X, random_state=0)
    X_train[:] = -1
    assert X.min() == 0 and np.shares_memory(X_train, X) is False


def test_thread_count_does_not_change_the_result():
    X = np.random.default_rng(1).normal(size=(100_000, 5))
    with threadpool_limits(1):
        one = train_test_split(X, random_state=0)
    _same(train_test_split(X, random_state=0), one)


def test_errors_are_scikit_learns():
    for args, kwargs in [((), {}), ((np.zeros((3, 2)),), {"test_size": 5}),
                         ((np.zeros((4, 2)),), {"shuffle": False, "stratify": [0, 1, 0, 1]}),
                         ((np.zeros((4, 2)), np.zeros(3)), {})]:
        with pytest.raises(ValueError) as ours:
            train_test_split(*args, **kwargs)
        with pytest.raises(ValueError) as ref:
            sk_train_test_split(*args, **kwargs)
        assert str(ours.value) == str(ref.value)


def test_patching_swaps_it_into_sklearn_model_selection():
    import sklearn.model_selection

    patch_sklearn("train_test_split")
    try:
        assert sklearn.model_selection.train_test_split is train_test_split
    finally:
        unpatch_sklearn("train_test_split")
    assert sklearn.model_selection.train_test_split is sk_train_test_split
