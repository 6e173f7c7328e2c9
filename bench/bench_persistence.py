"""Save/load times and file sizes of oxlearn's model file, pickle, joblib and skops.

Also memory-mapped loading for two model sizes 10x apart, and two realistic
pipelines (imputation, scaling and one-hot encoding of a mixed-type
DataFrame, then a logistic regression or a 100-tree forest).

Run with ``bash scripts/bench.sh --persistence`` (its environment has skops).
Times are medians of several runs; the page cache is warm (a server
reloading a model it just wrote), so this measures CPU cost, not disk.
"""

import argparse
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_regression

import oxlearn
from oxlearn.linear_model import IncrementalLinearRegression, LinearRegression

try:
    import skops.io as skio
except ImportError:
    skio = None


def median_time(fn, repeat):
    """Median wall time of ``fn()`` in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def models():
    """``(name, model, X)``: a small model and two big ones 10x apart in bytes."""
    X, y = make_regression(20_000, 50, random_state=0)
    yield "LinearRegression 50 features", LinearRegression().fit(X, y), X[:100]
    rng = np.random.default_rng(0)
    for p in (1000, 3163):
        # The incremental state holds a p x p float64 matrix: 8 MB and 80 MB.
        Xp = rng.standard_normal((p + 200, p))
        model = IncrementalLinearRegression(batch_size=4096).fit(Xp, Xp[:, 0] + 1.0)
        yield f"IncrementalLinearRegression {p} features", model, Xp[:100]
    from oxlearn.ensemble import RandomForestClassifier
    from oxlearn.tests.test_pipelines import mixed_frame, mixed_pipeline

    df, y = mixed_frame(20_000)
    yield "Pipeline mixed -> LogisticRegression", mixed_pipeline().fit(df, y), df[:100]
    forest = mixed_pipeline(RandomForestClassifier(100, max_depth=12, random_state=0))
    yield "Pipeline mixed -> RandomForest(100)", forest.fit(df, y), df[:100]


def methods(folder):
    """``{name: (save, load)}`` for every way to persist a model."""
    f = folder / "m"

    def pk_save(m):
        with open(f.with_suffix(".pkl"), "wb") as fh:
            pickle.dump(m, fh, protocol=5)

    def pk_load():
        with open(f.with_suffix(".pkl"), "rb") as fh:
            return pickle.load(fh)

    out = {
        "pickle": (pk_save, pk_load, f.with_suffix(".pkl")),
        "joblib": (lambda m: joblib.dump(m, f.with_suffix(".joblib")),
                   lambda: joblib.load(f.with_suffix(".joblib")), f.with_suffix(".joblib")),
        "joblib mmap": (lambda m: joblib.dump(m, f.with_suffix(".joblib")),
                        lambda: joblib.load(f.with_suffix(".joblib"), mmap_mode="r"),
                        f.with_suffix(".joblib")),
        "oxlearn": (lambda m: oxlearn.save(m, f.with_suffix(".oxl")),
                    lambda: oxlearn.load(f.with_suffix(".oxl")), f.with_suffix(".oxl")),
        "oxlearn mmap": (lambda m: oxlearn.save(m, f.with_suffix(".oxl")),
                         lambda: oxlearn.load(f.with_suffix(".oxl"), mmap=True),
                         f.with_suffix(".oxl")),
    }
    if skio is not None:
        path = f.with_suffix(".skops")
        out["skops"] = (lambda m: skio.dump(m, path),
                        lambda: skio.load(path, trusted=skio.get_untrusted_types(file=path)),
                        path)
    return out


def main():
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"oxlearn {oxlearn.__version__}; medians of {args.repeat} runs, milliseconds\n")
    print(f"{'model':<44}{'method':<14}{'save':>9}{'load':>9}{'load+predict':>14}{'bytes':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, X in models():
            expected = model.predict(X)
            for method, (save, load, path) in methods(Path(tmp)).items():
                t_save = median_time(lambda s=save, m=model: s(m), args.repeat)
                t_load = median_time(load, args.repeat)
                t_first = median_time(lambda lo=load, X=X: lo().predict(X), args.repeat)
                np.testing.assert_array_equal(load().predict(X), expected)
                print(f"{name:<44}{method:<14}{t_save:>9.2f}{t_load:>9.2f}{t_first:>14.2f}"
                      f"{os.path.getsize(path):>12}")
            print()


if __name__ == "__main__":
    main()
