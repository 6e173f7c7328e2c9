"""Checks of every ``oxlearn.spmd`` estimator, run under ``mpiexec -n N``.

One launch runs them all (an MPI start costs about a second). Rank 0
writes ``results.json`` (max relative differences from the single-process
fit on the concatenated rows, identity across ranks and across runs, the
errors of mismatched shards) and, per estimator, a pickle, a model file
and the predictions that ``test_spmd.py`` checks in a plain process.
"""

import json
import pickle
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import oxlearn
from oxlearn import basic_statistics as bs
from oxlearn import cluster as cl
from oxlearn import covariance as cov
from oxlearn import decomposition as dec
from oxlearn import ensemble as ens
from oxlearn import linear_model as lm
from oxlearn import neighbors as nb
from oxlearn import spmd

# Set by main(): importing this module (pytest's doctest collection) must
# not start MPI.
COMM, RANK, SIZE = None, 0, 1
N = 300


def bounds(n):
    """Unequal shards; with 3 ranks the first holds no row."""
    cuts = {1: [0, n], 2: [0, 2 * n // 5, n], 3: [0, 0, n // 4, n]}.get(SIZE)
    if cuts is None:
        cuts = np.linspace(0, n, SIZE + 1).astype(int).tolist()
    return cuts[RANK], cuts[RANK + 1]


def shard(*arrays):
    lo, hi = bounds(len(arrays[0]))
    return [a[lo:hi] for a in arrays]


def rel(a, b, scale=None):
    """Max difference relative to the largest magnitude of ``b`` (or ``scale``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not b.size:
        return 0.0
    if scale is None:
        scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b)) / scale)


def intercept_scale(ref, X):
    """The magnitude of the terms ``intercept = ȳ − coef·x̄`` is computed from.

    The intercept cancels them (here ~20 against 0.5), so its error is that
    of the coefficients times ``|x̄|``: measured against this scale, as the
    coefficients are against theirs.
    """
    coef = np.atleast_2d(ref.coef_)
    return float(np.max(np.abs(coef) @ np.abs(X.mean(axis=0)) + np.abs(ref.intercept_)))


def data(seed=0, n=N, p=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * [1.0, 2.0, 0.5, 3.0, 1.5][:p] + [5.0, -3.0, 0.0, 1.0, 2.0][:p]
    y = X @ np.arange(1.0, p + 1) + 0.5 + rng.normal(size=n)
    return X, y


def blobs(seed=1, n=N):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 7.0, 5.0]])
    labels = rng.integers(0, 3, size=n)
    return centres[labels] + rng.normal(scale=0.7, size=(n, 3)), labels


def public_attrs(model, per_rank=()):
    return {k: v for k, v in sorted(vars(model).items())
            if k.endswith("_") and not k.startswith("_") and k not in per_rank}


def same_on_every_rank(model, per_rank=()):
    blob = pickle.dumps(public_attrs(model, per_rank))
    return all(b == blob for b in COMM.allgather(blob))


def gathered(local):
    return np.concatenate(COMM.allgather(np.asarray(local)))


# --- the cases: (name, fit SPMD model, fit reference, compare, outputs) -------


def linear_case(cls, ref_cls, **params):
    X, y = data()
    Y = np.column_stack([y, -2 * y + X[:, 0]]) if params.pop("multi", False) else y

    def fit():
        return cls(**params).fit(*shard(X, Y))

    ref = ref_cls(**params).fit(X, Y)
    return fit, ref, ("coef_", "intercept_"), X


def incremental_linear_case():
    X, y = data()
    half = N // 2

    def fit():
        m = spmd.IncrementalLinearRegression()
        m.partial_fit(*shard(X[:half], y[:half]))
        return m.partial_fit(*shard(X[half:], y[half:]))

    ref = lm.IncrementalLinearRegression().partial_fit(X[:half], y[:half])
    ref.partial_fit(X[half:], y[half:])
    return fit, ref, ("coef_", "intercept_"), X


def logistic_case(binary, solver):
    X, labels = blobs()
    y = np.where(labels == 2, 0, labels) if binary else labels
    y = np.array(["a", "b", "c"])[y]
    ref = lm.LogisticRegression(solver=solver, C=0.5).fit(X, y)
    return (lambda: spmd.LogisticRegression(solver=solver, C=0.5).fit(*shard(X, y)),
            ref, ("coef_", "intercept_"), X)


def transform_case(cls, ref, attrs, **params):
    X, _ = data(3)
    return lambda: cls(**params).fit(*shard(X)), ref.fit(X), attrs, X


def incremental_case(cls, ref_cls, attrs, **params):
    X, _ = data(4)
    half = N // 2

    def fit():
        m = cls(**params)
        m.partial_fit(*shard(X[:half]))
        return m.partial_fit(*shard(X[half:]))

    ref = ref_cls(**params).partial_fit(X[:half]).partial_fit(X[half:])
    return fit, ref, attrs, X


STATS = tuple(o + "_" for o in bs._basic_statistics.OPTIONS)
PCA_ATTRS = ("components_", "explained_variance_", "explained_variance_ratio_",
             "singular_values_", "mean_", "noise_variance_")


def cases():
    X_km, _ = blobs(5)
    init = X_km[[0, 1, 2]]
    return {
        "LinearRegression": lambda: linear_case(spmd.LinearRegression, lm.LinearRegression),
        "Ridge": lambda: linear_case(spmd.Ridge, lm.Ridge, alpha=2.0, multi=True),
        "IncrementalLinearRegression": incremental_linear_case,
        "LogisticRegression": lambda: logistic_case(False, "lbfgs"),
        "LogisticRegression-binary-newton-cg": lambda: logistic_case(True, "newton-cg"),
        "PCA": lambda: transform_case(spmd.PCA, dec.PCA(n_components=3), PCA_ATTRS,
                                      n_components=3),
        "IncrementalPCA": lambda: incremental_case(
            spmd.IncrementalPCA, dec.IncrementalPCA,
            PCA_ATTRS[:4] + ("mean_", "var_")),
        "BasicStatistics": lambda: transform_case(spmd.BasicStatistics, bs.BasicStatistics(),
                                                  STATS),
        "IncrementalBasicStatistics": lambda: incremental_case(
            spmd.IncrementalBasicStatistics, bs.IncrementalBasicStatistics, STATS),
        "EmpiricalCovariance": lambda: transform_case(
            spmd.EmpiricalCovariance, cov.EmpiricalCovariance(store_precision=True),
            ("location_", "covariance_", "precision_"), store_precision=True),
        "IncrementalEmpiricalCovariance": lambda: incremental_case(
            spmd.IncrementalEmpiricalCovariance, cov.IncrementalEmpiricalCovariance,
            ("location_", "covariance_")),
        "KMeans": lambda: (lambda: spmd.KMeans(3, init=init, n_init=1).fit(*shard(X_km)),
                           cl.KMeans(3, init=init, n_init=1).fit(X_km),
                           ("cluster_centers_", "inertia_"), X_km),
        "KMeans-random": lambda: (
            lambda: spmd.KMeans(3, init="random", n_init=3, random_state=7).fit(*shard(X_km)),
            cl.KMeans(3, init="random", n_init=3, random_state=7).fit(X_km),
            ("cluster_centers_", "inertia_"), X_km),
        "KMeans-k-means++": lambda: (
            lambda: spmd.KMeans(3, n_init=2, random_state=3).fit(*shard(X_km)),
            cl.KMeans(3, n_init=2, random_state=3).fit(X_km),
            ("cluster_centers_", "inertia_"), X_km),
        "DBSCAN": lambda: (lambda: spmd.DBSCAN(eps=0.9, min_samples=4).fit(*shard(X_km)),
                           cl.DBSCAN(eps=0.9, min_samples=4).fit(X_km), (), X_km),
    }


PER_RANK = ("labels_",)


def outputs(model, X):
    for method in ("predict", "transform"):
        if hasattr(model, method):
            return getattr(model, method)(X)
    return None


def run_case(name, make, out):
    fit, ref, attrs, X = make()
    model = fit()
    diffs = {a: rel(getattr(model, a), getattr(ref, a),
                    intercept_scale(ref, X) if a == "intercept_" else None) for a in attrs}
    result = {"max_rel_diff": max(diffs.values(), default=0.0), "diffs": diffs}
    if hasattr(ref, "labels_"):
        # k-means keeps each rank's labels; DBSCAN's are of all rows.
        local = len(model.labels_) != N
        labels = gathered(model.labels_) if local else model.labels_
        result["labels_equal"] = bool(np.array_equal(labels, ref.labels_))
    result["same_on_every_rank"] = same_on_every_rank(model, PER_RANK)
    again = fit()
    result["bit_identical_rerun"] = (pickle.dumps(public_attrs(again, PER_RANK))
                                     == pickle.dumps(public_attrs(model, PER_RANK)))
    if RANK == 0:
        (out / f"{name}.pkl").write_bytes(pickle.dumps(model))
        oxlearn.save(model, out / f"{name}.oxl")
        np.save(out / f"{name}.X.npy", X)
        y = outputs(model, X)
        if y is not None:
            np.save(out / f"{name}.out.npy", y)
        result["local_class"] = f"{type(model.to_local()).__module__}." \
                                f"{type(model.to_local()).__name__}"
    return result


def neighbour_case(name, out):
    """Collective queries equal the single process's; pickles are detached."""
    X, labels = blobs(8)
    _, y = data(9)
    Q = blobs(10, n=40)[0]
    (Ql,) = shard(Q)
    spmd_cls, ref_cls, target, method = {
        "NearestNeighbors": (spmd.NearestNeighbors, nb.NearestNeighbors, None, None),
        "KNeighborsClassifier": (spmd.KNeighborsClassifier, nb.KNeighborsClassifier,
                                 np.array(["x", "y", "z"])[labels], "predict_proba"),
        "KNeighborsRegressor": (spmd.KNeighborsRegressor, nb.KNeighborsRegressor, y,
                                "predict"),
    }[name]
    params = {"n_neighbors": 4}
    if name == "KNeighborsRegressor":
        params["weights"] = "distance"
    args = (X,) if target is None else (X, target)
    ref = ref_cls(**params).fit(*args)
    model = spmd_cls(**params).fit(*shard(*args))
    dist, idx = model.kneighbors(Ql)
    ref_dist, ref_idx = ref.kneighbors(Q)
    result = {"indices_equal": bool(np.array_equal(gathered(idx), ref_idx)),
              "diffs": {"kneighbors": rel(gathered(dist), ref_dist)}}
    if method:
        result["diffs"][method] = rel(gathered(getattr(model, method)(Ql)),
                                      getattr(ref, method)(Q))
    if name == "KNeighborsClassifier":
        result["predict_equal"] = bool(np.array_equal(gathered(model.predict(Ql)),
                                                      ref.predict(Q)))
    result["max_rel_diff"] = max(result["diffs"].values())
    local = model.to_local()
    result["to_local_equal"] = bool(np.array_equal(local.kneighbors(Q)[1], ref_idx))
    result["local_class"] = f"{type(local).__module__}.{type(local).__name__}"
    result["same_on_every_rank"] = same_on_every_rank(local)
    try:
        oxlearn.save(model, out / f"{name}.oxl")
        result["save_error"] = None
    except TypeError as e:
        result["save_error"] = str(e)
    if RANK == 0:
        (out / f"{name}.pkl").write_bytes(pickle.dumps(model))
        (out / f"{name}-local.pkl").write_bytes(pickle.dumps(local))
        oxlearn.save(local, out / f"{name}-local.oxl")
        np.save(out / f"{name}-local.X.npy", Q)
        np.save(out / f"{name}-local.out.npy", outputs(local, Q) if target is not None
                else local.kneighbors(Q)[1])
    return result


def forest_case(name, out):
    """Accuracy (R²) within noise of the single-process forest on held-out rows."""
    if name == "RandomForestClassifier":
        X, target = blobs(11, n=600)
        target = target.copy()
        flip = np.random.default_rng(3).random(600) < 0.1  # label noise
        target[flip] = (target[flip] + 1) % 3
        spmd_cls, ref_cls = spmd.RandomForestClassifier, ens.RandomForestClassifier
    else:
        X, target = data(12, n=600)
        spmd_cls, ref_cls = spmd.RandomForestRegressor, ens.RandomForestRegressor
    train, test = slice(0, 450), slice(450, 600)
    params = {"n_estimators": 24, "random_state": 0, "max_depth": 8}
    ref = ref_cls(**params).fit(X[train], target[train])
    fit = lambda: spmd_cls(**params).fit(*shard(X[train], target[train]))  # noqa: E731
    model = fit()
    score, ref_score = model.score(X[test], target[test]), ref.score(X[test], target[test])
    again = fit()
    result = {"score": score, "ref_score": ref_score, "score_diff": abs(score - ref_score),
              "n_trees": len(model.estimators_), "max_rel_diff": None,
              "same_on_every_rank": same_on_every_rank(model),
              "bit_identical_rerun": bool(np.array_equal(again.predict(X), model.predict(X))),
              "local_class": f"{type(model.to_local()).__module__}."
                             f"{type(model.to_local()).__name__}"}
    if RANK == 0:
        (out / f"{name}.pkl").write_bytes(pickle.dumps(model))
        oxlearn.save(model, out / f"{name}.oxl")
        np.save(out / f"{name}.X.npy", X[test])
        np.save(out / f"{name}.out.npy", model.predict(X[test]))
    return result


def bad_shard_cases():
    """Each must fail on every rank with a clear error (no deadlock)."""
    X, y = data()
    Xl, yl = shard(X, y)
    Xb, lb = blobs()
    Xc, lc = shard(Xb, lb)
    last = RANK == SIZE - 1
    return {
        "features": lambda: spmd.LinearRegression().fit(
            np.hstack([Xl, Xl[:, :1]]) if last else Xl, yl),
        "dtype": lambda: spmd.PCA().fit(Xl.astype(np.float32) if last else Xl),
        "classes": lambda: spmd.LogisticRegression().fit(
            Xc, np.where(lc == 2, 9, lc) if last else lc),
        "nan": lambda: spmd.KMeans(2, init=Xb[:2]).fit(
            np.where(np.arange(len(Xc))[:, None] == 0, np.nan, Xc) if last else Xc),
    }


def main(out):
    global COMM, RANK, SIZE
    from mpi4py import MPI

    COMM = MPI.COMM_WORLD
    RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
    out = Path(out)
    results, errors = {}, {}
    start = time.perf_counter()
    for name, make in cases().items():
        try:
            results[name] = run_case(name, make, out)
        except Exception:  # noqa: BLE001 - reported to the test
            results[name] = {"error": traceback.format_exc()}
    for name in ("NearestNeighbors", "KNeighborsClassifier", "KNeighborsRegressor",
                 "RandomForestClassifier", "RandomForestRegressor"):
        try:
            case = forest_case if name.startswith("RandomForest") else neighbour_case
            results[name] = case(name, out)
        except Exception:  # noqa: BLE001 - reported to the test
            results[name] = {"error": traceback.format_exc()}
    for name, bad in bad_shard_cases().items():
        try:
            bad()
            msg = None
        except Exception as e:  # noqa: BLE001 - what the test checks
            msg = f"{type(e).__name__}: {e}"
        errors[name] = COMM.allgather(msg)
    elapsed = time.perf_counter() - start
    if RANK == 0:
        (out / "results.json").write_text(json.dumps(
            {"ranks": SIZE, "results": results, "bad_shards": errors, "seconds": elapsed},
            indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
