"""SPMD statistics, covariance and PCA: each rank's moments, merged in rank order."""

import warnings

import numpy as np

from oxlearn import _core
from oxlearn import basic_statistics as _bs
from oxlearn import covariance as _cov
from oxlearn import decomposition as _dec
from oxlearn.base import n_threads
from oxlearn.basic_statistics._basic_statistics import _STATE, _options
from oxlearn.covariance._empirical import set_covariance
from oxlearn.spmd._base import X_ROWS, Y_IGNORED, SPMDMixin, collective_doc, with_comm
from oxlearn.spmd._comm import allgather
from oxlearn.spmd._linear import merged_moments

_FIT = "Fit on every rank's rows (collective)."


def _no_targets(X):
    return np.empty((X.shape[0], 0), X.dtype)


def _merged_columns(shards, sw, chunk_rows, n_jobs, previous=None):
    local = _core.spmd_local_column_moments(shards.X, sw, chunk_rows, n_threads(n_jobs))
    parts = allgather(shards.comm, local)
    if previous is not None:
        parts = [previous, *parts]
    return _core.spmd_merge_column_moments(parts)


@with_comm(_bs.BasicStatistics)
class BasicStatistics(SPMDMixin, _bs.BasicStatistics):
    """Per-feature statistics of rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.basic_statistics.BasicStatistics`,
    plus ``comm``. Each rank's per-feature moments (count, sum, mean, sum of
    squared deviations, min, max: O(p) bytes) are gathered and merged in
    rank order.
    """

    @collective_doc(
        "Compute the statistics of every rank's rows (collective).", X_ROWS, Y_IGNORED,
        """sample_weight : array-like of shape (n_local_samples,), default=None
    Row weights: the statistics are those of ``sample_weight[:, None] * X``.""")
    def fit(self, X, y=None, sample_weight=None):
        _options(self.result_options)
        for o in _bs._basic_statistics.OPTIONS:
            self.__dict__.pop(o + "_", None)
        shards = self._shards(X, None, None)
        sw = _weights(shards, sample_weight)
        state = _merged_columns(shards, sw, self.get_hyperparameters("fit").chunk_rows,
                                self.n_jobs)
        self._set_statistics(state, shards.X.dtype)
        return self


def _weights(shards, sample_weight):
    if sample_weight is None:
        return None
    return _bs._basic_statistics._sample_weight(sample_weight, shards.X)


@with_comm(_bs.IncrementalBasicStatistics)
class IncrementalBasicStatistics(SPMDMixin, _bs.IncrementalBasicStatistics):
    """Per-feature statistics over batches of rows spread across MPI ranks.

    Same parameters as
    :class:`oxlearn.basic_statistics.IncrementalBasicStatistics`, plus
    ``comm``; every :meth:`fit` and :meth:`partial_fit` is collective.
    """

    def _validate_batch(self, X, y, sample_weight, reset):
        shards = self._shards(X, None, None, reset=reset)
        self._spmd_shards = shards
        return shards.X, y, sample_weight

    def _update(self, batch, chunk_rows):
        X, _, sample_weight = batch
        _options(self.result_options)
        shards = self.__dict__.pop("_spmd_shards")
        new = _merged_columns(shards, _weights(shards, sample_weight), chunk_rows, self.n_jobs,
                              previous=self._state())
        for k in _STATE:
            setattr(self, "_" + k, new[k])
        self.n_samples_seen_ = int(new["n_samples"])
        self._set_statistics(self._state(), X.dtype)


def _covariance_shards(est, X, reset=True):
    shards = est._shards(X, None, None, reset=reset)
    if shards.n_samples == 1:
        warnings.warn("Only one sample available. You may want to reshape your data array",
                      stacklevel=4)
    return shards


@with_comm(_cov.EmpiricalCovariance)
class EmpiricalCovariance(SPMDMixin, _cov.EmpiricalCovariance):
    """Maximum likelihood covariance of rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.covariance.EmpiricalCovariance`, plus
    ``comm``. Each rank's centred moments (O(p²) bytes) are gathered and
    merged in rank order.
    """

    @collective_doc(_FIT, X_ROWS, Y_IGNORED)
    def fit(self, X, y=None):
        self._validate_params()
        shards = _covariance_shards(self, X)
        m = merged_moments(shards.comm, shards.X, _no_targets(shards.X), None,
                           not self.assume_centered, self.get_hyperparameters("fit").chunk_rows,
                           None)
        set_covariance(self, m, shards.X.dtype)
        return self


@with_comm(_cov.IncrementalEmpiricalCovariance)
class IncrementalEmpiricalCovariance(SPMDMixin, _cov.IncrementalEmpiricalCovariance):
    """Covariance over batches of rows spread across MPI ranks.

    Same parameters as
    :class:`oxlearn.covariance.IncrementalEmpiricalCovariance`, plus ``comm``;
    every :meth:`fit` and :meth:`partial_fit` is collective.
    """

    def _validate_batch(self, X, y, sample_weight, reset):
        shards = _covariance_shards(self, X, reset=reset)
        self._spmd_shards = shards
        return (shards.X,)

    def _update(self, batch, chunk_rows):
        (X,) = batch
        shards = self.__dict__.pop("_spmd_shards")
        new = merged_moments(shards.comm, X, _no_targets(X), None, not self.assume_centered,
                             chunk_rows, None, previous=self._state())
        self._mean_x, self._cxx = new["mean_x"], new["cxx"]
        self.n_samples_seen_ = int(new["n_samples"])
        self._sum_weights = float(new["sum_weights"])
        set_covariance(self, self._state(), X.dtype)


def _pca_moments(est, X, reset, previous=None):
    shards = est._shards(X, None, None, reset=reset)
    m = merged_moments(shards.comm, shards.X, _no_targets(shards.X), None, True, 0, None,
                       previous=previous)
    return shards, m


@with_comm(_dec.PCA)
class PCA(SPMDMixin, _dec.PCA):
    """Exact PCA of rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.decomposition.PCA`, plus ``comm``.
    Each rank's centred moments (O(p²) bytes) are gathered and merged in
    rank order; the spectrum is the covariance's eigendecomposition (what
    ``svd_solver='covariance_eigh'`` computes; ``'full'`` and ``'auto'``
    compute it too, which has the accuracy of an SVD unless the covariance
    is ill-conditioned). ``'randomized'`` and ``'arpack'`` are refused.
    """

    @collective_doc(_FIT, X_ROWS, Y_IGNORED)
    def fit(self, X, y=None):
        self._validate_params()
        if self.svd_solver not in ("auto", "full", "covariance_eigh"):
            raise ValueError(
                f"svd_solver={self.svd_solver!r} is not available in oxlearn.spmd; use "
                "'auto', 'full' or 'covariance_eigh'"
            )
        shards, m = _pca_moments(self, X, True)
        n, p = shards.n_samples, shards.n_features
        n_components = self._n_components_for(n, p, "covariance_eigh")
        mean, components, ev, sv = _core.pca_from_moments(m)
        k = min(n, p)
        self._set_spectrum(mean, components[:k], ev[:k], sv[:k], n, p, n_components,
                           shards.X.dtype, "covariance_eigh")
        return self

    @collective_doc("Fit on every rank's rows (collective) and transform this rank's rows.",
                    X_ROWS, Y_IGNORED,
                    returns="""X_new : ndarray of shape (n_local_samples, n_components)
    This rank's rows, transformed.""")
    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)


@with_comm(_dec.IncrementalPCA)
class IncrementalPCA(SPMDMixin, _dec.IncrementalPCA):
    """PCA over batches of rows spread across MPI ranks.

    Same parameters as :class:`oxlearn.decomposition.IncrementalPCA`, plus
    ``comm``; every :meth:`fit` and :meth:`partial_fit` is collective. The
    state merged between batches is the centred moments (O(p²) bytes per
    rank and batch), so the result is the *exact* PCA of all rows seen:
    equal to the single-process ``IncrementalPCA`` when it keeps every
    component (``n_components=None`` with more rows than features), and more
    accurate than it when it truncates. A saved model continues with
    scikit-learn's incremental algorithm.
    """

    @collective_doc(_FIT, X_ROWS, Y_IGNORED)
    def fit(self, X, y=None):
        self._validate_params()
        self.__dict__.pop("_spmd_moments", None)
        shards, m = _pca_moments(self, X, True)
        self.batch_size_ = 5 * shards.n_features if self.batch_size is None else self.batch_size
        return self._set(shards, m)

    def partial_fit(self, X, y=None, check_input=True):
        """Add every rank's rows of one batch (collective).

        Parameters
        ----------
        X : array-like of shape (n_local_samples, n_features)
            This rank's rows of the batch (possibly none).
        y : Ignored
            Not used.
        check_input : bool, default=True
            Accepted for compatibility; inputs are always checked.

        Returns
        -------
        self : object
            The updated estimator, identical on every rank.
        """
        self._validate_params()
        previous = getattr(self, "_spmd_moments", None)
        shards, m = _pca_moments(self, X, previous is None, previous)
        if previous is None:
            self.batch_size_ = self.batch_size
        return self._set(shards, m)

    def _set(self, shards, m):
        n, p = int(m["n_samples"]), shards.n_features
        k = p if self.n_components is None else self.n_components
        if not 1 <= k <= min(n, p):
            raise ValueError(
                f"n_components={k} must be between 1 and min(n_samples, n_features)="
                f"{min(n, p)}"
            )
        mean, components, ev, sv = _core.pca_from_moments(m)
        dtype = shards.X.dtype
        total = float(np.trace(m["cxx"]))
        self._spmd_moments = m
        self.n_components_ = k
        self.n_samples_seen_ = n
        self.mean_ = mean.astype(dtype)
        self.var_ = (np.diag(m["cxx"]) / n).astype(dtype)
        self.components_ = np.ascontiguousarray(components[:k]).astype(dtype)
        self.singular_values_ = sv[:k].astype(dtype)
        self.explained_variance_ = ev[:k].astype(dtype)
        self.explained_variance_ratio_ = (sv[:k] ** 2 / total).astype(dtype)
        noise = float(ev[k:].mean()) if k < p else 0.0
        self.noise_variance_ = dtype.type(noise)
        return self
