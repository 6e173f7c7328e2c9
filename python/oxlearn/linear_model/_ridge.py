"""Accelerated ridge regression."""

import numpy as np
from scipy import sparse
from sklearn import linear_model as _sk

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.base import LinearPredictMixin, OxlearnEstimatorMixin
from oxlearn.linear_model._base import AcceleratedLinearFitMixin, ridge_alphas

_ACCELERATED_SOLVERS = ("auto", "cholesky", "svd")


class Ridge(OxlearnEstimatorMixin, LinearPredictMixin, AcceleratedLinearFitMixin, _sk.Ridge):
    __doc__ = accelerated_doc(
        _sk.Ridge,
        "Accelerated by oxlearn (Rust): solvers 'auto', 'cholesky' and 'svd' on dense "
        "input; other solvers, ``positive=True`` and sparse input run scikit-learn's.",
    )

    _oxlearn_kind = "linear_model.Ridge"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

    def _fallback_reason(self, X):
        if self.positive:
            return "positive=True is not accelerated"
        if self.solver not in _ACCELERATED_SOLVERS:
            return f"solver={self.solver!r} is not accelerated (only {_ACCELERATED_SOLVERS})"
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        return None

    def fit(self, X, y, sample_weight=None):
        """Fit Ridge regression model.

        Solves ``(X^T W X + alpha I) w = X^T W y`` on centred data accumulated
        over fixed row chunks (the ``cholesky`` and ``svd`` solvers' solution).

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : float or ndarray of shape (n_samples,), default=None
            Individual weights for each sample. If given a float, every sample
            will have the same weight.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    _oxlearn_gpu_methods = ("fit",)

    def _fit_rust(self, X, Y, sample_weight, device=None):
        coef, intercept, _, _ = _core.fit_ridge(
            X, Y, sample_weight, ridge_alphas(self.alpha, Y.shape[1]), self.fit_intercept,
            self.get_hyperparameters("fit").chunk_rows, None, device=device,
        )
        self.n_iter_ = None
        self.solver_ = "svd" if self.solver == "svd" else "cholesky"
        return coef, intercept

    def _fit(self, X, y, sample_weight):
        super()._fit(X, y, sample_weight)
        if np.ndim(self.coef_) == 2 and self.coef_.shape[0] == 1:
            # scikit-learn's Ridge ravels the coefficients of a single
            # two-dimensional target (but keeps intercept_ of shape (1,)).
            self.coef_ = self.coef_[0]
        return self
