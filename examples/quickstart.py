"""oxlearn quickstart.

Fit, save every supported way, load in a fresh process, compare predictions,
and time oxlearn against stock scikit-learn.

Run by ``bash scripts/main.sh`` (after a release build).
"""

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cloudpickle
import joblib
import numpy as np
from sklearn import linear_model as sk
from sklearn.datasets import make_regression

import oxlearn
from oxlearn.linear_model import IncrementalLinearRegression, LinearRegression, Ridge

LOADER = """
import pickle, sys
import cloudpickle, joblib, numpy as np
how, path, X_path, out = sys.argv[1:]
if how == "pickle":
    model = pickle.load(open(path, "rb"))
elif how == "cloudpickle":
    model = cloudpickle.load(open(path, "rb"))
elif how == "joblib":
    model = joblib.load(path)
else:
    model = joblib.load(path, mmap_mode="r")
np.save(out, model.predict(np.load(X_path)))
print(f"    {how:<12} {type(model).__module__}.{type(model).__name__}")
"""


def save_all(model, folder):
    """Save ``model`` with every supported serializer; return ``{how: path}``."""
    paths = {}
    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    paths["pickle"] = folder / "model.pkl"
    with open(folder / "model.cloudpickle", "wb") as f:
        cloudpickle.dump(model, f)
    paths["cloudpickle"] = folder / "model.cloudpickle"
    joblib.dump(model, folder / "model.joblib")
    paths["joblib"] = paths["joblib-mmap"] = folder / "model.joblib"
    return paths


def best_of(fn, repeat=5):
    """Median wall time of ``fn()`` over ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    """Run the quickstart."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cli", help="path of the oxlearn binary")
    args = parser.parse_args()
    print(f"oxlearn {oxlearn.__version__}")

    X, y = make_regression(20_000, 30, noise=1.0, random_state=0)
    models = {
        "LinearRegression": LinearRegression().fit(X, y),
        "Ridge": Ridge(alpha=1.0).fit(X, y),
        "IncrementalLinearRegression": IncrementalLinearRegression(batch_size=2000).fit(X, y),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "X.npy", X)
        for name, model in models.items():
            print(f"{name}: saved and reloaded in a fresh process")
            expected = model.predict(X)
            folder = tmp / name
            folder.mkdir()
            for how, path in save_all(model, folder).items():
                out = folder / f"pred-{how}.npy"
                subprocess.run(
                    [sys.executable, "-c", LOADER, how, str(path), str(tmp / "X.npy"), str(out)],
                    check=True,
                )
                np.testing.assert_array_equal(np.load(out), expected)
            oxlearn.save(model, folder / "model.oxl")
            for mmap in (False, True):
                reloaded = oxlearn.load(folder / "model.oxl", mmap=mmap)
                np.testing.assert_array_equal(reloaded.predict(X), expected)
            print(f"    {'oxlearn.save':<12} {folder.name}/model.oxl "
                  f"({(folder / 'model.oxl').stat().st_size} bytes), loaded with and without mmap")
            if args.cli:
                out = folder / "cli.npy"
                subprocess.run([args.cli, "predict", str(folder / "model.oxl"), "--input",
                                str(tmp / "X.npy"), "--output", str(out)], check=True)
                np.testing.assert_array_equal(np.load(out), expected)
                print(f"    {'oxlearn CLI':<12} predict without Python: bit-identical")
        print("all predictions after loading are bit-identical")
        if args.cli:
            subprocess.run([args.cli, "inspect", str(tmp / "Ridge" / "model.oxl")], check=True)

    print("\nfit/predict time, median of 5, make_regression(200000, 50) float64")
    Xb, yb = make_regression(200_000, 50, noise=1.0, random_state=1)
    print(f"{'estimator':<18}{'sklearn fit':>12}{'oxlearn fit':>12}{'speed-up':>10}"
          f"{'sklearn pred':>14}{'oxlearn pred':>14}")
    for name, ours, ref in [("LinearRegression", LinearRegression(), sk.LinearRegression()),
                            ("Ridge", Ridge(), sk.Ridge())]:
        t_ref = best_of(lambda ref=ref: ref.fit(Xb, yb))
        t_ours = best_of(lambda ours=ours: ours.fit(Xb, yb))
        p_ref = best_of(lambda ref=ref: ref.predict(Xb[:10_000]))
        p_ours = best_of(lambda ours=ours: ours.predict(Xb[:10_000]))
        print(f"{name:<18}{t_ref:>11.4f}s{t_ours:>11.4f}s{t_ref / t_ours:>9.1f}x"
              f"{p_ref:>13.5f}s{p_ours:>13.5f}s")


if __name__ == "__main__":
    main()
