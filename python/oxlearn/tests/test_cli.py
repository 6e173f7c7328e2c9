"""The ``oxlearn`` binary answers as Python does (issues 17, 18, 20).

Every kind predicts the same values, and refuses the same input with the
same message, in the binary and in Python: finite input, NaN (forests route
it as scikit-learn does), infinity, 0 rows, integer and boolean ``.npy``,
CSV with and without a header of feature names. Also: help for every
subcommand, foreign files named, forged header strings escaped.
"""

import os
import subprocess

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import oxlearn
from oxlearn.exceptions import ModelFileCorruptError
from oxlearn.linear_model import LogisticRegression
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from oxlearn.tests.test_hostile_files import MODELS, _fit, _forge, _read
from oxlearn.tests.test_model_file import cli

SERVED = [m for m in MODELS if hasattr(m, "predict") or hasattr(m, "transform")]


def _run(*args, env=None):
    return subprocess.run([cli(), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def _predict_cli(model_path, X_path, tmp_path, ext="npy"):
    out = tmp_path / f"y.{ext}"
    if out.exists():
        out.unlink()
    run = _run("predict", model_path, "--input", X_path, "--output", out)
    return run, (np.load(out) if run.returncode == 0 and ext == "npy" else None)


def _python(model, X):
    """What Python answers: ``(prediction, None)`` or ``(None, message)``."""
    method = model.predict if hasattr(model, "predict") else model.transform
    try:
        return method(X), None
    except ValueError as e:
        return None, str(e)


def _same_answer(model, X, path, tmp_path):
    """The binary's answer to ``X`` equals Python's, value or message."""
    np.save(tmp_path / "X.npy", X)
    expected, message = _python(model, X)
    run, got = _predict_cli(path, tmp_path / "X.npy", tmp_path)
    if message is None:
        assert run.returncode == 0, run.stderr
        assert got.dtype == np.asarray(expected).dtype
        assert_array_equal(got, expected)
    else:
        assert run.returncode == 1
        assert message in run.stderr, (message, run.stderr)
    return message


@pytest.mark.parametrize("est", SERVED, ids=lambda e: type(e).__name__)
def test_the_binary_answers_as_python_on_finite_nan_and_infinite_input(est, tmp_path):
    model, X, _ = _fit(est)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    if _run("inspect", path).returncode != 0:
        # Served by scikit-learn's implementation in Python (metric_params):
        # the binary says so rather than approximating it.
        assert "does not serve" in _run("inspect", path).stdout
        return
    rng = np.random.default_rng(0)
    assert _same_answer(model, X, path, tmp_path) is None
    # 1e300 overflows squared distances: no panic, the same neighbours.
    big = X.copy()
    big[3, 0] = 1e300
    assert _same_answer(model, big, path, tmp_path) is None
    nan = X.copy()
    nan[rng.random(X.shape) < 0.2] = np.nan
    nan_message = _same_answer(model, nan, path, tmp_path)
    is_forest = type(est).__name__.startswith(("RandomForest", "ExtraTrees"))
    assert (nan_message is None) == is_forest, nan_message
    if nan_message is not None:
        assert "contains NaN" in nan_message and "before fitting" not in nan_message
        if nan_message.startswith("Input X"):  # scikit-learn's advice is kept
            assert "imputer" in nan_message and "HistGradientBoosting" in nan_message
    inf = X.copy()
    inf[5, 1] = -np.inf
    assert "contains infinity" in _same_answer(model, inf, path, tmp_path)
    empty_message = _same_answer(model, X[:0], path, tmp_path)
    assert "0 sample(s)" in empty_message


def test_forest_nan_routing_follows_stored_missing_go_to_left(tmp_path):
    # Trees grown by scikit-learn on missing values store the routing.
    from oxlearn.ensemble import RandomForestClassifier

    model, X, y = _fit(RandomForestClassifier(5, random_state=0))
    X = X.copy()
    X[np.random.default_rng(1).random(X.shape) < 0.2] = np.nan
    model = RandomForestClassifier(5, random_state=0).fit(X, y)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    header, arrays = _read(path)
    assert "missing_go_to_left" in dict(arrays)
    assert _same_answer(model, X, path, tmp_path) is None


def test_int_and_bool_npy_are_accepted_as_python_accepts_them(tmp_path):
    for est in (MODELS[0], KNeighborsClassifier()):
        model, X, _ = _fit(est)
        path = tmp_path / "m.oxl"
        oxlearn.save(model, path)
        for Xi in (np.round(X).astype(np.int64), np.round(X).astype(np.int32), X > 0):
            assert _same_answer(model, Xi, path, tmp_path) is None


# --- CSV --------------------------------------------------------------------


@pytest.fixture
def named(tmp_path):
    """LogisticRegression fitted on a DataFrame with columns f0..f5."""
    _, X, y = _fit(LogisticRegression())
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    model = LogisticRegression().fit(df, y)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    return model, df, path


def test_csv_header_names_are_checked_as_scikit_learn_does(named, tmp_path):
    model, df, path = named
    df.to_csv(tmp_path / "X.csv", index=False)
    run, _ = _predict_cli(path, tmp_path / "X.csv", tmp_path, "csv")
    assert run.returncode == 0, run.stderr
    got = np.loadtxt(tmp_path / "y.csv", dtype=np.int64)
    assert_array_equal(got, model.predict(df))
    for bad, why in ((df[df.columns[::-1]], "must be in the same order"),
                     (df.rename(columns={"f5": "g5"}), "unseen at fit time:\n- g5")):
        with pytest.raises(ValueError, match=why) as python:
            model.predict(bad)
        bad.to_csv(tmp_path / "X.csv", index=False)
        run, _ = _predict_cli(path, tmp_path / "X.csv", tmp_path, "csv")
        assert run.returncode == 1
        assert str(python.value) in run.stderr
        assert not (tmp_path / "y.csv").exists()


def test_csv_without_header_takes_columns_by_position(named, tmp_path):
    model, df, path = named
    np.savetxt(tmp_path / "X.csv", df.to_numpy(), delimiter=",")
    run, _ = _predict_cli(path, tmp_path / "X.csv", tmp_path, "csv")
    assert run.returncode == 0, run.stderr
    with pytest.warns(UserWarning, match="X does not have valid feature names") as w:
        expected = model.predict(df.to_numpy())
    assert str(w[0].message) in run.stderr
    assert_array_equal(np.loadtxt(tmp_path / "y.csv", dtype=np.int64), expected)


@pytest.mark.parametrize("text, match", [
    ("f0,1,2,3,4,5\n1,2,3,4,5,6\n", 'line 1, column 1: "f0" is not a number; a header'),
    ("1,2,3,4,5,6\n1,2,x,4,5,6\n", 'line 2, column 3: "x" is not a number'),
    ("f0;f1;f2;f3;f4;f5\n1;2;3;4;5;6\n", "line 1 is separated by ';'"),
    ("1;2;3;4;5;6\n", "separated by ';'"),
    ("f0,f1,f2,f3,f4,f5\n", "Found array with 0 sample(s) (shape=(0, 6))"),
    ("", "Found array with 0 sample(s) (shape=(0, 0))"),
])
def test_bad_csv_is_an_error_never_silently_dropped(text, match, tmp_path):
    model, X, _ = _fit(MODELS[0])
    oxlearn.save(model, tmp_path / "m.oxl")
    (tmp_path / "X.csv").write_text(text)
    run, _ = _predict_cli(tmp_path / "m.oxl", tmp_path / "X.csv", tmp_path, "csv")
    assert run.returncode == 1 and match in run.stderr, run.stderr
    assert "has 0 features" not in run.stderr


# --- arguments, SIMD level, inspect -------------------------------------------


def test_every_subcommand_has_help():
    for args in (["--help"], ["inspect", "--help"], ["predict", "--help"], ["help", "predict"]):
        run = _run(*args)
        assert run.returncode == 0, (args, run.stderr)
        assert "Usage: oxlearn" in run.stdout
    assert "--input <INPUT>" in _run("predict", "--help").stdout
    bad = _run("predict", "m.oxl")
    assert bad.returncode == 2 and "--input" in bad.stderr


def test_simd_level_is_honoured_and_a_bad_one_refused_at_start(tmp_path):
    model, X, _ = _fit(MODELS[0])
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X)
    for level in ("portable", "sse9"):
        env = dict(os.environ, OXLEARN_SIMD=level)
        version = _run("--version", env=env)
        run = _run("predict", tmp_path / "m.oxl", "--input", tmp_path / "X.npy", "--output",
                   tmp_path / "y.npy", env=env)
        if level == "portable":
            assert "SIMD level portable" in version.stdout
            assert run.returncode == 0
        else:
            for r in (version, run):
                assert r.returncode == 2
                assert 'OXLEARN_SIMD="sse9" is not a SIMD level' in r.stderr


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3)])
def test_a_joblib_file_is_named_not_misread(compress, tmp_path):
    from sklearn.datasets import make_classification

    X, y = make_classification(50, 4, random_state=0)
    path = tmp_path / "model.joblib"
    joblib.dump(SkLogisticRegression().fit(X, y), path, compress=compress)
    run = _run("inspect", path)
    assert run.returncode == 1
    assert "this is not an oxlearn model file (it looks like a" in run.stdout
    assert "header length" not in run.stdout
    with pytest.raises(ModelFileCorruptError, match="this is not an oxlearn model file"):
        oxlearn.load(path)
    if compress == 0:
        assert "(it looks like a pickle/joblib file)" in run.stdout


def test_inspect_escapes_forged_header_strings(tmp_path):
    model, X, _ = _fit(MODELS[0])
    oxlearn.save(model, tmp_path / "m.oxl")
    header, arrays = _read(tmp_path / "m.oxl")
    header["device"] = "cpu\nloadable by this binary: yes\x1b[2J\x1b]0;pwned\x07"
    header["sklearn_version"] = "1.9.1\r\u202eevil"
    header["feature_names_in"] = [f"f{i}" for i in range(5)] + ["x\u202e\x1b[31m"]
    _forge(tmp_path / "f.oxl", header, arrays)
    run = _run("inspect", tmp_path / "f.oxl")
    lines = run.stdout.splitlines()
    # One verdict line, the binary's own: the forged device is refused
    # (format 1.2: a host model is on "cpu"), and shown escaped.
    verdicts = [ln for ln in lines if ln.startswith("loadable by this binary")]
    assert len(verdicts) == 1, lines
    assert verdicts[0].startswith('loadable by this binary: no: header field "device" is invalid')
    assert not any(c in run.stdout for c in "\x1b\x07\r\u202e")
    assert "cpu\\nloadable by this binary: yes\\u{1b}[2J" in run.stdout
    assert "1.9.1\\r\\u{202e}evil" in run.stdout


@pytest.mark.parametrize("name, value, words", [
    ("p", 0, "a float in the range (0.0, inf] or None. Got 0 instead."),
    ("leaf_size", 0, "an int in the range [1, inf). Got 0 instead."),
    ("n_neighbors", 0, "an int in the range [1, inf) or None. Got 0 instead."),
    ("algorithm", "foo", "Got 'foo' instead."),
])
@pytest.mark.parametrize("est", [KNeighborsClassifier(), KNeighborsRegressor()],
                         ids=lambda e: type(e).__name__)
def test_knn_parameters_python_refuses_the_binary_refuses(est, name, value, words, tmp_path):
    model, X, _ = _fit(est)
    oxlearn.save(model, tmp_path / "m.oxl")
    header, arrays = _read(tmp_path / "m.oxl")
    header["params"][name] = value
    _forge(tmp_path / "f.oxl", header, arrays)
    start = f"The '{name}' parameter of {type(est).__name__} must be "
    with pytest.raises(ModelFileCorruptError, match="the model data is corrupt") as python:
        oxlearn.load(tmp_path / "f.oxl")
    assert str(python.value).startswith(start) and words in str(python.value)
    np.save(tmp_path / "X.npy", X)
    run, _ = _predict_cli(tmp_path / "f.oxl", tmp_path / "X.npy", tmp_path)
    assert run.returncode == 1 and start in run.stderr and words in run.stderr, run.stderr
    assert "the model data is corrupt" in run.stderr


def test_too_many_neighbours_message_is_pythons(tmp_path):
    model, X, _ = _fit(KNeighborsClassifier())
    oxlearn.save(model, tmp_path / "m.oxl")
    header, arrays = _read(tmp_path / "m.oxl")
    header["params"]["n_neighbors"] = 1000
    _forge(tmp_path / "f.oxl", header, arrays)
    with pytest.raises(ValueError) as python:
        oxlearn.load(tmp_path / "f.oxl").predict(X[:7])
    np.save(tmp_path / "X.npy", X[:7])
    run, _ = _predict_cli(tmp_path / "f.oxl", tmp_path / "X.npy", tmp_path)
    assert run.returncode == 1 and str(python.value) in run.stderr
