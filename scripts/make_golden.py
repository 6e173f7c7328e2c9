"""Write the golden model files of the current format version.

Run once per format version (``python scripts/make_golden.py``); the files
are committed and every later version must keep loading them and predicting
exactly the recorded values (``test_golden.py``). Never regenerate the files
of an older version.
"""

import json
import os
from pathlib import Path

# scikit-learn's array API dispatch needs scipy's, set before scipy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import sklearn
from scipy import sparse
from sklearn.datasets import make_regression

import oxlearn
from oxlearn import _core
from oxlearn._io import _registry
from oxlearn.tests._golden import output as golden_output

OUT = Path(__file__).resolve().parent.parent / "python/oxlearn/tests/golden" / _core.FORMAT_VERSION


def _recipes():
    """``{kind: [(file name, fit(cls) -> model)]}``: how each oxlearn kind is recorded.

    Each recipe takes the kind's class from the registry; the names and
    fits are those of the files already committed (never change them).
    """
    X, y = make_regression(60, 4, noise=1.0, random_state=0)
    _, Y = make_regression(60, 4, n_targets=2, noise=1.0, random_state=1)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    # Classifiers: labels from the regression target (int64 array; strings and
    # int16 labels are stored in the header's attrs).
    third = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    labels = np.array(["high", "low", "mid"])[third]
    Xnan = X.copy()
    Xnan[::6, 1] = np.nan

    def on_device1(model):
        # Format 1.2: fitted under array API dispatch on array-api-strict's
        # non-default device; the header names namespace and device, the
        # golden output is that of its host copy (model.to_numpy()).
        import array_api_strict as xp

        device = xp.Device("device1")
        with sklearn.config_context(array_api_dispatch=True):
            return model.fit(xp.asarray(X, device=device), xp.asarray(y, device=device))

    return {
        "linear_model.LinearRegression": [
            ("LinearRegression", lambda c: c().fit(X, y)),
            ("LinearRegression-float32", lambda c: c().fit(X32, y32)),
            ("LinearRegression-multi", lambda c: c(fit_intercept=False).fit(X, Y)),
            ("LinearRegression-unfitted", lambda c: c(tol=1e-3)),
        ],
        "linear_model.Ridge": [
            ("Ridge", lambda c: c(alpha=np.array([0.5, 3.0])).fit(X, Y)),
            ("Ridge-array-api-strict-device1", lambda c: on_device1(c(alpha=0.7))),
        ],
        "linear_model.IncrementalLinearRegression": [
            ("IncrementalLinearRegression", lambda c: c(batch_size=16).fit(X, y)),
        ],
        "linear_model.IncrementalRidge": [
            ("IncrementalRidge-float32", lambda c: c(alpha=2.0).fit(X32, y32)),
        ],
        "linear_model.LogisticRegression": [
            ("LogisticRegression", lambda c: c().fit(X, (y > np.median(y)).astype(int))),
            ("LogisticRegression-multinomial-str-float32", lambda c: c(
                solver="newton-cg", class_weight="balanced").fit(X32, labels)),
            # Format 1.1: a dict parameter whose keys are not strings (__items__).
            ("LogisticRegression-class-weight-dict", lambda c: c(
                class_weight={0: 1.0, 1: 2.5}).fit(X, (y > np.median(y)).astype(int))),
            ("LogisticRegression-nopenalty-int16", lambda c: c(C=np.inf, fit_intercept=False).fit(
                X + 0.3 * np.random.default_rng(0).standard_normal(X.shape),
                np.array([-7, 3, 12], dtype=np.int16)[third])),
        ],
        "linear_model.ElasticNet": [
            ("ElasticNet", lambda c: c(alpha=0.5, l1_ratio=0.3).fit(X, y)),
            ("ElasticNet-multi-random", lambda c: c(
                alpha=0.2, selection="random", random_state=0).fit(X, Y)),
        ],
        "linear_model.Lasso": [
            ("Lasso-float32-nointercept", lambda c: c(alpha=0.1, fit_intercept=False).fit(
                X32, y32)),
        ],
        "covariance.EmpiricalCovariance": [
            ("EmpiricalCovariance", lambda c: c().fit(X)),
            ("EmpiricalCovariance-noprecision-float32", lambda c: c(
                store_precision=False, assume_centered=True).fit(X32)),
        ],
        "covariance.IncrementalEmpiricalCovariance": [
            ("IncrementalEmpiricalCovariance", lambda c: c(
                store_precision=True, batch_size=16).fit(X)),
        ],
        "basic_statistics.BasicStatistics": [
            ("BasicStatistics", lambda c: c().fit(X)),
            ("BasicStatistics-some-float32", lambda c: c(
                result_options=["min", "variance"]).fit(X32)),
        ],
        "basic_statistics.IncrementalBasicStatistics": [
            ("IncrementalBasicStatistics", lambda c: c(batch_size=16).fit(
                X, sample_weight=np.linspace(0.5, 2.0, len(X)))),
        ],
        "decomposition.PCA": [
            ("PCA", lambda c: c(n_components=3).fit(X)),
            ("PCA-whiten-float32", lambda c: c(whiten=True, svd_solver="covariance_eigh").fit(
                X32)),
        ],
        "decomposition.IncrementalPCA": [
            ("IncrementalPCA", lambda c: c(n_components=2, batch_size=20).fit(X)),
        ],
        "cluster.DBSCAN": [
            ("DBSCAN", lambda c: c(eps=1.2, min_samples=4).fit(X)),
            ("DBSCAN-manhattan-float32", lambda c: c(
                eps=2.0, min_samples=4, metric="manhattan").fit(X32)),
            # scikit-learn's own fit (sparse input): CSR components_.
            ("DBSCAN-sparse", lambda c: c(eps=1.2, min_samples=4).fit(sparse.csr_matrix(X))),
        ],
        # k-nearest neighbours: the training data is the model (_fit_X).
        "neighbors.NearestNeighbors": [
            ("NearestNeighbors", lambda c: c(n_neighbors=4, metric="manhattan").fit(X)),
        ],
        "neighbors.KNeighborsClassifier": [
            ("KNeighborsClassifier", lambda c: c(5).fit(X, third)),
            ("KNeighborsClassifier-distance-str-float32", lambda c: c(
                4, weights="distance", metric="manhattan").fit(X32, labels)),
            # Several outputs with string labels: one label list per output (attrs).
            ("KNeighborsClassifier-multi-str", lambda c: c(3).fit(
                X, np.c_[labels, (third % 2).astype(str)])),
        ],
        "neighbors.KNeighborsRegressor": [
            ("KNeighborsRegressor", lambda c: c(3, weights="distance").fit(X, y)),
            ("KNeighborsRegressor-multi-minkowski-float32", lambda c: c(
                6, metric="minkowski", p=3, algorithm="brute").fit(X32, Y.astype(np.float32))),
        ],
        "cluster.KMeans": [
            ("KMeans", lambda c: c(n_clusters=3, n_init=2, random_state=0).fit(X)),
            ("KMeans-float32-elkan", lambda c: c(
                n_clusters=4, init="random", algorithm="elkan", random_state=1).fit(X32)),
        ],
        "neighbors.LocalOutlierFactor": [
            ("LocalOutlierFactor", lambda c: c(10).fit(X)),
            # Outlier detection (no predict without novelty=True): the golden
            # output is every fitted array (negative_outlier_factor_ among them).
            ("LocalOutlierFactor-float32", lambda c: c(8, contamination=0.1).fit(X32)),
        ],
        # Forests: flat node arrays (thresholds and values float64 whatever X's dtype).
        "ensemble.RandomForestClassifier": [
            ("RandomForestClassifier", lambda c: c(4, max_depth=4, random_state=0).fit(X, third)),
            ("RandomForestClassifier-str-float32", lambda c: c(
                3, max_features=None, bootstrap=False, random_state=1).fit(X32, labels)),
            # scikit-learn's own fit (missing values): the same flat form, with
            # missing_go_to_left for the trees grown on missing values.
            ("RandomForestClassifier-sklearn-missing", lambda c: c(
                3, max_depth=4, random_state=0).fit(Xnan, third)),
        ],
        "ensemble.RandomForestRegressor": [
            ("RandomForestRegressor", lambda c: c(
                4, max_depth=5, max_samples=0.7, random_state=0).fit(X, y)),
            # scikit-learn's own fit (absolute_error).
            ("RandomForestRegressor-sklearn-absolute-error", lambda c: c(
                3, criterion="absolute_error", max_depth=4, random_state=0).fit(X, y)),
        ],
        "ensemble.ExtraTreesClassifier": [
            ("ExtraTreesClassifier-balanced", lambda c: c(
                4, class_weight="balanced", max_leaf_nodes=6, random_state=0).fit(X, labels)),
        ],
        "ensemble.ExtraTreesRegressor": [
            ("ExtraTreesRegressor-multi-float32", lambda c: c(
                3, min_samples_leaf=3, random_state=0).fit(X32, Y.astype(np.float32))),
        ],
        # t-SNE has no transform: the golden output is its embedding (float32,
        # scikit-learn's dtype, from "pca" and "random"; a float64 start keeps
        # float64).
        "manifold.TSNE": [
            ("TSNE", lambda c: c(perplexity=10, max_iter=300, random_state=0).fit(X)),
            ("TSNE-exact-float64-init", lambda c: c(
                method="exact", perplexity=5, max_iter=260,
                init=np.random.default_rng(0).standard_normal((60, 2)) * 1e-4).fit(X32)),
        ],
        "svm.SVC": [
            ("SVC", lambda c: c().fit(X, third)),
            ("SVC-linear-str-ovo-balanced", lambda c: c(
                kernel="linear", decision_function_shape="ovo", class_weight="balanced"
            ).fit(X, labels)),
        ],
        "svm.NuSVC": [
            ("NuSVC-poly-binary", lambda c: c(nu=0.3, kernel="poly", degree=2).fit(
                X, (y > np.median(y)).astype(int))),
        ],
        "svm.SVR": [("SVR", lambda c: c(C=10.0).fit(X, y))],
        "svm.NuSVR": [
            ("NuSVR-sigmoid", lambda c: c(kernel="sigmoid", gamma=0.05).fit(X, y)),
        ],
        "svm.OneClassSVM": [("OneClassSVM", lambda c: c(nu=0.2).fit(X))],
    }


def models():
    """Small fitted models of every oxlearn kind, in both dtypes and target shapes.

    The kinds are the Rust registry's: a kind without a recipe stops the
    script, so a new kind cannot go without golden files.
    """
    recipes = _recipes()
    registry = _registry()
    if set(recipes) != set(registry):
        raise SystemExit(
            f"golden recipes and the registry's oxlearn kinds differ: no recipe for "
            f"{sorted(set(registry) - set(recipes))}, unknown kinds "
            f"{sorted(set(recipes) - set(registry))}; edit _recipes()"
        )
    for kind, cls in registry.items():
        for name, fit in recipes[kind]:
            yield name, fit(cls)


def composite_models():
    """Format 1.3: pipelines, column transformers and stock transformers.

    Each comes with the input it is fitted on and records its output for.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectKBest, VarianceThreshold
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

    from oxlearn.cluster import KMeans
    from oxlearn.decomposition import PCA
    from oxlearn.ensemble import RandomForestClassifier
    from oxlearn.linear_model import LogisticRegression, Ridge
    from oxlearn.neighbors import KNeighborsClassifier

    X, y = make_regression(60, 4, noise=1.0, random_state=0)
    Xmiss = X.copy()
    Xmiss[::5, 2] = np.nan
    third = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    # Small integers as categories (a numeric one-hot), in column 3.
    Xcat = np.c_[X[:, :3], third]
    yield "Pipeline-scalers-ridge", make_pipeline(
        StandardScaler(), MinMaxScaler(clip=True), RobustScaler(), MaxAbsScaler(), Ridge(0.5)
    ).fit(X, y), X
    yield "Pipeline-impute-poly-select-logistic", make_pipeline(
        SimpleImputer(strategy="median"), PolynomialFeatures(2), VarianceThreshold(0.1),
        SelectKBest(k=6), LogisticRegression(max_iter=500)
    ).fit(Xmiss, third), Xmiss
    yield "Pipeline-normalizer-pca-kmeans", make_pipeline(
        Normalizer(), PCA(2), KMeans(3, n_init=2, random_state=0)).fit(X), X
    yield "ColumnTransformer-onehot-ordinal-forest", make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [3]),
            ("ord", OrdinalEncoder(), [3]),
            ("drop", "drop", [2]),
        ], remainder="drop"),
        RandomForestClassifier(4, max_depth=4, random_state=0),
    ).fit(Xcat, third), Xcat
    yield "ColumnTransformer-passthrough-remainder", ColumnTransformer(
        [("scale", StandardScaler(), [0]), ("keep", "passthrough", [1])],
        remainder=MinMaxScaler()).fit(X), X
    # String categories (an object array in the header), infrequent ones grouped.
    words = np.array(["red", "green", "blue", "cyan"])[third].reshape(-1, 1)
    words[[0, 7, 13]] = "cyan"  # 3 < min_frequency: grouped as infrequent
    yield "Pipeline-onehot-strings-knn", make_pipeline(
        OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist",
                      sparse_output=False, drop="first"),
        KNeighborsClassifier(3),
    ).fit(words, third), words
    yield "Pipeline-unfitted", make_pipeline(StandardScaler(), Ridge()), None
    from sklearn.preprocessing import LabelEncoder

    # A target encoder: no X (it encodes y); its classes_ are the record.
    yield "LabelEncoder-strings", LabelEncoder().fit(["b", "a", "c", "a"]), None


def main():
    """Write ``<name>.oxl``, ``<name>.X.npy`` and ``<name>.pred.npy`` per model.

    Existing files are never rewritten: new kinds add files, old ones stay.
    ``pred`` is ``oxlearn.tests._golden.output(model, X)``.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    X, _ = make_regression(60, 4, noise=1.0, random_state=0)
    index_path = OUT / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for name, model in models():
        if (OUT / f"{name}.oxl").exists():
            continue
        oxlearn.save(model, OUT / f"{name}.oxl")
        model = model.to_numpy()
        fitted = getattr(model, model._oxlearn_dtype_attr, None)
        if fitted is not None:
            Xm = X.astype(fitted.dtype)
            out = golden_output(model, Xm)
            np.save(OUT / f"{name}.X.npy", Xm)
            np.save(OUT / f"{name}.pred.npy", out)
        index[name] = type(model).__name__
    for name, model, Xc in composite_models():
        if (OUT / f"{name}.oxl").exists():
            continue
        oxlearn.save(model, OUT / f"{name}.oxl")
        if Xc is not None:
            np.save(OUT / f"{name}.X.npy", Xc)
            np.save(OUT / f"{name}.pred.npy", golden_output(model, Xc))
        index[name] = type(model).__name__
    index_path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(index)} models to {OUT}")


if __name__ == "__main__":
    main()
