"""Benchmark oxlearn against stock scikit-learn and scikit-learn-intelex.

All three run in the same process on the same data (the baseline
workloads, recorded in bench/RESULTS.md), several repetitions each; the
table shows median wall times and ratios (oxlearn time / other time:
below 1.0 means oxlearn is faster).
Run it with ``bash scripts/bench.sh`` (builds with the LTO profile and
installs scikit-learn-intelex into its own environment).
"""

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import chain

import numpy as np
import sklearn
from sklearn import cluster as skc
from sklearn import decomposition as sk_dec
from sklearn import ensemble as ske
from sklearn import linear_model as sk
from sklearn import manifold as sk_manifold
from sklearn import neighbors as skn
from sklearn import svm as sk_svm
from sklearn.datasets import make_blobs, make_classification, make_regression
from sklearn.metrics import pairwise_distances as sk_pairwise_distances

import oxlearn
from oxlearn import basic_statistics as ox_bs
from oxlearn import cluster as oxc
from oxlearn import decomposition as ox_dec
from oxlearn import ensemble as oxe
from oxlearn import linear_model as ox
from oxlearn import manifold as ox_manifold
from oxlearn import metrics as ox_metrics
from oxlearn import neighbors as oxn
from oxlearn import svm as ox_svm

try:
    import sklearnex
    from sklearnex import basic_statistics as ix_bs
    from sklearnex import cluster as ixc
    from sklearnex import decomposition as ix_dec
    from sklearnex import ensemble as ixe
    from sklearnex import linear_model as ix
    from sklearnex import manifold as ix_manifold
    from sklearnex import metrics as ix_metrics
    from sklearnex import neighbors as ixn
    from sklearnex import svm as ix_svm
except ImportError:  # the benchmark still runs, without the intelex columns
    sklearnex = ix = ix_bs = ix_dec = ix_manifold = ix_metrics = ixc = ixe = ixn = None
    ix_svm = None
try:
    # scikit-learn-intelex accelerates ElasticNet and Lasso through daal4py,
    # which it ships (sklearnex.linear_model has neither, and patch_sklearn()
    # no longer swaps them in).
    from daal4py.sklearn import linear_model as ix_cd
except ImportError:
    ix_cd = None


def median_time(fn, repeat):
    """Median wall time of ``fn()`` over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@dataclass
class Workload:
    """One baseline workload: the same data fitted by each implementation.

    ``impls`` maps ``"oxlearn"``, ``"sklearn"``, ``"intelex"`` to a factory
    (``None`` when that implementation is unavailable). After ``fit(X, y)``
    the method named ``op`` (``predict``, ``transform``; ``None`` for fit-only
    estimators) is timed on ``Xp``; ``check(ox_model, sk_model)`` asserts
    that oxlearn's fitted model agrees with scikit-learn's.
    """

    name: str
    data: str
    impls: dict
    X: np.ndarray
    y: np.ndarray = None
    Xp: np.ndarray = None
    op: str = "predict"
    check: Callable = None


class _Pairwise:
    """``pairwise_distances(X, metric=...)`` as a fit-only workload."""

    def __init__(self, func, metric):
        self.func, self.metric = func, metric

    def fit(self, X, y=None):
        self.distances_ = self.func(X, metric=self.metric)
        return self


class _Call:
    """A function of ``(X, y)`` as a fit-only workload: its result is kept."""

    def __init__(self, func, **kwargs):
        self.func, self.kwargs = func, kwargs

    def fit(self, X, y=None):
        self.result_ = self.func(X, y, **self.kwargs)
        return self


def _function(module, name, **kwargs):
    """A ``_Call`` factory for ``module.name``, or None where the module lacks it."""
    func = getattr(module, name, None) if module is not None else None
    return func and (lambda: _Call(func, **kwargs))


def _auc_check(ox_model, sk_model):
    np.testing.assert_allclose(ox_model.result_, sk_model.result_, rtol=1e-12)


def _split_check(ox_model, sk_model):
    for a, b in zip(ox_model.result_, sk_model.result_, strict=True):
        np.testing.assert_array_equal(a, b)


def _pairwise_check(ox_model, sk_model):
    # Exact distances versus scikit-learn's matrix-product expansion.
    np.testing.assert_allclose(ox_model.distances_, sk_model.distances_, rtol=1e-7, atol=1e-7)


def _linear_check(Xp, y):
    def check(ox_model, sk_model):
        np.testing.assert_allclose(ox_model.predict(Xp), sk_model.predict(Xp),
                                   rtol=1e-6, atol=1e-6 * np.abs(y).max())
    return check


class _NumpyStatistics:
    """Stock reference for BasicStatistics (scikit-learn has none): numpy's two-pass."""

    def fit(self, X, y=None):
        mean = X.mean(axis=0)
        var = X.var(axis=0, ddof=1)
        self.min_, self.max_, self.sum_, self.mean_ = X.min(0), X.max(0), X.sum(0), mean
        self.variance_, self.standard_deviation_ = var, np.sqrt(var)
        self.variation_ = self.standard_deviation_ / mean
        self.sum_squares_ = np.einsum("ij,ij->j", X, X)
        self.sum_squares_centered_ = var * (len(X) - 1)
        self.second_order_raw_moment_ = self.sum_squares_ / len(X)
        return self


def _statistics_check(ox_model, np_model):
    for name in ("min_", "max_", "mean_", "variance_", "sum_squares_"):
        np.testing.assert_allclose(getattr(ox_model, name), getattr(np_model, name),
                                   rtol=1e-8, atol=1e-10)


def _coordinate_descent_check(Xp, y):
    def check(ox_model, sk_model):
        # scikit-learn's iterations: the same epochs and the same zeros.
        assert ox_model.n_iter_ == sk_model.n_iter_
        np.testing.assert_array_equal(ox_model.coef_ == 0, sk_model.coef_ == 0)
        assert np.count_nonzero(ox_model.coef_) == 10
        _linear_check(Xp, y)(ox_model, sk_model)
    return check


def _pca_check(Xp):
    def check(ox_model, sk_model):
        np.testing.assert_allclose(ox_model.explained_variance_, sk_model.explained_variance_,
                                   rtol=1e-8)
        np.testing.assert_allclose(np.abs(ox_model.transform(Xp)),
                                   np.abs(sk_model.transform(Xp)), atol=1e-6)
    return check


def _dbscan_check(ox_model, sk_model):
    np.testing.assert_array_equal(ox_model.labels_, sk_model.labels_)
    np.testing.assert_array_equal(ox_model.core_sample_indices_, sk_model.core_sample_indices_)


def _logistic_check(Xp):
    def check(ox_model, sk_model):
        agree = np.mean(ox_model.predict(Xp) == sk_model.predict(Xp))
        assert agree >= 0.999, f"predictions agree on {agree:.4%} of rows"
        # Both stop at tol=1e-4 on the gradient, a little before the optimum.
        np.testing.assert_allclose(ox_model.coef_, sk_model.coef_, rtol=1e-3,
                                   atol=1e-3 * np.abs(sk_model.coef_).max())
    return check


def _kmeans_check(Xp):
    def check(ox_model, sk_model):
        # oxlearn's k-means++ takes scikit-learn's draws from the same seed, so
        # both start from the same centres and reach the same optimum.
        np.testing.assert_allclose(ox_model.inertia_, sk_model.inertia_, rtol=1e-6)
        np.testing.assert_array_equal(ox_model.predict(Xp), sk_model.predict(Xp))
    return check


def workloads(scale):
    """Yield the baseline workloads (bench/RESULTS.md), sizes multiplied by ``scale``."""
    n = int(200_000 * scale)
    X, _ = make_blobs(n, 20, centers=10, random_state=0)
    km = dict(n_clusters=10, n_init=1, max_iter=50, random_state=0)
    yield Workload("KMeans(10, n_init=1)", data=f"make_blobs {n}x20", impls={
        "oxlearn": lambda: oxc.KMeans(**km), "sklearn": lambda: skc.KMeans(**km),
        "intelex": ixc and (lambda: ixc.KMeans(**km)),
    }, X=X, Xp=X[:10_000], check=_kmeans_check(X[:10_000]))
    n = int(500_000 * scale)
    X, y = make_regression(n, 50, noise=1.0, random_state=0)
    common = dict(data=f"make_regression {n}x50", X=X, y=y, Xp=X[:10_000],
                  check=_linear_check(X[:10_000], y))
    yield Workload("LinearRegression", impls={
        "oxlearn": ox.LinearRegression, "sklearn": sk.LinearRegression,
        "intelex": ix and ix.LinearRegression,
    }, **common)
    yield Workload("Ridge(alpha=1)", impls={
        "oxlearn": lambda: ox.Ridge(alpha=1.0), "sklearn": lambda: sk.Ridge(alpha=1.0),
        "intelex": ix and (lambda: ix.Ridge(alpha=1.0)),
    }, **common)
    # scikit-learn has no incremental linear models: its one-shot fit is the
    # stock reference, intelex's incremental estimators the accelerated one.
    yield Workload("IncrementalLinearRegression", impls={
        "oxlearn": lambda: ox.IncrementalLinearRegression(batch_size=10_000),
        "sklearn": sk.LinearRegression,
        "intelex": ix and (lambda: ix.IncrementalLinearRegression(batch_size=10_000)),
    }, **common)
    yield Workload("IncrementalRidge", impls={
        "oxlearn": lambda: ox.IncrementalRidge(batch_size=10_000),
        "sklearn": lambda: sk.Ridge(alpha=1.0),
        "intelex": ix and (lambda: ix.IncrementalRidge(batch_size=10_000)),
    }, **common)
    n = int(200_000 * scale)
    X, y = make_regression(n, 100, noise=1.0, random_state=0)
    # alpha=1: 10 of the 100 coefficients are non-zero (make_regression's
    # 10 informative features).
    common = dict(data=f"make_regression {n}x100", X=X, y=y, Xp=X[:10_000],
                  check=_coordinate_descent_check(X[:10_000], y))
    for name in ("ElasticNet", "Lasso"):
        yield Workload(f"{name}(alpha=1)", impls={
            "oxlearn": partial(getattr(ox, name), alpha=1.0),
            "sklearn": partial(getattr(sk, name), alpha=1.0),
            "intelex": ix_cd and partial(getattr(ix_cd, name), alpha=1.0),
        }, **common)
    n = int(200_000 * scale)
    X = np.random.default_rng(0).standard_normal((n, 100))
    yield Workload('PCA(10, svd_solver="full")', data=f"normal {n}x100", X=X, Xp=X[:10_000],
                   op="transform", impls={
        "oxlearn": lambda: ox_dec.PCA(10, svd_solver="full"),
        "sklearn": lambda: sk_dec.PCA(10, svd_solver="full"),
        "intelex": ix_dec and (lambda: ix_dec.PCA(10, svd_solver="full")),
    }, check=_pca_check(X[:10_000]))
    n = int(1_000_000 * scale)
    X = np.random.default_rng(0).standard_normal((n, 50))
    yield Workload("BasicStatistics", data=f"normal {n}x50", X=X, op=None, impls={
        "oxlearn": ox_bs.BasicStatistics, "sklearn": _NumpyStatistics,
        "intelex": ix_bs and ix_bs.BasicStatistics,
    }, check=_statistics_check)
    nb = int(20_000 * scale)
    Xb, _ = make_blobs(nb, 10, random_state=0)

    def dbscan(module):
        return module and (lambda: module.DBSCAN(eps=1.0, min_samples=5))

    yield Workload("DBSCAN(eps=1,min_samples=5)", data=f"make_blobs {nb}x10", X=Xb, op=None,
                   impls={"oxlearn": dbscan(oxc), "sklearn": dbscan(skc), "intelex": dbscan(ixc)},
                   check=_dbscan_check)
    n = int(100_000 * scale)
    X, y = make_classification(n, 20, random_state=0)
    yield Workload("LogisticRegression(max_iter=200)", impls={
        "oxlearn": lambda: ox.LogisticRegression(max_iter=200),
        "sklearn": lambda: sk.LogisticRegression(max_iter=200),
        "intelex": ix and (lambda: ix.LogisticRegression(max_iter=200)),
    }, data=f"make_classification {n}x20", X=X, y=y, Xp=X[:10_000],
        check=_logistic_check(X[:10_000]))
    def knn(module):
        return module and (lambda: module.KNeighborsClassifier(5))

    for d in (20, 8):
        nk = int(100_000 * scale)
        Xk, yk = make_classification(nk + 10_000, d, random_state=0)
        yield Workload(f"KNeighborsClassifier(5) d={d}", data=f"make_classification {nk}x{d}",
                       X=Xk[:nk], y=yk[:nk], Xp=Xk[nk:],
                       impls={"oxlearn": knn(oxn), "sklearn": knn(skn), "intelex": knn(ixn)},
                       check=_knn_check(Xk[nk:]))

    def lof(module):
        cls = module and getattr(module, "LocalOutlierFactor", None)
        return cls and (lambda: cls(n_neighbors=20))

    # Fit only (op None): fit computes negative_outlier_factor_ of the
    # training set, which is fit_predict's work (its labels are a threshold).
    yield Workload("LocalOutlierFactor(20)", data=f"make_blobs {nb}x10", X=Xb, op=None,
                   impls={"oxlearn": lof(oxn), "sklearn": lof(skn), "intelex": lof(ixn)},
                   check=_lof_check)

    n_pd = int(4_000 * scale)
    Xd, _ = make_blobs(n_pd, 50, centers=10, random_state=0)
    for metric in ("euclidean", "cosine", "manhattan"):
        yield Workload(f"pairwise_distances({metric})", data=f"make_blobs {n_pd}x50", X=Xd,
                       op=None, check=_pairwise_check, impls={
                           "oxlearn": lambda m=metric: _Pairwise(ox_metrics.pairwise_distances, m),
                           "sklearn": lambda m=metric: _Pairwise(sk_pairwise_distances, m),
                           "intelex": ix_metrics and (
                               lambda m=metric: _Pairwise(ix_metrics.pairwise_distances, m)),
                       })

    nt = int(10_000 * scale)
    Xt, _ = make_blobs(nt, 50, centers=10, random_state=0)

    def tsne(module):
        return module and (lambda: module.TSNE(random_state=0))

    # Fit only: t-SNE has no transform. Barnes-Hut, scikit-learn's defaults
    # (perplexity 30: 91 neighbours, 1000 iterations).
    yield Workload("TSNE", data=f"make_blobs {nt}x50", X=Xt, op=None, impls={
        "oxlearn": tsne(ox_manifold), "sklearn": tsne(sk_manifold),
        "intelex": tsne(ix_manifold)}, check=_tsne_check(Xt))

    nf = int(50_000 * scale)
    Xf, yf = make_classification(nf + 10_000, 20, random_state=0)
    Xr, yr = make_regression(nf + 10_000, 20, noise=10.0, random_state=0)

    # n_jobs=2 as in the baseline (stock scikit-learn otherwise grows on one core).
    def forest(module, name):
        return module and (lambda: getattr(module, name)(n_estimators=50, n_jobs=2,
                                                          random_state=0))

    for name, (Xw, yw), check in [
        ("RandomForestClassifier", (Xf, yf), _forest_check(Xf[nf:], yf[nf:], 0.01)),
        ("RandomForestRegressor", (Xr, yr), _forest_check(Xr[nf:], yr[nf:], 0.02)),
        ("ExtraTreesClassifier", (Xf, yf), _forest_check(Xf[nf:], yf[nf:], 0.01)),
    ]:
        kind = "classification" if "Classifier" in name else "regression"
        yield Workload(f"{name}(50, n_jobs=2)", data=f"make_{kind} {nf}x20",
                       X=Xw[:nf], y=yw[:nf], Xp=Xw[nf:],
                       impls={"oxlearn": forest(oxe, name), "sklearn": forest(ske, name),
                              "intelex": forest(ixe, name)},
                       check=check)

    # Issue 14's SVM workloads: scikit-learn's defaults (rbf, gamma='scale',
    # C=1, tol=1e-3, cache_size=200), predict on the 10000 training rows.
    ns = int(10_000 * scale)
    Xs, ys = make_classification(ns, 20, random_state=0)
    X3, y3 = make_classification(ns, 20, n_informative=6, n_classes=3, random_state=0)
    Xv, yv = make_regression(ns, 20, noise=10.0, random_state=0)

    def svm(module, name):
        return module and (lambda: getattr(module, name)())

    for name, (Xw, yw), data in [
        ("SVC", (Xs, ys), f"make_classification {ns}x20"),
        ("NuSVC", (X3, y3), f"make_classification {ns}x20, 3 classes"),
        ("SVR", (Xv, yv), f"make_regression {ns}x20"),
    ]:
        yield Workload(name, data=data, X=Xw, y=yw, Xp=Xw,
                       impls={"oxlearn": svm(ox_svm, name), "sklearn": svm(sk_svm, name),
                              "intelex": svm(ix_svm, name)},
                       check=_svm_check(Xw))


def function_workloads(scale):
    """Accelerated functions: roc_auc_score (n = 1e7) and train_test_split (1e7 x 20)."""
    import sklearn.metrics as skm
    import sklearn.model_selection as sk_ms

    from oxlearn import model_selection as ox_ms

    try:
        from sklearnex import model_selection as ix_ms
    except ImportError:
        ix_ms = None
    n = int(10_000_000 * scale)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    score = rng.standard_normal(n) + y

    def auc(module):
        func = getattr(module, "roc_auc_score", None) if module is not None else None
        return func and (lambda: _Call(lambda s, t: func(t, s)))

    yield Workload("roc_auc_score", data=f"binary n={n}", X=score, y=y, op=None, impls={
        "oxlearn": auc(ox_metrics), "sklearn": auc(skm), "intelex": auc(ix_metrics),
    }, check=_auc_check)
    X = rng.standard_normal((n, 20))
    yield Workload("train_test_split", data=f"normal {n}x20 + y", X=X, y=y, op=None, impls={
        "oxlearn": _function(ox_ms, "train_test_split", random_state=0),
        "sklearn": _function(sk_ms, "train_test_split", random_state=0),
        "intelex": _function(ix_ms, "train_test_split", random_state=0),
    }, check=_split_check)


def _forest_check(Xp, yp, tol):
    """Held-out score (accuracy or R²) within ``tol`` of scikit-learn's."""
    def check(ox_model, sk_model):
        ox_s, sk_s = ox_model.score(Xp, yp), sk_model.score(Xp, yp)
        assert ox_s >= sk_s - tol, f"held-out score {ox_s:.4f} vs scikit-learn's {sk_s:.4f}"
    return check


def _tsne_check(X):
    """Embeddings are not comparable point-wise: the KL divergence within 5%
    of scikit-learn's, the trustworthiness (on 2000 rows: it sorts an n x n
    distance matrix) within 0.01."""
    from sklearn.manifold import trustworthiness

    def check(ox_model, sk_model):
        np.testing.assert_allclose(ox_model.kl_divergence_, sk_model.kl_divergence_, rtol=0.05)
        rows = slice(0, 2000)
        t_ox = trustworthiness(X[rows], ox_model.embedding_[rows], n_neighbors=5)
        t_sk = trustworthiness(X[rows], sk_model.embedding_[rows], n_neighbors=5)
        assert abs(t_ox - t_sk) <= 0.01, f"trustworthiness {t_ox:.4f} vs {t_sk:.4f}"
    return check


def _svm_check(Xp):
    """The same support vectors as scikit-learn's, predictions within the
    solver's tolerance (regression) or equal at all but a few borderline
    rows (classification)."""
    def check(ox_model, sk_model):
        np.testing.assert_array_equal(ox_model.support_, sk_model.support_)
        a, b = ox_model.predict(Xp), sk_model.predict(Xp)
        if hasattr(sk_model, "classes_"):
            assert np.mean(a != b) <= 1e-3, f"{np.mean(a != b):.4f} of predictions differ"
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())
    return check


def _lof_check(ox_model, sk_model):
    """oxlearn's outlier factors are scikit-learn's (continuous data: no ties)."""
    np.testing.assert_allclose(ox_model.negative_outlier_factor_,
                               sk_model.negative_outlier_factor_, rtol=1e-10)


def _knn_check(Xp):
    """oxlearn predicts what scikit-learn predicts (continuous data: no ties)."""
    def check(ox_model, sk_model):
        np.testing.assert_array_equal(ox_model.predict(Xp), sk_model.predict(Xp))
    return check


def intelex_version():
    """Installed scikit-learn-intelex version (its ``__version__`` is a placeholder)."""
    if sklearnex is None:
        return "not installed"
    from importlib.metadata import version

    return version("scikit-learn-intelex")


def describe_machine():
    """Return a short description of the machine and the libraries measured."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [
        f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs",
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, oxlearn {oxlearn.__version__}, "
        f"scikit-learn-intelex {intelex_version()}",
    ]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            lines.append(
                f"{info['internal_api']} {info.get('version')} "
                f"({info.get('architecture', '?')}), {info['num_threads']} threads"
            )
    except ImportError:
        pass
    return "\n".join(lines)


def main():
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement")
    parser.add_argument("--scale", type=float, default=1.0, help="scale the data sizes")
    parser.add_argument("--only", default="", help="regular expression: workloads to run")
    args = parser.parse_args()
    print(describe_machine())
    print(f"median of {args.repeat} runs, milliseconds; "
          "ratio = oxlearn / other (< 1: oxlearn faster)\n")
    header = (f"{'workload':<34}{'op':<10}{'oxlearn':>10}{'sklearn':>10}{'intelex':>10}"
              f"{'ox/sk':>8}{'ox/ix':>8}  data")
    print(header)
    print("-" * len(header))
    failures = []
    for w in chain(workloads(args.scale), function_workloads(args.scale)):
        if args.only and not re.search(args.only, w.name):
            continue
        fitted, times = {}, {"fit": {}, w.op: {}}
        for impl, factory in w.impls.items():
            if factory is None:
                continue

            def fit(f=factory, impl=impl, fitted=fitted, w=w):
                fitted[impl] = f().fit(w.X, w.y)

            times["fit"][impl] = median_time(fit, args.repeat)
            if w.op is not None:
                method = getattr(fitted[impl], w.op)
                times[w.op][impl] = median_time(lambda m=method, Xp=w.Xp: m(Xp), args.repeat)
        for op, t in times.items():
            if op is None:
                continue
            sk_r = t["oxlearn"] / t["sklearn"]
            ix_r = t["oxlearn"] / t["intelex"] if "intelex" in t else float("nan")
            ms = {k: v * 1e3 for k, v in t.items()}
            rows = f" ({len(w.Xp)} rows)" if op != "fit" else ""
            print(f"{w.name:<34}{op:<10}{ms['oxlearn']:>10.3f}{ms['sklearn']:>10.3f}"
                  f"{ms.get('intelex', float('nan')):>10.3f}{sk_r:>8.3f}{ix_r:>8.3f}"
                  f"  {w.data}{rows}", flush=True)
            if ix_r > 1.0:
                failures.append(f"{w.name} {op}")
        if w.check is not None:
            w.check(fitted["oxlearn"], fitted["sklearn"])
    print()
    print("slower than intelex: " + (", ".join(failures) if failures else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
