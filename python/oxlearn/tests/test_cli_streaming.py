"""``oxlearn predict`` streams its input in chunks (issue 16).

The answer does not depend on the chunk size: with chunks of a few rows
(the hidden ``--chunk-rows``), every output file, message and warning is
byte for byte the one-chunk run's, for plain models and pipelines, CSV and
``.npy``, including what only the whole input decides (a column's kind,
warnings about unknown categories in several chunks, the row count of a
``.npy`` written from CSV, rows and lines named in errors). Memory stays
bounded: the peak RSS of a run on a large input is a fraction of the
input's size. No partial output is left behind on an error.
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, OneHotEncoder, StandardScaler

import oxlearn
from oxlearn.linear_model import LinearRegression, LogisticRegression
from oxlearn.neighbors import KNeighborsClassifier
from oxlearn.tests.test_model_file import cli
from oxlearn.tests.test_pipeline_cli import mixed_frame, mixed_pipeline


def _predict(model_path, src, out, *extra):
    out.unlink(missing_ok=True)
    run = subprocess.run([cli(), "predict", str(model_path), "--input", str(src),
                          "--output", str(out), *extra],
                         capture_output=True, text=True, timeout=300)
    return run, (out.read_bytes() if out.exists() else None)


def _same_in_chunks(model_path, src, tmp_path, ext, sizes=(1, 7)):
    """The run's exit code, stderr and output bytes are those of the
    one-chunk run for every chunk size; returns the one-chunk run."""
    out = tmp_path / f"y.{ext}"
    whole, whole_bytes = _predict(model_path, src, out)
    for n in sizes:
        run, got = _predict(model_path, src, out, "--chunk-rows", str(n))
        assert (run.returncode, run.stderr) == (whole.returncode, whole.stderr), n
        assert got == whole_bytes, n
    if whole.returncode != 0:
        assert whole_bytes is None  # no partial output
    return whole, whole_bytes


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    return LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 3.0] + 1.0), X


@pytest.mark.parametrize("ext", ["npy", "csv"])
def test_plain_model_in_chunks(regression, ext, tmp_path):
    model, X = regression
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    for name, data in [("c", X[:50]), ("f", np.asfortranarray(X[:50])),
                       ("f4", X[:50].astype(np.float32)), ("i", np.round(X[:50]).astype(int))]:
        np.save(tmp_path / f"{name}.npy", data)
        _, out = _same_in_chunks(path, tmp_path / f"{name}.npy", tmp_path, ext)
        if ext == "npy":
            assert_array_equal(np.load(tmp_path / "y.npy"), model.predict(data))
    # CSV in, .npy out: the row count is written at the end, numpy reads it.
    pd.DataFrame(X[:50]).to_csv(tmp_path / "X.csv", index=False, header=False)
    _same_in_chunks(path, tmp_path / "X.csv", tmp_path, ext)
    if ext == "npy":
        assert_array_equal(np.load(tmp_path / "y.npy"), model.predict(X[:50]))


def test_errors_name_the_row_and_line_in_the_whole_input(regression, tmp_path):
    model, X = regression
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    bad = X[:40].copy()
    bad[23, 2] = np.inf
    np.save(tmp_path / "X.npy", bad)
    run, _ = _same_in_chunks(path, tmp_path / "X.npy", tmp_path, "npy")
    assert "The first one is at row 23, column 2." in run.stderr
    lines = [",".join(map(repr, row)) for row in X[:40].tolist()]
    lines[30] = "1.0,x,2.0,3.0"
    (tmp_path / "X.csv").write_text("\n".join(lines) + "\n")
    run, _ = _same_in_chunks(path, tmp_path / "X.csv", tmp_path, "csv")
    assert 'line 31, column 2: "x" is not a number' in run.stderr
    # An empty input is refused as Python refuses it.
    (tmp_path / "E.csv").write_text("\n\n")
    run, _ = _same_in_chunks(path, tmp_path / "E.csv", tmp_path, "npy")
    assert "0 sample(s)" in run.stderr
    # Not UTF-8: the offset in the whole file.
    (tmp_path / "U.csv").write_bytes(b"1,2,3,4\n" * 5 + b"1,\xff,3,4\n")
    run, _ = _same_in_chunks(path, tmp_path / "U.csv", tmp_path, "csv")
    assert "invalid utf-8 sequence of 1 bytes from index 42" in run.stderr


def test_string_labels_are_as_wide_as_pythons(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    y = np.where(X[:, 0] > 0, "yes", "a-much-longer-label")
    model = LogisticRegression().fit(X, y)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    rows = X[X[:, 0] > 0.5][:9]  # only the short label predicted
    np.save(tmp_path / "X.npy", rows)
    _same_in_chunks(path, tmp_path / "X.npy", tmp_path, "npy")
    got, expected = np.load(tmp_path / "y.npy"), model.predict(rows)
    assert got.dtype == expected.dtype and (got == expected).all()
    _same_in_chunks(path, tmp_path / "X.npy", tmp_path, "csv")
    # kNN asked for more neighbours than it holds: n_samples is the input's.
    knn = KNeighborsClassifier(3).fit(X[:5], y[:5])
    knn.n_neighbors = 9
    oxlearn.save(knn, tmp_path / "knn.oxl")
    pd.DataFrame(X[:20]).to_csv(tmp_path / "X.csv", index=False, header=False)
    run, _ = _same_in_chunks(tmp_path / "knn.oxl", tmp_path / "X.csv", tmp_path, "npy")
    assert "n_samples = 20" in run.stderr


def test_text_pipeline_in_chunks(tmp_path):
    X, y, _ = mixed_frame()
    model = mixed_pipeline(LogisticRegression(max_iter=500)).fit(X, y)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    X_new, _, _ = mixed_frame(60, seed=3)
    X_new.loc[4, "city"] = "Marseille"
    X_new.loc[50, "city"] = "Brest"
    X_new.to_csv(tmp_path / "X.csv", index=False)
    for ext in ("npy", "csv"):
        run, _ = _same_in_chunks(path, tmp_path / "X.csv", tmp_path, ext)
        assert run.returncode == 0, run.stderr
    expected = model.predict(pd.read_csv(tmp_path / "X.csv"))
    assert_array_equal(np.loadtxt(tmp_path / "y.csv", dtype=str), expected)
    # Text in a numeric column far from the first chunk: its row is named.
    bad = X_new.astype({"income": object})
    bad.loc[45, "income"] = "12k"
    bad.to_csv(tmp_path / "B.csv", index=False)
    run, _ = _same_in_chunks(path, tmp_path / "B.csv", tmp_path, "npy")
    assert "('12k' in row 45)" in run.stderr


def test_a_column_is_text_when_any_row_is(tmp_path):
    """pandas reads a column as text when any field is: a column of numbers
    whose last field is text keeps every field as written, in every chunk."""
    codes = pd.DataFrame({"code": ["1.50", "007", "x7", "2"] * 10, "n": np.arange(40.0)})
    model = ColumnTransformer([
        ("code", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["code"]),
        ("n", StandardScaler(), ["n"]),
    ]).fit(codes)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    new = pd.DataFrame({"code": ["007"] * 30 + ["1.50", "2", "x7"], "n": np.arange(33.0)})
    new.to_csv(tmp_path / "X.csv", index=False)
    _same_in_chunks(path, tmp_path / "X.csv", tmp_path, "npy", sizes=(1, 7, 30))
    assert_array_equal(np.load(tmp_path / "y.npy"),
                       model.transform(pd.read_csv(tmp_path / "X.csv")))


def test_warnings_of_all_chunks_are_merged(tmp_path):
    X, y, _ = mixed_frame()
    enc = OneHotEncoder(drop="first", handle_unknown="warn", sparse_output=False)
    model = ColumnTransformer([("text", make_pipeline(
        SimpleImputer(strategy="constant", fill_value="none"), enc), ["city", "plan"])]).fit(X)
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    X_new, _, _ = mixed_frame(30, seed=4)
    X_new.loc[2, "city"] = "Marseille"  # column 0, first chunk
    X_new.loc[25, "plan"] = "gold"  # column 1, a later chunk
    X_new.to_csv(tmp_path / "X.csv", index=False)
    run, _ = _same_in_chunks(path, tmp_path / "X.csv", tmp_path, "npy")
    assert run.stderr.count("Found unknown categories in columns [0, 1]") == 1


def test_numpy_strings_and_one_row_chunks_of_a_normalizer(tmp_path):
    enc = OneHotEncoder(sparse_output=False, handle_unknown="ignore")
    strings = np.array([["a", "x"], ["b", "y"], ["a", "y"]] * 5)
    model = enc.fit(strings)
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "S.npy", np.asfortranarray(strings))
    _same_in_chunks(tmp_path / "m.oxl", tmp_path / "S.npy", tmp_path, "npy")
    assert_array_equal(np.load(tmp_path / "y.npy"), model.transform(strings))
    # numpy sums a one-row matrix as a vector: a last chunk of one row is
    # still a row of the whole (column-major) table.
    df = pd.DataFrame(np.random.default_rng(5).lognormal(0, 3, (15, 13)))
    df.columns = [f"c{i}" for i in range(13)]
    norm = Normalizer("l1").fit(df)
    oxlearn.save(norm, tmp_path / "n.oxl")
    df.to_csv(tmp_path / "D.csv", index=False)
    _same_in_chunks(tmp_path / "n.oxl", tmp_path / "D.csv", tmp_path, "npy", sizes=(1, 2, 7))
    assert_array_equal(np.load(tmp_path / "y.npy"), norm.transform(pd.read_csv(tmp_path / "D.csv")))


# --- memory -----------------------------------------------------------------

_PEAK = ("import resource, subprocess, sys;"
         "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
         "sys.stderr.write(r.stderr);"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024);"
         "sys.exit(r.returncode)")


def _peak_rss(*args):
    """Runs the binary in a fresh process; its peak RSS in bytes."""
    run = subprocess.run([sys.executable, "-c", _PEAK, cli(), *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return int(run.stdout)


def test_memory_is_bounded_on_a_million_rows(regression, tmp_path):
    model, X = regression
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    n = 1_000_000
    block = np.random.default_rng(7).standard_normal((1000, 4))
    big = np.tile(block, (n // 1000, 1))
    np.save(tmp_path / "X.npy", big)
    text = "\n".join(",".join(map(repr, row)) for row in block.tolist()) + "\n"
    (tmp_path / "X.csv").write_text(text * (n // 1000))
    for src, out in [("X.npy", "y.npy"), ("X.csv", "y.npy"), ("X.csv", "y.csv")]:
        size = (tmp_path / src).stat().st_size
        peak = _peak_rss("predict", path, "--input", tmp_path / src, "--output", tmp_path / out)
        assert peak < size / 2, (src, out, peak, size)
    got = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert got.shape == (n,)
    assert_array_equal(got[-1000:], model.predict(block))
    # A pipeline of text columns: the table is never held whole either.
    X_text, y, _ = mixed_frame()
    pipe = mixed_pipeline(LogisticRegression(max_iter=500)).fit(X_text, y)
    oxlearn.save(pipe, tmp_path / "p.oxl")
    X_text.to_csv(tmp_path / "T.csv", index=False)
    lines = (tmp_path / "T.csv").read_text().splitlines(keepends=True)
    (tmp_path / "T.csv").write_text(lines[0] + "".join(lines[1:]) * (2 * n // 300))
    size = (tmp_path / "T.csv").stat().st_size
    peak = _peak_rss("predict", tmp_path / "p.oxl", "--input", tmp_path / "T.csv",
                     "--output", tmp_path / "t.npy")
    assert peak < size / 2, (peak, size)
    assert_array_equal(np.load(tmp_path / "t.npy", mmap_mode="r")[:300], pipe.predict(X_text))
