"""Accelerated logistic regression."""

import warnings

import numpy as np
from scipy import sparse
from sklearn import linear_model as _sk
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import _LOGISTIC_SOLVER_CONVERGENCE_MSG, _check_sample_weight
from oxlearn.base import OxlearnEstimatorMixin, _validate_predict_X, n_threads

_ACCELERATED_SOLVERS = ("lbfgs", "newton-cg")


class LogisticRegression(OxlearnEstimatorMixin, _sk.LogisticRegression):
    __doc__ = accelerated_doc(
        _sk.LogisticRegression,
        "Accelerated by oxlearn (Rust): solvers 'lbfgs' and 'newton-cg' with an L2 "
        "penalty or none, binary and multinomial, on dense input; other solvers and "
        "penalties, negative sample weights and sparse input run scikit-learn's.",
    )

    _oxlearn_kind = "linear_model.LogisticRegression"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

    # --- fit ----------------------------------------------------------------
    def _resolve_penalty(self, warn):
        """Return ``(penalty, C)`` as scikit-learn 1.9's ``fit`` resolves them.

        ``penalty`` is deprecated in favour of ``l1_ratio`` and ``C=np.inf``;
        with ``warn``, the same warnings as scikit-learn's are emitted.
        """
        if self.penalty == "deprecated":
            if self.l1_ratio == 0 or self.l1_ratio is None:
                penalty = "l2"
                if self.l1_ratio is None and warn:
                    warnings.warn(
                        "'l1_ratio=None' was deprecated in version 1.8 and will trigger an "
                        "error in 1.10. Use 0<=l1_ratio<=1 instead.",
                        FutureWarning,
                        stacklevel=4,
                    )
            elif self.l1_ratio == 1:
                penalty = "l1"
            else:
                penalty = "elasticnet"
            if self.C == np.inf:
                penalty = None
        else:
            penalty = self.penalty
            if warn:
                warnings.warn(
                    "'penalty' was deprecated in version 1.8 and will be removed in 1.10. "
                    "To avoid this warning, leave 'penalty' set to its default value and use "
                    "'l1_ratio' or 'C' instead. Use l1_ratio=0 instead of penalty='l2', "
                    "l1_ratio=1 instead of penalty='l1', l1_ratio set to a float between 0 "
                    "and 1 instead of penalty='elasticnet', and C=np.inf instead of "
                    "penalty=None.",
                    FutureWarning,
                    stacklevel=4,
                )
        if warn:
            if penalty != "elasticnet" and (
                self.l1_ratio is not None and 0 < self.l1_ratio < 1
            ):
                warnings.warn(
                    "l1_ratio parameter is only used when penalty is 'elasticnet'. Got "
                    f"(penalty={penalty})",
                    stacklevel=4,
                )
            if (self.penalty == "l2" and self.l1_ratio != 0) or (
                self.penalty == "l1" and self.l1_ratio != 1
            ):
                warnings.warn(
                    f"Inconsistent values: penalty={self.penalty} with "
                    f"l1_ratio={self.l1_ratio}. penalty is deprecated. Please use "
                    "l1_ratio only.",
                    stacklevel=4,
                )
            if self.penalty is None and self.C != 1.0:
                warnings.warn(
                    "Setting penalty=None will ignore the C and l1_ratio parameters",
                    stacklevel=4,
                )
            if self.n_jobs is not None:
                warnings.warn(
                    "'n_jobs' has no effect since 1.8 and will be removed in 1.10. "
                    f"You provided 'n_jobs={self.n_jobs}', please leave it unspecified.",
                    FutureWarning,
                    stacklevel=4,
                )
        C = np.inf if self.penalty is None else self.C
        return penalty, C

    def _fallback_reason(self, X, sample_weight, penalty):
        if self.solver not in _ACCELERATED_SOLVERS:
            return f"solver={self.solver!r} is not accelerated (only {_ACCELERATED_SOLVERS})"
        if penalty not in ("l2", None):
            return f"penalty {penalty!r} is not accelerated (only 'l2' and none)"
        if self.dual:
            return "dual=True is not accelerated"
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        if getattr(self, "_skl_callbacks", None):
            return "callbacks are not supported"
        if sample_weight is not None:
            try:
                negative = bool(np.any(np.asarray(sample_weight, dtype=np.float64) < 0))
            except (TypeError, ValueError):
                negative = False  # scikit-learn's validation reports it below
            if negative:
                return "negative sample weights are not accelerated"
        return None

    def fit(self, X, y, sample_weight=None):
        """Fit the model according to the given training data.

        The penalised mean log loss, its gradient and Hessian-vector products
        are summed over fixed row chunks in parallel (results do not depend
        on the thread count) and minimised by L-BFGS or Newton-CG with the
        stopping rules of scikit-learn's solvers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training vector, where `n_samples` is the number of samples and
            `n_features` is the number of features.
        y : array-like of shape (n_samples,)
            Target vector relative to X.
        sample_weight : array-like of shape (n_samples,) default=None
            Array of weights that are assigned to individual samples.
            If not provided, then each sample is given unit weight.

        Returns
        -------
        self
            Fitted estimator.
        """
        self._validate_params()
        penalty, C = self._resolve_penalty(warn=False)
        reason = self._fallback_reason(X, sample_weight, penalty)
        if reason:
            self._log_fallback("fit", reason)
            return super().fit(X, y, sample_weight)
        self._resolve_penalty(warn=True)
        self._check_device("fit")
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], ensure_all_finite=False, order=None
        )
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        self.classes_ = classes
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]!r}"
            )
        sw = None
        if sample_weight is not None or self.class_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=X.dtype, copy=True)
        if self.class_weight is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                cw = compute_class_weight(
                    self.class_weight, classes=classes, y=y, sample_weight=sw
                )
            bad = np.flatnonzero(~np.isfinite(cw))
            if bad.size:
                # 'balanced' with a class whose samples all weigh zero.
                label = classes[bad[0]].tolist()
                raise ValueError(
                    f"class_weight={self.class_weight!r} gives class {label!r} the "
                    f"weight {cw[bad[0]]}: the sample weights of that class sum to zero. "
                    "Give some of its samples a positive weight or remove the class."
                )
            sw *= cw[y_idx].astype(X.dtype)
        if sw is not None:
            sw = np.ascontiguousarray(sw, dtype=np.float64)
        init_coef, init_intercept = self._warm_start_coef(X.shape[1], n_classes)
        self._log_accelerated("fit")
        coef, intercept, n_iter, status, message, _ = _core.fit_logistic_regression(
            X, np.ascontiguousarray(y_idx, dtype=np.uint32), sw, n_classes, self.solver,
            float(C), bool(self.fit_intercept), int(self.max_iter), float(self.tol),
            init_coef, init_intercept, self.get_hyperparameters("fit").chunk_rows,
            n_threads(self.n_jobs),
        )
        self._warn_convergence(n_iter, status, message)
        self.n_iter_ = np.asarray([min(n_iter, self.max_iter)], dtype=np.int32)
        self.coef_ = coef
        self.intercept_ = intercept
        return self

    def _warm_start_coef(self, n_features, n_classes):
        """``(coef, intercept)`` in float64 to start from, or ``(None, None)``.

        Validated as scikit-learn validates ``warm_start`` coefficients
        (including its error messages).
        """
        coef = getattr(self, "coef_", None) if self.warm_start else None
        if coef is None:
            return None, None
        coef = np.asarray(coef, dtype=np.float64)
        if self.fit_intercept:
            intercept = np.asarray(self.intercept_, dtype=np.float64)
            coef = np.concatenate([coef, np.reshape(intercept, (-1, 1))], axis=1)
        n_dof = n_features + int(self.fit_intercept)
        k = 1 if n_classes == 2 else n_classes
        if coef.ndim != 2 or coef.shape != (k, n_dof):
            expected = f"({n_dof},) or (1, {n_dof})" if k == 1 else f"({k}, {n_dof})"
            raise ValueError(
                f"Initialization coef is of shape {coef.shape}, expected shape {expected}"
            )
        init = np.ascontiguousarray(coef[:, :n_features])
        intercept = coef[:, n_features] if self.fit_intercept else np.zeros(k)
        return init, np.ascontiguousarray(intercept)

    def _warn_convergence(self, n_iter, status, message):
        """scikit-learn's warnings when the solver stopped early."""
        if status == "converged":
            return
        if self.solver == "lbfgs":
            n = min(n_iter, self.max_iter)
            code = 1 if status == "max_iter" else 2
            msg = f"lbfgs failed to converge after {n} iteration(s) (status={code}):\n{message}\n"
            if n == self.max_iter:
                msg += (
                    "\nIncrease the number of iterations to improve the convergence "
                    f"(max_iter={self.max_iter})."
                )
            msg += (
                "\nYou might also want to scale the data as shown in:\n"
                "    https://scikit-learn.org/stable/modules/preprocessing.html"
                "\n" + _LOGISTIC_SOLVER_CONVERGENCE_MSG
            )
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        elif status == "line_search_failed":
            warnings.warn(message, stacklevel=4)
        else:
            warnings.warn(message, ConvergenceWarning, stacklevel=4)

    # --- predict ------------------------------------------------------------
    def _accelerated_predict(self, method, X):
        """Validated ``X`` for a Rust prediction, or None to fall back."""
        if "coef_" not in self.__dict__:
            check_is_fitted(self)  # raises scikit-learn's NotFittedError
        self._verify_pending()
        if sparse.issparse(X) or sparse.issparse(self.coef_):
            self._log_fallback(method, "sparse input or coefficients")
            return None
        self._check_device(method)
        # scikit-learn's LogisticRegression predicts with dtype="numeric".
        X = _validate_predict_X(self, X, numeric=True)
        self._log_accelerated(method)
        return X

    def _outputs(self, X, what):
        coef = np.asarray(self.coef_)
        if coef.ndim == 1:
            # Set by hand (LogisticRegressionCV's scoring sets a binary coef_
            # of shape (n_features,)): scikit-learn predicts with it as is.
            coef = coef.reshape(1, -1)
        dtype = X.dtype if X.dtype == coef.dtype else np.result_type(X.dtype, coef.dtype)
        intercept = np.asarray(self.intercept_, dtype=dtype)
        if intercept.shape != coef.shape[:1]:  # scalar 0.0 (liblinear, no intercept)
            intercept = np.full(coef.shape[:1], intercept, dtype=dtype)
        return _core.predict_logistic(
            np.asarray(X, dtype=dtype),
            np.asarray(coef, dtype=dtype),
            np.ascontiguousarray(intercept),
            what,
            n_threads(self.n_jobs),
        )

    def decision_function(self, X):
        """Predict confidence scores for samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data matrix for which we want to get the confidence scores.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Confidence scores per `(n_samples, n_classes)` combination. In the
            binary case, confidence score for `self.classes_[1]` where >0 means
            this class would be predicted.
        """
        Xv = self._accelerated_predict("decision_function", X)
        if Xv is None:
            return super().decision_function(X)
        scores = self._outputs(Xv, "decision")
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels for samples in X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data matrix for which we want to get the predictions.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Vector containing the class labels for each sample.
        """
        Xv = self._accelerated_predict("predict", X)
        if Xv is None:
            return super().predict(X)
        return self.classes_[self._outputs(Xv, "classes")]

    def predict_proba(self, X):
        """Probability estimates.

        The returned estimates for all classes are ordered by the label of
        classes: ``[1 - expit(d), expit(d)]`` for two classes, the softmax of
        the decision values otherwise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Vector to be scored, where `n_samples` is the number of samples and
            `n_features` is the number of features.

        Returns
        -------
        T : array-like of shape (n_samples, n_classes)
            Returns the probability of the sample for each class in the model,
            where classes are ordered as they are in ``self.classes_``.
        """
        Xv = self._accelerated_predict("predict_proba", X)
        if Xv is None:
            return super().predict_proba(X)
        return self._outputs(Xv, "proba")

    def predict_log_proba(self, X):
        """Predict logarithm of probability estimates.

        Computed stably from the decision values (no ``log(0)`` where a
        probability underflows).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Vector to be scored, where `n_samples` is the number of samples and
            `n_features` is the number of features.

        Returns
        -------
        T : array-like of shape (n_samples, n_classes)
            Returns the log-probability of the sample for each class in the
            model, where classes are ordered as they are in ``self.classes_``.
        """
        Xv = self._accelerated_predict("predict_log_proba", X)
        if Xv is None:
            return super().predict_log_proba(X)
        return self._outputs(Xv, "log_proba")

    # --- persistence ----------------------------------------------------------
    def _oxlearn_state_view(self):
        # After sparsify(), coef_ is a scipy sparse matrix: it is stored dense
        # and made sparse again on load.
        if not sparse.issparse(getattr(self, "coef_", None)):
            return self
        state = type(self).__new__(type(self))
        state.__dict__.update(self.__dict__)
        state.coef_ = self.coef_.toarray()
        state._coef_sparse = True
        return state

    def _oxlearn_after_load(self):
        if self.__dict__.pop("_coef_sparse", False):
            self.coef_ = sparse.csr_matrix(self.coef_)
