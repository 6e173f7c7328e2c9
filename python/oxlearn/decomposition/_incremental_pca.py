"""Accelerated IncrementalPCA: scikit-learn's algorithm, each batch in Rust."""

import numpy as np
from scipy import sparse
from sklearn import decomposition as _sk
from sklearn.utils import gen_batches
from sklearn.utils.validation import validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import _fit_context
from oxlearn.base import OxlearnEstimatorMixin, n_threads
from oxlearn.decomposition._transform import PCATransformMixin


class IncrementalPCA(PCATransformMixin, OxlearnEstimatorMixin, _sk.IncrementalPCA):
    __doc__ = accelerated_doc(
        _sk.IncrementalPCA,
        "Accelerated by oxlearn (Rust): each batch's update (merged mean and variance, "
        "the SVD of the stacked components and centred batch) runs in Rust in float64; "
        "transform is a fixed-order linear kernel. Sparse input runs scikit-learn's code.",
    )

    _oxlearn_kind = "decomposition.IncrementalPCA"
    _oxlearn_dtype_attr = "components_"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model with X, using minibatches of size ``batch_size``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        if sparse.issparse(X):
            self._log_fallback("fit", "sparse input")
            return super().fit(X)
        self._check_device("fit")
        for name in ("components_", "n_samples_seen_", "mean_", "var_", "singular_values_",
                     "explained_variance_", "explained_variance_ratio_", "noise_variance_"):
            self.__dict__.pop(name, None)
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples, n_features = X.shape
        self.batch_size_ = 5 * n_features if self.batch_size is None else self.batch_size
        for batch in gen_batches(n_samples, self.batch_size_,
                                 min_batch_size=self.n_components or 0):
            self._partial_fit(X[batch])
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, check_input=True):
        """Incremental fit with X. All of X is processed as a single batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        check_input : bool, default=True
            Run check_array on X.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        if sparse.issparse(X):
            # scikit-learn's own message (sparse batches are refused).
            return super().partial_fit(X, check_input=check_input)
        self._check_device("partial_fit")
        first_pass = not hasattr(self, "components_")
        if check_input:
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first_pass)
        return self._partial_fit(X)

    def _partial_fit(self, X):
        n_samples, n_features = X.shape
        first_pass = getattr(self, "components_", None) is None
        # Checks and messages: scikit-learn's, verbatim.
        if self.n_components is None:
            n_components = (min(n_samples, n_features) if first_pass
                            else self.components_.shape[0])
        elif not self.n_components <= n_features:
            raise ValueError(
                f"n_components={self.n_components!r} invalid for n_features={n_features}, "
                "need more rows than columns for IncrementalPCA processing"
            )
        elif self.n_components > n_samples and first_pass:
            raise ValueError(
                f"n_components={self.n_components} must be less or equal to "
                f"the batch number of samples {n_samples} for the first "
                "partial_fit call."
            )
        else:
            n_components = self.n_components
        if not first_pass and self.components_.shape[0] != n_components:
            raise ValueError(
                f"Number of input features has changed from {self.components_.shape[0]} "
                f"to {n_components} between calls to partial_fit! Try "
                "setting n_components to a fixed value."
            )
        self.n_components_ = n_components
        # The state between batches is the public attributes, as in
        # scikit-learn (so a float32 model keeps float32 state).
        f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        state = None if first_pass else {
            "n_samples_seen": int(self.n_samples_seen_),
            "mean": f64(self.mean_), "var": f64(self.var_),
            "components": f64(self.components_), "singular_values": f64(self.singular_values_),
        }
        self._log_accelerated("partial_fit")
        new = _core.ipca_partial_fit(state, X, n_components, n_threads(None))
        dtype = X.dtype
        self.n_samples_seen_ = int(new["n_samples_seen"])
        self.mean_ = new["mean"].astype(dtype)
        self.var_ = new["var"].astype(dtype)
        self.components_ = new["components"].astype(dtype)
        self.singular_values_ = new["singular_values"].astype(dtype)
        self.explained_variance_ = new["explained_variance"].astype(dtype)
        self.explained_variance_ratio_ = new["explained_variance_ratio"].astype(dtype)
        self.noise_variance_ = dtype.type(new["noise_variance"])
        return self
