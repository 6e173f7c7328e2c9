"""Cost of array API dispatch: a 10-row predict on torch (or array-api-strict) input.

oxlearn computes on host copies of array API inputs (``oxlearn._array_api``):
each call converts X, the model's attributes and the output. This measures
that overhead: the median time of one call on 10 rows with numpy input (no
dispatch), against the same call under ``array_api_dispatch=True`` on a model
fitted on the namespace's arrays, on each device present (torch CPU, torch
CUDA, array-api-strict CPU). Also scikit-learn's own array API path where it
has one (Ridge, PCA, LogisticRegression). Target: under 50 µs of overhead on
torch CPU. Set ``SCIPY_ARRAY_API=1``; it is set here before scipy is imported.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import sklearn  # noqa: E402
from sklearn import decomposition as skd  # noqa: E402
from sklearn import linear_model as skl  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

from oxlearn import cluster as oxc  # noqa: E402
from oxlearn import decomposition as oxd  # noqa: E402
from oxlearn import linear_model as oxl  # noqa: E402
from oxlearn import neighbors as oxn  # noqa: E402

# (name, oxlearn class, scikit-learn class with array API support or None, method)
KINDS = [
    ("LinearRegression", oxl.LinearRegression, None, "predict"),
    ("Ridge", oxl.Ridge, skl.Ridge, "predict"),
    ("LogisticRegression", oxl.LogisticRegression, skl.LogisticRegression, "predict_proba"),
    ("PCA", oxd.PCA, skd.PCA, "transform"),
    ("KMeans", oxc.KMeans, None, "predict"),
    ("KNeighborsClassifier", oxn.KNeighborsClassifier, None, "predict"),
]


def _placements():
    out = []
    try:
        import torch

        out.append(("torch cpu", torch, torch.device("cpu")))
        if torch.cuda.is_available():
            out.append(("torch cuda", torch, torch.device("cuda")))
    except ImportError:
        pass
    try:
        import array_api_strict as xp

        out.append(("strict cpu", xp, xp.Device("CPU_DEVICE")))
    except ImportError:
        pass
    return out


def _median_call(fn, X, calls, repeats):
    """Median seconds of one ``fn(X)`` call."""
    fn(X)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn(X)
        times.append((time.perf_counter() - t) / calls)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    X, y = make_classification(n_samples=1000, n_features=20, random_state=0)
    X10 = X[:10]
    placements = _placements()
    print(f"{'estimator':22} {'numpy µs':>9} " + " ".join(
        f"{name + ' µs':>13} {'overhead':>9} {'sklearn µs':>10}" for name, _, _ in placements))
    for name, ox, sk, method in KINDS:
        est = ox().fit(X, y)
        base = _median_call(getattr(est, method), X10, args.calls, args.repeats)
        row = [f"{name:22} {base * 1e6:9.1f}"]
        for _, lib, device in placements:
            Xd, yd, X10d = (lib.asarray(a, device=device) for a in (X, y, X10))
            with sklearn.config_context(array_api_dispatch=True):
                m = ox().fit(Xd, yd)
                t = _median_call(getattr(m, method), X10d, args.calls, args.repeats)
                if sk is not None:
                    s = sk().fit(Xd, yd)
                    ts = _median_call(getattr(s, method), X10d, args.calls, args.repeats)
                    sk_col = f"{ts * 1e6:10.1f}"
                else:
                    sk_col = f"{'-':>10}"
            row.append(f"{t * 1e6:13.1f} {(t - base) * 1e6:9.1f} {sk_col}")
        print(" ".join(row))


if __name__ == "__main__":
    main()
