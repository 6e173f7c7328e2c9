"""Accelerated LocalOutlierFactor: the neighbour searches in Rust.

scikit-learn's LOF is two k-nearest searches (the training set against
itself at fit, new data against the training set for novelty scores) and a
few vectorised numpy operations on the neighbour arrays (k-distances,
reachability, local reachability density). The searches are oxlearn's
(exact, ties by index). At fit the numpy part is scikit-learn's own code,
already vectorised and a small share of the time (about 1.5% of fit on
make_blobs(20000, 10) with n_neighbors=20). Novelty scores of float64 data
use the same formulas in Rust, the arithmetic the ``oxlearn`` binary serves
``predict`` with, so both give the same bits.
"""

import numpy as np
from scipy import sparse
from sklearn import neighbors as _sk
from sklearn.utils import check_array
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.neighbors._knn import _DOC, _KNeighborsAccelerated


class LocalOutlierFactor(_KNeighborsAccelerated, _sk.LocalOutlierFactor):
    __doc__ = accelerated_doc(
        _sk.LocalOutlierFactor,
        _DOC.format(extra="; the local reachability densities are scikit-learn's "
                    "(vectorised numpy) on oxlearn's neighbours"),
    )

    _oxlearn_kind = "neighbors.LocalOutlierFactor"
    _oxlearn_private_fitted = ("_fit_X", "_fit_method", "_distances_fit_X_", "_lrd")

    def fit(self, X, y=None):
        """Fit the local outlier factor detector from the training dataset.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, n_samples) if metric='precomputed'
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : LocalOutlierFactor
            The fitted local outlier factor detector.
        """
        return self._fit_accelerated(X, y, super().fit)

    @available_if(_sk.LocalOutlierFactor._check_novelty_score_samples)
    def score_samples(self, X):
        """Opposite of the Local Outlier Factor of X (novelty detection only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The query samples.

        Returns
        -------
        opposite_lof_scores : ndarray of shape (n_samples,)
            The opposite of the Local Outlier Factor of each input sample:
            the lower, the more abnormal.
        """
        check_is_fitted(self)
        lrd = getattr(self, "_lrd", None)
        if (not self._accelerated() or sparse.issparse(X) or lrd is None
                or lrd.dtype != np.float64):
            return super().score_samples(X)
        X = check_array(X, accept_sparse="csr")
        dist, ind = self.kneighbors(X, n_neighbors=self.n_neighbors_)
        if X.dtype == np.float32 or dist.dtype != np.float64:
            return super().score_samples(X)
        self._log_accelerated("score_samples")
        return _core.lof_score_samples(
            np.ascontiguousarray(dist), np.ascontiguousarray(ind, dtype=np.int64),
            np.ascontiguousarray(self._distances_fit_X_[:, self.n_neighbors_ - 1],
                                 dtype=np.float64),
            lrd,
        )
