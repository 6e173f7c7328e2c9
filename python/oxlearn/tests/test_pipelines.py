"""Whole pipelines in the native model file (issue 19).

Stock scikit-learn ``Pipeline`` / ``ColumnTransformer`` objects of supported
transformers, ending in an oxlearn estimator, save with ``oxlearn.save`` and
load back as the same stock objects: bit-identical predictions, pickles and
clones; what the file cannot hold is refused with the path of the step.
"""

import copy
import pickle
import random
import warnings

import cloudpickle
import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import datasets
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    LabelEncoder,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

import oxlearn
from oxlearn import _composite, _core
from oxlearn._io import _registry
from oxlearn.decomposition import PCA
from oxlearn.ensemble import RandomForestClassifier, RandomForestRegressor
from oxlearn.exceptions import IncompatibleModelError, ModelFileCorruptError
from oxlearn.linear_model import LinearRegression, LogisticRegression, Ridge
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from oxlearn.tests.test_hostile_files import _forge, _read


def test_every_kind_is_an_oxlearn_class_or_a_stock_one():
    stock = set(_composite.stock_classes()) | {"compose.passthrough", "compose.drop"}
    assert set(_core.known_kinds()) == set(_registry()) | stock
    assert not set(_registry()) & stock


def _outputs(model, X):
    out = {}
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        if hasattr(model, method):
            try:
                result = getattr(model, method)(X)
            except AttributeError:  # available_if: the final step lacks it
                continue
            out[method] = result.toarray() if hasattr(result, "toarray") else result
    return out


def _roundtrip(model, tmp_path, **load):
    path = tmp_path / "m.oxl"
    oxlearn.save(model, path)
    return oxlearn.load(path, **load)


def _assert_same(a, b, X):
    ours, theirs = _outputs(a, X), _outputs(b, X)
    assert ours.keys() == theirs.keys() and ours
    for k in ours:
        assert_array_equal(ours[k], theirs[k], err_msg=k)


CLASSIFIERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}

PIPELINES = [
    lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    lambda: make_pipeline(MinMaxScaler(), PCA(3), KNeighborsClassifier(5)),
    lambda: make_pipeline(RobustScaler(), VarianceThreshold(0.01),
                          SelectKBest(f_classif, k=4), RandomForestClassifier(10, random_state=0)),
    lambda: make_pipeline(MaxAbsScaler(), Normalizer("l1"), LogisticRegression(max_iter=2000)),
    lambda: make_pipeline(SimpleImputer(strategy="median"), StandardScaler(with_mean=False),
                          PolynomialFeatures(2, interaction_only=True), SelectKBest(k=12),
                          LogisticRegression(max_iter=3000)),
    lambda: Pipeline([("scale", StandardScaler()), ("nothing", "passthrough"),
                      ("model", LogisticRegression(max_iter=2000))]),
]


@pytest.mark.parametrize("dataset", list(CLASSIFIERS))
@pytest.mark.parametrize("make", PIPELINES, ids=lambda m: "-".join(
    type(s).__name__ if not isinstance(s, str) else s for _, s in m().steps))
def test_classification_pipelines_round_trip_bit_identical(dataset, make, tmp_path):
    X, y = CLASSIFIERS[dataset](return_X_y=True)
    X = X[:, :12]  # keeps PolynomialFeatures small on digits and breast_cancer
    if dataset == "digits":
        X, y = X[:600], y[:600]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant features in SelectKBest
        warnings.simplefilter("ignore", RuntimeWarning)
        model = make().fit(X, y)
        loaded = _roundtrip(model, tmp_path)
        assert type(loaded) is Pipeline
        assert [n for n, _ in loaded.steps] == [n for n, _ in model.steps]
        _assert_same(model, loaded, X)
        for copied in (pickle.loads(pickle.dumps(loaded)), copy.deepcopy(loaded),
                       cloudpickle.loads(cloudpickle.dumps(loaded))):
            _assert_same(model, copied, X)
        joblib.dump(loaded, tmp_path / "j.joblib")
        _assert_same(model, joblib.load(tmp_path / "j.joblib", mmap_mode="r"), X)
        # clone gives the same unfitted pipeline, which fits to the same model.
        assert clone(loaded).get_params().keys() == clone(model).get_params().keys()
        _assert_same(model, clone(loaded).fit(X, y), X)


@pytest.mark.parametrize("final", [LinearRegression(), Ridge(1.0), KNeighborsRegressor(4),
                                   RandomForestRegressor(8, random_state=0)], ids=repr)
def test_regression_pipelines_round_trip_on_diabetes(final, tmp_path):
    X, y = datasets.load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), PolynomialFeatures(2), final).fit(X, y)
    for mmap in (False, True, "copy-on-verify"):
        _assert_same(model, _roundtrip(model, tmp_path, mmap=mmap), X)


def test_saving_is_deterministic(tmp_path):
    X, y = datasets.load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    oxlearn.save(model, tmp_path / "a.oxl")
    oxlearn.save(pickle.loads(pickle.dumps(model)), tmp_path / "b.oxl")
    assert (tmp_path / "a.oxl").read_bytes() == (tmp_path / "b.oxl").read_bytes()


def mixed_frame(n=400, seed=0):
    """Numbers, strings and missing values: a typical tabular input."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(40, 12, n),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "rome", "oslo", "lima"], n).astype(object),
        "plan": rng.choice(["basic", "pro"], n),
        "visits": rng.integers(0, 6, n),
    })
    df.loc[::9, "age"] = np.nan
    df.loc[::11, "city"] = None
    y = ((df["age"].fillna(40) > 40) ^ (df["plan"] == "pro")).astype(int)
    return df, y


def mixed_pipeline(final=None):
    """The pipeline of ``mixed_frame``: impute and scale numbers, one-hot strings."""
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), ["city", "plan"]),
        ("ord", OrdinalEncoder(), ["visits"]),
    ])
    return make_pipeline(pre, LogisticRegression(max_iter=1000) if final is None else final)


@pytest.mark.parametrize("final", [LogisticRegression(max_iter=1000),
                                   RandomForestClassifier(20, random_state=0),
                                   KNeighborsClassifier(7)], ids=repr)
def test_mixed_type_dataframe_round_trip(final, tmp_path):
    df, y = mixed_frame()
    model = mixed_pipeline(final).fit(df, y)
    loaded = _roundtrip(model, tmp_path)
    _assert_same(model, loaded, df)
    assert list(loaded.feature_names_in_) == list(df.columns)
    assert_array_equal(loaded[:-1].get_feature_names_out(), model[:-1].get_feature_names_out())
    # Unseen categories are ignored by both, columns may come in any order.
    new, _ = mixed_frame(50, seed=1)
    new.loc[0, "city"] = "tokyo"
    _assert_same(model, loaded, new[list(reversed(new.columns))])


def test_column_transformer_variants(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 5))
    for ct in [
        ColumnTransformer([("s", StandardScaler(), slice(0, 2))], remainder="passthrough"),
        ColumnTransformer([("s", StandardScaler(), [0]), ("p", "passthrough", [1]),
                           ("d", "drop", [2])], remainder=MinMaxScaler()),
        ColumnTransformer([("s", RobustScaler(), np.array([True, False, True, False, False]))]),
        ColumnTransformer([("a", MaxAbsScaler(), [4]), ("b", StandardScaler(), [4])],
                          remainder="drop", transformer_weights={"a": 2.0, "b": 0.5}),
    ]:
        ct.fit(X)
        loaded = _roundtrip(ct, tmp_path)
        assert type(loaded) is ColumnTransformer
        assert_array_equal(loaded.transform(X), ct.transform(X))
        assert_array_equal(loaded.get_feature_names_out(), ct.get_feature_names_out())
        assert_array_equal(clone(loaded).fit_transform(X), clone(ct).fit_transform(X))


@pytest.mark.parametrize("transformer", [
    StandardScaler(), StandardScaler(with_mean=False, with_std=False), MinMaxScaler((-2, 3)),
    MinMaxScaler(clip=True), RobustScaler(quantile_range=(10, 90), unit_variance=True),
    RobustScaler(with_centering=False), MaxAbsScaler(), Normalizer("max"),
    OneHotEncoder(drop="first", min_frequency=4, handle_unknown="infrequent_if_exist"),
    OneHotEncoder(drop="if_binary", sparse_output=False, dtype=np.float32),
    OneHotEncoder(max_categories=3, handle_unknown="warn"),
    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
    SimpleImputer(strategy="constant", fill_value=-1.0), SimpleImputer(keep_empty_features=True),
    PolynomialFeatures((2, 3), include_bias=False), VarianceThreshold(0.5),
    SelectKBest(k="all"),
], ids=repr)
def test_transformers_alone_round_trip(transformer, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(60, 3)).astype(float)
    X[::7, 1] = np.nan if isinstance(transformer, SimpleImputer) else X[::7, 1]
    X[:, 2] = np.nan if getattr(transformer, "keep_empty_features", False) else X[:, 2]
    y = rng.integers(0, 2, 60)
    model = clone(transformer).fit(X, y)
    loaded = _roundtrip(model, tmp_path)
    assert type(loaded) is type(model)
    assert repr(loaded.get_params()) == repr(model.get_params())  # NaN == NaN
    _assert_same(model, loaded, X)
    _assert_same(model, pickle.loads(pickle.dumps(loaded)), X)


def test_callable_column_selections_are_stored_as_fitted(tmp_path):
    from sklearn.compose import make_column_selector

    df, y = mixed_frame()
    ct = ColumnTransformer([
        ("num", SimpleImputer(), make_column_selector(dtype_include=np.number)),
        ("cat", OneHotEncoder(handle_unknown="ignore"),
         make_column_selector(dtype_include=[object, "string"])),
    ]).fit(df)
    loaded = _roundtrip(ct, tmp_path)
    assert_array_equal(loaded.transform(df), ct.transform(df))
    assert loaded.transformers[0][2] == ["age", "income", "visits"]


def test_infrequent_ordinal_categories_are_refused(tmp_path):
    X = np.array([[0], [0], [0], [1], [2]])
    with pytest.raises(ValueError, match="infrequent categories of OrdinalEncoder"):
        oxlearn.save(OrdinalEncoder(min_frequency=2).fit(X), tmp_path / "m.oxl")
    assert not (tmp_path / "m.oxl").exists()


def test_string_categories_and_label_encoder(tmp_path):
    X = np.array([["a", "x"], ["b", "y"], ["a", "z"], ["c", "x"]], dtype=object)
    enc = OneHotEncoder(sparse_output=False).fit(X)
    loaded = _roundtrip(enc, tmp_path)
    assert [c.dtype for c in loaded.categories_] == [object, object]
    _assert_same(enc, loaded, X)
    with pytest.raises(ValueError, match="Found unknown categories"):
        loaded.transform(np.array([["d", "x"]], dtype=object))
    le = LabelEncoder().fit(["dog", "cat", "dog"])
    loaded = _roundtrip(le, tmp_path)
    assert_array_equal(loaded.classes_, le.classes_)
    assert_array_equal(loaded.transform(["cat", "dog"]), [0, 1])


def test_stock_final_estimators_are_converted(tmp_path):
    from sklearn.linear_model import LogisticRegression as StockLogistic

    X, y = datasets.load_wine(return_X_y=True)
    model = make_pipeline(StandardScaler(), StockLogistic(max_iter=1000)).fit(X, y)
    loaded = _roundtrip(model, tmp_path)
    assert type(loaded[-1]) is LogisticRegression
    # The summation order differs from scikit-learn's BLAS (as from_sklearn).
    assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert_array_equal(loaded.predict(X), model.predict(X))


def test_unfitted_pipelines_save_their_parameters(tmp_path):
    model = make_pipeline(StandardScaler(with_mean=False), Ridge(alpha=3.0))
    loaded = _roundtrip(model, tmp_path)
    assert loaded.get_params()["ridge__alpha"] == 3.0
    X, y = datasets.load_diabetes(return_X_y=True)
    _assert_same(clone(model).fit(X, y), loaded.fit(X, y), X)


def test_unsupported_steps_are_named_with_their_path(tmp_path):
    ct = ColumnTransformer([("q", QuantileTransformer(n_quantiles=10), ["age"])])
    model = Pipeline([("pre", ColumnTransformer([("num", StandardScaler(), ["income"])])),
                      ("inner", make_pipeline(ct)), ("lr", LogisticRegression())])
    with pytest.raises(TypeError, match=r"pipeline\.steps\[1\]\.steps\[0\]\.transformers\[0\]"):
        oxlearn.save(model, tmp_path / "m.oxl")
    assert not (tmp_path / "m.oxl").exists()
    with pytest.raises(TypeError, match=r"QuantileTransformer at pipeline\.steps\[1\]"):
        oxlearn.save(make_pipeline(StandardScaler(), QuantileTransformer()), tmp_path / "m.oxl")


def test_what_the_file_cannot_hold_is_refused(tmp_path):
    X, y = datasets.load_iris(return_X_y=True)
    half = make_pipeline(StandardScaler(), LogisticRegression())
    half.steps[0][1].fit(X)
    with pytest.raises(ValueError, match="some steps are fitted"):
        oxlearn.save(half, tmp_path / "m.oxl")
    with pytest.raises(TypeError, match="memory"):
        oxlearn.save(make_pipeline(StandardScaler(), Ridge(), memory=str(tmp_path)),
                     tmp_path / "m.oxl")
    own_score = SelectKBest(lambda X, y: np.ones(X.shape[1]), k=2).fit(X, y)
    with pytest.raises(TypeError, match="score_func"):
        oxlearn.save(own_score, tmp_path / "m.oxl")
    pandas_out = StandardScaler().set_output(transform="pandas").fit(X)
    with pytest.raises(TypeError, match="_sklearn_output_config"):
        oxlearn.save(pandas_out, tmp_path / "m.oxl")
    with pytest.raises(TypeError, match="add_indicator|indicator_"):
        oxlearn.save(SimpleImputer(add_indicator=True).fit([[1.0], [np.nan]]),
                     tmp_path / "m.oxl")


def test_compatibility_rules_apply_to_pipelines(tmp_path):
    X, y = datasets.load_iris(return_X_y=True)
    oxlearn.save(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
                 tmp_path / "m.oxl")
    header, arrays = _read(tmp_path / "m.oxl")
    header["sklearn_version"] = "1.8.0"
    _forge(tmp_path / "old.oxl", header, arrays)
    with pytest.warns(InconsistentVersionWarning):
        oxlearn.load(tmp_path / "old.oxl")
    with oxlearn.config_context(strict_persistence=True), \
            pytest.raises(IncompatibleModelError):
        oxlearn.load(tmp_path / "old.oxl")
    header["format_version"] = "1.2"
    _forge(tmp_path / "v12.oxl", header, arrays)
    with pytest.raises(ModelFileCorruptError, match="composite models exist from format 1.3"):
        oxlearn.load(tmp_path / "v12.oxl")
    raw = bytearray((tmp_path / "m.oxl").read_bytes())
    raw[-3] ^= 1
    (tmp_path / "flip.oxl").write_bytes(bytes(raw))
    with pytest.raises(ModelFileCorruptError):
        oxlearn.load(tmp_path / "flip.oxl")


def _mutations(value, rng):
    """A forger's changes to one JSON value: numbers, strings, lists, types."""
    return rng.choice([None, -1, 0, 7, 1e300, "", "drop", [], {}, [0, 99], True,
                       {"__dict__": {}}, {"__ndarray__": [1], "dtype": "<i8", "shape": [1]},
                       value * 2 if isinstance(value, (int, float)) and not
                       isinstance(value, bool) else "x"])


def _leaves(v, path=()):
    if isinstance(v, dict):
        for k, child in v.items():
            yield from _leaves(child, (*path, k))
    elif isinstance(v, list):
        for i, child in enumerate(v):
            yield from _leaves(child, (*path, i))
    yield path


def test_forged_pipelines_load_or_fail_cleanly(tmp_path):
    """Re-sealed forgeries of a mixed pipeline's header: each loads or
    raises the format's errors, never anything else (Python builds only
    from what the Rust validators accepted)."""
    df, y = mixed_frame(120)
    oxlearn.save(mixed_pipeline().fit(df, y), tmp_path / "m.oxl")
    original, arrays = _read(tmp_path / "m.oxl")
    rng = random.Random(0)
    leaves = [p for p in _leaves(original["parts"]) if p]
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(300):
        header = copy.deepcopy(original)
        target = header["parts"]
        path = rng.choice(leaves)
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = _mutations(target[path[-1]], rng)
        f = tmp_path / f"f{case}.oxl"
        _forge(f, header, arrays)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                oxlearn.load(f)
            outcomes["loaded"] += 1
        except (ModelFileCorruptError, IncompatibleModelError):
            outcomes["refused"] += 1
        f.unlink()
    assert outcomes["refused"] > 100, outcomes
