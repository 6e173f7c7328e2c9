"""The exchanges between ranks: mpi4py collectives, agreed shards, counted bytes.

Every collective of ``oxlearn.spmd`` goes through this module. A fit first
agrees on its input: each rank validates its own shard and the outcome
(an error, or the shard's metadata) is allgathered, so a bad shard fails
every rank with the same clear message instead of leaving the others
waiting in a later collective.
"""

import pickle

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from oxlearn._sklearn_private import _check_sample_weight

_SENT = [0]


def get_comm(comm):
    """``comm``, or ``MPI.COMM_WORLD`` when it is None."""
    if comm is not None:
        return comm
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - the extra is not installed
        raise ImportError(
            "oxlearn.spmd fits need mpi4py and an MPI: pip install 'oxlearn[spmd]'"
        ) from e
    return MPI.COMM_WORLD


def bytes_sent():
    """Bytes this process has contributed to ``oxlearn.spmd`` collectives so far.

    The pickled size of every object it posted to an allgather or bcast:
    what one rank puts on the wire per exchange, before MPI replicates it.
    """
    return _SENT[0]


def allgather(comm, obj):
    """``comm.allgather(obj)``, counted in :func:`bytes_sent`."""
    _SENT[0] += len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    return comm.allgather(obj)


class rust_allgather:  # noqa: N801 - a function-like callable
    """The ``allgather`` callable the Rust core's distributed fits call.

    Its ``rank`` attribute is this rank's index in ``comm``.
    """

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()

    def __call__(self, local):
        return [np.asarray(a, dtype=np.float64) for a in allgather(self.comm, local)]


class ShardError(ValueError):
    """One rank's shard does not fit the others (raised on every rank)."""


def agree(comm, local):
    """Run ``local()`` on every rank and agree on the outcome.

    Returns the list of every rank's result, in rank order. If ``local``
    raised on some rank, that rank re-raises its own exception and every
    other rank raises :class:`ShardError` naming it.
    """
    try:
        result, error, exc = local(), None, None
    except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
        result, error, exc = None, f"{type(e).__name__}: {e}", e
    outcomes = allgather(comm, (error, result))
    failed = [(r, err) for r, (err, _) in enumerate(outcomes) if err is not None]
    if exc is not None:
        raise exc
    if failed:
        rank, err = failed[0]
        raise ShardError(f"rank {rank} of the distributed fit rejected its shard: {err}")
    return [res for _, res in outcomes]


def _meta(X):
    return {"n": int(X.shape[0]), "p": int(X.shape[1]) if X.ndim == 2 else -1,
            "dtype": np.asarray(X).dtype.str if hasattr(X, "dtype") else None}


class Shards:
    """A rank's validated shard and what every rank agreed on.

    Attributes
    ----------
    X : ndarray of shape (n_local, n_features), float32 or float64
    y : ndarray or None
        This rank's targets (class indices for a classifier).
    sample_weight : ndarray or None
    counts : list of int
        Rows of every rank, in rank order.
    offset : int
        Global index of this rank's first row (rows are numbered rank by rank).
    n_samples : int
        Rows over all ranks.
    classes : ndarray or None
        A classifier's classes (the union over ranks, sorted).
    """

    def __init__(self, comm, est, X, y=None, sample_weight=None, *, reset=True,
                 classifier=False, y_numeric=False, weight_dtype=None, ensure_2d=True):
        self.comm = comm
        raw = {"dtype": getattr(X, "dtype", None), "ndim": np.ndim(X)}

        def check():
            nonlocal X, y, sample_weight
            kw = dict(reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=0,
                      ensure_all_finite=True, order=None, ensure_2d=ensure_2d)
            if y is None:
                Xv = validate_data(est, X, **kw)
                yv = None
            elif np.shape(X)[0] == 0:
                # scikit-learn refuses an empty y whatever ensure_min_samples says.
                Xv = validate_data(est, X, **kw)
                yv = np.asarray(y)
                if yv.shape[0] != 0:
                    raise ValueError(f"X has 0 rows but y has {yv.shape[0]}")
                if y_numeric and yv.dtype.kind not in "fiub":
                    yv = yv.astype(np.float64)
            else:
                Xv, yv = validate_data(est, X, y, multi_output=not classifier,
                                       y_numeric=y_numeric, **kw)
            meta = {"n": int(Xv.shape[0]), "p": int(Xv.shape[1]),
                    "dtype": str(np.dtype(raw["dtype"])) if raw["dtype"] is not None
                    else str(Xv.dtype),
                    "y_ndim": None if yv is None else int(np.ndim(yv)),
                    "y_cols": None if yv is None or np.ndim(yv) == 1 else int(yv.shape[1])}
            if classifier:
                if Xv.shape[0]:
                    check_classification_targets(yv)
                meta["classes"] = np.unique(yv)
            sw = sample_weight
            if sw is not None:
                sw = _check_sample_weight(sw, Xv, dtype=weight_dtype or Xv.dtype,
                                          ensure_non_negative=True)
                sw = np.ascontiguousarray(sw)
            self.X, self.y, self.sample_weight = Xv, yv, sw
            return meta

        metas = agree(comm, check)
        self._check_consistent(metas, classifier)
        self.counts = [m["n"] for m in metas]
        rank = comm.Get_rank()
        self.offset = int(sum(self.counts[:rank]))
        self.n_samples = int(sum(self.counts))
        self.n_features = metas[0]["p"]
        self.classes = None
        if classifier:
            self.classes = np.unique(np.concatenate(
                [m["classes"] for m in metas if m["n"]]))
            if self.X.shape[0]:
                self.y_idx = np.searchsorted(self.classes, self.y).astype(np.uint32)
            else:
                self.y_idx = np.zeros(0, dtype=np.uint32)
        if self.n_samples == 0:
            raise ValueError("no rank holds any row: the distributed data is empty")

    @staticmethod
    def _check_consistent(metas, classifier):
        def differ(key, what):
            values = [m[key] for m in metas]
            if len(set(values)) > 1:
                per_rank = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
                raise ShardError(
                    f"the ranks' shards disagree on {what} ({per_rank}); every rank must "
                    "pass rows with the same columns and dtype"
                )

        differ("p", "the number of features")
        differ("dtype", "the dtype of X")
        differ("y_ndim", "the number of dimensions of y")
        differ("y_cols", "the number of targets")
        if classifier:
            sets = [(r, tuple(m["classes"].tolist())) for r, m in enumerate(metas) if m["n"]]
            union = sorted(set().union(*[set(s) for _, s in sets]), key=repr)
            for r, s in sets:
                missing = [c for c in union if c not in s]
                if missing:
                    raise ShardError(
                        f"rank {r}'s labels lack classes {missing} that other ranks hold; "
                        "every rank that holds rows must hold every class (shuffle the rows "
                        "before sharding them)"
                    )
