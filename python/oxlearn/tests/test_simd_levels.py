"""Predictions are bit-identical at every SIMD level (``OXLEARN_SIMD``).

Every kind is fitted once, in float64 and float32, and saved; a fresh process
per level the CPU supports loads each model and records every prediction
method's output on C-ordered, Fortran-ordered and non-contiguous input of
both dtypes, and the binary predicts the same files. All must agree to the
bit.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone

import oxlearn
from oxlearn import _core
from oxlearn.tests.test_hostile_files import MODELS, _fit
from oxlearn.tests.test_model_file import cli

LEVELS = ["portable", "avx2", "avx512"]
SUPPORTED = LEVELS[: LEVELS.index(_core.simd_level()) + 1] if "OXLEARN_SIMD" not in os.environ \
    else None

# Kinds whose fits use faer's dense kernels (GEMM, Cholesky, SVD, eigen).
FAER_FITS = {"LinearRegression", "Ridge", "IncrementalLinearRegression", "IncrementalRidge",
             "LogisticRegression", "EmpiricalCovariance", "IncrementalEmpiricalCovariance",
             "PCA", "IncrementalPCA"}

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform",
           "score_samples", "mahalanobis", "kneighbors", "apply")

RECORD = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    import oxlearn
    from oxlearn import _core
    from sklearn.metrics import pairwise_distances
    warnings.simplefilter("ignore")
    out = {"level": np.array(_core.simd_level())}
    X = np.load(sys.argv[2])
    variants = {}
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        variants[f"{np.dtype(dtype).name}-C"] = np.ascontiguousarray(Xd)
        variants[f"{np.dtype(dtype).name}-F"] = np.asfortranarray(Xd)
        wide = np.repeat(Xd, 2, axis=1)
        variants[f"{np.dtype(dtype).name}-strided"] = wide[:, ::2]
    for path in sys.argv[3:]:
        model = oxlearn.load(path)
        for method in sys.argv[1].split(","):
            if not hasattr(model, method):
                continue
            for name, Xv in variants.items():
                got = getattr(model, method)(Xv)
                got = got if isinstance(got, tuple) else (got,)
                for i, g in enumerate(got):
                    out[f"{path}|{method}|{name}|{i}"] = np.asarray(g)
    for metric in ("euclidean", "manhattan", "chebyshev", "minkowski", "cosine"):
        for name, Xv in variants.items():
            kw = {"p": 3} if metric == "minkowski" else {}
            out[f"pairwise|{metric}|{name}"] = oxlearn.metrics.pairwise_distances(
                Xv, Xv[:7], metric=metric, **kw)
    # Fits too: every fitted array of every kind.
    from oxlearn.tests.test_hostile_files import MODELS, _fit
    for est in MODELS:
        model = _fit(est)[0]
        state = model.__getstate__()
        for name, arr in state["arrays"].items():
            out[f"fit|{type(est).__name__}|{name}"] = arr
    np.savez(sys.argv[2] + "." + str(out["level"]) + ".npz", **out)
    """
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("simd")
    paths = []
    for est in MODELS:
        model, X, _ = _fit(est)
        for dtype in (np.float64, np.float32):
            fitted = model if dtype == np.float64 else clone(est).fit(
                X.astype(dtype), _fit(est)[2])
            path = tmp / f"{type(est).__name__}-{np.dtype(dtype).name}.oxl"
            oxlearn.save(fitted, path)
            paths.append(path)
    np.save(tmp / "X.npy", X[:40])
    return tmp, paths


@pytest.mark.skipif(SUPPORTED is None, reason="OXLEARN_SIMD is forced for this whole run")
def test_every_prediction_is_bit_identical_at_every_simd_level(saved):
    tmp, paths = saved
    assert len(SUPPORTED) >= 2, "this machine has only the portable level to compare"
    results = {}
    for level in SUPPORTED:
        env = dict(os.environ, OXLEARN_SIMD=level)
        run = subprocess.run([sys.executable, "-c", RECORD, ",".join(METHODS),
                              str(tmp / "X.npy"), *map(str, paths)],
                             env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        with np.load(f"{tmp / 'X.npy'}.{level}.npz") as f:
            results[level] = {k: f[k] for k in f.files}
        assert str(results[level]["level"]) == level
    base = results[SUPPORTED[0]]
    assert len(base) > 400  # every kind, method, dtype and layout
    kinds = {k.split("|")[0] for k in base if k.endswith(".oxl") or ".oxl|" in k}
    predicting = [m for m in MODELS if any(hasattr(m, method) for method in METHODS)]
    assert len(predicting) == len(MODELS) - 4  # not BasicStatistics (x2), DBSCAN, TSNE
    assert len(kinds) == 2 * len(predicting)
    differing_fits = set()
    for level in SUPPORTED[1:]:
        other = results[level]
        assert other.keys() == base.keys()
        for key in base:
            if key.startswith("fit|"):
                if not np.array_equal(other[key], base[key], equal_nan=True):
                    differing_fits.add(key.split("|")[1])
            elif key != "level":
                assert_array_equal(other[key], base[key], err_msg=f"{level}: {key}")
    # Fits run oxlearn's kernels (forced) and faer's (which choose their own
    # level): only those through faer's dense kernels may differ, and only
    # in the last bits (README, "Reproducibility").
    assert differing_fits <= FAER_FITS, differing_fits - FAER_FITS


@pytest.mark.skipif(SUPPORTED is None, reason="OXLEARN_SIMD is forced for this whole run")
def test_the_binary_predicts_bit_identically_at_every_simd_level(saved):
    tmp, paths = saved
    outputs = {}
    for level in SUPPORTED:
        env = dict(os.environ, OXLEARN_SIMD=level)
        # The binary runs at the forced level (it says which).
        version = subprocess.run([cli(), "--version"], env=env, capture_output=True, text=True,
                                 timeout=60)
        assert f"SIMD level {level})" in version.stdout, version
        for path in paths:
            out = tmp / f"{path.stem}.{level}.npy"
            run = subprocess.run([cli(), "predict", str(path), "--input", str(tmp / "X.npy"),
                                  "--output", str(out)], env=env, capture_output=True,
                                 text=True, timeout=120)
            if run.returncode == 0:
                outputs.setdefault(path.stem, {})[level] = np.load(out)
    served = [name for name, by_level in outputs.items() if len(by_level) == len(SUPPORTED)]
    assert len(served) >= 20, sorted(outputs)
    for name in served:
        for level in SUPPORTED[1:]:
            assert_array_equal(outputs[name][level], outputs[name][SUPPORTED[0]],
                               err_msg=f"{name} at {level}")


def test_the_binary_refuses_a_level_the_cpu_lacks_or_an_unknown_one(tmp_path):
    levels = ["sse9"] + LEVELS[LEVELS.index(_core.simd_level()) + 1:]
    for level in levels:
        env = dict(os.environ, OXLEARN_SIMD=level)
        run = subprocess.run([cli(), "predict", str(tmp_path / "m.oxl"), "--input",
                              str(tmp_path / "X.npy"), "--output", str(tmp_path / "y.npy")],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run
        assert "OXLEARN_SIMD" in run.stderr and not (tmp_path / "y.npy").exists()


def test_a_level_the_cpu_lacks_or_an_unknown_one_is_refused_at_import():
    env = dict(os.environ, OXLEARN_SIMD="sse9")
    run = subprocess.run([sys.executable, "-c", "import oxlearn"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "OXLEARN_SIMD=\"sse9\" is not a SIMD level" in run.stderr
