"""Input handling shared by the linear models (sklearn plumbing only)."""

import numpy as np
from sklearn.utils.validation import validate_data

from oxlearn._sklearn_private import _check_sample_weight
from oxlearn.base import validate_numeric


def validate_fit_data(est, X, y, sample_weight, reset=True, numeric=False):
    """Validate ``X``, ``y`` and weights for a Rust fit.

    With ``numeric=True``, ``X`` is validated as scikit-learn's
    ``LinearRegression`` does (``dtype="numeric"``: arrays of strings are
    refused; float16 is computed in float32), else as ``Ridge`` does
    (``dtype=[float64, float32]``: numeric strings are parsed). ``X``'s
    finiteness is checked in Rust while the data is read (no extra pass over
    memory); ``y`` is small and checked here, with scikit-learn's messages.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32 or float64, any order
    Y : ndarray of shape (n_samples, n_targets), ``X``'s dtype
    sample_weight : ndarray of shape (n_samples,) or None
    y_1d : bool
        Whether ``y`` was one-dimensional.
    """
    kwargs = dict(reset=reset, y_numeric=True, multi_output=True, ensure_all_finite=False,
                  order=None)
    if numeric:
        X, y = validate_numeric(est, X, y, **kwargs)
    else:
        X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], **kwargs)
    y = np.asarray(y, dtype=X.dtype)
    y_1d = y.ndim == 1
    Y = y.reshape(-1, 1) if y_1d else y
    if sample_weight is not None:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        sample_weight = np.ascontiguousarray(sample_weight)
    return X, Y, sample_weight, y_1d


class AcceleratedLinearFitMixin:
    """``fit`` for linear models: fall back, or validate and call Rust.

    ``_validates_numeric`` says whether the scikit-learn class validates
    ``X`` with ``dtype="numeric"`` (see :func:`validate_fit_data`).
    Subclasses implement ``_fallback_reason(X)`` (a string when scikit-learn
    must run) and ``_fit_rust(X, Y, sample_weight)``, which returns
    ``(coef, intercept)`` and may set extra fitted attributes. Comes before
    the scikit-learn class in the bases, so ``super().fit`` is scikit-learn's.
    """

    _validates_numeric = False

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        reason = self._fallback_reason(X)
        if reason:
            self._log_fallback("fit", reason)
            return super().fit(X, y, sample_weight)
        device = self._check_device("fit")
        X, Y, sw, y_1d = validate_fit_data(self, X, y, sample_weight,
                                           numeric=self._validates_numeric)
        self._log_accelerated("fit", device)
        if device is None:
            coef, intercept = self._fit_rust(X, Y, sw)
        else:
            coef, intercept = self._fit_rust(X, Y, sw, device=device)
        set_linear_attributes(self, coef, intercept, y_1d, self.fit_intercept)
        return self


def set_linear_attributes(est, coef, intercept, y_1d, fit_intercept):
    """Set ``coef_`` and ``intercept_`` with scikit-learn's shapes and types."""
    if y_1d:
        est.coef_ = coef[0]
        est.intercept_ = intercept[0] if fit_intercept else 0.0
    else:
        est.coef_ = coef
        est.intercept_ = intercept if fit_intercept else 0.0


def ridge_alphas(alpha, n_targets):
    """``alpha`` as a list of penalties for ``n_targets`` targets (one, or one each).

    Raises scikit-learn's ValueError when their numbers do not correspond.
    """
    alpha = np.asarray(alpha, dtype=np.float64).ravel()
    if alpha.size not in (1, n_targets):
        raise ValueError(
            "Number of targets and number of penalties do not correspond: "
            f"{alpha.size} != {n_targets}"
        )
    return alpha.tolist()
