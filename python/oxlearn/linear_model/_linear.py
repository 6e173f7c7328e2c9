"""Accelerated ordinary least squares."""

from scipy import sparse
from sklearn import linear_model as _sk

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.base import LinearPredictMixin, OxlearnEstimatorMixin, n_threads
from oxlearn.linear_model._base import AcceleratedLinearFitMixin


class LinearRegression(
    OxlearnEstimatorMixin, LinearPredictMixin, AcceleratedLinearFitMixin, _sk.LinearRegression
):
    __doc__ = accelerated_doc(
        _sk.LinearRegression,
        "Accelerated by oxlearn (Rust): dense float input, any ``sample_weight``; "
        "``positive=True`` and sparse input run scikit-learn's implementation. ``X`` is read, "
        "never modified: ``copy_X=False`` does not overwrite it.",
    )

    _oxlearn_kind = "linear_model.LinearRegression"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}
    _validates_numeric = True  # as scikit-learn's: arrays of strings are refused

    def _fallback_reason(self, X):
        if self.positive:
            return "positive=True is not accelerated"
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        return None

    def fit(self, X, y, sample_weight=None):
        """Fit linear model.

        The normal equations are accumulated over fixed row chunks in
        parallel (results do not depend on the thread count) and solved by
        Cholesky; singular or ill-conditioned data takes a rank-revealing QR
        path that gives scikit-learn's minimum-norm solution.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values. Will be cast to X's dtype if necessary.
        sample_weight : array-like of shape (n_samples,), default=None
            Individual weights for each sample.

        Returns
        -------
        self : object
            Fitted Estimator.
        """
        return self._fit(X, y, sample_weight)

    _oxlearn_gpu_methods = ("fit",)

    def _fit_rust(self, X, Y, sample_weight, device=None):
        coef, intercept, rank, singular = _core.fit_linear_regression(
            X, Y, sample_weight, self.fit_intercept, float(self.tol),
            self.get_hyperparameters("fit").chunk_rows, n_threads(self.n_jobs), device=device,
        )
        self.rank_ = int(rank)
        self.singular_ = singular
        return coef, intercept

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


