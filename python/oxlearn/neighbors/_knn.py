"""Accelerated k-nearest neighbours (NearestNeighbors, KNeighborsClassifier, regressor).

The training data is the model: ``_fit_X`` is stored once, and the search
index (a kd-tree or the brute-force tiles) is built from it in Rust, at fit
or lazily on the first query after a load; it is never pickled.
"""

import numbers
from types import SimpleNamespace

import numpy as np
from scipy import sparse
from sklearn import neighbors as _sk
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from oxlearn import _core, _gpu
from oxlearn._docs import accelerated_doc
from oxlearn.base import OxlearnEstimatorMixin, n_threads

# scikit-learn's names of the metrics oxlearn's exact search computes.
_METRICS = frozenset(
    {"euclidean", "l2", "manhattan", "cityblock", "l1", "chebyshev", "infinity", "minkowski",
     "cosine"}
)
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
# dtypes the model format stores as arrays.
_STORABLE = _FLOATS + (np.dtype(np.int64), np.dtype(np.int32))
# dtypes of class labels stored as an array (the format's label dtypes).
_LABEL_ARRAY = _STORABLE + (np.dtype(np.bool_),)
_CSR = ("_fit_X_data", "_fit_X_indices", "_fit_X_indptr")
_DOC = (
    "Accelerated by oxlearn (Rust): exact search, a kd-tree for few features and a "
    "brute force that fuses distance tiles with a running top-k for many (chosen "
    "automatically), with metrics euclidean, manhattan, chebyshev, minkowski "
    "(p >= 1) and cosine (a euclidean search on rows scaled to unit norm) on dense "
    "input. Neighbours are sorted by distance, ties by index; "
    "distances are computed exactly (coordinate differences). ``algorithm`` and "
    "``leaf_size`` change speed only. Sparse input, other or callable metrics and "
    "``metric_params`` run scikit-learn's implementation{extra}."
)


def _sk_fit_method(est, n_samples, n_features):
    """The ``_fit_method`` scikit-learn would choose (its rule for ``"auto"``)."""
    if est.algorithm != "auto":
        return est.algorithm
    if est.metric == "cosine":  # no tree supports it
        return "brute"
    if n_features > 15 or (est.n_neighbors is not None and est.n_neighbors >= n_samples // 2):
        return "brute"
    return "kd_tree"


# n_neighbors the GPU search takes (oxlearn_core::gpu::knn::MAX_K).
_GPU_MAX_K = 112


class _KNeighborsAccelerated(OxlearnEstimatorMixin):
    """The accelerated fit and queries shared by the k-nearest estimators."""

    _oxlearn_dtype_attr = "_fit_X"
    # The exact euclidean search runs on a GPU; fit and predict on the CPU.
    _oxlearn_gpu_methods = ("kneighbors",)
    # Private fitted attributes copied by from_sklearn / to_sklearn.
    _oxlearn_private_fitted = ("_fit_X", "_y", "_fit_method")
    # scikit-learn's tree (for its own query paths) is rebuilt from _fit_X.
    _oxlearn_transient = ("_tree",)
    _hyperparameter_specs = {"kneighbors": {"chunk_rows": 0}}

    def _fallback_reason(self, X):
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        if isinstance(X, (_sk.BallTree, _sk.KDTree)) or hasattr(X, "_fit_method"):
            # scikit-learn takes over a fitted index (a BallTree, a KDTree or
            # a fitted neighbours estimator) as the training data.
            return f"fitting on a {type(X).__name__} is not accelerated"
        metric = self.metric
        if not isinstance(metric, str):
            return f"metric={metric!r} is not accelerated (only named metrics)"
        if metric not in _METRICS:
            return f"metric={metric!r} is not accelerated (only {sorted(_METRICS)})"
        if self.metric_params:
            return "metric_params is not accelerated"
        if metric == "minkowski" and (self.p is None or not self.p >= 1):
            return f"metric='minkowski' with p={self.p!r} is not accelerated (needs p >= 1)"
        if metric == "cosine" and self.algorithm not in ("auto", "brute"):
            # scikit-learn's fit refuses trees for cosine: let it say so.
            return f"metric='cosine' with algorithm={self.algorithm!r}"
        return None

    def _cosine(self):
        return getattr(self, "effective_metric_", None) == "cosine"

    @staticmethod
    def _unit_rows(X):
        """Return the rows scaled to unit euclidean norm, in float64.

        On them the squared euclidean distance is twice the cosine distance,
        so the euclidean search finds the cosine neighbours.
        """
        X = np.asarray(X)
        # One implementation with the binary's, so both find the same bits.
        return _core.unit_rows(X if X.dtype in _FLOATS else X.astype(np.float64))

    @staticmethod
    def _has_zero_rows(X):
        # scikit-learn gives a zero row cosine distance 1 to everything; on
        # unit rows it would be 0.5: such data runs scikit-learn's code.
        return X.shape[0] > 0 and not np.all(np.any(X != 0, axis=1))

    def _fit_accelerated(self, X, y, fit):
        """Run scikit-learn's ``fit`` for validation and bookkeeping, then index in Rust."""
        self._validate_params()
        self._oxl_index = None
        # Computed on first use; the key exists so that setting it never
        # resizes __dict__ under a thread iterating it (check_is_fitted).
        self._oxl_cosine_ok = None
        reason = self._fallback_reason(X)
        if reason:
            self._log_fallback("fit", reason)
            return fit(X, y)
        self._check_device("fit")
        if isinstance(X, np.ndarray) and X.dtype not in _FLOATS and X.dtype.kind in "biu":
            X = X.astype(np.float64)  # searched in float64, as scikit-learn's trees do
        algorithm = self.algorithm
        # scikit-learn's brute "fit" validates and stores X without building a
        # tree; the algorithm it would have chosen is recorded afterwards.
        self.algorithm = "brute"
        # An index built during that fit (LocalOutlierFactor's fit queries
        # the training set) uses the algorithm asked for, not "brute".
        self._oxl_fit_algorithm = algorithm
        try:
            fit(X, y)
        finally:
            self.algorithm = algorithm
            self.__dict__.pop("_oxl_fit_algorithm", None)
        if self._fit_X.dtype not in _FLOATS:
            self._fit_X = self._fit_X.astype(np.float64)
        self._fit_method = _sk_fit_method(self, *self._fit_X.shape)
        self._tree = None
        if not self._accelerated():  # cosine with an all-zero row
            self._log_fallback("fit", "metric='cosine' with an all-zero training row")
            return self
        self._log_accelerated("fit")
        self._index()
        return self

    # --- the Rust index -------------------------------------------------
    def _accelerated(self):
        """Whether the fitted model is searched by oxlearn (else scikit-learn)."""
        fit_X = getattr(self, "_fit_X", None)
        if fit_X is None or self._fallback_reason(fit_X) is not None:
            return False
        if not isinstance(fit_X, np.ndarray):
            # Fitted on a BallTree or KDTree: scikit-learn keeps its data view.
            return False
        if self._cosine():
            ok = self.__dict__.get("_oxl_cosine_ok")
            if ok is None:  # value replaced, key kept (see _fit_accelerated)
                ok = self._oxl_cosine_ok = not self._has_zero_rows(fit_X)
            return ok
        return True

    def _index(self):
        index = self.__dict__.get("_oxl_index")
        if index is None:
            self._verify_pending()
            cosine = self._cosine()
            index = _core.build_neighbor_index(
                self._unit_rows(self._fit_X) if cosine else self._as_float(self._fit_X),
                "euclidean" if cosine else self.effective_metric_,
                self.effective_metric_params_.get("p"),
                # "auto" lets the index measure how well its tree prunes and
                # move k-nearest queries to brute force (same answers).
                self.__dict__.get("_oxl_fit_algorithm")
                or ("auto" if self.algorithm == "auto" else self._fit_method),
                int(self.leaf_size), n_threads(self.n_jobs),
            )
            self._oxl_index = index
        return index

    def _sklearn_tree(self):
        """scikit-learn's tree for ``_fit_method``, for its own query code."""
        cls = {"kd_tree": _sk.KDTree, "ball_tree": _sk.BallTree}.get(self._fit_method)
        if cls is None:
            return None
        return cls(self._fit_X, self.leaf_size, metric=self.effective_metric_,
                   **self.effective_metric_params_)

    def _ensure_sklearn_tree(self, method, reason):
        self._log_fallback(method, reason)
        if getattr(self, "_tree", 0) is None:
            self._tree = self._sklearn_tree()

    def _query_X(self, X):
        ensure_all_finite = "allow-nan" if get_tags(self).input_tags.allow_nan else True
        X = validate_data(self, X, ensure_all_finite=ensure_all_finite, accept_sparse="csr",
                          reset=False, order="C")
        return X

    def _as_float(self, X):
        return X if X.dtype in _FLOATS else X.astype(np.float64)

    def _gpu_kneighbors_device(self, device, k):
        """``device``, or None (with ``_gpu.no_gpu_path``) where the GPU search cannot run."""
        if device is None:
            return None
        metric = self.effective_metric_
        p = self.effective_metric_params_.get("p", 2)
        if not (metric in ("euclidean", "cosine") or (metric == "minkowski" and p == 2)):
            _gpu.no_gpu_path(f"{type(self).__name__}.kneighbors", f"metric={metric!r}")
            return None
        if k > _GPU_MAX_K:
            _gpu.no_gpu_path(f"{type(self).__name__}.kneighbors",
                             f"n_neighbors={k} (at most {_GPU_MAX_K} on the GPU)")
            return None
        return device

    def _rust_kneighbors(self, X, k, device=None):
        cosine = self._cosine()
        dist, ind = self._index().kneighbors(
            self._unit_rows(X) if cosine else self._as_float(X), int(k),
            self.get_hyperparameters("kneighbors").chunk_rows, n_threads(self.n_jobs),
            device=device,
        )
        if cosine:
            dist = 0.5 * dist * dist
        return dist.reshape(-1, k), ind.reshape(-1, k)

    # --- queries --------------------------------------------------------
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):  # noqa: D102
        check_is_fitted(self)
        reason = None
        if X is not None and sparse.issparse(X):
            reason = "sparse queries are not accelerated"
        elif X is not None and self._cosine():
            X = self._query_X(X)
            if self._has_zero_rows(X):
                reason = "metric='cosine' with an all-zero query row"
        if not self._accelerated() or reason:
            if self._accelerated():
                self._ensure_sklearn_tree("kneighbors", reason)
            return super().kneighbors(X, n_neighbors, return_distance)
        device = self._check_device("kneighbors")
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        elif n_neighbors <= 0:
            raise ValueError(f"Expected n_neighbors > 0. Got {n_neighbors}")
        elif not isinstance(n_neighbors, numbers.Integral):
            raise TypeError(
                f"n_neighbors does not take {type(n_neighbors)} value, enter integer value"
            )
        query_is_train = X is None
        if query_is_train:
            X = self._fit_X
            n_neighbors += 1
        else:
            X = self._query_X(X)
        n_samples_fit = self.n_samples_fit_
        if n_neighbors > n_samples_fit:
            if query_is_train:
                n_neighbors -= 1
                inequality_str = "n_neighbors < n_samples_fit"
            else:
                inequality_str = "n_neighbors <= n_samples_fit"
            raise ValueError(
                f"Expected {inequality_str}, but "
                f"n_neighbors = {n_neighbors}, n_samples_fit = {n_samples_fit}, "
                f"n_samples = {X.shape[0]}"
            )
        device = self._gpu_kneighbors_device(device, n_neighbors)
        self._log_accelerated("kneighbors", device)
        neigh_dist, neigh_ind = self._rust_kneighbors(X, n_neighbors, device)
        if query_is_train:
            # Drop each sample from its own list (scikit-learn's rule: with
            # more duplicates than neighbours, drop the first entry instead).
            n_queries = X.shape[0]
            sample_mask = neigh_ind != np.arange(n_queries)[:, None]
            dup_gr_nbrs = np.all(sample_mask, axis=1)
            sample_mask[:, 0][dup_gr_nbrs] = False
            neigh_ind = np.reshape(neigh_ind[sample_mask], (n_queries, n_neighbors - 1))
            neigh_dist = np.reshape(neigh_dist[sample_mask], (n_queries, n_neighbors - 1))
        if return_distance:
            return neigh_dist, neigh_ind
        return neigh_ind

    # --- persistence ----------------------------------------------------
    def _oxlearn_after_convert(self):
        """After :func:`oxlearn.from_sklearn`: the index is built on first query."""
        self._oxl_index = None
        # Computed on first use; the key exists so that setting it never
        # resizes __dict__ under a thread iterating it (check_is_fitted).
        self._oxl_cosine_ok = None
        self._tree = None
        if not self._accelerated():
            self._tree = self._sklearn_tree()

    def _oxlearn_to_stock(self, est):
        """After :func:`oxlearn.to_sklearn`: scikit-learn's tree, as its fit builds it."""
        est._tree = self._sklearn_tree() if self._accelerated() else self._tree

    def _oxlearn_state_view(self):
        skip = ("_tree", "_oxl_index", "_oxl_cosine_ok")
        state = {k: v for k, v in vars(self).items() if k not in skip}
        fit_X = state.get("_fit_X")
        if fit_X is not None and sparse.issparse(fit_X):
            csr = sparse.csr_matrix(fit_X)
            del state["_fit_X"]
            state.update(zip(_CSR, (csr.data, csr.indices.astype(np.int64),
                                    csr.indptr.astype(np.int64)), strict=True))
        classes = state.get("classes_")
        if classes is not None and not (
            isinstance(classes, np.ndarray) and classes.dtype in _LABEL_ARRAY
        ):
            # Labels the format has no array dtype for (strings, objects),
            # and the per-output lists of several outputs: header attributes.
            del state["classes_"]
            if isinstance(classes, list):
                state["_classes_list"] = [np.asarray(c).tolist() for c in classes]
                state["_classes_dtype"] = [np.asarray(c).dtype.str for c in classes]
            else:
                state["_classes_list"] = classes.tolist()
                state["_classes_dtype"] = classes.dtype.str
        y = state.get("_y")
        if y is not None and np.asarray(y).dtype not in _STORABLE:
            state["_y"] = np.asarray(y, dtype=np.float64)
        return SimpleNamespace(**state)

    def _oxlearn_after_load(self):
        if _CSR[0] in self.__dict__:
            data, indices, indptr = (self.__dict__.pop(name) for name in _CSR)
            shape = (len(indptr) - 1, self.n_features_in_)
            self._fit_X = sparse.csr_matrix((data, indices, indptr), shape=shape)
        if "_classes_list" in self.__dict__:
            labels = self.__dict__.pop("_classes_list")
            dtypes = self.__dict__.pop("_classes_dtype")
            if isinstance(dtypes, list):
                self.classes_ = [np.asarray(c, dtype=np.dtype(d)) for c, d in
                                 zip(labels, dtypes, strict=True)]
            else:
                self.classes_ = np.asarray(labels, dtype=np.dtype(dtypes))
        self._oxl_index = None
        # Computed on first use; the key exists so that setting it never
        # resizes __dict__ under a thread iterating it (check_is_fitted).
        self._oxl_cosine_ok = None
        self._tree = None
        if not self._accelerated():
            self._tree = self._sklearn_tree()



class _RadiusAccelerated:
    """The accelerated radius query (of the estimators scikit-learn gives one)."""

    def radius_neighbors(self, X=None, radius=None, return_distance=True,  # noqa: D102
                         sort_results=False):
        check_is_fitted(self)
        if radius is None:
            radius = self.radius
        reason = None
        if not self._accelerated():
            reason = "fit was not accelerated"
        elif X is not None and sparse.issparse(X):
            reason = "sparse queries are not accelerated"
        elif np.ndim(radius) > 0:
            reason = "a radius per query is not accelerated"
        elif self._cosine():
            reason = "radius queries with metric='cosine' run in scikit-learn"
        if reason:
            if self._accelerated():
                self._ensure_sklearn_tree("radius_neighbors", reason)
            return super().radius_neighbors(X, radius, return_distance, sort_results)
        self._check_device("radius_neighbors")
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        query_is_train = X is None
        X = self._fit_X if query_is_train else self._query_X(X)
        self._log_accelerated("radius_neighbors")
        offsets, ind, dist = self._index().radius_neighbors(
            self._as_float(X), float(radius), self.get_hyperparameters("kneighbors").chunk_rows,
            n_threads(self.n_jobs),
        )
        n = X.shape[0]
        neigh_ind = np.empty(n, dtype=object)
        neigh_dist = np.empty(n, dtype=object)
        for i in range(n):
            a, b = offsets[i], offsets[i + 1]
            ii, dd = ind[a:b], dist[a:b]
            if query_is_train:
                keep = ii != i
                ii, dd = ii[keep], dd[keep]
            if sort_results:
                order = np.argsort(dd, kind="mergesort")
                ii, dd = ii[order], dd[order]
            neigh_ind[i] = ii
            neigh_dist[i] = dd
        if return_distance:
            return neigh_dist, neigh_ind
        return neigh_ind


class NearestNeighbors(_KNeighborsAccelerated, _RadiusAccelerated, _sk.NearestNeighbors):
    __doc__ = accelerated_doc(_sk.NearestNeighbors, _DOC.format(extra=""))

    _oxlearn_kind = "neighbors.NearestNeighbors"

    def fit(self, X, y=None):
        """Fit the nearest neighbors estimator from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : NearestNeighbors
            The fitted nearest neighbors estimator.
        """
        return self._fit_accelerated(X, y, super().fit)


class KNeighborsClassifier(_KNeighborsAccelerated, _sk.KNeighborsClassifier):
    __doc__ = accelerated_doc(
        _sk.KNeighborsClassifier,
        _DOC.format(extra="; ``predict`` and ``predict_proba`` vote in Rust for "
                    "'uniform' and 'distance' weights and one output (a callable "
                    "weight or several outputs vote in scikit-learn on oxlearn's "
                    "neighbours)"),
    )

    _oxlearn_kind = "neighbors.KNeighborsClassifier"

    def fit(self, X, y):
        """Fit the k-nearest neighbors classifier from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : {array-like, sparse matrix} of shape (n_samples,) or \
                (n_samples, n_outputs)
            Target values.

        Returns
        -------
        self : KNeighborsClassifier
            The fitted k-nearest neighbors classifier.
        """
        return self._fit_accelerated(X, y, super().fit)

    def _vote_reason(self, X):
        if not self._accelerated():
            return "fit was not accelerated"
        if X is None:
            return "X=None (each training row's neighbours but itself) votes in scikit-learn"
        if sparse.issparse(X):
            return "sparse queries are not accelerated"
        if self.outputs_2d_:
            return "several outputs vote in scikit-learn"
        if self.weights not in ("uniform", "distance"):
            return f"weights={self.weights!r} votes in scikit-learn"
        if self._cosine() and self._has_zero_rows(self._query_X(X)):
            return "metric='cosine' with an all-zero query row votes in scikit-learn"
        return None

    def _rust_proba(self, X):
        X = self._query_X(X)
        if self.n_neighbors > self.n_samples_fit_:
            return None
        self._log_accelerated("predict")
        k = int(self.n_neighbors)
        # Cosine: unit queries, as kneighbors and the binary search them,
        # weighted by cosine distances.
        cosine = self._cosine()
        proba = self._index().classify(
            self._unit_rows(X) if cosine else self._as_float(X), k,
            np.ascontiguousarray(self._y, dtype=np.int64),
            len(self.classes_), self.weights,
            self.get_hyperparameters("kneighbors").chunk_rows, n_threads(self.n_jobs),
            cosine=cosine,
        )
        return proba.reshape(X.shape[0], len(self.classes_))

    def predict(self, X):
        """Predict the class labels for the provided data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
            Test samples.

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs)
            Class labels for each data sample.
        """
        check_is_fitted(self, "_fit_method")
        reason = self._vote_reason(X)
        if reason is None:
            self._check_device("predict")
            proba = self._rust_proba(X)
            if proba is not None:
                return self.classes_[np.argmax(proba, axis=1)]
        elif self._accelerated():
            self._log_fallback("predict", reason)
            return self._predict_via_kneighbors(X)
        return super().predict(X)

    def _predict_via_kneighbors(self, X):
        # scikit-learn's brute path would run its own search: give it a
        # non-brute method so that it votes on oxlearn's kneighbors.
        method = self._fit_method
        self._fit_method = "kd_tree" if method == "brute" else method
        try:
            return super().predict(X)
        finally:
            self._fit_method = method

    def predict_proba(self, X):
        """Return probability estimates for the test data X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
            Test samples.

        Returns
        -------
        p : ndarray of shape (n_queries, n_classes), or a list of n_outputs \
                of such arrays if n_outputs > 1.
            The class probabilities of the input samples.
        """
        check_is_fitted(self, "_fit_method")
        reason = self._vote_reason(X)
        if reason is None:
            self._check_device("predict_proba")
            proba = self._rust_proba(X)
            if proba is not None:
                return proba
        elif self._accelerated():
            self._log_fallback("predict_proba", reason)
            method = self._fit_method
            self._fit_method = "kd_tree" if method == "brute" else method
            try:
                return super().predict_proba(X)
            finally:
                self._fit_method = method
        return super().predict_proba(X)


class KNeighborsRegressor(_KNeighborsAccelerated, _sk.KNeighborsRegressor):
    __doc__ = accelerated_doc(
        _sk.KNeighborsRegressor,
        _DOC.format(extra="; ``predict`` averages in Rust for 'uniform' and 'distance' "
                    "weights (a callable weight averages in scikit-learn on oxlearn's "
                    "neighbours)"),
    )

    _oxlearn_kind = "neighbors.KNeighborsRegressor"

    def fit(self, X, y):
        """Fit the k-nearest neighbors regressor from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : {array-like, sparse matrix} of shape (n_samples,) or \
                (n_samples, n_outputs)
            Target values.

        Returns
        -------
        self : KNeighborsRegressor
            The fitted k-nearest neighbors regressor.
        """
        return self._fit_accelerated(X, y, super().fit)

    def predict(self, X):
        """Predict the target for the provided data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_queries, n_features)
            Test samples.

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs)
            Target values.
        """
        check_is_fitted(self, "_fit_method")
        reason = None
        if not self._accelerated():
            reason = "fit was not accelerated"
        elif X is None:
            reason = "X=None (each training row's neighbours but itself) averages in scikit-learn"
        elif sparse.issparse(X):
            reason = "sparse queries are not accelerated"
        elif self.weights not in ("uniform", "distance"):
            reason = f"weights={self.weights!r} averages in scikit-learn"
        elif self._cosine() and self._has_zero_rows(self._query_X(X)):
            reason = "metric='cosine' with an all-zero query row averages in scikit-learn"
        if reason is not None:
            if self._accelerated():
                self._log_fallback("predict", reason)
            return super().predict(X)
        self._check_device("predict")
        X = self._query_X(X)
        if self.n_neighbors > self.n_samples_fit_:
            return super().predict(X)  # scikit-learn's error message
        self._log_accelerated("predict")
        y = np.asarray(self._y)
        y2 = np.ascontiguousarray(y.reshape(len(y), -1), dtype=np.float64)
        k = int(self.n_neighbors)
        cosine = self._cosine()
        pred = self._index().regress(
            self._unit_rows(X) if cosine else self._as_float(X), k, y2, self.weights,
            self.get_hyperparameters("kneighbors").chunk_rows, n_threads(self.n_jobs),
            cosine=cosine,
        ).reshape(X.shape[0], y2.shape[1])
        if y.dtype == np.float32 and self.weights == "uniform":
            # scikit-learn's mean keeps float32; its weighted sum is float64.
            pred = pred.astype(np.float32)
        if y.ndim == 1:
            pred = pred.ravel()
        return pred
