"""Accelerated elastic net and lasso (coordinate descent)."""

import numbers
import warnings

import numpy as np
from scipy import sparse
from sklearn import linear_model as _sk
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.base import LinearPredictMixin, OxlearnEstimatorMixin, n_threads
from oxlearn.linear_model._base import validate_fit_data

# scikit-learn's bound for the seed of its rand_r stream (_cd_fast.pyx).
_RAND_R_MAX = 2**31 - 1

# scikit-learn's ConvergenceWarning texts (_cd_fast.pyx), so that code
# filtering on them keeps working.
_MESSAGE_CONV = (
    "Objective did not converge. You might want to increase "
    "the number of iterations, check the scale of the "
    "features or consider increasing regularisation."
)
_MESSAGE_RIDGE = (
    "Linear regression models with a zero l1 penalization "
    "strength are more efficiently fitted using one of the "
    "solvers implemented in "
    "sklearn.linear_model.Ridge/RidgeCV instead."
)

_NOTE = (
    "Accelerated by oxlearn (Rust): coordinate descent on dense input, scikit-learn's "
    "iteration update for update (cyclic, or ``selection='random'`` with scikit-learn's "
    "random stream for the same ``random_state``; gap-safe screening; its duality-gap "
    "stopping rule), so ``coef_``, ``n_iter_`` and ``dual_gap_`` agree with scikit-learn's. "
    "When ``n_samples > n_features`` the iterates are computed from the Gram matrix, "
    "accumulated in parallel over fixed row chunks (results do not depend on the thread "
    "count). float32 input is computed in float64. Sparse input, a precomputed Gram "
    "array, negative sample weights, ``check_input=False`` and a ``warm_start`` "
    "``coef_`` of another shape run scikit-learn's implementation. ``X`` is read, never "
    "modified: ``copy_X=False`` does not overwrite it."
)


class _CoordinateDescentFit:
    """``fit`` of :class:`ElasticNet` and :class:`Lasso`: fall back, or call Rust.

    Comes before the scikit-learn class in the bases, so ``super().fit`` is
    scikit-learn's.
    """

    def _fallback_reason(self, X, sample_weight, check_input):
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        if not check_input:
            return "check_input=False (scikit-learn's unchecked, Fortran-ordered inputs)"
        if hasattr(self.precompute, "__array__"):
            return "a precomputed Gram matrix is not accelerated"
        if self.max_iter is None:
            return "max_iter=None"
        if sample_weight is not None and not isinstance(sample_weight, numbers.Number):
            try:
                negative = bool(np.any(np.asarray(sample_weight, dtype=np.float64) < 0))
            except (TypeError, ValueError):
                negative = False  # scikit-learn's validation reports it below
            if negative:
                # scikit-learn accepts them (its square roots give NaN data).
                return "negative sample weights are not accelerated"
        return None

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fit model with coordinate descent.

        scikit-learn's coordinate descent, update for update, in Rust: on the
        Gram matrix (accumulated over fixed row chunks) when there are more
        samples than features, else on a centred copy of ``X``.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Data.
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Target. Will be cast to X's dtype if necessary.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Sample weights. Internally rescaled to sum to ``n_samples``.
        check_input : bool, default=True
            Allow to bypass several input checking (then scikit-learn's
            implementation runs). Don't use this parameter unless you know
            what you do.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        reason = self._fallback_reason(X, sample_weight, check_input)
        if reason:
            self._log_fallback("fit", reason)
            return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
        self._check_device("fit")
        if self.alpha == 0:
            warnings.warn(
                "With alpha=0, this algorithm does not converge well. You are advised to "
                "use the LinearRegression estimator",
                stacklevel=3,  # the caller, past the array API wrapper
            )
        if isinstance(sample_weight, numbers.Number):
            sample_weight = None  # scikit-learn ignores a scalar weight
        warm = self.coef_ if self.warm_start and hasattr(self, "coef_") else None
        Xv, Y, sw, y_1d = validate_fit_data(self, X, y, sample_weight)
        n_targets, n_features = Y.shape[1], Xv.shape[1]
        coef_init = None
        if warm is not None:
            coef_init = np.atleast_2d(np.asarray(warm, dtype=np.float64))
            if coef_init.shape != (n_targets, n_features):
                self._log_fallback("fit", f"warm_start from a coef_ of shape {np.shape(warm)}")
                return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
            coef_init = np.ascontiguousarray(coef_init)
        # scikit-learn draws one seed per target, in every selection mode
        # (enet_path: check_random_state, then randint in the solver): the
        # same draws give the same coordinate stream, and leave a shared
        # RandomState where scikit-learn leaves it.
        seeds = [int(check_random_state(self.random_state).randint(0, _RAND_R_MAX))
                 for _ in range(n_targets)]
        self._log_accelerated("fit")
        coef, intercept, dual_gap, n_iter, gaps, tols, converged = _core.fit_elastic_net(
            Xv, Y, sw, coef_init, float(self.alpha), float(self.l1_ratio),
            bool(self.fit_intercept), bool(self.precompute), int(self.max_iter),
            float(self.tol), bool(self.positive), self.selection, seeds,
            self.get_hyperparameters("fit").chunk_rows, n_threads(None),
        )
        l1_reg = self.alpha * self.l1_ratio * Xv.shape[0]
        for gap, tol, ok in zip(gaps, tols, converged, strict=True):
            if not ok:
                message = f"{_MESSAGE_CONV} Duality gap: {gap:.6e}, tolerance: {tol:.3e}"
                if l1_reg < np.finfo(np.float64).eps:
                    message += "\n" + _MESSAGE_RIDGE
                warnings.warn(message, ConvergenceWarning, stacklevel=3)
        # scikit-learn's shapes: one target (y of shape (n,) or (n, 1)) gives
        # coef_ (p,), a scalar dual_gap_ and an int n_iter_; intercept_ keeps
        # y's dimensions; without an intercept it is the float 0.0.
        if n_targets == 1:
            self.coef_, self.dual_gap_, self.n_iter_ = coef[0], dual_gap[0], n_iter[0]
        else:
            self.coef_, self.dual_gap_, self.n_iter_ = coef, dual_gap, list(n_iter)
        if not self.fit_intercept:
            self.intercept_ = 0.0
        else:
            self.intercept_ = intercept[0] if y_1d else intercept
        if not (np.isfinite(self.coef_).all() and np.isfinite(self.intercept_).all()):
            raise ValueError(
                "Coordinate descent iterations resulted in non-finite parameter values. The "
                "input data may contain large values and need to be preprocessed."
            )
        return self


class ElasticNet(OxlearnEstimatorMixin, LinearPredictMixin, _CoordinateDescentFit,
                 _sk.ElasticNet):
    __doc__ = accelerated_doc(_sk.ElasticNet, _NOTE)

    _oxlearn_kind = "linear_model.ElasticNet"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}


class Lasso(OxlearnEstimatorMixin, LinearPredictMixin, _CoordinateDescentFit, _sk.Lasso):
    __doc__ = accelerated_doc(_sk.Lasso, _NOTE)

    _oxlearn_kind = "linear_model.Lasso"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}
