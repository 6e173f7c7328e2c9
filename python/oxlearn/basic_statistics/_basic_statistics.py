"""Basic statistics, one-shot and incremental, computed in Rust.

scikit-learn has no such estimator: these follow scikit-learn-intelex's
``BasicStatistics`` / ``IncrementalBasicStatistics`` API and definitions
(including its sample weights, which scale rows: the statistics are those of
``sample_weight[:, None] * X``), on oxlearn's one-pass chunked moments.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from oxlearn import _core
from oxlearn._sklearn_private import Interval, StrOptions, _check_sample_weight, _fit_context
from oxlearn.base import IncrementalFitMixin, OxlearnEstimatorMixin, n_threads

OPTIONS = (
    "min", "max", "sum", "mean", "variance", "variation", "sum_squares",
    "sum_squares_centered", "second_order_raw_moment", "standard_deviation",
)

_STATE = ("sum", "mean", "m2", "min", "max")


def _options(result_options):
    """The requested statistics, in scikit-learn-intelex's order."""
    if isinstance(result_options, str):
        return OPTIONS if result_options == "all" else (result_options,)
    unknown = [o for o in result_options if o not in OPTIONS]
    if unknown or not result_options:
        raise ValueError(
            f"result_options={result_options!r}: expected 'all' or a non-empty list of "
            f"{', '.join(OPTIONS)}" + (f"; unknown: {unknown}" if unknown else "")
        )
    return tuple(o for o in OPTIONS if o in result_options)


def _sample_weight(sample_weight, X):
    if sample_weight is None:
        return None
    # Weights scale rows: negative and all-zero weights are meaningful.
    return _check_sample_weight(sample_weight, X, dtype=X.dtype, allow_all_zero_weights=True)


class _BasicStatisticsBase(OxlearnEstimatorMixin, BaseEstimator):
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

    @property
    def _oxlearn_dtype_attr(self):
        # The model's dtype is that of whichever statistic it holds.
        return next((o + "_" for o in OPTIONS if hasattr(self, o + "_")), "mean_")

    @classmethod
    def _sklearn_counterpart(cls):
        raise TypeError(
            f"{cls.__name__} has no scikit-learn counterpart (it is scikit-learn-intelex's API)"
        )

    def _set_statistics(self, state, dtype, scalar=False):
        stats = _core.basic_statistics(state)
        for option in _options(self.result_options):
            value = stats[option].astype(dtype)
            setattr(self, option + "_", value[0] if scalar else value)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags


class BasicStatistics(_BasicStatisticsBase):
    """Per-feature statistics: minimum, maximum, sum, mean, variance and more.

    Same API and definitions as scikit-learn-intelex's ``BasicStatistics``,
    computed by oxlearn in Rust in one pass over fixed row chunks (merged
    centred moments, so large offsets lose no precision, and the result does
    not depend on the thread count).

    Parameters
    ----------
    result_options : str or list of str, default="all"
        Statistics to compute: ``"all"``, or any of ``"min"``, ``"max"``,
        ``"sum"``, ``"mean"``, ``"variance"``, ``"variation"``,
        ``"sum_squares"``, ``"sum_squares_centered"``,
        ``"second_order_raw_moment"``, ``"standard_deviation"``.
    n_jobs : int, default=None
        Threads to use (``None``: all cores within joblib and threadpoolctl limits,
        as scikit-learn's OpenMP code; -1: all cores). Results do not depend on it.

    Attributes
    ----------
    min_, max_, sum_, mean_ : ndarray of shape (n_features,)
        Minimum, maximum, sum and mean of each feature.
    variance_, standard_deviation_ : ndarray of shape (n_features,)
        Unbiased (``n - 1``) variance and its square root; NaN for one sample.
    variation_ : ndarray of shape (n_features,)
        Coefficient of variation, ``standard_deviation_ / mean_``.
    sum_squares_, sum_squares_centered_ : ndarray of shape (n_features,)
        ``Σ x²`` and ``Σ (x - mean)²``.
    second_order_raw_moment_ : ndarray of shape (n_features,)
        ``Σ x² / n_samples``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    Notes
    -----
    Only the statistics named in ``result_options`` are set. A 1-D ``X`` is
    one feature, and its statistics are scalars. With ``sample_weight`` the
    statistics are those of the rows scaled by their weights, ``w_i * x_i``
    (scikit-learn-intelex's definition; not frequency weights).

    Examples
    --------
    >>> import numpy as np
    >>> from oxlearn.basic_statistics import BasicStatistics
    >>> bs = BasicStatistics(result_options=["sum", "min", "max"]).fit([[1, 2], [3, 4]])
    >>> bs.sum_.tolist(), bs.min_.tolist(), bs.max_.tolist()
    ([4.0, 6.0], [1.0, 2.0], [3.0, 4.0])
    """

    _oxlearn_kind = "basic_statistics.BasicStatistics"
    _oxlearn_gpu_methods = ("fit",)
    _parameter_constraints: dict = {
        "result_options": [StrOptions({"all", *OPTIONS}), list],
        "n_jobs": [Integral, None],
    }

    def __init__(self, result_options="all", *, n_jobs=None):
        self.result_options = result_options
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the statistics of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            Data; a 1-D array is one feature.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights: the statistics are those of ``sample_weight[:, None] * X``.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        _options(self.result_options)
        device = self._check_device("fit")
        for o in OPTIONS:
            self.__dict__.pop(o + "_", None)
        scalar = not hasattr(X, "columns") and np.asarray(X).ndim == 1
        if scalar:
            X = np.asarray(X).reshape(-1, 1)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False)
        sw = _sample_weight(sample_weight, X)
        self._log_accelerated("fit", device)
        state = _core.column_moments_update(
            None, X, sw, self.get_hyperparameters("fit").chunk_rows, n_threads(self.n_jobs),
            device=device,
        )
        self._set_statistics(state, X.dtype, scalar)
        return self


class IncrementalBasicStatistics(IncrementalFitMixin, _BasicStatisticsBase):
    """Per-feature statistics computed over batches.

    Same API and definitions as scikit-learn-intelex's
    ``IncrementalBasicStatistics``: :meth:`partial_fit` adds one batch,
    :meth:`fit` processes ``X`` in batches of ``batch_size`` rows. The state
    kept between batches is the merged centred moments, so a fit over
    batches equals the one-shot fit up to rounding.

    Parameters
    ----------
    result_options : str or list of str, default="all"
        Statistics to compute (see :class:`BasicStatistics`).
    batch_size : int, default=None
        Rows per batch in :meth:`fit`; ``None`` means ``5 * n_features``.
    n_jobs : int, default=None
        Threads to use (``None``: all cores within joblib and threadpoolctl limits,
        as scikit-learn's OpenMP code; -1: all cores). Results do not depend on it.

    Attributes
    ----------
    min_, max_, sum_, mean_, variance_, variation_, sum_squares_, \
sum_squares_centered_, second_order_raw_moment_, standard_deviation_ : \
ndarray of shape (n_features,)
        As in :class:`BasicStatistics`, over all rows seen so far.
    n_samples_seen_ : int
        Number of samples processed so far.
    batch_size_ : int
        Rows per batch used by :meth:`fit`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from oxlearn.basic_statistics import IncrementalBasicStatistics
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> est = IncrementalBasicStatistics().partial_fit(X[:1]).partial_fit(X[1:])
    >>> est.sum_.tolist(), est.max_.tolist(), est.n_samples_seen_
    ([4.0, 6.0], [3.0, 4.0], 2)
    """

    _oxlearn_kind = "basic_statistics.IncrementalBasicStatistics"
    _incremental_state = tuple("_" + k for k in _STATE)
    _parameter_constraints: dict = {
        **BasicStatistics._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, result_options="all", batch_size=None, *, n_jobs=None):
        self.result_options = result_options
        self.batch_size = batch_size
        self.n_jobs = n_jobs

    def _update(self, batch, chunk_rows):
        X, _, sample_weight = batch
        _options(self.result_options)
        sw = _sample_weight(sample_weight, X)
        state = self._state()
        new = _core.column_moments_update(state, X, sw, chunk_rows, n_threads(self.n_jobs))
        for k in _STATE:
            setattr(self, "_" + k, new[k])
        self.n_samples_seen_ = int(new["n_samples"])
        self._set_statistics(self._state(), X.dtype)

    def _state(self):
        if not hasattr(self, "_mean"):
            return None
        state = {k: getattr(self, "_" + k) for k in _STATE}
        state["n_samples"] = int(self.n_samples_seen_)
        return state

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, sample_weight=None, check_input=True):
        """Add one batch to the statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Batch of data.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights (see :class:`BasicStatistics`).
        check_input : bool, default=True
            Accepted for scikit-learn-intelex compatibility; inputs are always checked.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, None, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the statistics of X in batches of ``batch_size`` rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights (see :class:`BasicStatistics`).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_batches(X, None, sample_weight)
