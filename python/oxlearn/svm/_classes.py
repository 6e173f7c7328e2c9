"""Accelerated SVC, NuSVC, SVR, NuSVR and OneClassSVM.

scikit-learn's ``fit`` does the validation, ``gamma``, class weights and the
sign conventions; oxlearn replaces the libsvm calls beneath it
(``_dense_fit``, ``_dense_predict``, ``_dense_decision_function``,
``_dense_predict_proba``) with Rust: libsvm's SMO solver (same working-set
selection, shrinking, cache bound and stopping rule) with tiled, vectorised
kernel rows and blocked-product prediction.
"""

import numpy as np
from sklearn import svm as _sk
from sklearn.utils import check_array

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.base import OxlearnEstimatorMixin, n_threads

_NOTE = (
    "Accelerated by oxlearn (Rust): libsvm's SMO solver with the linear, poly, rbf "
    "and sigmoid kernels on dense input; precomputed and callable kernels and sparse "
    "input run scikit-learn's. With probability=True the internal 5-fold "
    "cross-validation shuffles with oxlearn's own random stream (libsvm's cannot be "
    "reproduced), so probabilities differ slightly from scikit-learn's."
)


class _SvmMixin(OxlearnEstimatorMixin):
    """The Rust paths shared by the five SVM estimators."""

    _oxlearn_dtype_attr = "support_vectors_"
    # Rebuilt from _dual_coef_, _intercept_ and _num_iter on load: stored once.
    _oxlearn_canonical = ("dual_coef_", "intercept_", "n_iter_", "offset_")
    # What scikit-learn's predict reads besides the public fitted attributes
    # (copied by to_sklearn and from_sklearn).
    _oxlearn_private_fitted = (
        "_sparse", "_gamma", "_n_support", "_dual_coef_", "_intercept_", "_probA",
        "_probB", "_num_iter", "_effective_probability",
    )
    # scikit-learn's SVMs do not take array API inputs.
    _oxlearn_array_api = False

    def _rust_kernel(self):
        """The kernel name when Rust computes it, else None."""
        if callable(self.kernel) or self.kernel == "precomputed":
            return None
        return self.kernel

    def _dense_fit(self, X, y, sample_weight, solver_type, kernel, random_seed):
        if self._rust_kernel() is None:
            self._log_fallback("fit", f"kernel={self.kernel!r} is not accelerated")
            return super()._dense_fit(X, y, sample_weight, solver_type, kernel, random_seed)
        if np.ndim(sample_weight) != 1:
            # scikit-learn's libsvm wrapper refuses it the same way.
            raise ValueError(
                f"Buffer has wrong number of dimensions (expected 1, got "
                f"{np.ndim(sample_weight)}): sample_weight must be 1-D"
            )
        self._check_device("fit")
        self._log_accelerated("fit")
        (
            self.support_,
            self.support_vectors_,
            self._n_support,
            self.dual_coef_,
            self.intercept_,
            self._probA,
            self._probB,
            self.fit_status_,
            self._num_iter,
        ) = _core.fit_svm(
            np.ascontiguousarray(X, dtype=np.float64),
            np.ascontiguousarray(y, dtype=np.float64),
            np.ascontiguousarray(sample_weight, dtype=np.float64),
            np.ascontiguousarray(getattr(self, "class_weight_", np.empty(0)), dtype=np.float64),
            self._impl,
            self.kernel,
            int(self.degree),
            float(self._gamma),
            float(self.coef0),
            float(self.C),
            float(self.nu),
            float(self.epsilon),
            float(self.tol),
            bool(self.shrinking),
            bool(self._effective_probability),
            float(self.cache_size),
            int(self.max_iter),
            int(random_seed),
            n_threads(None),
        )
        self._warn_from_fit_status()

    def _sparse_fit(self, X, y, sample_weight, solver_type, kernel, random_seed):
        self._log_fallback("fit", "sparse input is not accelerated")
        return super()._sparse_fit(X, y, sample_weight, solver_type, kernel, random_seed)

    def _rust_predict(self, method, X, what):
        """Rust's output ``what`` for validated ``X``, or None to fall back."""
        if self._rust_kernel() is None:
            self._log_fallback(method, f"kernel={self.kernel!r} is not accelerated")
            return None
        self._check_device(method)
        self._log_accelerated(method)
        return _core.predict_svm(
            np.ascontiguousarray(X, dtype=np.float64),
            np.ascontiguousarray(self.support_vectors_, dtype=np.float64),
            np.ascontiguousarray(self._n_support, dtype=np.int32),
            np.ascontiguousarray(self._dual_coef_, dtype=np.float64),
            np.ascontiguousarray(self._intercept_, dtype=np.float64),
            np.ascontiguousarray(self._probA, dtype=np.float64),
            np.ascontiguousarray(self._probB, dtype=np.float64),
            self._impl,
            self.kernel,
            int(self.degree),
            float(self._gamma),
            float(self.coef0),
            what,
            n_threads(None),
        )

    def _dense_predict(self, X):
        out = self._rust_predict("predict", X, "predict")
        return super()._dense_predict(X) if out is None else out

    def _dense_decision_function(self, X):
        X = check_array(X, dtype=np.float64, order="C", accept_large_sparse=False)
        out = self._rust_predict("decision_function", X, "decision")
        return super()._dense_decision_function(X) if out is None else out

    def _dense_predict_proba(self, X):
        out = self._rust_predict("predict_proba", X, "proba")
        return super()._dense_predict_proba(X) if out is None else out

    def _oxlearn_after_load(self):
        # scikit-learn's fit derives these from libsvm's output the same way.
        self.shape_fit_ = tuple(self.shape_fit_)
        self.intercept_ = np.array(self._intercept_, copy=True)
        self.dual_coef_ = self._dual_coef_
        classifier = self._impl in ("c_svc", "nu_svc")
        if classifier and len(self.classes_) == 2:
            self.intercept_ *= -1
            self.dual_coef_ = -self.dual_coef_
        self.n_iter_ = self._num_iter if classifier else self._num_iter.item()
        if self._impl == "one_class":
            self.offset_ = -self._intercept_


class SVC(_SvmMixin, _sk.SVC):
    __doc__ = accelerated_doc(_sk.SVC, _NOTE)
    _oxlearn_kind = "svm.SVC"


class NuSVC(_SvmMixin, _sk.NuSVC):
    __doc__ = accelerated_doc(_sk.NuSVC, _NOTE)
    _oxlearn_kind = "svm.NuSVC"


class SVR(_SvmMixin, _sk.SVR):
    __doc__ = accelerated_doc(_sk.SVR, _NOTE)
    _oxlearn_kind = "svm.SVR"


class NuSVR(_SvmMixin, _sk.NuSVR):
    __doc__ = accelerated_doc(_sk.NuSVR, _NOTE)
    _oxlearn_kind = "svm.NuSVR"


class OneClassSVM(_SvmMixin, _sk.OneClassSVM):
    __doc__ = accelerated_doc(_sk.OneClassSVM, _NOTE)
    _oxlearn_kind = "svm.OneClassSVM"
