"""The PCA transform shared by PCA and IncrementalPCA."""

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_is_fitted

from oxlearn import _core
from oxlearn._sklearn_private import _SetOutputMixin
from oxlearn.base import _validate_predict_X


def pca_transform(est, X):
    """``(X - mean_) @ components_.T`` (whitened if ``est.whiten``), in Rust.

    The transform runs as a linear map in oxlearn's fixed-order kernel, so a
    model transforms bit-identically in Python and in the ``oxlearn`` binary.
    """
    check_is_fitted(est)
    est._check_device("transform")
    X = _validate_predict_X(est, X)
    dtype = np.result_type(X.dtype, est.components_.dtype)
    if est.components_.shape[0] == 0:  # n_components=0
        return np.empty((X.shape[0], 0), dtype=dtype)
    ev = np.asarray(est.explained_variance_, dtype=np.float64) if est.whiten else None
    coef, intercept = _core.pca_transform_map(
        np.asarray(est.components_, dtype=np.float64), np.asarray(est.mean_, dtype=np.float64),
        ev, float(np.finfo(est.explained_variance_.dtype).eps),
    )
    est._log_accelerated("transform")
    return _core.predict_linear(np.asarray(X, dtype=dtype), coef.astype(dtype),
                                intercept.astype(dtype), None)


class PCATransformMixin(_SetOutputMixin):
    """``transform`` in Rust for PCA models (sparse input: scikit-learn's).

    A ``_SetOutputMixin``, so that scikit-learn wraps this ``transform`` for
    ``set_output`` / ``transform_output`` where it is defined (it wraps only
    methods a class defines itself).
    """

    def transform(self, X):
        """Apply dimensionality reduction to X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Projection of X on the first principal components.
        """
        if sparse.issparse(X):
            self._log_fallback("transform", "sparse input")
            return super().transform(X)
        return pca_transform(self, X)
