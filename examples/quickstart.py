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

    pipeline_example(args.cli)

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


PIPELINE_LOADER = """
import sys
import numpy as np, pandas as pd, oxlearn
model = oxlearn.load(sys.argv[1])  # no code from the file runs
np.save(sys.argv[3], model.predict(pd.read_csv(sys.argv[2])))
print(f"    {'oxlearn.load':<12} {type(model).__module__}.{type(model).__name__} of "
      f"{[type(s).__name__ for _, s in model.steps]}")
"""


def pipeline_example(cli):
    """Save a whole pipeline in the safe format and serve it.

    Imputation, scaling, one-hot strings and a classifier: loaded in a fresh
    process, and served by the binary from a CSV file with named columns.
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from oxlearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = 5000
    df = pd.DataFrame({
        "age": rng.normal(40, 12, n).round(1),
        "income": rng.lognormal(10, 1, n).round(2),
        "city": rng.choice(["paris", "rome", "oslo", "lima"], n),
        "plan": rng.choice(["basic", "pro"], n),
    })
    df.loc[::13, "age"] = np.nan
    y = ((df["age"].fillna(40) > 40) ^ (df["plan"] == "pro")).astype(int)
    model = make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             ["city", "plan"]),
        ]),
        LogisticRegression(max_iter=1000),
    ).fit(df, y)
    expected = model.predict(df)
    print("Pipeline(ColumnTransformer(SimpleImputer, StandardScaler, OneHotEncoder), "
          "LogisticRegression): saved whole")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        df.to_csv(tmp / "X.csv", index=False)
        oxlearn.save(model, tmp / "pipeline.oxl")
        subprocess.run([sys.executable, "-c", PIPELINE_LOADER, str(tmp / "pipeline.oxl"),
                        str(tmp / "X.csv"), str(tmp / "pred.npy")], check=True)
        np.testing.assert_array_equal(np.load(tmp / "pred.npy"), expected)
        print(f"    {'fresh process':<12} pipeline.oxl ({(tmp / 'pipeline.oxl').stat().st_size}"
              " bytes): bit-identical predictions")
        if cli:
            subprocess.run([cli, "predict", str(tmp / "pipeline.oxl"), "--input",
                            str(tmp / "X.csv"), "--output", str(tmp / "cli.npy")], check=True)
            np.testing.assert_array_equal(np.load(tmp / "cli.npy"), expected)
            print(f"    {'oxlearn CLI':<12} predict from X.csv (named columns, strings, "
                  "missing values) without Python: bit-identical")


if __name__ == "__main__":
    main()
