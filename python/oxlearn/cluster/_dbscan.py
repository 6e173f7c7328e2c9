"""Accelerated DBSCAN."""

from types import SimpleNamespace

import numpy as np
from scipy import sparse
from sklearn import cluster as _sk
from sklearn.utils.validation import check_array, validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import _check_sample_weight
from oxlearn.base import OxlearnEstimatorMixin, n_threads

# scikit-learn's names of the metrics oxlearn's exact search computes.
_METRICS = frozenset(
    {"euclidean", "l2", "manhattan", "cityblock", "l1", "chebyshev", "infinity", "minkowski"}
)
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_CSR = ("_components_data", "_components_indices", "_components_indptr")


class DBSCAN(OxlearnEstimatorMixin, _sk.DBSCAN):
    __doc__ = accelerated_doc(
        _sk.DBSCAN,
        "Accelerated by oxlearn (Rust): exact radius search (a kd-tree, or brute force "
        "for many features) with metrics euclidean, manhattan, chebyshev and minkowski "
        "(p >= 1), and ``metric='precomputed'`` on dense input; ``labels_``, "
        "``core_sample_indices_`` and ``components_`` are scikit-learn's, label numbering "
        "included. ``algorithm`` and ``leaf_size`` change speed only. Sparse input, "
        "other or callable metrics and ``metric_params`` run scikit-learn's "
        "implementation.",
    )

    _oxlearn_kind = "cluster.DBSCAN"
    _oxlearn_dtype_attr = "components_"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}}

    def _fallback_reason(self, X):
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        metric = self.metric
        if not isinstance(metric, str):
            return f"metric={metric!r} is not accelerated (only named metrics)"
        if metric != "precomputed" and metric not in _METRICS:
            return f"metric={metric!r} is not accelerated (only {sorted(_METRICS)})"
        if self.metric_params:
            return "metric_params is not accelerated"
        if metric == "minkowski" and (self.p is None or not self.p >= 1):
            return f"metric='minkowski' with p={self.p!r} is not accelerated (needs p >= 1)"
        return None

    def fit(self, X, y=None, sample_weight=None):
        """Perform DBSCAN clustering from features, or distance matrix.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), or \
            (n_samples, n_samples)
            Training instances to cluster, or distances between instances if
            ``metric='precomputed'``.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample, such that a sample with a weight of at
            least ``min_samples`` is by itself a core sample; a sample with a
            negative weight may inhibit its eps-neighbor from being core.

        Returns
        -------
        self : object
            Returns a fitted instance of self.
        """
        self._validate_params()
        reason = self._fallback_reason(X)
        if reason:
            self._log_fallback("fit", reason)
            return super().fit(X, y, sample_weight)
        self._check_device("fit")
        precomputed = self.metric == "precomputed"
        # The dtype is kept (components_ has X's dtype, as in scikit-learn);
        # Rust checks finiteness while it copies the points.
        X = validate_data(self, X, ensure_all_finite=precomputed)
        if precomputed:
            check_array(X, ensure_non_negative=True, input_name="X")
            if X.shape[0] != X.shape[1]:
                raise ValueError(
                    "Precomputed matrix must be square."
                    f" Input is a {X.shape[0]}x{X.shape[1]} matrix."
                )
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(
                _check_sample_weight(sample_weight, X), dtype=np.float64
            )
        # Other dtypes are compared in float64, as scikit-learn's trees do.
        Xf = X if X.dtype in _FLOATS else X.astype(np.float64)
        self._log_accelerated("fit")
        labels, core = _core.fit_dbscan(
            Xf, float(self.eps), int(self.min_samples), self.metric,
            None if self.p is None else float(self.p), sample_weight, self.algorithm,
            int(self.leaf_size), self.get_hyperparameters("fit").chunk_rows,
            n_threads(self.n_jobs),
        )
        self.core_sample_indices_ = core
        self.labels_ = labels
        if len(core):
            self.components_ = X[core].copy()
        else:
            self.components_ = np.empty((0, X.shape[1]))
        return self

    # --- persistence: sparse components_ are stored as their CSR arrays ----
    def _oxlearn_state_view(self):
        comps = getattr(self, "components_", None)
        if comps is None or not sparse.issparse(comps):
            return self
        csr = sparse.csr_matrix(comps)
        state = {k: v for k, v in vars(self).items() if k != "components_"}
        state.update(zip(_CSR, (csr.data, csr.indices, csr.indptr), strict=True))
        return SimpleNamespace(**state)

    def _oxlearn_after_load(self):
        if hasattr(self, _CSR[0]):
            data, indices, indptr = (self.__dict__.pop(name) for name in _CSR)
            shape = (len(indptr) - 1, self.n_features_in_)
            self.components_ = sparse.csr_matrix((data, indices, indptr), shape=shape)
