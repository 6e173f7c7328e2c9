"""Per-call cost: a 10-row predict of every kind, against scikit-learn and intelex.

Small-batch serving lives on this path, where oxlearn's input checks and
thread hand-off matter more than its kernels. Each model is fitted on
1,000 x 20 rows; the table shows the median time of one call on 10 rows (many
calls per measurement) and the ratios oxlearn / other (below 1.0: oxlearn is
faster). scikit-learn-intelex is measured when it is importable. Run it after
``maturin develop --release``; ``--n-jobs 2`` measures the pooled path.
"""

import argparse
import statistics
import time

import numpy as np
from sklearn import cluster as skc
from sklearn import decomposition as skd
from sklearn import ensemble as ske
from sklearn import linear_model as skl
from sklearn import neighbors as skn
from sklearn.datasets import make_classification

from oxlearn import cluster as oxc
from oxlearn import decomposition as oxd
from oxlearn import ensemble as oxe
from oxlearn import linear_model as oxl
from oxlearn import neighbors as oxn

try:
    from sklearnex import cluster as ixc
    from sklearnex import decomposition as ixd
    from sklearnex import ensemble as ixe
    from sklearnex import linear_model as ixl
    from sklearnex import neighbors as ixn
except ImportError:  # the table still prints, without the intelex column
    ixc = ixd = ixe = ixl = ixn = None

# (name, method timed, class name, module, whether it takes n_jobs).
KINDS = [
    ("LinearRegression", "predict", "LinearRegression", "linear", True),
    ("Ridge", "predict", "Ridge", "linear", False),
    ("LogisticRegression", "predict_proba", "LogisticRegression", "linear", False),
    ("PCA", "transform", "PCA", "decomposition", False),
    ("IncrementalPCA", "transform", "IncrementalPCA", "decomposition", False),
    ("KMeans", "predict", "KMeans", "cluster", False),
    ("KNeighborsClassifier", "predict", "KNeighborsClassifier", "neighbors", True),
    ("KNeighborsRegressor", "predict", "KNeighborsRegressor", "neighbors", True),
    ("LocalOutlierFactor", "score_samples", "LocalOutlierFactor", "neighbors", True),
    ("NearestNeighbors", "kneighbors", "NearestNeighbors", "neighbors", True),
    ("RandomForestClassifier", "predict_proba", "RandomForestClassifier", "ensemble", True),
    ("RandomForestRegressor", "predict", "RandomForestRegressor", "ensemble", True),
    ("ExtraTreesClassifier", "predict_proba", "ExtraTreesClassifier", "ensemble", True),
]
MODULES = {
    "oxlearn": {"linear": oxl, "decomposition": oxd, "cluster": oxc, "neighbors": oxn,
                "ensemble": oxe},
    "sklearn": {"linear": skl, "decomposition": skd, "cluster": skc, "neighbors": skn,
                "ensemble": ske},
    "intelex": {"linear": ixl, "decomposition": ixd, "cluster": ixc, "neighbors": ixn,
                "ensemble": ixe},
}
PARAMS = {
    "PCA": {"n_components": 5}, "IncrementalPCA": {"n_components": 5},
    "KMeans": {"n_clusters": 8, "n_init": 1, "random_state": 0},
    "LocalOutlierFactor": {"novelty": True},
    "RandomForestClassifier": {"n_estimators": 100, "random_state": 0},
    "RandomForestRegressor": {"n_estimators": 100, "random_state": 0},
    "ExtraTreesClassifier": {"n_estimators": 100, "random_state": 0},
}


def per_call(fn, calls, repeat):
    """Median over ``repeat`` measurements of the mean time of ``calls`` calls."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t) / calls)
    return statistics.median(times)


def main():
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10, help="rows per call (default 10)")
    parser.add_argument("--n-jobs", type=int, default=None, help="n_jobs of every estimator")
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement")
    parser.add_argument("--repeat", type=int, default=7, help="measurements (median)")
    args = parser.parse_args()
    X, y = make_classification(1000, 20, n_informative=8, random_state=0)
    Xs = np.ascontiguousarray(X[: args.rows])
    print(f"{args.rows}-row call, n_jobs={args.n_jobs}: median µs per call; "
          "ratio = oxlearn / other")
    print(f"{'estimator':24} {'method':14} {'oxlearn':>9} {'sklearn':>9} {'intelex':>9} "
          f"{'ox/sk':>7} {'ox/ix':>7}")
    for name, method, cls, module, takes_n_jobs in KINDS:
        row = {}
        for impl, mods in MODULES.items():
            if mods[module] is None or not hasattr(mods[module], cls):
                continue
            params = dict(PARAMS.get(name, {}))
            if takes_n_jobs:
                params["n_jobs"] = args.n_jobs
            model = getattr(mods[module], cls)(**params).fit(X, y)
            call = getattr(model, method)
            row[impl] = per_call(lambda c=call: c(Xs), args.calls, args.repeat) * 1e6
        ox, sk, ix = row.get("oxlearn"), row.get("sklearn"), row.get("intelex")
        fmt = lambda v: f"{v:9.1f}" if v is not None else f"{'-':>9}"  # noqa: E731
        ratio = lambda a, b: f"{a / b:7.2f}" if a and b else f"{'-':>7}"  # noqa: E731
        print(f"{name:24} {method:14} {fmt(ox)} {fmt(sk)} {fmt(ix)} {ratio(ox, sk)} "
              f"{ratio(ox, ix)}")


if __name__ == "__main__":
    main()
