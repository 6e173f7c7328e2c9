"""The ``oxlearn`` binary serves whole pipelines as Python does (issue 19).

Stock scikit-learn ``Pipeline`` / ``ColumnTransformer`` objects saved with
``oxlearn.save``: the binary reads a CSV table (numbers, strings, missing
values, a header of column names) and must write exactly what the loaded
model's ``predict`` (or ``transform``) returns on the same table read with
``pandas.read_csv``: bit-identical values, the same labels. Input Python
refuses is refused with scikit-learn's words: unknown categories, missing
columns, a wrong number of columns; text in a numeric column is named.
"""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn import datasets
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

import oxlearn
from oxlearn.cluster import KMeans
from oxlearn.decomposition import PCA
from oxlearn.ensemble import RandomForestClassifier, RandomForestRegressor
from oxlearn.linear_model import LinearRegression, LogisticRegression, Ridge
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from oxlearn.tests.test_model_file import cli

GOLDEN = Path(__file__).parent / "golden"


def _run(*args):
    return subprocess.run([cli(), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _saved(model, tmp_path):
    path = tmp_path / "model.oxl"
    oxlearn.save(model, path)
    return path, oxlearn.load(path)


def _binary(path, X, tmp_path, name="X"):
    """The binary's answer on ``X`` (a DataFrame: CSV with a header; an
    array: ``.npy``): ``(completed process, output or None)``."""
    if isinstance(X, pd.DataFrame):
        src = tmp_path / f"{name}.csv"
        X.to_csv(src, index=False)
    else:
        src = tmp_path / f"{name}.npy"
        np.save(src, X)
    out = tmp_path / f"{name}.out.npy"
    out.unlink(missing_ok=True)
    run = _run("predict", path, "--input", src, "--output", out)
    return run, (np.load(out) if run.returncode == 0 else None), src


def _python(model, X):
    method = model.predict if hasattr(model, "predict") else model.transform
    return method(X)


def _same(model, X, tmp_path):
    """The binary's output equals the loaded model's, bit for bit: on the
    table as ``pandas.read_csv`` reads the CSV the binary read."""
    path, loaded = _saved(model, tmp_path)
    run, got, src = _binary(path, X, tmp_path)
    assert run.returncode == 0, run.stderr
    X_py = pd.read_csv(src) if isinstance(X, pd.DataFrame) else X
    expected = np.asarray(_python(loaded, X_py))
    if expected.dtype.kind in "fc":
        expected = expected.astype(np.float64)
    assert got.shape == expected.shape
    assert_array_equal(got, expected)
    if expected.dtype.kind in "iubU":
        assert got.dtype == expected.dtype
    return run


def _frame(bunch):
    X = bunch.data.copy()
    X.columns = [c.replace(" ", "_").replace("/", "_") for c in X.columns]
    return X, bunch.target


IRIS = _frame(datasets.load_iris(as_frame=True))
WINE = _frame(datasets.load_wine(as_frame=True))
DIABETES = _frame(datasets.load_diabetes(as_frame=True))

CLASSIFIERS = [
    lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
    lambda: make_pipeline(MinMaxScaler(), KNeighborsClassifier(5)),
    lambda: make_pipeline(MinMaxScaler((-1, 2), clip=True), LogisticRegression(max_iter=500)),
    lambda: make_pipeline(RobustScaler(), RandomForestClassifier(20, random_state=0)),
    lambda: make_pipeline(MaxAbsScaler(), Normalizer(), LogisticRegression(max_iter=500)),
    lambda: make_pipeline(StandardScaler(), Normalizer("l1"), KNeighborsClassifier(3)),
    lambda: make_pipeline(Normalizer("max"), KNeighborsClassifier(3, weights="distance")),
    lambda: make_pipeline(PolynomialFeatures(2), StandardScaler(),
                          LogisticRegression(max_iter=1000)),
    lambda: make_pipeline(VarianceThreshold(0.05), SelectKBest(f_classif, k=3),
                          KNeighborsClassifier(3)),
    lambda: make_pipeline(StandardScaler(), PCA(3), LogisticRegression(max_iter=500)),
    lambda: make_pipeline(RobustScaler(), make_pipeline(PCA(2, whiten=True),
                                                        KNeighborsClassifier(4))),
    lambda: make_pipeline(StandardScaler(), KMeans(3, n_init=2, random_state=0)),
]


@pytest.mark.parametrize("data", [IRIS, WINE], ids=["iris", "wine"])
@pytest.mark.parametrize("make", CLASSIFIERS, ids=range(len(CLASSIFIERS)))
def test_classification_pipelines(data, make, tmp_path):
    X, y = data
    _same(make().fit(X, y), X, tmp_path)


REGRESSORS = [
    lambda: make_pipeline(StandardScaler(), Ridge(1.0)),
    lambda: make_pipeline(PolynomialFeatures((1, 2), interaction_only=True), Ridge(10.0)),
    lambda: make_pipeline(RobustScaler(with_centering=False), RandomForestRegressor(
        20, random_state=0)),
    lambda: make_pipeline(MaxAbsScaler(), KNeighborsRegressor(4)),
    lambda: make_pipeline(SelectKBest(f_regression, k=5), PCA(4), LinearRegression()),
    lambda: make_pipeline(StandardScaler(with_mean=False), Normalizer("l2"), Ridge()),
]


@pytest.mark.parametrize("make", REGRESSORS, ids=range(len(REGRESSORS)))
def test_regression_pipelines_on_diabetes(make, tmp_path):
    X, y = DIABETES
    _same(make().fit(X, y), X, tmp_path)


def mixed_frame(n=300, seed=0):
    """Numbers (ints and floats), strings and missing values in both."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "age": rng.integers(18, 90, n).astype(float),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["Paris", "Lyon", "Nice, FR", "O'Hara"], n).astype(object),
        "plan": rng.choice(["basic", "pro", "team"], n).astype(object),
        "visits": rng.integers(0, 50, n),
    })
    X.loc[rng.random(n) < 0.1, "age"] = np.nan
    X.loc[rng.random(n) < 0.1, "income"] = np.nan
    X.loc[rng.random(n) < 0.1, "city"] = np.nan
    y_class = np.where(rng.random(n) < 0.5, "churn", "stay")
    y_value = X["visits"] * 2.0 + rng.normal(size=n)
    return X, y_class, y_value


def mixed_pipeline(final):
    numbers = make_pipeline(SimpleImputer(), StandardScaler())
    strings = make_pipeline(SimpleImputer(strategy="most_frequent"),
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    return make_pipeline(ColumnTransformer([
        ("num", numbers, ["age", "income", "visits"]),
        ("cat", strings, ["city", "plan"]),
    ]), final)


MIXED_FINALS = [
    ("logistic", lambda: LogisticRegression(max_iter=500), "class"),
    ("forest", lambda: RandomForestClassifier(25, random_state=0), "class"),
    ("knn", lambda: KNeighborsClassifier(7), "class"),
    ("ridge", lambda: Ridge(0.5), "value"),
    ("forest-regressor", lambda: RandomForestRegressor(15, random_state=0), "value"),
    ("knn-regressor", lambda: KNeighborsRegressor(5, weights="distance"), "value"),
]


@pytest.mark.parametrize("final", MIXED_FINALS, ids=[f[0] for f in MIXED_FINALS])
def test_mixed_type_dataframe(final, tmp_path):
    _, make, target = final
    X, y_class, y_value = mixed_frame()
    model = mixed_pipeline(make()).fit(X, y_class if target == "class" else y_value)
    # New rows: other missing values, and a city the encoder never saw.
    X_new, _, _ = mixed_frame(200, seed=1)
    X_new.loc[3, "city"] = "Marseille"
    _same(model, X_new, tmp_path)


TEXT_STEPS = [
    lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    lambda: OneHotEncoder(drop="if_binary", handle_unknown="ignore", sparse_output=False),
    lambda: OneHotEncoder(drop="first", handle_unknown="warn", sparse_output=False),
    lambda: OneHotEncoder(min_frequency=40, handle_unknown="infrequent_if_exist",
                          sparse_output=False),
    lambda: OneHotEncoder(max_categories=2, drop="first", handle_unknown="infrequent_if_exist",
                          sparse_output=False, dtype=np.float32),
    lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                           encoded_missing_value=-2),
    lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
    lambda: make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                          OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    lambda: make_pipeline(SimpleImputer(strategy="most_frequent"),
                          OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=99)),
]


@pytest.mark.filterwarnings("ignore:Found unknown categories")
@pytest.mark.parametrize("make", TEXT_STEPS, ids=range(len(TEXT_STEPS)))
def test_encoders_and_imputers_on_text_with_missing_values(make, tmp_path):
    """Categories fitted with a missing value (NaN, last), new rows with
    missing and unseen values: encoded as scikit-learn encodes them."""
    X, y, _ = mixed_frame()
    X_new, _, _ = mixed_frame(120, seed=2)
    X_new.loc[[0, 7], "city"] = "Marseille"
    X_new.loc[5, "plan"] = "gold"
    model = ColumnTransformer([("text", make(), ["city", "plan"])], remainder="drop")
    run = _same(model.fit(X, y), X_new, tmp_path)
    if "'warn'" in repr(model.transformers[0][1]):
        assert "Found unknown categories in columns [0, 1] during transform" in run.stderr


def test_mixed_pipeline_takes_columns_by_name(tmp_path):
    """Fitted on a data frame: columns in another order and extra columns
    are fine (scikit-learn ignores them), as in Python."""
    X, y, _ = mixed_frame()
    model = mixed_pipeline(LogisticRegression(max_iter=500)).fit(X, y)
    shuffled = X[["plan", "visits", "city", "income", "age"]].copy()
    shuffled["comment"] = "not used"
    _same(model, shuffled, tmp_path)


TRANSFORMERS = [
    StandardScaler(), MinMaxScaler(clip=True), RobustScaler(quantile_range=(10, 90)),
    MaxAbsScaler(), Normalizer("l1"), Normalizer("l2"), Normalizer("max"),
    PolynomialFeatures(3), PolynomialFeatures((2, 3), include_bias=False),
    PolynomialFeatures(2, interaction_only=True), VarianceThreshold(0.3),
    SelectKBest(f_classif, k=5), SimpleImputer(strategy="median"),
    make_pipeline(SimpleImputer(), StandardScaler(), Normalizer()),
]


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=repr)
@pytest.mark.parametrize("table", [True, False], ids=["csv", "npy"])
def test_transformers_write_their_output(transformer, table, tmp_path):
    """A pipeline (or file) ending in a transformer writes the transformed
    values: CSV (a data frame, column-major in Python) and .npy (an array)."""
    X, y = WINE
    X = X.copy()
    X.iloc[::7, 2] = np.nan
    if not isinstance(transformer, SimpleImputer) and not hasattr(transformer, "steps"):
        X = X.fillna(0.0)
    from sklearn.base import clone

    model = clone(transformer).fit(X if table else X.to_numpy(), y)
    _same(model, X if table else X.to_numpy(), tmp_path)


@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("p", [1, 5, 9, 17, 100, 129, 300])
def test_normalizer_sums_in_numpys_order(norm, p, tmp_path):
    """Row norms are summed as numpy sums them: column after column for a
    data frame's (F-ordered) values, pairwise / einsum order for a C array."""
    rng = np.random.default_rng(p)
    values = rng.normal(size=(40, p)) * rng.uniform(1e-2, 1e4, size=p)
    X = pd.DataFrame(values, columns=[f"c{i}" for i in range(p)])
    for sub in ("csv", "npy", "fortran"):
        (tmp_path / sub).mkdir()
    _same(Normalizer(norm).fit(X), X, tmp_path / "csv")
    _same(make_pipeline(Normalizer(norm)).fit(values), values, tmp_path / "npy")
    # A Fortran-ordered .npy loads F-ordered in Python: summed as a data frame.
    fortran = np.asfortranarray(values)
    _same(make_pipeline(Normalizer(norm)).fit(fortran), fortran, tmp_path / "fortran")


def test_float32_input_is_served_with_a_warning(tmp_path):
    """float32 .npy: Python's scalers compute in float32, the binary in
    float64: it says so (the values then agree to float32 precision)."""
    X, y = IRIS
    A = X.to_numpy().astype(np.float32)
    model = make_pipeline(StandardScaler(), Ridge()).fit(A, y)
    path, loaded = _saved(model, tmp_path)
    run, got, _ = _binary(path, A, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "float32 input" in run.stderr
    np.testing.assert_allclose(got, loaded.predict(A), rtol=1e-5, atol=1e-6)


def test_sparse_column_transformer_output_is_computed_densely(tmp_path):
    """A sparse one-hot output makes Python's final step work on a sparse
    matrix: the binary says it computes densely; labels agree, values to
    the last bits."""
    X, y, y_value = mixed_frame()
    for final, target in [(LogisticRegression(max_iter=500), y), (Ridge(), y_value)]:
        model = make_pipeline(ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="ignore")), ["city", "plan"]),
        ], sparse_threshold=0.9), final).fit(X, target)
        assert model[0].sparse_output_
        path, loaded = _saved(model, tmp_path)
        run, got, src = _binary(path, X, tmp_path)
        assert run.returncode == 0, run.stderr
        assert "computes densely" in run.stderr
        expected = loaded.predict(pd.read_csv(src))
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        else:
            assert_array_equal(got, expected)


def test_column_transformer_variants(tmp_path):
    X, y, _ = mixed_frame()
    X = X.fillna({"city": "Paris"})
    ct = ColumnTransformer([
        ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         ["city", "plan"]),
        ("onehot", OneHotEncoder(drop="first", sparse_output=False), ["plan"]),
        ("poly", make_pipeline(SimpleImputer(strategy="constant", fill_value=0),
                               PolynomialFeatures(2)), ["age", "visits"]),
    ], remainder=MinMaxScaler(), transformer_weights={"ord": 0.5, "poly": 2.0})
    model = make_pipeline(ct, RandomForestClassifier(10, random_state=0)).fit(X, y)
    _same(model, X, tmp_path)
    # Selected by dtype (a callable) and by position, remainder passthrough.
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()),
         make_column_selector(dtype_include=np.number)),
        ("cat", OneHotEncoder(sparse_output=False, handle_unknown="infrequent_if_exist",
                              max_categories=3), [2]),
    ], remainder="drop")
    _same(ct.fit(X), X, tmp_path)


def test_numeric_column_transformer_on_arrays(tmp_path):
    """Fitted and served by position (.npy): slices, lists and masks."""
    X, y = WINE
    A = X.to_numpy()
    ct = ColumnTransformer([
        ("a", Normalizer(), slice(0, 6)),
        ("b", Normalizer("l1"), [6, 7, 8, 9]),
        ("c", StandardScaler(), np.arange(13) >= 10),
    ])
    model = make_pipeline(ct, Normalizer(), LogisticRegression(max_iter=500)).fit(A, y)
    _same(model, A, tmp_path)


def test_golden_pipelines_predict_their_recorded_values(tmp_path):
    index = json.loads((GOLDEN / "1.3" / "index.json").read_text())
    served = 0
    for name, kind in index.items():
        if kind not in ("Pipeline", "ColumnTransformer") or name.endswith("unfitted"):
            continue
        X = np.load(GOLDEN / "1.3" / f"{name}.X.npy")
        expected = np.load(GOLDEN / "1.3" / f"{name}.pred.npy")
        if X.dtype.kind == "U":
            X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        run, got, _ = _binary(GOLDEN / "1.3" / f"{name}.oxl", X, tmp_path, name)
        assert run.returncode == 0, (name, run.stderr)
        assert_array_equal(got, expected, err_msg=name)
        served += 1
    assert served >= 4


# --- what Python refuses, the binary refuses with the same words ------------------


def _refused(model, X, tmp_path):
    """``(binary's message, Python's message)`` for input both refuse."""
    path, loaded = _saved(model, tmp_path)
    run, _, src = _binary(path, X, tmp_path)
    assert run.returncode == 1, (run.returncode, run.stderr)
    X_py = pd.read_csv(src) if isinstance(X, pd.DataFrame) else X
    with pytest.raises(ValueError) as python:
        _python(loaded, X_py)
    return run.stderr, str(python.value)


def test_unknown_category_is_refused_with_scikit_learns_message(tmp_path):
    X, y, _ = mixed_frame()
    model = make_pipeline(ColumnTransformer([
        ("cat", OneHotEncoder(sparse_output=False), ["plan"]),
        ("num", StandardScaler(), ["visits"]),
    ]), LogisticRegression()).fit(X, y)
    X_new = X.head(10).copy()
    X_new.loc[4, "plan"] = "enterprise"
    binary, python = _refused(model, X_new, tmp_path)
    assert python == "Found unknown categories ['enterprise'] in column 0 during transform"
    assert python in binary
    ordinal = make_pipeline(OrdinalEncoder(), Ridge()).fit(X[["plan", "visits"]], y == "stay")
    bad = X[["plan", "visits"]].head(5).copy()
    bad["visits"] = bad["visits"].astype(float)
    bad.loc[2, "visits"] = 1000.5
    binary, python = _refused(ordinal, bad, tmp_path)
    assert python == ("Found unknown categories [np.float64(1000.5)] in column 1 during "
                      "transform")
    assert python in binary


def test_missing_column_is_refused_with_scikit_learns_message(tmp_path):
    X, y, _ = mixed_frame()
    model = mixed_pipeline(LogisticRegression(max_iter=500)).fit(X, y)
    binary, python = _refused(model, X.drop(columns=["plan"]), tmp_path)
    assert python == "columns are missing: {'plan'}"
    assert python in binary


def test_extra_and_renamed_columns_outside_a_column_transformer(tmp_path):
    """A first step fitted on named columns checks them as scikit-learn
    does: an extra column is an error, with scikit-learn's message."""
    X, y = IRIS
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    extra = X.assign(extra=1.0)
    binary, python = _refused(model, extra, tmp_path)
    assert python.splitlines()[0] in binary
    assert "- extra" in binary and "- extra" in python


def test_wrong_number_of_columns_is_refused(tmp_path):
    X, y = WINE
    A = X.to_numpy()
    model = make_pipeline(ColumnTransformer([("s", StandardScaler(), [0, 1, 2])]),
                          LogisticRegression()).fit(A, y)
    binary, python = _refused(model, A[:, :5], tmp_path)
    assert python == "X has 5 features, but ColumnTransformer is expecting 13 features as input."
    assert python in binary
    model = make_pipeline(StandardScaler(), Ridge()).fit(A, y)
    binary, python = _refused(model, A[:, :12], tmp_path)
    assert python in binary


def test_text_in_a_numeric_column_is_named(tmp_path):
    X, y, _ = mixed_frame()
    model = mixed_pipeline(LogisticRegression(max_iter=500)).fit(X, y)
    bad = X.head(20).copy()
    bad["income"] = bad["income"].astype(object)
    bad.loc[5, "income"] = "12k"
    path, _ = _saved(model, tmp_path)
    run, _, _ = _binary(path, bad, tmp_path)
    assert run.returncode == 1
    assert "column 'income' holds text ('12k' in row 5)" in run.stderr
    assert "SimpleImputer needs numbers" in run.stderr


def test_hostile_csv_is_refused_without_a_crash(tmp_path):
    X, y, _ = mixed_frame()
    path, _ = _saved(mixed_pipeline(LogisticRegression(max_iter=500)).fit(X, y), tmp_path)
    header = "age,income,city,plan,visits\n"
    cases = {
        "ragged.csv": (header + "30,1.5,Paris,pro,3\n31,2.5,Lyon\n", "line 3 has 3 values"),
        "quote.csv": (header + '30,1.5,"Paris,pro,3\n', "quoted field is not closed"),
        "semicolon.csv": ("age;income\n1;2\n", "separated by ';'"),
        "empty.csv": (header, "Found array with 0 sample(s)"),
        "binary.csv": (b"\xff\xfe\x00garbage", "not UTF-8"),
        "control.csv": (header + "30,1.5,\x1b[2J,pro,3\n", None),
    }
    for name, (content, needle) in cases.items():
        src = tmp_path / name
        if isinstance(content, bytes):
            src.write_bytes(content)
        else:
            src.write_text(content)
        run = _run("predict", path, "--input", src, "--output", tmp_path / "y.npy")
        if needle is None:
            # An unseen category (ignored), escaped wherever it is printed.
            assert run.returncode == 0, run.stderr
            assert "\x1b" not in run.stderr
            continue
        assert run.returncode == 1, (name, run.returncode, run.stderr)
        assert needle in run.stderr, (name, run.stderr)


def test_forged_width_is_refused_by_the_binary(tmp_path):
    from oxlearn.tests.test_hostile_files import _forge, _read

    X, y = IRIS
    model = make_pipeline(StandardScaler(), Normalizer(), Ridge()).fit(X, y)
    path, _ = _saved(model, tmp_path)
    header, arrays = _read(path)
    header["parts"][1]["n_features_in"] = 3
    forged = tmp_path / "forged.oxl"
    _forge(forged, header, arrays)
    run = _run("predict", forged, "--input", tmp_path / "none.csv",
               "--output", tmp_path / "y.npy")
    assert run.returncode == 1
    assert "outputs 4" in run.stderr, run.stderr
    run = _run("inspect", forged)
    assert run.returncode == 1
    assert "loadable by this binary: no" in run.stdout


def test_inspect_lists_the_steps(tmp_path):
    X, y, _ = mixed_frame()
    path, _ = _saved(mixed_pipeline(LogisticRegression(max_iter=500)).fit(X, y), tmp_path)
    run = _run("inspect", path)
    assert run.returncode == 0, run.stdout
    lines = run.stdout.splitlines()
    assert ("  0 columntransformer: compose.ColumnTransformer, n_features_in 5 -> 10"
            in lines), run.stdout
    assert ("    0 num: pipeline.Pipeline, n_features_in 3 -> 3 "
            "(columns: age, income, visits)") in lines
    assert "      1 onehotencoder: preprocessing.OneHotEncoder, n_features_in 2 -> 7" in lines
    assert ("  1 logisticregression: linear_model.LogisticRegression, n_features_in 10 -> "
            "predicts") in lines
    assert "loadable by this binary: yes" in lines
