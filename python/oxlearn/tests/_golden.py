"""What a golden model file must reproduce exactly, shared by
``scripts/make_golden.py`` (which records it) and the golden-file test."""

import numpy as np

from oxlearn import _core


def output(model, X):
    """The model's recorded output on ``X``.

    ``predict``, else ``transform``, else ``mahalanobis`` (covariance), else
    ``labels_`` (DBSCAN: the labels of X, on which it was fitted), else the
    distances and indices of ``kneighbors`` (NearestNeighbors); a model
    with none of these (statistics) records every fitted array of its
    schema, flattened and concatenated in schema order.
    """
    for method in ("predict", "transform", "mahalanobis"):
        if hasattr(model, method):
            return getattr(model, method)(X)
    if hasattr(model, "labels_"):
        return model.labels_
    if model._oxlearn_kind == "neighbors.NearestNeighbors":
        dist, ind = model.kneighbors(X)
        return np.concatenate([dist.ravel(), ind.ravel().astype(np.float64)])
    names = [name for name, _ in _core.schema(model._oxlearn_kind)["arrays"]]
    return np.concatenate([np.ravel(getattr(model, n)).astype(np.float64)
                           for n in names if getattr(model, n, None) is not None])
