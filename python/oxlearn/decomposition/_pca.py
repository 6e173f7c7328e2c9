"""Accelerated PCA: exact solvers (``full``, ``covariance_eigh``) in Rust."""

import numpy as np
from scipy import sparse
from sklearn import decomposition as _sk
from sklearn.utils.validation import validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import _fit_context, _infer_dimension
from oxlearn.base import OxlearnEstimatorMixin
from oxlearn.decomposition._transform import PCATransformMixin, pca_transform


class PCA(PCATransformMixin, OxlearnEstimatorMixin, _sk.PCA):
    __doc__ = accelerated_doc(
        _sk.PCA,
        "Accelerated by oxlearn (Rust) for svd_solver 'full' (an SVD of the centred data "
        "through a tall-skinny QR over fixed row chunks, without copying X), "
        "'covariance_eigh' (one pass of merged centred moments, then an eigendecomposition) "
        "and 'auto' when it picks one of those; 'randomized', 'arpack' and sparse input run "
        "scikit-learn's code. transform is a fixed-order linear kernel.",
    )

    _oxlearn_kind = "decomposition.PCA"
    _oxlearn_gpu_methods = ("fit",)
    _oxlearn_dtype_attr = "components_"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

    def _solver(self, X):
        """The solver scikit-learn would use (its 'auto' rule), or None for sparse X."""
        if sparse.issparse(X):
            return None
        solver = self.svd_solver
        n, p = X.shape
        n_components = min(n, p) if self.n_components is None else self.n_components
        if solver == "auto":
            if p <= 1_000 and n >= 10 * p:
                solver = "covariance_eigh"
            elif max(n, p) <= 500 or n_components == "mle":
                solver = "full"
            elif 1 <= n_components < 0.8 * min(n, p):
                solver = "randomized"
            else:
                solver = "full"
        return solver

    def _fit_accelerated(self, X):
        """Fit with oxlearn's exact solvers; returns False to fall back."""
        if not sparse.issparse(X):
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_2d=True)
        solver = self._solver(X)
        if solver not in ("full", "covariance_eigh"):
            reason = "sparse input" if solver is None else f"svd_solver={solver!r}"
            self._log_fallback("fit", reason)
            return False
        device = self._check_device("fit")
        n, p = X.shape
        n_components = self._n_components_for(n, p, solver)
        self._log_accelerated("fit", device)
        mean, components, ev, sv = _core.fit_pca(
            X, solver, self.get_hyperparameters("fit").chunk_rows, None, device=device
        )
        self._set_spectrum(mean, components, ev, sv, n, p, n_components, X.dtype, solver)
        return True

    def _n_components_for(self, n, p, solver):
        """``n_components`` for ``n`` rows and ``p`` features, checked as scikit-learn does."""
        n_components = min(n, p) if self.n_components is None else self.n_components
        if n_components == "mle":
            if n < p:
                raise ValueError("n_components='mle' is only supported if n_samples >= n_features")
        elif not 0 <= n_components <= min(n, p):
            raise ValueError(
                f"n_components={n_components} must be between 0 and "
                f"min(n_samples, n_features)={min(n, p)} with svd_solver={solver!r}"
            )
        return n_components

    def _set_spectrum(self, mean, components, ev, sv, n, p, n_components, dtype, solver):
        """Keep ``n_components`` of a full spectrum (also used by ``oxlearn.spmd``)."""
        ratio = ev / ev.sum()
        # Choosing the number of components: scikit-learn's rules, verbatim.
        if n_components == "mle":
            n_components = int(_infer_dimension(ev, n))
        elif 0 < n_components < 1.0:
            n_components = int(np.searchsorted(np.cumsum(ratio), n_components, side="right") + 1)
        n_components = int(n_components)
        noise = float(ev[n_components:].mean()) if n_components < min(p, n) else 0.0
        self._fit_svd_solver = solver
        self.mean_ = mean.astype(dtype)
        self.n_samples_ = n
        self.n_components_ = n_components
        self.components_ = np.ascontiguousarray(components[:n_components].astype(dtype))
        self.explained_variance_ = ev[:n_components].astype(dtype)
        self.explained_variance_ratio_ = ratio[:n_components].astype(dtype)
        self.singular_values_ = sv[:n_components].astype(dtype)
        self.noise_variance_ = dtype.type(noise)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model with X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Ignored.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        if not self._fit_accelerated(X):
            return super().fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the model with X and apply the dimensionality reduction on X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Ignored.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Transformed values.
        """
        if not self._fit_accelerated(X):
            return super().fit_transform(X)
        return pca_transform(self, X)
