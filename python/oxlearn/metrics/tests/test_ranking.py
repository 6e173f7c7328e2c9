"""``oxlearn.metrics.roc_auc_score`` against scikit-learn's (issue 15)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score as sk_roc_auc_score
from threadpoolctl import threadpool_limits

from oxlearn import patch_sklearn, unpatch_sklearn
from oxlearn.metrics import roc_auc_score

RTOL = 1e-12


def _both(*args, **kwargs):
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = roc_auc_score(*args, **kwargs)
    with warnings.catch_warnings(record=True) as ref_w:
        warnings.simplefilter("always")
        ref = sk_roc_auc_score(*args, **kwargs)
    assert [type(w.message) for w in ours_w] == [type(w.message) for w in ref_w]
    return ours, ref


@pytest.mark.parametrize("load", [datasets.load_breast_cancer, datasets.load_iris,
                                  datasets.load_wine, datasets.load_digits])
def test_real_data_binary_and_multiclass(load):
    X, y = load(return_X_y=True)
    proba = LogisticRegression(max_iter=5000).fit(X, y).predict_proba(X)
    if proba.shape[1] == 2:
        for kwargs in ({}, {"max_fpr": 0.1}, {"sample_weight": np.linspace(0.1, 3, len(y))}):
            ours, ref = _both(y, proba[:, 1], **kwargs)
            assert_allclose(ours, ref, rtol=RTOL)
        return
    for multi_class in ("ovr", "ovo"):
        for average in ("macro", "weighted"):
            ours, ref = _both(y, proba, multi_class=multi_class, average=average)
            assert_allclose(ours, ref, rtol=RTOL)
    ours, ref = _both(y, proba, multi_class="ovr", average=None)
    assert_allclose(ours, ref, rtol=RTOL)


@pytest.mark.parametrize("n", [2, 7, 1000, 200_000])
@pytest.mark.parametrize("ties", [False, True])
def test_synthetic_binary_with_ties_weights_and_partial_area(n, ties):
    rng = np.random.default_rng(n)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = rng.normal(size=n) + y
    if ties:
        score = np.round(score, 1)
        score[::5] = -0.0  # ties with 0.0, as numpy's diff sees them
    weight = rng.random(n)
    weight[::7] = 0.0
    weight[:2] = 1.0
    for kwargs in ({}, {"sample_weight": weight}, {"max_fpr": 0.3},
                   {"max_fpr": 0.05, "sample_weight": weight}, {"max_fpr": 1.0}):
        ours, ref = _both(y, score, **kwargs)
        assert_allclose(ours, ref, rtol=RTOL, atol=1e-15)
    ours, ref = _both(y, score.astype(np.float32))
    assert_allclose(ours, ref, rtol=RTOL)


def test_labels_strings_and_multilabel():
    rng = np.random.default_rng(1)
    y = rng.choice(["cat", "dog"], 300)
    score = rng.normal(size=300)
    assert_allclose(*_both(y, score), rtol=RTOL)
    Y = rng.integers(0, 2, (300, 4))
    S = rng.normal(size=(300, 4)) + Y
    for average in ("micro", "macro", "weighted", "samples", None):
        assert_allclose(*_both(Y, S, average=average), rtol=RTOL)
    y3 = rng.integers(0, 3, 300)
    P = rng.dirichlet([1, 1, 1], 300)
    assert_allclose(*_both(y3, P, multi_class="ovr", labels=[0, 1, 2]), rtol=RTOL)


def test_undefined_cases_warn_and_errors_match():
    ours, ref = _both([1, 1, 1], [0.1, 0.2, 0.3])
    assert np.isnan(ours) and np.isnan(ref)
    # A class whose samples all have zero weight.
    ours, ref = _both([0, 1, 1], [0.1, 0.2, 0.3], sample_weight=[0.0, 1.0, 1.0])
    assert np.isnan(ours) and np.isnan(ref)
    for args, kwargs in [
        (([0, 1], [0.5, np.nan]), {}),
        (([0, 1, 2], np.eye(3)), {}),  # multiclass without multi_class
        (([0, 1, 2], np.eye(3)), {"multi_class": "ovo", "sample_weight": [1, 1, 1]}),
        (([0, 1], [0.2, 0.3]), {"max_fpr": 0.0}),
        (([0, 1], [0.2, 0.3, 0.4]), {}),
    ]:
        with pytest.raises(ValueError) as ours:
            roc_auc_score(*args, **kwargs)
        with pytest.raises(ValueError) as ref:
            sk_roc_auc_score(*args, **kwargs)
        assert str(ours.value) == str(ref.value)


def test_thread_count_does_not_change_the_result():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300_000)
    score = np.round(rng.normal(size=300_000) + y, 2)
    weight = rng.random(300_000)
    with threadpool_limits(1):
        one = roc_auc_score(y, score, sample_weight=weight)
    assert roc_auc_score(y, score, sample_weight=weight) == one


def test_patching_swaps_it_into_sklearn_metrics():
    import sklearn.metrics
    from sklearn.metrics import _ranking

    patch_sklearn("roc_auc_score")
    try:
        assert sklearn.metrics.roc_auc_score is roc_auc_score
        assert _ranking.roc_auc_score is roc_auc_score
    finally:
        unpatch_sklearn("roc_auc_score")
    assert sklearn.metrics.roc_auc_score is sk_roc_auc_score
