"""Accelerated empirical covariance, one-shot and incremental."""

import warnings
from numbers import Integral

import numpy as np
from sklearn import covariance as _sk

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import Interval, _fit_context
from oxlearn.base import IncrementalFitMixin, OxlearnEstimatorMixin, validate_numeric


def _validate_X(est, X, reset):
    # scikit-learn's EmpiricalCovariance validates with dtype="numeric"
    # (arrays of strings refused); its covariance_ is float64 for float16 X.
    X = validate_numeric(est, X, reset=reset, ensure_all_finite=False, float16=np.float64)
    if X.shape[0] == 1:
        warnings.warn(
            "Only one sample available. You may want to reshape your data array",
            stacklevel=4,
        )
    return X


def set_covariance(est, moments, dtype):
    """Set ``location_``, ``covariance_`` and ``precision_`` from merged moments."""
    location, cov, precision = _core.covariance_from_moments(
        moments, est.assume_centered, est.store_precision)
    est.location_ = location.astype(dtype)
    est.covariance_ = cov.astype(dtype)
    est.precision_ = None if precision is None else precision.astype(dtype)


class EmpiricalCovariance(OxlearnEstimatorMixin, _sk.EmpiricalCovariance):
    __doc__ = accelerated_doc(
        _sk.EmpiricalCovariance,
        "Accelerated by oxlearn (Rust): one pass over fixed row chunks with merged "
        "centred moments; the precision is the same pseudo-inverse scipy's pinvh gives.",
    )

    _oxlearn_kind = "covariance.EmpiricalCovariance"
    _oxlearn_dtype_attr = "covariance_"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

    def fit(self, X, y=None):
        """Fit the maximum likelihood covariance estimator to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        self._validate_params()
        self._check_device("fit")
        X = _validate_X(self, X, reset=True)
        self._log_accelerated("fit")
        self.location_, self.covariance_, self.precision_ = _core.fit_covariance(
            X, self.assume_centered, self.store_precision,
            self.get_hyperparameters("fit").chunk_rows, None,
        )
        return self


class IncrementalEmpiricalCovariance(
    IncrementalFitMixin, OxlearnEstimatorMixin, _sk.EmpiricalCovariance
):
    """Maximum likelihood covariance fitted over batches.

    Same API as scikit-learn-intelex's ``IncrementalEmpiricalCovariance``;
    ``mahalanobis``, ``score`` and ``error_norm`` are scikit-learn's.

    Parameters
    ----------
    store_precision : bool, default=False
        Whether to compute and store the precision (pseudo-inverse).
    assume_centered : bool, default=False
        If True, data are not centred before computation.
    batch_size : int, default=None
        Rows per batch in :meth:`fit`; ``None`` means ``5 * n_features``.
    copy : bool, default=True
        Accepted for compatibility; ``X`` is never modified.

    Attributes
    ----------
    location_ : ndarray of shape (n_features,)
        Estimated location (mean).
    covariance_ : ndarray of shape (n_features, n_features)
        Estimated covariance.
    precision_ : ndarray of shape (n_features, n_features) or None
        Estimated pseudo-inverse of the covariance, if ``store_precision``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    n_samples_seen_ : int
        Number of samples processed so far.
    batch_size_ : int
        Rows per batch used by :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from oxlearn.covariance import IncrementalEmpiricalCovariance
    >>> X = np.array([[0.0, 0.0], [2.0, 4.0], [4.0, 8.0], [6.0, 12.0]])
    >>> est = IncrementalEmpiricalCovariance().partial_fit(X[:2]).partial_fit(X[2:])
    >>> est.covariance_.round(12).tolist()
    [[5.0, 10.0], [10.0, 20.0]]
    """

    _oxlearn_kind = "covariance.IncrementalEmpiricalCovariance"
    _oxlearn_dtype_attr = "covariance_"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}
    _incremental_state = ("_cxx", "_mean_x")
    _parameter_constraints: dict = {
        **_sk.EmpiricalCovariance._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "copy": ["boolean"],
    }

    def __init__(self, *, store_precision=False, assume_centered=False, batch_size=None,
                 copy=True):
        self.store_precision = store_precision
        self.assume_centered = assume_centered
        self.batch_size = batch_size
        self.copy = copy

    @classmethod
    def _sklearn_counterpart(cls):
        return _sk.EmpiricalCovariance

    def _state(self):
        if not hasattr(self, "_cxx"):
            return None
        p = self._cxx.shape[0]
        return {"mean_x": self._mean_x, "cxx": self._cxx, "mean_y": np.zeros(0),
                "cxy": np.zeros((p, 0)), "n_samples": int(self.n_samples_seen_),
                "sum_weights": float(self._sum_weights)}

    def _validate_batch(self, X, y, sample_weight, reset):
        return (_validate_X(self, X, reset=reset),)

    def _update(self, batch, chunk_rows):
        (X,) = batch
        new = _core.moments_update(self._state(), X, np.empty((X.shape[0], 0), X.dtype), None,
                                   not self.assume_centered, chunk_rows, None)
        self._mean_x, self._cxx = new["mean_x"], new["cxx"]
        self.n_samples_seen_ = int(new["n_samples"])
        self._sum_weights = float(new["sum_weights"])
        set_covariance(self, self._state(), X.dtype)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, check_input=True):
        """Update the estimate with one batch of data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training batch.
        y : Ignored
            Not used, present for API consistency by convention.
        check_input : bool, default=True
            Accepted for scikit-learn-intelex compatibility; inputs are always checked.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, None, None)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the estimate on X in batches of ``batch_size`` rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_batches(X, None, None)
