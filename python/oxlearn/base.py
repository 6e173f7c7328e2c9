"""What every oxlearn estimator shares.

Dispatch logging, fallback, device policy, tuning knobs and the canonical
pickled state.
"""

import os

import numpy as np

from oxlearn import _core, _hyperparameters, _persistence
from oxlearn._config import oxlearn_config
from oxlearn._logging import logger


def n_threads(n_jobs):
    """Map scikit-learn's ``n_jobs`` to a thread count (``None``: all cores).

    Results never depend on it: oxlearn's reductions run over fixed chunks
    combined in order.
    """
    if n_jobs is None or n_jobs == -1:
        return None
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


class OxlearnEstimatorMixin:
    """Mixin for oxlearn estimators; comes first in the bases.

    Subclasses set ``_oxlearn_kind`` (their schema in ``oxlearn-format``) and
    ``_hyperparameter_specs`` (``{op: {name: default}}``).
    """

    _oxlearn_kind = None
    # The fitted attribute whose dtype is the model's dtype.
    _oxlearn_dtype_attr = "coef_"
    _hyperparameter_specs = {}

    # --- dispatch ---------------------------------------------------------
    def _check_device(self, method):
        """Verify a lazily loaded model, then apply ``target_offload``.

        The CPU is the only device implemented so far.
        """
        self._verify_pending()
        config = oxlearn_config()
        offload = config["target_offload"]
        if offload.startswith("gpu"):
            if not config["allow_fallback_to_host"]:
                raise NotImplementedError(
                    f"{type(self).__name__}.{method}: GPU offload (target_offload="
                    f"{offload!r}) is not implemented in oxlearn yet; use target_offload='cpu' "
                    "or set allow_fallback_to_host=True to run on the CPU"
                )
            logger.info(
                "%s.%s: GPU offload not implemented, running on host (allow_fallback_to_host)",
                type(self).__name__, method,
            )

    def _log_accelerated(self, method):
        logger.info("%s.%s: running accelerated version on CPU", type(self).__name__, method)

    def _log_fallback(self, method, reason):
        logger.info("%s.%s: fallback to scikit-learn (%s)", type(self).__name__, method, reason)

    # --- tuning knobs -----------------------------------------------------
    @classmethod
    def get_hyperparameters(cls, op):
        """Return the process-level tuning knobs of operation ``op``.

        Parameters
        ----------
        op : str
            Operation name, e.g. ``"fit"``.

        Returns
        -------
        hyperparameters : Hyperparameters
            Mutable; shared by every instance of the class in this process
            and never saved with a model.
        """
        return _hyperparameters.get_hyperparameters(cls.__name__, op, cls._hyperparameter_specs)

    @classmethod
    def reset_hyperparameters(cls, op):
        """Restore the defaults of ``op``'s tuning knobs."""
        cls.get_hyperparameters(op).reset()

    # --- persistence ------------------------------------------------------
    @classmethod
    def _sklearn_counterpart(cls):
        """The stock scikit-learn class this estimator converts to."""
        for base in cls.__mro__[1:]:
            if base.__module__.startswith("sklearn."):
                return base
        raise TypeError(f"{cls.__name__} has no scikit-learn counterpart")

    def to_sklearn(self):
        """Return the stock scikit-learn equivalent of this fitted model.

        Returns
        -------
        estimator : scikit-learn estimator
            Same parameters and fitted attributes; usable without oxlearn.
        """
        from oxlearn._io import to_sklearn

        return to_sklearn(self)

    def _sklearn_private_state(self):
        """Return private attributes the stock estimator needs after :meth:`to_sklearn`.

        Fitted state that scikit-learn keeps outside its public attributes;
        none by default.
        """
        return {}

    def _verify_pending(self):
        """Verify the array checksums of a model loaded with ``mmap=True``.

        Runs once, before the first computation or pickling; a failure is
        raised again on every later call, never skipped.
        """
        pending = self.__dict__.get("_oxlearn_pending_verification")
        if pending is not None:
            _core.verify_array_digests(*pending)
            del self.__dict__["_oxlearn_pending_verification"]

    def __getstate__(self):
        return _persistence.get_state(self)

    def __setstate__(self, state):
        _persistence.set_state(self, state)


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _validate_predict_X(est, X):
    """``validate_data(est, X, reset=False)`` for predict, with a fast path.

    A plain 2-D float numpy array with the fitted number of columns, for a
    model fitted without feature names, needs none of scikit-learn's
    conversions; its finiteness is checked in Rust while it is read. Anything
    else goes through scikit-learn's full validation, with its messages.
    """
    from sklearn.utils.validation import validate_data

    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] > 0
        and X.shape[1] == getattr(est, "n_features_in_", -1)
        and not hasattr(est, "feature_names_in_")
    ):
        return X
    return validate_data(
        est, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite=False
    )


class LinearPredictMixin:
    """Accelerated ``predict`` for models ``X @ coef_.T + intercept_``."""

    def predict(self, X):
        """Predict using the linear model.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        C : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        from scipy import sparse
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        if sparse.issparse(X):
            self._log_fallback("predict", "sparse input")
            return super().predict(X)
        self._check_device("predict")
        X = _validate_predict_X(self, X)
        coef = np.asarray(self.coef_)
        dtype = np.result_type(X.dtype, coef.dtype)
        coef2 = coef.reshape(1, -1) if coef.ndim == 1 else coef
        intercept = np.broadcast_to(np.asarray(self.intercept_, dtype=dtype), coef2.shape[:1])
        self._log_accelerated("predict")
        out = _core.predict_linear(
            np.asarray(X, dtype=dtype),
            np.asarray(coef2, dtype=dtype),
            np.ascontiguousarray(intercept),
            n_threads(getattr(self, "n_jobs", None)),
        )
        return out.ravel() if coef.ndim == 1 else out
