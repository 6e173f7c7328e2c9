"""Accelerated t-SNE."""

import math
from time import time

import numpy as np
from scipy import sparse
from sklearn import manifold as _sk
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn.base import OxlearnEstimatorMixin, n_threads

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


class TSNE(OxlearnEstimatorMixin, _sk.TSNE):
    __doc__ = accelerated_doc(
        _sk.TSNE,
        "Accelerated by oxlearn (Rust) for dense input with ``metric='euclidean'``: the "
        "nearest neighbours (``method='barnes_hut'``) or pairwise distances "
        "(``method='exact'``), the perplexity search and the whole optimisation, with "
        "scikit-learn's schedule, stopping rules and reported ``kl_divergence_`` and "
        "``n_iter_``. Barnes-Hut computes its forces in float32, as scikit-learn's and "
        "scikit-learn-intelex's do (the optimiser's step and the error in float64); "
        "``method='exact'`` is float64 throughout. Both run in parallel and "
        "bit-identically for any ``n_jobs``; the "
        "embedding is returned in scikit-learn's dtype. Embeddings are not comparable "
        "point-wise with scikit-learn's (the optimisation is chaotic), only in quality. "
        "Sparse input, other metrics (``'precomputed'`` included), ``metric_params`` and "
        "``n_components > 3`` with Barnes-Hut run scikit-learn's implementation.",
    )

    _oxlearn_kind = "manifold.TSNE"
    _oxlearn_dtype_attr = "embedding_"

    def _fallback_reason(self, X):
        if sparse.issparse(X):
            return "sparse input is not accelerated"
        if not (isinstance(self.metric, str) and self.metric == "euclidean"):
            return f"metric={self.metric!r} is not accelerated (only 'euclidean')"
        if self.metric_params:
            return "metric_params is not accelerated"
        if self.method == "barnes_hut" and self.n_components > 3:
            return (
                f"n_components={self.n_components} with method='barnes_hut' (scikit-learn "
                "refuses it)"
            )
        init = self.init
        if isinstance(init, np.ndarray) and init.dtype not in _FLOATS:
            return f"init of dtype {init.dtype} is not accelerated (float32 or float64)"
        return None

    def fit_transform(self, X, y=None):
        """Fit X into an embedded space and return that transformed output.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
            (n_samples, n_samples)
            If the metric is 'precomputed' X must be a square distance
            matrix. Otherwise it contains a sample per row. If the method
            is 'exact', X may be a sparse matrix of type 'csr', 'csc'
            or 'coo'. If the method is 'barnes_hut' and the metric is
            'precomputed', X may be a precomputed sparse graph.
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Embedding of the training data in low-dimensional space.
        """
        return self._fit_embedding(X, "fit_transform")

    def fit(self, X, y=None):
        """Fit X into an embedded space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
            (n_samples, n_samples)
            If the metric is 'precomputed' X must be a square distance
            matrix. Otherwise it contains a sample per row. If the method
            is 'exact', X may be a sparse matrix of type 'csr', 'csc'
            or 'coo'. If the method is 'barnes_hut' and the metric is
            'precomputed', X may be a precomputed sparse graph.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._fit_embedding(X, "fit")
        return self

    def _fit_embedding(self, X, method):
        self._validate_params()
        reason = self._fallback_reason(X)
        if reason is not None:
            self._log_fallback(method, reason)
            # scikit-learn's own fit_transform, its validation included (through
            # the base class: sklearn.manifold.TSNE is this class when patched).
            return super().fit_transform(X)
        self._check_device(method)
        # scikit-learn's _fit, in its order (errors come in the same order).
        self._check_params_vs_input(X)
        if self.learning_rate == "auto":
            # See scikit-learn's issue #18018.
            self.learning_rate_ = X.shape[0] / self.early_exaggeration / 4
            self.learning_rate_ = np.maximum(self.learning_rate_, 50)
        else:
            self.learning_rate_ = self.learning_rate
        if self.method == "barnes_hut":
            X = validate_data(self, X, ensure_min_samples=2, dtype=[np.float32, np.float64])
        else:
            X = validate_data(self, X, dtype=[np.float32, np.float64])
        random_state = check_random_state(self.random_state)
        threads = n_threads(self.n_jobs)
        self._log_accelerated(method)
        P = self._affinities(X, threads)
        X_embedded = self._initial_embedding(X, random_state)
        embedding, kl, n_iter = self._optimize(P, X_embedded, threads)
        self.n_iter_ = n_iter
        self.kl_divergence_ = kl
        # scikit-learn's optimisation state has the initial embedding's dtype
        # (float32 for "pca" and "random"): so has the result.
        self.embedding_ = embedding.astype(X_embedded.dtype, copy=False)
        return self.embedding_

    def _affinities(self, X, threads):
        """``P``: dense (exact) or ``(data, indices, indptr)`` (Barnes-Hut)."""
        n_samples = X.shape[0]
        verbose = self.verbose
        t0 = time()
        if self.method == "exact":
            if verbose:
                print("[t-SNE] Computing pairwise distances...")
            P, beta_sum = _core.tsne_joint_probabilities(X, float(self.perplexity), threads)
        else:
            # van der Maaten uses 3 * perplexity neighbours; at most n - 1.
            n_neighbors = min(n_samples - 1, int(3.0 * self.perplexity + 1))
            if verbose:
                print(f"[t-SNE] Computing {n_neighbors} nearest neighbors...")
            *P, beta_sum = _core.tsne_joint_probabilities_nn(
                X, float(self.perplexity), n_neighbors, threads
            )
            if verbose:
                print(f"[t-SNE] Computed neighbors for {n_samples} samples in "
                      f"{time() - t0:.3f}s...")
        if verbose:
            # scikit-learn's progress lines of the perplexity search, at its end.
            for i in [*range(1000, n_samples, 1000), n_samples]:
                print(f"[t-SNE] Computed conditional probabilities for sample {i} / "
                      f"{n_samples}")
            print(f"[t-SNE] Mean sigma: {np.mean(math.sqrt(n_samples / beta_sum)):f}")
            if verbose >= 2:
                print(f"[t-SNE] Computed conditional probabilities in {time() - t0:.3f}s")
        return P

    def _initial_embedding(self, X, random_state):
        """The start of the optimisation, as scikit-learn draws it."""
        from oxlearn.decomposition import PCA

        n_samples = X.shape[0]
        if isinstance(self.init, np.ndarray):
            X_embedded = self.init
            if X_embedded.shape != (n_samples, self.n_components):
                raise ValueError(
                    f"init has shape {X_embedded.shape}; an initial embedding must have "
                    f"shape (n_samples, n_components) = ({n_samples}, {self.n_components})"
                )
        elif self.init == "pca":
            pca = PCA(n_components=self.n_components, random_state=random_state)
            # Always output a numpy array, no matter what is configured globally.
            pca.set_output(transform="default")
            X_embedded = pca.fit_transform(X).astype(np.float32, copy=False)
            # PC1 gets standard deviation 1e-4, that of the random start
            # (scikit-learn's issue #18018).
            X_embedded = X_embedded / np.std(X_embedded[:, 0]) * 1e-4
        else:
            # iid Gaussian coordinates with standard deviation 1e-4.
            X_embedded = 1e-4 * random_state.standard_normal(
                size=(n_samples, self.n_components)
            ).astype(np.float32)
        return X_embedded

    def _optimize(self, P, X_embedded, threads):
        """Both stages of gradient descent in Rust; prints scikit-learn's report."""
        init = np.ascontiguousarray(X_embedded, dtype=np.float64)
        schedule = (
            float(self.early_exaggeration),
            float(self.learning_rate_),
            int(self.max_iter),
            int(self._EXPLORATION_MAX_ITER),
            int(self._N_ITER_CHECK),
            int(self.n_iter_without_progress),
            float(self.min_grad_norm),
        )
        if self.method == "exact":
            embedding, kl, n_iter, stages = _core.tsne_optimize_exact(P, init, schedule, threads)
        else:
            embedding, kl, n_iter, stages = _core.tsne_optimize_barnes_hut(
                *P, init, float(self.angle), schedule, threads
            )
        if self.verbose:
            self._report(stages)
        return embedding, kl, n_iter

    def _report(self, stages):
        """scikit-learn's verbose output of ``_tsne`` and ``_gradient_descent``."""
        patience = (self._EXPLORATION_MAX_ITER, self.n_iter_without_progress)
        for s, (checks, stop, it, error) in enumerate(stages):
            if self.verbose >= 2:
                for i, err, grad_norm, seconds in checks:
                    print(f"[t-SNE] Iteration {i + 1}: error = {err:.7f}, gradient norm = "
                          f"{grad_norm:.7f} ({self._N_ITER_CHECK} iterations in {seconds:0.3f}s)")
                if stop == "no_progress":
                    print(f"[t-SNE] Iteration {it + 1}: did not make any progress during the "
                          f"last {patience[s]:d} episodes. Finished.")
                elif stop == "small_gradient":
                    print(f"[t-SNE] Iteration {it + 1}: gradient norm {checks[-1][2]:f}. "
                          "Finished.")
            if s == 0:
                print(f"[t-SNE] KL divergence after {it + 1} iterations with early "
                      f"exaggeration: {error:f}")
        it, error = stages[-1][2], stages[-1][3]
        print(f"[t-SNE] KL divergence after {it + 1} iterations: {error:f}")
