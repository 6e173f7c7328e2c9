"""Accelerated k-means."""

import warnings

import numpy as np
from scipy import sparse
from sklearn import cluster as _sk
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import (
    _assert_all_finite,
    _check_sample_weight,
    _is_arraylike_not_scalar,
    _openmp_effective_n_threads,
)
from oxlearn.base import OxlearnEstimatorMixin, _validate_predict_X


class KMeans(OxlearnEstimatorMixin, _sk.KMeans):
    __doc__ = accelerated_doc(
        _sk.KMeans,
        "Accelerated by oxlearn (Rust) on dense input: Lloyd's algorithm with "
        "scikit-learn's semantics over fixed row chunks (results do not depend on the "
        "thread count); ``algorithm='elkan'`` runs the same Lloyd iterations, which "
        "give the same clustering. ``init='k-means++'`` runs in Rust on the draws "
        "scikit-learn's own k-means++ takes from ``random_state``, so the same seed "
        "picks the same initial centres as scikit-learn (barring a draw that falls "
        "within rounding of a sampling boundary); ``'random'``, callable and array "
        "inits are prepared as scikit-learn does. The fit holds one float64 copy of "
        "X, as scikit-learn's ``copy_x`` does (for float32 input, twice the input's "
        "size); float32 input is computed in float64 and the centres are returned "
        "in float32. Sparse input, negative ``sample_weight`` and ``verbose`` run "
        "scikit-learn's implementation.",
    )

    _oxlearn_kind = "cluster.KMeans"
    _oxlearn_gpu_methods = ("fit",)
    _oxlearn_dtype_attr = "cluster_centers_"
    _hyperparameter_specs = {"fit": {"chunk_rows": 0}, "predict": {"chunk_rows": 0}}

    # scikit-learn's fit sets these two private attributes and its
    # predict/transform/get_feature_names_out read them. Here they are
    # derived (the thread count is the machine's, never part of a model), so
    # they are right after loading too; assignments are ignored.
    @property
    def _n_threads(self):
        return _openmp_effective_n_threads()

    @_n_threads.setter
    def _n_threads(self, value):
        pass

    @property
    def _n_features_out(self):
        return self.cluster_centers_.shape[0]

    @_n_features_out.setter
    def _n_features_out(self, value):
        pass

    def _oxlearn_to_stock(self, est):
        """After :func:`oxlearn.to_sklearn`: the private state a stock ``KMeans`` needs."""
        est._n_threads, est._n_features_out = self._n_threads, self._n_features_out

    def _fallback_reason(self, X, sample_weight):
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        if self.verbose:
            return "verbose output is scikit-learn's"
        if sample_weight is not None and not np.isscalar(sample_weight):
            sw = np.asarray(sample_weight)
            if sw.dtype.kind in "fiu" and np.any(sw < 0):
                return "negative sample_weight is not accelerated"
        return None

    def _n_init_for(self, X):
        """Run scikit-learn's checks of the parameters against the data.

        Without its tolerance pass over X: the tolerance is computed in Rust.
        Returns the number of runs.
        """
        if X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}."
            )
        init = self.init
        if self.n_init == "auto":
            n_init = 10 if (isinstance(init, str) and init == "random") or callable(init) else 1
        else:
            n_init = self.n_init
        if _is_arraylike_not_scalar(init) and n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=4,
            )
            n_init = 1
        if self.algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' "
                "instead.",
                RuntimeWarning,
                stacklevel=4,
            )
        return n_init

    def _initial(self, X, sample_weight, n_init):
        """``(init_centers, init_draws, n_local_trials)`` for the Rust fit.

        Consumes ``random_state`` exactly as scikit-learn's fit does: all
        runs' draws are taken up front, in run order (Lloyd iterations draw
        nothing, so the order of draws is unchanged).
        """
        k = self.n_clusters
        trials = 2 + int(np.log(k))
        random_state = check_random_state(self.random_state)
        init = self.init
        if isinstance(init, str) and init == "k-means++":
            # _kmeans_plusplus draws choice(n, p) (one random_sample) and then
            # uniform(size=n_local_trials) per further centre.
            draws = np.stack([random_state.random_sample(1 + (k - 1) * trials)
                              for _ in range(n_init)])
            return None, draws, trials
        if _is_arraylike_not_scalar(init):
            centers = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, centers)
            return centers.astype(np.float64)[None], None, trials
        sw = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if isinstance(init, str) and init == "random":
            p = sw / sw.sum()
            runs = [X[random_state.choice(X.shape[0], size=k, replace=False, p=p)]
                    for _ in range(n_init)]
        else:  # callable, called on centred data as scikit-learn does
            _assert_all_finite(X, input_name="X")
            mean = X.mean(axis=0)
            Xc = X - mean
            runs = []
            for _ in range(n_init):
                c = check_array(init(Xc, k, random_state=random_state), dtype=X.dtype,
                                copy=False, order="C")
                self._validate_center_shape(X, c)
                runs.append(c.astype(np.float64) + mean)
        return np.stack(runs).astype(np.float64, copy=False), None, trials

    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training instances to cluster. Dense data is read in place, in
            any memory order.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X. If None, all observations
            are assigned equal weight. `sample_weight` is not used during
            initialization if `init` is a callable or a user provided array.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        reason = self._fallback_reason(X, sample_weight)
        if reason:
            self._log_fallback("fit", reason)
            return super().fit(X, y, sample_weight)
        device = self._check_device("fit")
        X = validate_data(self, X, dtype=[np.float64, np.float32], order=None,
                          ensure_all_finite=False)
        n_init = self._n_init_for(X)
        self._n_init = n_init  # as scikit-learn's _check_params_vs_input records it
        sw = None
        if sample_weight is not None:
            sw = np.ascontiguousarray(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        centers, draws, trials = self._initial(X, sw, n_init)
        self._log_accelerated("fit", device)
        centers, labels, inertia, n_iter = _core.fit_kmeans(
            X, sw, centers, draws, self.n_clusters, self.max_iter, float(self.tol), trials,
            self.get_hyperparameters("fit").chunk_rows, None, device=device,
        )
        distinct = np.count_nonzero(np.bincount(labels, minlength=self.n_clusters))
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        return self

    def _centers64(self):
        self._verify_pending()
        return np.asarray(self.cluster_centers_, dtype=np.float64)

    def predict(self, X):
        """Predict the closest cluster each sample in X belongs to.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to predict.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to (int32).
        """
        check_is_fitted(self)
        if sparse.issparse(X):
            self._log_fallback("predict", "sparse input")
            return super().predict(X)
        self._check_device("predict")
        X = _validate_predict_X(self, X)
        self._log_accelerated("predict")
        return _core.predict_kmeans(X, self._centers64(),
                                    self.get_hyperparameters("predict").chunk_rows, None)

    def transform(self, X):
        """Transform X to a cluster-distance space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            Euclidean distance of each sample to each cluster centre.
        """
        check_is_fitted(self)
        return self._transform(X)

    def _transform(self, X):
        if sparse.issparse(X):
            self._log_fallback("transform", "sparse input")
            return super()._transform(validate_data(self, X, accept_sparse="csr", reset=False,
                                                    dtype=[np.float64, np.float32]))
        self._check_device("transform")
        X = _validate_predict_X(self, X)
        self._log_accelerated("transform")
        out = _core.transform_kmeans(X, self._centers64(),
                                     self.get_hyperparameters("predict").chunk_rows, None)
        if X.dtype == np.float32 and self.cluster_centers_.dtype == np.float32:
            out = out.astype(np.float32)
        return out

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the value of X on the K-means objective.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X. If None, all observations
            are assigned equal weight.

        Returns
        -------
        score : float
            Opposite of the value of X on the K-means objective.
        """
        check_is_fitted(self)
        if sparse.issparse(X):
            self._log_fallback("score", "sparse input")
            return super().score(X, y, sample_weight)
        self._check_device("score")
        X = _validate_predict_X(self, X)
        sw = None
        if sample_weight is not None:
            sw = np.ascontiguousarray(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        self._log_accelerated("score")
        return -_core.inertia_kmeans(X, sw, self._centers64(),
                                     self.get_hyperparameters("predict").chunk_rows, None)
