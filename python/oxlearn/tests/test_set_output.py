"""``set_output`` and ``transform_output``: every oxlearn transformer as stock scikit-learn.

scikit-learn wraps ``transform`` and ``fit_transform`` of the classes that
define them; a ``transform`` inherited from a plain mixin was not wrapped, so
``PCA(...).set_output(transform="pandas").transform(X)`` returned an array
(issue 18, item 5).
"""

import inspect

import array_api_strict as xp
import numpy as np
import pandas as pd
import pytest
import sklearn
from pandas.testing import assert_frame_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs

import oxlearn
import oxlearn.spmd
from oxlearn.cluster import KMeans
from oxlearn.decomposition import PCA, IncrementalPCA

TRANSFORMERS = [
    PCA(3),
    PCA(2, whiten=True, svd_solver="full"),
    IncrementalPCA(3, batch_size=50),
    KMeans(n_clusters=3, n_init=2, random_state=0),
    oxlearn.spmd.PCA(3),
    # Keeps every component: equal to the single-process (and stock) fit.
    oxlearn.spmd.IncrementalPCA(),
    oxlearn.spmd.KMeans(n_clusters=3, n_init=2, random_state=0),
]


def _stock(est):
    cls = est._sklearn_counterpart()
    # oxlearn.spmd's extra parameter (comm) has no stock counterpart.
    return cls(**{k: v for k, v in est.get_params().items() if k in cls._get_param_names()})


def _public_classes():
    for module in (oxlearn.linear_model, oxlearn.cluster, oxlearn.covariance,
                   oxlearn.decomposition, oxlearn.ensemble, oxlearn.neighbors,
                   oxlearn.basic_statistics, oxlearn.spmd):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__.startswith("oxlearn.") and hasattr(cls, "fit"):
                yield cls


def test_every_transformer_is_listed():
    with_transform = {c for c in _public_classes()
                      if hasattr(c, "transform") or hasattr(c, "fit_transform")}
    assert with_transform == {type(e) for e in TRANSFORMERS}


def _data(as_frame):
    X, _ = make_blobs(120, 5, centers=3, random_state=0)
    if as_frame:
        # A non-default index and column names: stock keeps the index.
        return pd.DataFrame(X, columns=[f"c{i}" for i in range(5)],
                            index=np.arange(1000, 1120))
    return X


def _ids(est):
    return f"{type(est).__module__.split('.')[1]}.{type(est).__name__}"


@pytest.mark.parametrize("as_frame", [False, True], ids=["ndarray", "DataFrame"])
@pytest.mark.parametrize("how", ["set_output", "config_context"])
@pytest.mark.parametrize("est", TRANSFORMERS, ids=_ids)
def test_pandas_output_as_stock(est, how, as_frame):
    X = _data(as_frame)
    results = []
    for model in (clone(est), _stock(est)):
        if how == "set_output":
            model.set_output(transform="pandas")
            fit_transformed = model.fit_transform(X)
            transformed = model.transform(X)
        else:
            with sklearn.config_context(transform_output="pandas"):
                fit_transformed = model.fit_transform(X)
                transformed = model.transform(X)
        results.append((fit_transformed, transformed))
    (ox_ft, ox_t), (sk_ft, sk_t) = results
    for ox, sk in ((ox_t, sk_t), (ox_ft, sk_ft)):
        assert isinstance(ox, pd.DataFrame)
        assert list(ox.columns) == list(sk.columns)
        assert ox.index.equals(sk.index)
        assert_frame_equal(ox, sk, check_exact=False, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("est", TRANSFORMERS, ids=_ids)
def test_default_output_stays_an_array(est):
    X = _data(True)
    model = clone(est).fit(X)
    assert type(model.transform(X)) is np.ndarray
    model.set_output(transform="default")
    assert type(model.transform(X)) is np.ndarray


@pytest.mark.parametrize("est", [PCA(3), IncrementalPCA(3), KMeans(3, n_init=1, random_state=0)],
                         ids=_ids)
def test_pandas_output_composes_with_array_api_dispatch(est):
    # Both wrappers wrap transform: dispatch (outer) gives the set_output
    # wrapper (inner) host arrays, and passes the frame it makes through.
    X = _data(False)
    expected = clone(est).set_output(transform="pandas").fit(X).transform(X)
    with sklearn.config_context(array_api_dispatch=True):
        model = clone(est).set_output(transform="pandas").fit(xp.asarray(X))
        got = model.transform(xp.asarray(X))
        got_ft = clone(est).set_output(transform="pandas").fit_transform(xp.asarray(X))
    assert_frame_equal(got, expected)
    assert_frame_equal(got_ft, expected)
