"""Incremental linear models (scikit-learn-intelex's API): fit over batches.

The state kept between batches is the weighted, centred moments of
``[X | y]`` (merged exactly, in order), so a fit over batches equals the
one-shot fit up to rounding.
"""

from numbers import Integral, Real

from sklearn import linear_model as _sk
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin

from oxlearn import _core
from oxlearn._sklearn_private import Interval, _fit_context
from oxlearn.base import (
    IncrementalFitMixin,
    LinearPredictMixin,
    OxlearnEstimatorMixin,
    n_threads,
)
from oxlearn.linear_model._base import ridge_alphas, set_linear_attributes, validate_fit_data

_MOMENTS = ("mean_x", "mean_y", "cxx", "cxy")


class _IncrementalLinearBase(
    IncrementalFitMixin, OxlearnEstimatorMixin, LinearPredictMixin, MultiOutputMixin,
    RegressorMixin, BaseEstimator,
):
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}
    _incremental_state = ("_cxx", "_cxy", "_mean_x", "_mean_y")
    _parameter_constraints: dict = {
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "n_jobs": [Integral, None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def _alpha(self, n_targets):
        return None

    def _state(self):
        if not hasattr(self, "_cxx"):
            return None
        state = {k: getattr(self, "_" + k) for k in _MOMENTS}
        state["n_samples"] = int(self.n_samples_seen_)
        state["sum_weights"] = float(self._sum_weights)
        return state

    # Validation of X as the scikit-learn counterpart's (see validate_fit_data).
    _validates_numeric = False

    def _validate_batch(self, X, y, sample_weight, reset):
        return validate_fit_data(self, X, y, sample_weight, reset=reset,
                                 numeric=self._validates_numeric)

    def _update(self, batch, chunk_rows):
        X, Y, sw, y_1d = batch
        state = self._state()
        if state is not None and state["mean_y"].size != Y.shape[1]:
            raise ValueError(
                f"y has {Y.shape[1]} targets but the model was fitted so far on "
                f"{state['mean_y'].size}"
            )
        new = _core.moments_update(
            state, X, Y, sw, self.fit_intercept, chunk_rows, n_threads(self.n_jobs)
        )
        for k in _MOMENTS:
            setattr(self, "_" + k, new[k])
        self.n_samples_seen_ = int(new["n_samples"])
        self._sum_weights = float(new["sum_weights"])
        self._finalize(X.dtype, y_1d)

    def _finalize(self, dtype, y_1d):
        alpha = self._alpha(self._mean_y.size)
        coef, intercept, _ = _core.linear_from_moments(
            self._state(), self.fit_intercept, alpha
        )
        set_linear_attributes(
            self, coef.astype(dtype), intercept.astype(dtype), y_1d, self.fit_intercept
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, check_input=True):
        """Update the model with one batch of data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training batch.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Individual weights for each sample (an oxlearn extension).
        check_input : bool, default=True
            Accepted for scikit-learn-intelex compatibility; inputs are always
            checked.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model on ``X`` in batches of ``batch_size`` rows.

        The result is the one ``partial_fit`` gives when called on successive
        batches of ``batch_size_`` rows, computed in one call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Individual weights for each sample (an oxlearn extension).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_batches(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class IncrementalLinearRegression(_IncrementalLinearBase):
    """Ordinary least squares fitted over batches.

    Same API as scikit-learn-intelex's ``IncrementalLinearRegression``.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    copy_X : bool, default=True
        Accepted for compatibility; ``X`` is never modified.
    n_jobs : int, default=None
        Threads to use (``None``: all cores within joblib and threadpoolctl limits,
        as scikit-learn's OpenMP code; -1: all cores). Results do not depend on it.
    batch_size : int, default=None
        Rows per batch in :meth:`fit`; ``None`` means ``5 * n_features``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Estimated coefficients.
    intercept_ : float or ndarray of shape (n_targets,)
        Independent term.
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
    >>> from oxlearn.linear_model import IncrementalLinearRegression
    >>> X = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    >>> y = X @ [2.0, -1.0] + 3.0
    >>> model = IncrementalLinearRegression().partial_fit(X[:2], y[:2]).partial_fit(X[2:], y[2:])
    >>> np.round(model.coef_, 10).tolist(), round(float(model.intercept_), 10)
    ([2.0, -1.0], 3.0)
    """

    _oxlearn_kind = "linear_model.IncrementalLinearRegression"
    _validates_numeric = True  # as LinearRegression, its scikit-learn counterpart

    @classmethod
    def _sklearn_counterpart(cls):
        return _sk.LinearRegression

    def __init__(self, *, fit_intercept=True, copy_X=True, n_jobs=None, batch_size=None):
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.n_jobs = n_jobs
        self.batch_size = batch_size


class IncrementalRidge(_IncrementalLinearBase):
    """Ridge regression fitted over batches.

    Same API as scikit-learn-intelex's ``IncrementalRidge``.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    alpha : float or array-like of shape (n_targets,), default=1.0
        L2 penalty, one for all targets or one per target.
    copy_X : bool, default=True
        Accepted for compatibility; ``X`` is never modified.
    n_jobs : int, default=None
        Threads to use (``None``: all cores within joblib and threadpoolctl limits,
        as scikit-learn's OpenMP code; -1: all cores). Results do not depend on it.
    batch_size : int, default=None
        Rows per batch in :meth:`fit`; ``None`` means ``5 * n_features``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Estimated coefficients.
    intercept_ : float or ndarray of shape (n_targets,)
        Independent term.
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
    >>> from oxlearn.linear_model import IncrementalRidge
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> model = IncrementalRidge(alpha=2.0).fit(X, [3.0, 5.0, 7.0])
    >>> round(float(model.coef_[0]), 12), round(float(model.intercept_), 12)
    (1.0, 4.0)
    """

    _oxlearn_kind = "linear_model.IncrementalRidge"

    @classmethod
    def _sklearn_counterpart(cls):
        return _sk.Ridge
    _parameter_constraints: dict = {
        **_IncrementalLinearBase._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
    }

    def __init__(
        self, fit_intercept=True, alpha=1.0, copy_X=True, n_jobs=None, batch_size=None
    ):
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.copy_X = copy_X
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    def _alpha(self, n_targets):
        return ridge_alphas(self.alpha, n_targets)
