"""``oxlearn serve`` answers as Python's ``predict`` does, bit for bit (issue 16).

A pipeline fitted on a data frame (numeric and string columns) is saved with
``oxlearn.save``, served by the binary on an ephemeral loopback port, and
sent rows as JSON objects by column name; the answer equals
``model.predict(df)``. Also: rows as lists and ``.npy`` bodies, a model with
feature names, and a clean exit on SIGTERM; the same server started by the
``oxlearn`` command of the wheel (``oxlearn_cli``, the extension running the
binary's code inside Python) keeps its signals: reload on SIGHUP, a clean
exit on SIGTERM and SIGINT. Every method of every kind, in JSON and
``.npy``, and through :class:`oxlearn.serving.Servable` (the binary's code
in-process).
"""

import io
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone, is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import oxlearn
from oxlearn.ensemble import RandomForestClassifier
from oxlearn.linear_model import LogisticRegression, Ridge
from oxlearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    LocalOutlierFactor,
    NearestNeighbors,
)
from oxlearn.serving import Servable
from oxlearn.svm import SVC, NuSVC
from oxlearn.tests._kinds import examples
from oxlearn.tests.test_model_file import cli


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
        "plan": rng.choice(["free", "pro"], n),
    })
    df.loc[::17, "income"] = np.nan
    y = np.where(df["age"] + rng.normal(0, 5, n) > 40, "yes", "no")
    return df, y


class Served:
    """``oxlearn serve`` on port 0, stopped with SIGTERM; ``command``: how
    ``oxlearn`` is run (the binary by default)."""

    def __init__(self, *paths, command=None):
        self.proc = subprocess.Popen(
            [*(command or [cli()]), "serve", *map(str, paths), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on http://"), (line, self.proc.stderr.read())
        self.url = line.split()[-1]

    def post(self, path, body, content_type="application/json"):
        data = json.dumps(body).encode() if content_type == "application/json" else body
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def _instances(df):
    """Rows as JSON objects: NaN as null (JSON has no NaN)."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in df.to_dict(orient="records")]


def _churn(df, y):
    """A pipeline of numeric and text columns, by name, fitted on ``df``."""
    return make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             ["city", "plan"]),
        ]),
        LogisticRegression(),
    ).fit(df, y)


def test_a_pipeline_served_by_column_name_answers_as_python(frame, tmp_path):
    df, y = frame
    model = _churn(df, y)
    forest = make_pipeline(
        ColumnTransformer([
            ("num", "passthrough", ["age", "income"]),
            ("cat", OneHotEncoder(sparse_output=False), ["city", "plan"]),
        ]),
        RandomForestClassifier(n_estimators=20, random_state=0),
    ).fit(df, y)
    oxlearn.save(model, tmp_path / "churn.oxl")
    oxlearn.save(forest, tmp_path / "forest.oxl")
    server = Served(tmp_path / "churn.oxl", tmp_path / "forest.oxl")
    try:
        for name, m in [("churn", model), ("forest", forest)]:
            status, body = server.post(f"/v1/models/{name}/predict",
                                       {"instances": _instances(df)})
            assert status == 200, body
            answer = json.loads(body)
            expected = m.predict(df)
            assert answer["predictions"] == expected.tolist()
            assert "warnings" not in answer
        # Keys in another order are taken by name, as a data frame's columns.
        shuffled = [dict(reversed(list(r.items()))) for r in _instances(df[:5])]
        status, body = server.post("/v1/models/churn/predict", {"instances": shuffled})
        assert json.loads(body)["predictions"] == model.predict(df[:5]).tolist()
        # A missing column: scikit-learn's words.
        status, body = server.post("/v1/models/churn/predict",
                                   {"instances": [{"age": 1, "income": 2, "city": "nice"}]})
        assert status == 422
        assert "plan" in json.loads(body)["error"]
        listed = json.loads(urllib.request.urlopen(server.url + "/v1/models").read())
        assert listed["models"][0]["feature_names_in"] == ["age", "income", "city", "plan"]
    finally:
        assert server.stop() == 0


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_regressor_answers_as_python_in_json_and_npy(tmp_path):
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
    y = X.to_numpy() @ rng.normal(size=5) + rng.normal(size=300)
    model = Ridge(alpha=0.3).fit(X, y)
    oxlearn.save(model, tmp_path / "ridge.oxl")
    server = Served(tmp_path / "ridge.oxl")
    try:
        expected = model.predict(X)
        status, body = server.post("/v1/models/ridge/predict",
                                   {"instances": X.to_dict(orient="records")})
        assert status == 200, body
        got = np.array(json.loads(body)["predictions"], dtype=np.float64)
        assert_array_equal(got, expected)  # every bit: JSON floats round-trip
        # Rows as lists: the values are the same, with scikit-learn's
        # warning that they carry no feature names.
        status, body = server.post("/v1/models/ridge/predict",
                                   {"instances": X.to_numpy().tolist()})
        answer = json.loads(body)
        assert_array_equal(np.array(answer["predictions"]), model.predict(X.to_numpy()))
        assert "does not have valid feature names" in answer["warnings"][0]
        buf = io.BytesIO()
        np.save(buf, X.to_numpy())
        status, body = server.post("/v1/models/ridge/predict", buf.getvalue(),
                                   "application/x-npy")
        assert status == 200
        y_npy = np.load(io.BytesIO(body))
        assert y_npy.dtype == expected.dtype
        assert_array_equal(y_npy, expected)
    finally:
        assert server.stop() == 0


def test_string_labels_in_npy_are_as_wide_as_the_classes(tmp_path):
    # Rows that all predict the short class: Python's predict still returns
    # the classes' dtype ('<U8'), and so must the .npy answer, as
    # `oxlearn predict` writes it.
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(-3, 1, (60, 2)), rng.normal(3, 1, (60, 2))]
    y = np.array(["a"] * 60 + ["longname"] * 60)
    model = LogisticRegression().fit(X, y)
    oxlearn.save(model, tmp_path / "clf.oxl")
    rows = X[:5]
    expected = model.predict(rows)
    assert set(expected) == {"a"} and expected.dtype == np.dtype("<U8")
    server = Served(tmp_path / "clf.oxl")
    try:
        buf = io.BytesIO()
        np.save(buf, rows)
        status, body = server.post("/v1/models/clf/predict", buf.getvalue(),
                                   "application/x-npy")
        assert status == 200, body
        got = np.load(io.BytesIO(body))
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("via", ["binary", "wheel-command"])
def test_signals_are_the_servers_from_the_first_line_on(via, sig, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    model = Ridge(alpha=0.3).fit(X, X @ [1.0, 2.0, -1.0])
    oxlearn.save(model, tmp_path / "ridge.oxl")
    command = None if via == "binary" else [sys.executable, "-m", "oxlearn_cli"]
    server = Served(tmp_path / "ridge.oxl", command=command)
    try:
        # At once: a reload, not the default action (the end of the process).
        server.proc.send_signal(signal.SIGHUP)
        status, body = server.post("/v1/models/ridge/predict", {"instances": X.tolist()})
        assert status == 200, body
        assert_array_equal(np.array(json.loads(body)["predictions"]), model.predict(X))
    finally:
        assert server.stop(sig) == 0
        assert "Traceback" not in server.proc.stderr.read()


# --- every method of every kind ---------------------------------------------

_METHODS = ("predict", "transform", "predict_proba", "decision_function", "kneighbors")

# Beyond one example per kind: the branches of each method (two classes,
# 'ovo' and 'ovr' shapes, weights, metrics).
_VARIANTS = [
    LogisticRegression(C=0.5),  # fitted on two classes below
    SVC(decision_function_shape="ovo"),
    SVC(break_ties=True),
    SVC(probability=True, random_state=0),
    NuSVC(nu=0.3),  # two classes
    KNeighborsClassifier(6, weights="distance", metric="manhattan"),
    KNeighborsRegressor(3, metric="cosine"),
    NearestNeighbors(n_neighbors=3, algorithm="kd_tree"),
    RandomForestClassifier(5, random_state=0),  # two classes
    SVC(probability=True, random_state=0),  # two classes
]
_BINARY = {0, 4, 8, 9}

# Kinds the binary refuses to load (their registry entry says why); none of
# them has one of the methods above in Python.
_REFUSED = {"cluster.DBSCAN", "manifold.TSNE", "covariance.EmpiricalCovariance",
            "covariance.IncrementalEmpiricalCovariance", "basic_statistics.BasicStatistics",
            "basic_statistics.IncrementalBasicStatistics"}


def _fit_for_methods(est, binary, dtype):
    if is_classifier(est):
        X, y = make_classification(200, 5, n_informative=4, n_redundant=0,
                                   n_classes=2 if binary else 3, random_state=0)
    else:
        X, y = make_regression(200, 5, noise=1.0, random_state=0)
    X = X.astype(dtype)
    return clone(est).fit(X, y.astype(dtype) if not is_classifier(est) else y), X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_method_the_binary_serves_answers_as_python(dtype, tmp_path):
    ests = [(e, False) for e in examples()]
    ests += [(e, i in _BINARY) for i, e in enumerate(_VARIANTS)]
    models, paths = {}, []
    for i, (est, binary) in enumerate(ests):
        model, X = _fit_for_methods(est, binary, dtype)
        name = f"m{i}"
        models[name] = (model, X[:40])
        oxlearn.save(model, tmp_path / f"{name}.oxl")
        paths.append(f"{name}={tmp_path / f'{name}.oxl'}")
    server = Served(*paths)
    try:
        listed = json.loads(urllib.request.urlopen(server.url + "/v1/models").read())
        answered = set()
        for entry in listed["models"]:
            model, X = models[entry["name"]]
            kind = model._oxlearn_kind
            path = tmp_path / f"{entry['name']}.oxl"
            if not entry["loaded"]:
                with pytest.raises(ValueError) as refused:
                    Servable(path)
                assert str(refused.value) == entry["error"]
                if kind == "neighbors.LocalOutlierFactor" and dtype == np.float32:
                    # Python scores float32 models with scikit-learn's code.
                    assert "the model is float32" in entry["error"]
                    continue
                assert kind in _REFUSED, (kind, entry.get("error"))
                assert not any(hasattr(model, m) for m in _METHODS), kind
                continue
            served = entry["methods"]
            # In-process, the binary's code answers the same methods.
            servable = Servable(path)
            assert servable.methods == tuple(served) and servable.kind == kind
            python = {m for m in _METHODS if hasattr(model, m)}
            # Every one of these methods Python has, the binary serves.
            assert set(served) == python, (kind, served)
            for method in served:
                answered.add(method)
                # JSON rows are float64, as numpy reads the lists; a .npy
                # body keeps X's dtype.
                expected = getattr(model, method)(np.array(X.tolist()))
                status, body = server.post(f"/v1/models/{entry['name']}/{method}",
                                           {"instances": X.tolist()})
                assert status == 200, (kind, method, body)
                answer = json.loads(body)
                _same_as_python(getattr(servable, method), getattr(model, method), X, kind)
                if method == "kneighbors":
                    dist, ind = expected
                    got = np.array(answer["distances"], dtype=answer["dtype"])
                    assert got.dtype == dist.dtype and got.shape == dist.shape
                    assert_array_equal(got, dist, err_msg=f"{kind} {method}")
                    assert_array_equal(np.array(answer["indices"]), ind)
                    status, body = server.post(f"/v1/models/{entry['name']}/{method}",
                                               _npy(X), "application/x-npy")
                    assert status == 415 and b"two arrays" in body
                    continue
                got = np.array(answer["predictions"])
                if expected.dtype.kind == "f":
                    got = got.astype(answer["dtype"])
                    assert got.dtype == expected.dtype, (kind, method)
                assert got.shape == expected.shape, (kind, method)
                assert_array_equal(got, expected, err_msg=f"{kind} {method}")
                expected = getattr(model, method)(X)
                status, body = server.post(f"/v1/models/{entry['name']}/{method}",
                                           _npy(X), "application/x-npy")
                assert status == 200, (kind, method, body)
                got = np.load(io.BytesIO(body))
                assert got.dtype == expected.dtype, (kind, method)
                assert_array_equal(got, expected, err_msg=f"{kind} {method} npy")
        assert answered == set(_METHODS)
        # A method a model does not serve: 404, naming what it serves.
        ridge = next(e["name"] for e in listed["models"]
                     if e["kind"] == "linear_model.LinearRegression")
        status, body = server.post(f"/v1/models/{ridge}/kneighbors", {"instances": [[0] * 5]})
        assert status == 404
        assert json.loads(body)["error"] == (
            f'model "{ridge}": the binary does not serve kneighbors for '
            f"linear_model.LinearRegression: it serves predict (POST /v1/models/{ridge}/METHOD)")
    finally:
        assert server.stop() == 0


def _same_as_python(ours, python, X, kind):
    """``ours(X)`` equals ``python(X)``, dtype and bits, for ``X`` and its
    float64 and float32 copies (LocalOutlierFactor's scores of float32 input
    are scikit-learn's code in Python: the binary refuses them)."""
    for rows in (X, X.astype(np.float64), X.astype(np.float32)):
        if (kind == "neighbors.LocalOutlierFactor" and rows.dtype == np.float32
                and ours.__name__ != "kneighbors"):
            with pytest.raises(ValueError, match="float32 input is scored with scikit-learn"):
                ours(rows)
            continue
        got, expected = ours(rows), python(rows)
        if isinstance(expected, np.ndarray):  # kneighbors: two arrays
            got, expected = (got,), (expected,)
        for g, e in zip(got, expected, strict=True):
            assert g.dtype == e.dtype and g.shape == e.shape, (g.dtype, e.dtype)
            assert_array_equal(g, e)


def test_servable_takes_data_frames_and_warns_as_python(frame, tmp_path):
    df, y = frame
    pipeline = _churn(df, y)
    oxlearn.save(pipeline, tmp_path / "churn.oxl")
    served = Servable(tmp_path / "churn.oxl")
    assert served.methods == ("predict",)
    assert_array_equal(served.predict(df), pipeline.predict(df))
    with pytest.raises(NotImplementedError, match="the binary does not serve predict_proba "
                                                  "for pipeline.Pipeline: it serves predict"):
        served.predict_proba(df)
    # A model fitted on numeric columns by name: a data frame is taken by
    # name, an array with scikit-learn's warning.
    num = df[["age", "income"]].fillna(0.0)
    model = LogisticRegression().fit(num, y)
    oxlearn.save(model, tmp_path / "num.oxl")
    served = Servable((tmp_path / "num.oxl").read_bytes())
    assert_array_equal(served.predict_proba(num), model.predict_proba(num))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        got = served.decision_function(num.to_numpy())
    assert_array_equal(got, model.decision_function(num.to_numpy()))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        served.predict(num[["income", "age"]])
    with pytest.raises(ValueError, match="X has 3 features"):
        served.predict(np.zeros((2, 3)))


def test_servable_refusals_and_neighbour_counts(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 3))
    # kneighbors takes n_neighbors, which may exceed LOF's n_neighbors_ (99).
    lof = LocalOutlierFactor(n_neighbors=100, novelty=True).fit(X)
    oxlearn.save(lof, tmp_path / "lof.oxl")
    served = Servable(tmp_path / "lof.oxl")
    dist, ind = served.kneighbors(X[:5])
    assert lof.n_neighbors_ == 99 and ind.shape == (5, 100)
    assert_array_equal(ind, lof.kneighbors(X[:5])[1])
    assert_array_equal(dist, lof.kneighbors(X[:5])[0])
    lof = LocalOutlierFactor(n_neighbors=150, novelty=True).fit(X)
    oxlearn.save(lof, tmp_path / "lof.oxl")
    with pytest.raises(ValueError) as python:
        lof.kneighbors(X[:5])
    with pytest.raises(ValueError) as ours:
        Servable(tmp_path / "lof.oxl").kneighbors(X[:5])
    assert str(ours.value) == str(python.value)
    # A pipeline ending in NearestNeighbors has nothing to answer.
    nn = make_pipeline(StandardScaler(), NearestNeighbors()).fit(X)
    oxlearn.save(nn, tmp_path / "nn.oxl")
    with pytest.raises(ValueError, match="has no predict"):
        Servable(tmp_path / "nn.oxl")
    # A damaged file is refused with the reason.
    data = bytearray((tmp_path / "lof.oxl").read_bytes())
    data[-10] ^= 1
    with pytest.raises(ValueError, match="checksum"):
        Servable(bytes(data))
    # A data frame of integer column names has no feature names (scikit-learn's
    # rule): taken by position, without a warning.
    model = Ridge().fit(X, X @ [1.0, 2.0, 3.0])
    oxlearn.save(model, tmp_path / "ridge.oxl")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = Servable(tmp_path / "ridge.oxl").predict(pd.DataFrame(X))
    assert_array_equal(got, model.predict(X))


def _npy(X):
    buf = io.BytesIO()
    np.save(buf, X)
    return buf.getvalue()
