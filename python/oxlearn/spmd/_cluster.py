"""SPMD clustering: k-means (Lloyd, O(k·p) per iteration) and DBSCAN."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from oxlearn import _core
from oxlearn import cluster as _cl
from oxlearn._sklearn_private import _is_arraylike_not_scalar
from oxlearn.spmd._base import (
    SAMPLE_WEIGHT,
    X_ROWS,
    Y_IGNORED,
    SPMDMixin,
    collective_doc,
    with_comm,
)
from oxlearn.spmd._comm import allgather, rust_allgather

_CLUSTER = "Cluster every rank's rows (collective)."


@with_comm(_cl.KMeans)
class KMeans(SPMDMixin, _cl.KMeans):
    """k-means over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.cluster.KMeans`, plus ``comm``. Each
    Lloyd iteration sums every rank's per-cluster sums and weights (O(k·p)
    bytes per rank) in rank order; empty clusters take the farthest points
    over all ranks. ``labels_`` holds this rank's rows' labels; everything
    else is the same on every rank. ``init`` may be an array (the same on
    every rank); ``'k-means++'``, which runs scikit-learn's greedy k-means++
    on the same draws over every rank's rows (O(p·n_local_trials) bytes per
    centre; a draw within rounding of a sampling boundary may pick a
    neighbouring row, as chunk boundaries differ from one process's); or
    ``'random'``, which picks the rows scikit-learn's ``'random'`` init
    picks from the concatenated data (with ``sample_weight``, every rank's
    weights are gathered for the draw). Callables are refused.
    """

    @collective_doc(_CLUSTER, X_ROWS, Y_IGNORED, SAMPLE_WEIGHT,
                    returns="""self : object
    The fitted estimator; ``labels_`` are this rank's rows'.""")
    def fit(self, X, y=None, sample_weight=None):
        self._validate_params()
        init = self.init
        if callable(init):
            raise ValueError("oxlearn.spmd.KMeans does not take a callable init (it would "
                             "need every row in one process); pass an array, 'k-means++' "
                             "or 'random'")
        shards = self._shards(X, None, sample_weight)
        if shards.n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={shards.n_samples} should be >= n_clusters={self.n_clusters}."
            )
        if _is_arraylike_not_scalar(init):
            n_init = 1
        elif self.n_init == "auto":
            n_init = 10 if init == "random" else 1
        else:
            n_init = self.n_init
        if _is_arraylike_not_scalar(init) and self.n_init not in ("auto", 1):
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning, stacklevel=3,
            )
        trials = 2 + int(np.log(self.n_clusters))
        centers, draws = self._spmd_initial(shards, n_init, trials)
        centers, labels, inertia, n_iter = _core.fit_kmeans(
            shards.X, shards.sample_weight, centers, draws, self.n_clusters, self.max_iter,
            float(self.tol), trials, self.get_hyperparameters("fit").chunk_rows, None,
            rust_allgather(shards.comm), shards.offset,
        )
        counts = np.sum(allgather(shards.comm, np.bincount(labels, minlength=self.n_clusters)),
                        axis=0)
        distinct = int(np.count_nonzero(counts))
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning, stacklevel=3,
            )
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        return self

    def _spmd_initial(self, shards, n_init, trials):
        """``(centres (n_init, k, p), None)`` or ``(None, k-means++ draws)``, on every rank."""
        X, k = shards.X, self.n_clusters
        if _is_arraylike_not_scalar(self.init):
            centers = check_array(self.init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, centers)
            return centers.astype(np.float64)[None], None
        random_state = check_random_state(self.random_state)
        if self.init == "k-means++":
            # The draws scikit-learn's k-means++ takes (see oxlearn.cluster.KMeans).
            return None, np.stack([random_state.random_sample(1 + (k - 1) * trials)
                                   for _ in range(n_init)])
        # scikit-learn's 'random' init on the concatenated rows: the same
        # draws, then each chosen row is contributed by the rank holding it.
        if shards.sample_weight is None:
            sw = np.ones(shards.n_samples)
        else:
            sw = np.concatenate(allgather(shards.comm, shards.sample_weight)).astype(X.dtype)
        p = sw / sw.sum()
        picks = [random_state.choice(shards.n_samples, size=k, replace=False, p=p)
                 for _ in range(n_init)]
        lo, hi = shards.offset, shards.offset + X.shape[0]
        mine = {int(i): X[int(i) - lo].astype(np.float64)
                for run in picks for i in run if lo <= i < hi}
        rows = {}
        for part in allgather(shards.comm, mine):
            rows.update(part)
        return np.stack([[rows[int(i)] for i in run] for run in picks]), None


@with_comm(_cl.DBSCAN)
class DBSCAN(SPMDMixin, _cl.DBSCAN):
    """DBSCAN over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.cluster.DBSCAN`, plus ``comm``. Every
    rank's rows are gathered (allgather: O(n·p) bytes, unlike the other
    SPMD estimators) and each rank clusters them all with the single-process
    algorithm, so labels are exactly those of one process on the
    concatenated rows. ``labels_`` and ``core_sample_indices_`` refer to all
    rows, numbered rank by rank (:meth:`fit_predict` returns this rank's
    rows' labels) and ``components_`` holds the core rows of every rank: the
    model is the same on every rank. Suited to data whose rows fit in each rank's memory.
    """

    @collective_doc(_CLUSTER, X_ROWS, Y_IGNORED, SAMPLE_WEIGHT)
    def fit(self, X, y=None, sample_weight=None):
        self._validate_params()
        shards = self._shards(X, None, sample_weight)
        X_all = np.concatenate(allgather(shards.comm, shards.X))
        sw = shards.sample_weight
        sw_all = None
        if any(allgather(shards.comm, sw is not None)):
            local = np.ones(shards.X.shape[0], X_all.dtype) if sw is None else sw
            sw_all = np.concatenate(allgather(shards.comm, local))
        _cl.DBSCAN.fit(self, X_all, sample_weight=sw_all)
        self._spmd_rows = (shards.offset, shards.offset + shards.X.shape[0])
        return self

    @collective_doc("Cluster every rank's rows (collective) and return this rank's labels.",
                    X_ROWS, Y_IGNORED, SAMPLE_WEIGHT,
                    returns="""labels : ndarray of shape (n_local_samples,)
    Cluster labels of this rank's rows (-1: noise).""")
    def fit_predict(self, X, y=None, sample_weight=None):
        self.fit(X, sample_weight=sample_weight)
        lo, hi = self._spmd_rows
        return self.labels_[lo:hi]
