"""``oxlearn serve`` answers as Python's ``predict`` does, bit for bit (issue 16).

A pipeline fitted on a data frame (numeric and string columns) is saved with
``oxlearn.save``, served by the binary on an ephemeral loopback port, and
sent rows as JSON objects by column name; the answer equals
``model.predict(df)``. Also: rows as lists and ``.npy`` bodies, a model with
feature names, and a clean exit on SIGTERM; the same server started by the
``oxlearn`` command of the wheel (``oxlearn_cli``, the extension running the
binary's code inside Python) keeps its signals: reload on SIGHUP, a clean
exit on SIGTERM and SIGINT.
"""

import io
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import oxlearn
from oxlearn.ensemble import RandomForestClassifier
from oxlearn.linear_model import LogisticRegression, Ridge
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


def test_a_pipeline_served_by_column_name_answers_as_python(frame, tmp_path):
    df, y = frame
    model = make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             ["city", "plan"]),
        ]),
        LogisticRegression(),
    ).fit(df, y)
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
