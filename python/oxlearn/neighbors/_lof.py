"""Accelerated LocalOutlierFactor: the neighbour searches in Rust.

scikit-learn's LOF is two k-nearest searches (the training set against
itself at fit, new data against the training set for novelty scores) and a
few vectorised numpy operations on the neighbour arrays (k-distances,
reachability, local reachability density). The searches are oxlearn's
(exact, ties by index); the numpy part is scikit-learn's own code, which is
already vectorised and takes a small share of the time (measured: about 1.5%
of fit on make_blobs(20000, 10) with n_neighbors=20, dev build), so moving it
to Rust would gain little.
"""

from sklearn import neighbors as _sk

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
