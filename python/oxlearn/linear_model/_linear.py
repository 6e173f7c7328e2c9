"""Accelerated ordinary least squares."""

from scipy import sparse
from sklearn import linear_model as _sk

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.base import LinearPredictMixin, OxlearnEstimatorMixin, n_threads
from oxlearn.linear_model._base import set_linear_attributes, validate_fit_data


class LinearRegression(OxlearnEstimatorMixin, LinearPredictMixin, _sk.LinearRegression):
    __doc__ = accelerated_doc(
        _sk.LinearRegression,
        "Accelerated by oxlearn (Rust): dense float input, any ``sample_weight``; "
        "``positive=True`` and sparse input run scikit-learn's implementation.",
    )

    _oxlearn_kind = "linear_model.LinearRegression"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

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
        self._validate_params()
        reason = self._fallback_reason(X)
        if reason:
            self._log_fallback("fit", reason)
            return super().fit(X, y, sample_weight)
        self._check_device("fit")
        X, Y, sw, y_1d = validate_fit_data(self, X, y, sample_weight)
        self._log_accelerated("fit")
        coef, intercept, rank, singular = _core.fit_linear_regression(
            X, Y, sw, self.fit_intercept, float(self.tol),
            self.get_hyperparameters("fit").chunk_rows, n_threads(self.n_jobs),
        )
        set_linear_attributes(self, coef, intercept, y_1d, self.fit_intercept)
        self.rank_ = int(rank)
        self.singular_ = singular
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


