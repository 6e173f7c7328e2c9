"""``pairwise_distances`` for dense data in Rust.

Every entry is the exact difference-based distance (scipy's ``cdist``
arithmetic), also for euclidean and cosine, where scikit-learn expands
``‖x‖² − 2x·y + ‖y‖²`` with a matrix product and loses the digits of
near-identical rows. Output dtypes follow scikit-learn: euclidean and cosine
keep float32 when both inputs are float32, the other metrics return float64
(as ``cdist`` does).
"""

import numbers

import numpy as np
from scipy.sparse import issparse
from sklearn.metrics import pairwise as _sk_pairwise
from sklearn.metrics.pairwise import check_pairwise_arrays

from oxlearn import _array_api, _core
from oxlearn._logging import logger
from oxlearn.base import check_device, n_threads

# Captured at import, before patch_sklearn can replace it: the fallback.
_sk_pairwise_distances = _sk_pairwise.pairwise_distances

_ACCELERATED = {"euclidean", "l2", "manhattan", "cityblock", "l1", "chebyshev", "minkowski",
                "cosine"}
# Metrics whose result keeps float32 inputs in float32 (scikit-learn's own
# functions); scipy's cdist metrics always return float64.
_KEEP_DTYPE = {"euclidean", "l2", "cosine"}


def _unsupported(X, Y, metric, ensure_all_finite, kwds):
    """Why this call cannot run in Rust, or ``None``."""
    if not isinstance(metric, str) or metric not in _ACCELERATED:
        return f"metric={metric!r}"
    if issparse(X) or issparse(Y):
        return "sparse input"
    if ensure_all_finite is not True:
        return f"ensure_all_finite={ensure_all_finite!r}"
    allowed = {"minkowski": {"p"}, "euclidean": {"squared"}, "l2": {"squared"}}.get(metric, set())
    extra = sorted(set(kwds) - allowed)
    if extra:
        return f"parameters {extra}"
    if metric == "minkowski":
        p = kwds.get("p", 2)
        if not isinstance(p, numbers.Real) or not p >= 1:
            return f"p={p!r}"
    return None


@_array_api.dispatch_function
def pairwise_distances(X, Y=None, metric="euclidean", *, n_jobs=None, ensure_all_finite=True,
                       **kwds):
    """Compute the distance matrix from a feature array X and optional Y.

    Same API as :func:`sklearn.metrics.pairwise_distances`. Dense input with
    metric euclidean/l2, manhattan/cityblock/l1, chebyshev, minkowski
    (``p >= 1``) or cosine runs in Rust; everything else (sparse input,
    precomputed, callable or other metrics, extra parameters,
    ``ensure_all_finite`` other than True) calls scikit-learn's function,
    logged.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        Feature array (or a precomputed distance matrix with
        ``metric="precomputed"``, handled by scikit-learn).
    Y : array-like of shape (n_samples_Y, n_features), default=None
        Second feature array; ``None`` uses ``Y = X``.
    metric : str or callable, default="euclidean"
        The distance metric.
    n_jobs : int, default=None
        Threads used; results never depend on it.
    ensure_all_finite : bool or "allow-nan", default=True
        Whether to raise on NaN or infinity (scikit-learn's meaning).
    **kwds : optional keyword parameters
        ``p`` for minkowski, ``squared`` for euclidean; any other goes to
        scikit-learn.

    Returns
    -------
    D : ndarray of shape (n_samples_X, n_samples_Y)
        ``D[i, j]`` is the distance between ``X[i]`` and ``Y[j]``: float32
        for float32 inputs with euclidean or cosine, float64 otherwise.

    Examples
    --------
    >>> from oxlearn.metrics import pairwise_distances
    >>> pairwise_distances([[0.0, 3.0], [4.0, 0.0]])
    array([[0., 5.],
           [5., 0.]])
    """
    reason = _unsupported(X, Y, metric, ensure_all_finite, kwds)
    if reason is not None:
        logger.info("pairwise_distances: fallback to scikit-learn (%s)", reason)
        return _sk_pairwise_distances(X, Y, metric, n_jobs=n_jobs,
                                      ensure_all_finite=ensure_all_finite, **kwds)
    check_device("pairwise_distances")
    same = Y is None or Y is X
    X, Y = check_pairwise_arrays(X, Y, ensure_all_finite=True)
    logger.info("pairwise_distances: running accelerated version on CPU")
    p = float(kwds.get("p", 2)) if metric == "minkowski" else None
    out_f32 = metric in _KEEP_DTYPE and X.dtype == np.float32
    return _core.pairwise_distances(X, Y, metric, p, same, bool(kwds.get("squared", False)),
                                    out_f32, n_threads(n_jobs))
