"""SPMD nearest neighbours: the rows stay on their ranks.

``fit`` keeps this rank's rows (in an ordinary oxlearn model of them) and
agrees on the shards' metadata. ``kneighbors``, ``predict`` and
``predict_proba`` are collective: every rank's queries are gathered, each
rank finds the nearest of its own rows for all of them, and the
candidates (k distances, global indices and targets per query and rank)
are gathered and merged by (distance, global index): the neighbours one
process finds on the concatenated rows. Rows are numbered rank by rank.

Such a model is only usable inside its MPI job: a pickle of it holds one
rank's rows, and its predictions there raise :class:`DetachedModelError`.
:meth:`to_local` gathers every rank's rows into an ordinary, picklable,
savable model.
"""

import copyreg

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from oxlearn import neighbors as _nb
from oxlearn._sklearn_private import _get_weights
from oxlearn.spmd._base import QUERIES, X_ROWS, SPMDMixin, collective_doc, with_comm
from oxlearn.spmd._comm import allgather


class DetachedModelError(RuntimeError):
    """An SPMD neighbours model was used outside the MPI job that fitted it."""


class _SPMDNeighbors(SPMDMixin):
    _spmd_classifier = False
    _spmd_targets = False

    @collective_doc(
        "Keep this rank's rows (collective: every rank of ``comm`` calls it).", X_ROWS,
        """y : array-like of shape (n_local_samples,) or (n_local_samples, n_outputs)
    Their targets (classifier and regressor only).""",
        returns="""self : object
    The fitted estimator; its rows stay on their ranks.""")
    def fit(self, X, y=None):
        self._validate_params()
        if not self._spmd_targets:
            y = None
        shards = self._shards(X, y, None, classifier=self._spmd_classifier,
                        y_numeric=self._spmd_targets and not self._spmd_classifier)
        self.__dict__.pop("_spmd_detached", None)
        self._spmd_X = shards.X
        self._spmd_offset = shards.offset
        self._spmd_counts = shards.counts
        self.n_samples_fit_ = shards.n_samples
        self.effective_metric_ = self.metric
        self.effective_metric_params_ = self.metric_params or {}
        if self._spmd_classifier:
            self.classes_ = shards.classes
            self._spmd_y = shards.y_idx.astype(np.intp)
            self.outputs_2d_ = False
        elif self._spmd_targets:
            self._spmd_y = np.asarray(shards.y, dtype=np.float64)
        k = getattr(self, "n_neighbors", None)
        if k is not None and k > shards.n_samples:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, "
                f"n_samples_fit = {shards.n_samples}"
            )
        return self

    # --- the collective query ------------------------------------------------
    def _check_attached(self, method):
        if self.__dict__.get("_spmd_detached"):
            raise DetachedModelError(
                f"{type(self).__name__}.{method}: this oxlearn.spmd model's training rows are "
                f"spread over the {len(self._spmd_counts)} ranks of the MPI job that fitted "
                "it, and this copy (unpickled outside that job) holds only one rank's rows, "
                "so it cannot answer correctly. Call to_local() on every rank of the job to "
                "gather the rows into an ordinary model, and pickle or save that."
            )
        check_is_fitted(self, "n_samples_fit_")

    def _spmd_local_model(self):
        """An ordinary model of this rank's rows (None when it holds none)."""
        if self._spmd_X.shape[0] == 0:
            return None
        cls = _nb.NearestNeighbors
        params = {k: v for k, v in self.get_params().items()
                  if k in cls().get_params() and k not in ("n_neighbors",)}
        return cls(**params).fit(self._spmd_X)

    def _neighbors(self, X, n_neighbors):
        """``(distances, global indices, targets or None)`` of this rank's queries."""
        comm = self._comm()
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                          ensure_min_samples=0)
        queries = allgather(comm, X)
        starts = np.cumsum([0] + [q.shape[0] for q in queries])
        everyone = np.concatenate(queries) if starts[-1] else X[:0]
        local = self._spmd_local_model()
        k = min(n_neighbors, self._spmd_X.shape[0])
        if local is not None and k and everyone.shape[0]:
            dist, idx = local.kneighbors(everyone, n_neighbors=k)
            targets = self._spmd_y[idx] if self._spmd_targets else None
            cand = (dist.astype(np.float64), idx + self._spmd_offset, targets)
        else:
            cand = None
        rank = comm.Get_rank()
        mine = slice(starts[rank], starts[rank + 1])
        parts = [c for c in allgather(comm, cand) if c is not None]
        dist = np.concatenate([c[0][mine] for c in parts], axis=1)
        gidx = np.concatenate([c[1][mine] for c in parts], axis=1)
        # Nearest first, ties to the lowest global row: the single-process order.
        order = np.lexsort((gidx, dist), axis=1)[:, :n_neighbors]
        take = np.take_along_axis
        targets = None
        if self._spmd_targets:
            t = np.concatenate([c[2][mine] for c in parts], axis=1)
            targets = take(t, order[..., None] if t.ndim == 3 else order, axis=1)
        return take(dist, order, axis=1).astype(X.dtype), take(gidx, order, axis=1), targets

    def kneighbors(self, X, n_neighbors=None, return_distance=True):
        """Neighbours of this rank's queries among every rank's rows (collective).

        Parameters
        ----------
        X : array-like of shape (n_local_queries, n_features)
            This rank's queries (possibly none). Required: a distributed
            model has no "training rows of this process" to query.
        n_neighbors : int, default=None
            Neighbours per query (default: the ``n_neighbors`` parameter).
        return_distance : bool, default=True
            Whether to return the distances.

        Returns
        -------
        neigh_dist : ndarray of shape (n_local_queries, n_neighbors)
            Distances, nearest first (only when ``return_distance``).
        neigh_ind : ndarray of shape (n_local_queries, n_neighbors)
            Global indices of the neighbours (rows numbered rank by rank).
        """
        self._check_attached("kneighbors")
        if X is None:
            raise ValueError("oxlearn.spmd kneighbors needs the queries X (X=None is not "
                             "available on distributed rows)")
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        if not 0 < k <= self.n_samples_fit_:
            raise ValueError(f"Expected 0 < n_neighbors <= n_samples_fit = "
                             f"{self.n_samples_fit_}, got {k}")
        dist, idx, _ = self._neighbors(X, k)
        return (dist, idx) if return_distance else idx

    # --- persistence ---------------------------------------------------------
    def to_local(self):
        """Gather every rank's rows into an ordinary model (collective).

        Returns
        -------
        estimator : ordinary oxlearn estimator
            The class of the same name in :mod:`oxlearn.neighbors`, fitted on
            the concatenated rows (rank by rank): picklable and savable.
        """
        self._check_attached("to_local")
        comm = self._comm()
        X = np.concatenate(allgather(comm, self._spmd_X))
        params = {k: v for k, v in self.get_params().items() if k != "comm"}
        est = self._spmd_local_class(**params)
        if not self._spmd_targets:
            return est.fit(X)
        y = np.concatenate(allgather(comm, self._spmd_y))
        if self._spmd_classifier:
            y = self.classes_[y]
        return est.fit(X, y)

    def _oxlearn_export(self):
        raise TypeError(
            f"oxlearn.spmd.{type(self).__name__} keeps its rows on their ranks and is not "
            "saved as a model file; call to_local() on every rank (collective) and save that"
        )

    def __reduce_ex__(self, protocol):
        # A pickle keeps this rank's rows only, marked detached: usable to
        # inspect parameters, never to answer queries with some rows missing.
        state = {k: v for k, v in self.__dict__.items() if k != "comm"}
        state["_spmd_detached"] = True
        state["comm"] = None
        return copyreg._reconstructor, (type(self), object, None), state

    def __setstate__(self, state):
        self.__dict__.update(state)


@with_comm(_nb.NearestNeighbors)
class NearestNeighbors(_SPMDNeighbors, _nb.NearestNeighbors):
    """Nearest neighbours among rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.neighbors.NearestNeighbors`, plus
    ``comm``; :meth:`kneighbors` is collective (see the module's notes).
    """


@with_comm(_nb.KNeighborsClassifier)
class KNeighborsClassifier(_SPMDNeighbors, _nb.KNeighborsClassifier):
    """k-nearest-neighbours vote among rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.neighbors.KNeighborsClassifier`
    (``weights`` 'uniform' or 'distance'), plus ``comm``; :meth:`predict` and
    :meth:`predict_proba` are collective. Every rank that holds rows must
    hold every class.
    """

    _spmd_classifier = True
    _spmd_targets = True

    @collective_doc("Class probabilities of this rank's queries (collective).", QUERIES,
                    returns="""proba : ndarray of shape (n_local_queries, n_classes)
    Weighted vote shares, classes in ``classes_`` order.""")
    def predict_proba(self, X):
        self._check_attached("predict_proba")
        dist, _, labels = self._neighbors(X, self.n_neighbors)
        w = _get_weights(dist, self.weights)
        w = np.ones_like(dist, dtype=np.float64) if w is None else w
        proba = np.zeros((dist.shape[0], len(self.classes_)))
        rows = np.repeat(np.arange(dist.shape[0]), dist.shape[1])
        np.add.at(proba, (rows, labels.ravel()), w.ravel())
        total = proba.sum(axis=1, keepdims=True)
        total[total == 0.0] = 1.0
        return proba / total

    @collective_doc("Class of this rank's queries (collective).", QUERIES,
                    returns="""y : ndarray of shape (n_local_queries,)
    Predicted classes (ties to the first class in ``classes_``).""")
    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@with_comm(_nb.KNeighborsRegressor)
class KNeighborsRegressor(_SPMDNeighbors, _nb.KNeighborsRegressor):
    """k-nearest-neighbours regression among rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.neighbors.KNeighborsRegressor`
    (``weights`` 'uniform' or 'distance'), plus ``comm``; :meth:`predict` is
    collective.
    """

    _spmd_targets = True

    @collective_doc("Targets of this rank's queries (collective).", QUERIES,
                    returns="y : ndarray of shape (n_local_queries,) or "
                    """(n_local_queries, n_outputs)
    Mean (or inverse-distance weighted mean) of the neighbours' targets.""")
    def predict(self, X):
        self._check_attached("predict")
        dist, _, y = self._neighbors(X, self.n_neighbors)
        w = _get_weights(dist, self.weights)
        y2 = y if y.ndim == 3 else y[..., None]
        if w is None:
            out = y2.mean(axis=1)
        else:
            out = (y2 * w[..., None]).sum(axis=1) / w.sum(axis=1)[:, None]
        return out[:, 0] if y.ndim == 2 else out
