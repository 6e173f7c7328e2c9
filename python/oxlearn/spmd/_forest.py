"""SPMD random forests: each rank grows its share of the trees on its rows.

Built on the public forest API only: each rank fits an ordinary oxlearn
forest of its share of the trees on its own rows (each rank its own seed,
drawn from ``random_state``), converts it to scikit-learn's trees
(:meth:`to_sklearn`), the trees are gathered in rank order, and every rank
builds the same ordinary forest of all of them (:func:`oxlearn.from_sklearn`).

The forest is therefore not the single-process forest: a tree sees only
its rank's rows (bootstrapped, when ``bootstrap``), as if the data were
sharded into sub-forests. Its accuracy is that of a forest of the same size
within the noise between forests, as long as each rank holds a fair sample
(every rank that holds rows must hold every class).
"""

import numpy as np
from sklearn.utils import check_random_state

import oxlearn
from oxlearn import ensemble as _ens
from oxlearn._sklearn_private import _get_n_samples_bootstrap
from oxlearn.spmd._base import SAMPLE_WEIGHT, SPMDMixin, collective_doc, with_comm
from oxlearn.spmd._comm import allgather


def _share(n_estimators, counts, rank):
    """Trees of each rank: as even as possible over the ranks that hold rows."""
    holders = [r for r, c in enumerate(counts) if c]
    share = {r: n_estimators // len(holders) + (i < n_estimators % len(holders))
             for i, r in enumerate(holders)}
    return share.get(rank, 0)


class _SPMDForest(SPMDMixin):
    @collective_doc(
        "Grow this rank's share of the trees on its rows (collective).",
        """X : array-like of shape (n_local_samples, n_features)
    This rank's rows (possibly none: that rank grows no tree).""",
        """y : array-like of shape (n_local_samples,)
    Their targets.""",
        SAMPLE_WEIGHT,
        returns="""self : object
    The fitted forest (all ranks' trees, in rank order), identical on
    every rank.""")
    def fit(self, X, y, sample_weight=None):
        self._validate_params()
        if self.oob_score or self.warm_start:
            raise ValueError("oob_score and warm_start are not available in oxlearn.spmd")
        classifier = self._spmd_classifier
        shards = self._shards(X, y, sample_weight, classifier=classifier,
                        y_numeric=not classifier)
        comm, rank = shards.comm, shards.comm.Get_rank()
        if shards.y is not None and np.ndim(shards.y) != 1:
            raise ValueError("oxlearn.spmd forests take one output (y of shape (n,))")
        n_mine = _share(self.n_estimators, shards.counts, rank)
        if self.n_estimators < sum(1 for c in shards.counts if c):
            raise ValueError(
                f"n_estimators={self.n_estimators} is smaller than the number of ranks that "
                "hold rows: each of them grows at least one tree"
            )
        # One seed per rank, the same on every rank (rank 0's draws).
        seeds = allgather(comm, check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=comm.Get_size()))[0]
        trees = []
        if n_mine:
            params = {k: v for k, v in self.get_params().items() if k != "comm"}
            params.update(n_estimators=n_mine, random_state=int(seeds[rank]))
            local = self._spmd_local_class(**params)
            y_local = self.classes_enc(shards) if classifier else shards.y
            local.fit(shards.X, y_local, sample_weight=shards.sample_weight)
            trees = list(local.to_sklearn().estimators_)
        trees = [t for part in allgather(comm, trees) for t in part]
        stock = self._spmd_local_class._sklearn_counterpart()(
            **{k: v for k, v in self.get_params().items() if k != "comm"})
        stock.estimators_ = trees
        stock.estimator_ = trees[0].__class__()
        stock.n_features_in_ = shards.n_features
        if hasattr(self, "feature_names_in_"):
            stock.feature_names_in_ = self.feature_names_in_
        stock.n_outputs_ = 1
        # What scikit-learn's fit records (out-of-bag scoring reads them).
        stock._n_samples = shards.n_samples
        stock._n_samples_bootstrap = (
            _get_n_samples_bootstrap(shards.n_samples, self.max_samples, None)
            if self.bootstrap else None)
        if classifier:
            stock.classes_ = shards.classes
            stock.n_classes_ = len(shards.classes)
        forest = oxlearn.from_sklearn(stock)
        state = {k: v for k, v in vars(forest).items()}
        self.__dict__.update(state)
        return self

    @staticmethod
    def classes_enc(shards):
        return shards.classes[shards.y_idx]


@with_comm(_ens.RandomForestClassifier)
class RandomForestClassifier(_SPMDForest, _ens.RandomForestClassifier):
    """Random forest classifier over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.ensemble.RandomForestClassifier`
    (without ``oob_score`` and ``warm_start``), plus ``comm``. Each rank
    grows its share of the ``n_estimators`` trees on its own rows; the trees
    are gathered and every rank holds the same forest (see the module's
    notes: it equals the single-process forest in accuracy, not tree by
    tree).
    """

    _spmd_classifier = True


@with_comm(_ens.RandomForestRegressor)
class RandomForestRegressor(_SPMDForest, _ens.RandomForestRegressor):
    """Random forest regressor over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.ensemble.RandomForestRegressor`
    (without ``oob_score`` and ``warm_start``), plus ``comm``; grown as
    :class:`RandomForestClassifier` is.
    """

    _spmd_classifier = False
