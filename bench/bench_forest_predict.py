"""Forest prediction on large batches, against scikit-learn and intelex.

The main benchmark predicts 10,000 rows, which hides how prediction scales
with the batch (issue 18 item 4). This one fits a RandomForestClassifier and
a RandomForestRegressor (100 trees, fully grown, on 50,000 x 40 rows) with
oxlearn, converts them with ``to_sklearn()`` so that stock scikit-learn
predicts with the very same trees, and times ``predict_proba`` / ``predict``
on batches of 10k, 300k and 1M rows (new rows of the same distribution).
scikit-learn-intelex, when importable, fits its own forest on the same data
with the same parameters (it cannot predict with other trees).

The implementations take turns within each repetition (the machine may be
shared and noisy: all of them see the same load) and the table shows median
times and the ratios oxlearn / other (below 1.0: oxlearn is faster). Run it
after ``maturin develop --release``, as
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_forest_predict.py``
(about four minutes on two cores; ``--sizes 10000 300000`` for less).
"""

import argparse
import os
import statistics
import time

import numpy as np
from sklearn.datasets import make_classification, make_regression

from oxlearn import ensemble as oxe

try:
    from sklearnex import ensemble as ixe
except ImportError:  # the table still prints, without the intelex column
    ixe = None

N_FIT = 50_000
N_FEATURES = 40


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 300_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per cell (median)")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--n-jobs", type=int, default=None,
                    help="n_jobs of every forest (default None: all cores)")
    args = ap.parse_args()
    n_pred = max(args.sizes)
    print(f"{os.cpu_count()} logical CPUs; fit on {N_FIT}x{N_FEATURES}, {args.trees} trees, "
          f"n_jobs={args.n_jobs}; medians of {args.repeat} runs, seconds; "
          f"intelex {'measured' if ixe else 'not importable'}")
    header = (f"{'workload':34} {'rows':>8} {'oxlearn':>8} {'sklearn':>8} {'intelex':>8} "
              f"{'ox/sk':>6} {'ox/ix':>6}")
    print(header)
    print("-" * len(header))
    for name, make, op in [
        ("RandomForestClassifier", make_classification, "predict_proba"),
        ("RandomForestRegressor", make_regression, "predict"),
    ]:
        X, y = make(N_FIT + n_pred, N_FEATURES, random_state=0)
        Xf, yf, Xp = X[:N_FIT], y[:N_FIT], X[N_FIT:]
        params = dict(n_estimators=args.trees, n_jobs=args.n_jobs, random_state=0)
        ox = getattr(oxe, name)(**params).fit(Xf, yf)
        impls = {"oxlearn": ox, "sklearn": ox.to_sklearn()}
        if ixe is not None:
            impls["intelex"] = getattr(ixe, name)(**params).fit(Xf, yf)
        for n in sorted(args.sizes):
            Xn = Xp[:n]
            ref = getattr(ox, op)(Xn)
            # Same trees: equal up to the last bit of the mean (README).
            np.testing.assert_allclose(getattr(impls["sklearn"], op)(Xn), ref, rtol=1e-12)
            times = {k: [] for k in impls}
            for m in impls.values():  # warm-up
                getattr(m, op)(Xn[:1000])
            for _ in range(args.repeat):
                for k, m in impls.items():
                    f = getattr(m, op)
                    times[k].append(timed(lambda f=f, Z=Xn: f(Z)))
            med = {k: statistics.median(v) for k, v in times.items()}
            ix = med.get("intelex")
            print(f"{name + '.' + op:34} {n:>8} {med['oxlearn']:8.3f} {med['sklearn']:8.3f} "
                  f"{ix if ix is not None else float('nan'):8.3f} "
                  f"{med['oxlearn'] / med['sklearn']:6.2f} "
                  f"{med['oxlearn'] / ix if ix else float('nan'):6.2f}", flush=True)


if __name__ == "__main__":
    main()
