"""Inputs accepted and refused as scikit-learn does, with its output dtypes (issue 18, item 6).

Every estimator is fitted (and predicts) on arrays of strings, object arrays
of numbers, float16, integers and booleans, and with negative sample
weights, next to its stock scikit-learn counterpart: both refuse (the same
exception type; arrays of strings with scikit-learn's own message), or both
accept and give outputs and fitted attributes of the same dtypes.

One documented difference: where scikit-learn keeps float16 (a
``LinearRegression``'s ``coef_`` and predictions, an
``EmpiricalCovariance``'s ``location_``), oxlearn computes in float32 (Rust
has no float16 arithmetic, and the model format stores float32/float64
only, so a float16 model could not be pickled or saved): see ``FLOAT16``.
"""

import inspect

import numpy as np
import pytest
from sklearn.base import clone, is_classifier

from oxlearn.cluster import DBSCAN, KMeans
from oxlearn.covariance import EmpiricalCovariance, IncrementalEmpiricalCovariance
from oxlearn.decomposition import PCA, IncrementalPCA
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
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
from oxlearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    LocalOutlierFactor,
    NearestNeighbors,
)

ESTIMATORS = [
    LinearRegression(),
    Ridge(),
    IncrementalLinearRegression(),
    IncrementalRidge(),
    LogisticRegression(),
    ElasticNet(alpha=0.1),
    Lasso(alpha=0.1),
    KMeans(3, n_init=1, random_state=0),
    DBSCAN(eps=3.0),
    TSNE(perplexity=10, max_iter=260, random_state=0),
    EmpiricalCovariance(),
    IncrementalEmpiricalCovariance(),
    PCA(3),
    IncrementalPCA(3),
    RandomForestClassifier(5, random_state=0),
    RandomForestRegressor(5, random_state=0),
    ExtraTreesClassifier(5, random_state=0),
    ExtraTreesRegressor(5, random_state=0),
    ExtraTreesRegressor(5, bootstrap=True, random_state=0),
    NearestNeighbors(),
    KNeighborsClassifier(),
    KNeighborsRegressor(),
    LocalOutlierFactor(novelty=True),
]

# Methods whose outputs are compared, and public fitted array attributes.
METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples",
           "mahalanobis", "kneighbors")
ATTRIBUTES = ("coef_", "intercept_", "components_", "cluster_centers_", "covariance_",
              "location_", "mean_", "explained_variance_", "labels_", "embedding_")

# (stock class name, output) -> (stock dtype, oxlearn dtype) for float16 input.
FLOAT16 = {
    ("LinearRegression", "coef_"): ("float16", "float32"),
    ("LinearRegression", "intercept_"): ("float16", "float32"),
    ("LinearRegression", "predict"): ("float16", "float32"),
    ("EmpiricalCovariance", "location_"): ("float16", "float64"),
}

rng = np.random.RandomState(0)
X = np.round(rng.randn(60, 4), 2)
KINDS = {
    "str": X.astype(str),
    "object": X.astype(object),
    "float16": X.astype(np.float16),
    "int64": (X * 10).astype(np.int64),
    "bool": X > 0,
}


def _stock(est):
    cls = est._sklearn_counterpart()
    return cls(**{k: v for k, v in est.get_params().items() if k in cls._get_param_names()})


def _y(est):
    return (X[:, 0] > 0).astype(int) if is_classifier(est) else X @ [1.0, 2.0, 3.0, 4.0]


def _outcome(call):
    try:
        return "ok", call()
    except (ValueError, TypeError) as e:
        return "refused", e


def _dtypes(model, Z):
    out = {}
    for name in ATTRIBUTES:
        if name in vars(model):
            out[name] = str(np.asarray(getattr(model, name)).dtype)
    for name in METHODS:
        if not hasattr(model, name):
            continue
        kind, value = _outcome(lambda name=name: getattr(model, name)(Z))
        if kind == "ok":
            value = value[0] if isinstance(value, tuple) else value
            out[name] = str(np.asarray(value).dtype)
        else:
            out[name] = f"refused: {type(value).__name__}"
    return out


def _ids(est):
    extra = "-bootstrap" if getattr(est, "bootstrap", False) and "ExtraTrees" in type(
        est).__name__ else ""
    return type(est).__name__ + extra


def _compare(est, fit_stock, fit_ox, Z, kind):
    sk, ox = _outcome(fit_stock), _outcome(fit_ox)
    assert sk[0] == ox[0], f"stock {sk[0]} ({sk[1]!r}), oxlearn {ox[0]} ({ox[1]!r})"
    if sk[0] == "refused":
        assert type(ox[1]) is type(sk[1])
        if kind == "str":
            assert str(ox[1]) == str(sk[1])
        return
    sk_dtypes, ox_dtypes = _dtypes(sk[1], Z), _dtypes(ox[1], Z)
    if kind == "float16":
        for (cls, name), (stock, ours) in FLOAT16.items():
            if est._sklearn_counterpart().__name__ == cls and name in sk_dtypes:
                assert (sk_dtypes[name], ox_dtypes[name]) == (stock, ours)
                ox_dtypes[name] = sk_dtypes[name]
    assert ox_dtypes == sk_dtypes


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids)
def test_fit_accepts_and_refuses_as_stock(est, kind):
    Z, y = KINDS[kind], _y(est)
    _compare(est, lambda: _stock(est).fit(Z, y), lambda: clone(est).fit(Z, y), Z, kind)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids)
def test_predict_accepts_and_refuses_as_stock(est, kind):
    # Fitted on floats, given another kind of input at predict time.
    y = _y(est)
    sk, ox = _stock(est).fit(X, y), clone(est).fit(X, y)
    assert _dtypes(ox, KINDS[kind]) == _dtypes(sk, KINDS[kind])


@pytest.mark.parametrize(
    "est", [e for e in ESTIMATORS if "sample_weight" in inspect.signature(e.fit).parameters],
    ids=_ids)
def test_negative_sample_weight_as_stock(est):
    y = _y(est)
    sw = np.ones(len(X))
    sw[:3] = -1.0
    sk, ox = (_outcome(lambda: _stock(est).fit(X, y, sample_weight=sw)),
              _outcome(lambda: clone(est).fit(X, y, sample_weight=sw)))
    assert sk[0] == ox[0], f"stock {sk[0]} ({sk[1]!r}), oxlearn {ox[0]} ({ox[1]!r})"
    if sk[0] == "ok" and hasattr(sk[1], "predict") and "Trees" in type(est).__name__:
        # The forest falls back to scikit-learn: the same trees (averaged
        # over trees in oxlearn's fixed order: equal to the last bit or so).
        np.testing.assert_allclose(ox[1].predict(X), sk[1].predict(X), rtol=1e-13)
        assert ox[1]._grown_by == "sklearn"
