"""SPMD linear models: each rank's centred moments, merged in rank order."""

import numpy as np

from oxlearn import _core
from oxlearn import linear_model as _lm
from oxlearn.base import n_threads
from oxlearn.linear_model._base import ridge_alphas, set_linear_attributes
from oxlearn.spmd._base import (
    SAMPLE_WEIGHT,
    X_ROWS,
    Y_TARGETS,
    SPMDMixin,
    collective_doc,
    with_comm,
)
from oxlearn.spmd._comm import allgather, rust_allgather

_FIT = "Fit on this rank's rows (collective)."


def merged_moments(comm, X, Y, sw, centered, chunk_rows, n_jobs, previous=None):
    """The moments of ``[X | Y]`` over every rank's rows (and ``previous``)."""
    local = _core.spmd_local_moments(X, Y, sw, centered, chunk_rows, n_threads(n_jobs))
    parts = allgather(comm, local)
    if previous is not None:
        parts = [previous, *parts]
    return _core.spmd_merge_moments(parts, centered)


def _regression_shards(est, X, y, sample_weight, reset=True):
    shards = est._shards(X, y, sample_weight, reset=reset, y_numeric=True)
    Y = np.asarray(shards.y, dtype=shards.X.dtype)
    y_1d = Y.ndim == 1
    return shards, (Y.reshape(-1, 1) if y_1d else Y), y_1d


class _SPMDLinearFit(SPMDMixin):
    def _fit_spmd(self, X, y, sample_weight):
        self._validate_params()
        if getattr(self, "positive", False):
            raise ValueError("positive=True is not available in oxlearn.spmd")
        shards, Y, y_1d = _regression_shards(self, X, y, sample_weight)
        m = merged_moments(shards.comm, shards.X, Y, shards.sample_weight, self.fit_intercept,
                           self.get_hyperparameters("fit").chunk_rows,
                           getattr(self, "n_jobs", None))
        alpha = self._spmd_alpha(Y.shape[1])
        coef, intercept, rank = _core.linear_from_moments(m, self.fit_intercept, alpha)
        dtype = shards.X.dtype
        set_linear_attributes(self, coef.astype(dtype), intercept.astype(dtype), y_1d,
                              self.fit_intercept)
        self._spmd_after_fit(m, rank, shards)
        return self


@with_comm(_lm.LinearRegression)
class LinearRegression(_SPMDLinearFit, _lm.LinearRegression):
    """Ordinary least squares over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.linear_model.LinearRegression`, plus
    ``comm`` (default ``MPI.COMM_WORLD``). Each rank passes its own rows to
    :meth:`fit`; the weighted centred moments of each rank's rows are
    computed in Rust, gathered (O(p²) bytes per rank) and merged in rank
    order, then solved (the minimum-norm solution, through the Gram
    matrix's eigendecomposition). Every rank gets the same model, which
    pickles and saves as the ordinary ``LinearRegression``.
    """

    @collective_doc("Fit on this rank's rows (collective: every rank of ``comm`` calls it).",
                    X_ROWS, Y_TARGETS, SAMPLE_WEIGHT)
    def fit(self, X, y, sample_weight=None):
        return self._fit_spmd(X, y, sample_weight)

    def _spmd_alpha(self, n_targets):
        return None

    def _spmd_after_fit(self, m, rank, shards):
        self.rank_ = int(rank)
        # Singular values of the (centred, weighted) X from its Gram matrix.
        ev = np.linalg.eigvalsh(m["cxx"])[::-1]
        k = min(shards.n_samples, shards.n_features)
        self.singular_ = np.sqrt(np.clip(ev[:k], 0, None)).astype(shards.X.dtype)


@with_comm(_lm.Ridge)
class Ridge(_SPMDLinearFit, _lm.Ridge):
    """Ridge regression over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.linear_model.Ridge` (solvers
    ``auto``, ``cholesky`` and ``svd``, which give the same solution), plus
    ``comm``. Computed like :class:`oxlearn.spmd.LinearRegression`.
    """

    @collective_doc(_FIT, X_ROWS, Y_TARGETS, SAMPLE_WEIGHT)
    def fit(self, X, y, sample_weight=None):
        if self.solver not in _lm._ridge._ACCELERATED_SOLVERS:
            raise ValueError(
                f"solver={self.solver!r} is not available in oxlearn.spmd; use one of "
                f"{_lm._ridge._ACCELERATED_SOLVERS}"
            )
        return self._fit_spmd(X, y, sample_weight)

    def _spmd_alpha(self, n_targets):
        return ridge_alphas(self.alpha, n_targets)

    def _spmd_after_fit(self, m, rank, shards):
        self.n_iter_ = None
        self.solver_ = "svd" if self.solver == "svd" else "cholesky"


@with_comm(_lm.IncrementalLinearRegression)
class IncrementalLinearRegression(SPMDMixin, _lm.IncrementalLinearRegression):
    """Least squares over batches of rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.linear_model.IncrementalLinearRegression`,
    plus ``comm``. Every call of :meth:`fit` and :meth:`partial_fit` is
    collective: each rank passes its rows of the batch, and the batch's
    moments over all ranks are merged into the state.
    """

    def _validate_batch(self, X, y, sample_weight, reset):
        shards, Y, y_1d = _regression_shards(self, X, y, sample_weight, reset=reset)
        self._spmd_shards = shards
        return shards.X, Y, shards.sample_weight, y_1d

    def _update(self, batch, chunk_rows):
        X, Y, sw, y_1d = batch
        state = self._state()
        if state is not None and state["mean_y"].size != Y.shape[1]:
            raise ValueError(
                f"y has {Y.shape[1]} targets but the model was fitted so far on "
                f"{state['mean_y'].size}"
            )
        shards = self.__dict__.pop("_spmd_shards")
        new = merged_moments(shards.comm, X, Y, sw, self.fit_intercept, chunk_rows,
                             self.n_jobs, previous=state)
        for k in ("mean_x", "mean_y", "cxx", "cxy"):
            setattr(self, "_" + k, new[k])
        self.n_samples_seen_ = int(new["n_samples"])
        self._sum_weights = float(new["sum_weights"])
        self._finalize(X.dtype, y_1d)


@with_comm(_lm.LogisticRegression)
class LogisticRegression(SPMDMixin, _lm.LogisticRegression):
    """Logistic regression over rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.linear_model.LogisticRegression`
    (solvers ``lbfgs`` and ``newton-cg``, penalty ``l2`` or none), plus
    ``comm``. Every rank runs the same optimiser; each loss, gradient and
    Hessian product is the sum of the ranks' sums over their rows (O(k·p)
    bytes per rank and evaluation), added in rank order, so every rank
    takes the same steps and ends with the same coefficients.
    """

    @collective_doc(_FIT, X_ROWS, """y : array-like of shape (n_local_samples,)
    Their labels. Every rank that holds rows must hold every class.""", SAMPLE_WEIGHT)
    def fit(self, X, y, sample_weight=None):
        self._validate_params()
        penalty, C = self._resolve_penalty(warn=False)
        if self.solver not in _lm._logistic._ACCELERATED_SOLVERS or penalty not in ("l2", None):
            raise ValueError(
                f"oxlearn.spmd.LogisticRegression supports the solvers "
                f"{_lm._logistic._ACCELERATED_SOLVERS} with penalty 'l2' or None, not "
                f"solver={self.solver!r}, penalty={penalty!r}"
            )
        if self.class_weight is not None:
            raise ValueError("class_weight is not available in oxlearn.spmd")
        self._resolve_penalty(warn=True)
        shards = self._shards(X, y, sample_weight, classifier=True,
                        weight_dtype=np.float64)
        self.classes_ = shards.classes
        n_classes = len(shards.classes)
        if n_classes < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {shards.classes[0]!r}"
            )
        init_coef, init_intercept = self._warm_start_coef(shards.n_features, n_classes)
        coef, intercept, n_iter, status, message, _ = _core.fit_logistic_regression(
            shards.X, shards.y_idx, shards.sample_weight, n_classes, self.solver, float(C),
            bool(self.fit_intercept), int(self.max_iter), float(self.tol), init_coef,
            init_intercept, self.get_hyperparameters("fit").chunk_rows, n_threads(self.n_jobs),
            rust_allgather(shards.comm),
        )
        self._warn_convergence(n_iter, status, message)
        self.n_iter_ = np.asarray([min(n_iter, self.max_iter)], dtype=np.int32)
        self.coef_ = coef
        self.intercept_ = intercept
        return self

