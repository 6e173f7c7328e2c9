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
from oxlearn.basic_statistics import BasicStatistics, IncrementalBasicStatistics
from oxlearn.cluster import DBSCAN, KMeans
from oxlearn.covariance import EmpiricalCovariance, IncrementalEmpiricalCovariance
from oxlearn.decomposition import PCA, IncrementalPCA
from oxlearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from oxlearn.linear_model import (
    ElasticNet,
    IncrementalLinearRegression,
    IncrementalRidge,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from oxlearn.manifold import TSNE
from oxlearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    LocalOutlierFactor,
    NearestNeighbors,
)
from oxlearn.tests._golden import output as golden_output

OUT = Path(__file__).resolve().parent.parent / "python/oxlearn/tests/golden" / _core.FORMAT_VERSION


def models():
    """Small fitted models of every kind, in both dtypes and target shapes."""
    X, y = make_regression(60, 4, noise=1.0, random_state=0)
    _, Y = make_regression(60, 4, n_targets=2, noise=1.0, random_state=1)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    yield "LinearRegression", LinearRegression().fit(X, y)
    yield "LinearRegression-float32", LinearRegression().fit(X32, y32)
    yield "LinearRegression-multi", LinearRegression(fit_intercept=False).fit(X, Y)
    yield "Ridge", Ridge(alpha=np.array([0.5, 3.0])).fit(X, Y)
    yield "ElasticNet", ElasticNet(alpha=0.5, l1_ratio=0.3).fit(X, y)
    yield "ElasticNet-multi-random", ElasticNet(
        alpha=0.2, selection="random", random_state=0
    ).fit(X, Y)
    yield "Lasso-float32-nointercept", Lasso(alpha=0.1, fit_intercept=False).fit(X32, y32)
    yield "IncrementalLinearRegression", IncrementalLinearRegression(batch_size=16).fit(X, y)
    yield "IncrementalRidge-float32", IncrementalRidge(alpha=2.0).fit(X32, y32)
    yield "LinearRegression-unfitted", LinearRegression(tol=1e-3)
    yield "EmpiricalCovariance", EmpiricalCovariance().fit(X)
    yield "EmpiricalCovariance-noprecision-float32", EmpiricalCovariance(
        store_precision=False, assume_centered=True
    ).fit(X32)
    yield "IncrementalEmpiricalCovariance", IncrementalEmpiricalCovariance(
        store_precision=True, batch_size=16
    ).fit(X)
    yield "BasicStatistics", BasicStatistics().fit(X)
    yield "BasicStatistics-some-float32", BasicStatistics(
        result_options=["min", "variance"]
    ).fit(X32)
    yield "PCA", PCA(n_components=3).fit(X)
    yield "PCA-whiten-float32", PCA(whiten=True, svd_solver="covariance_eigh").fit(X32)
    yield "IncrementalPCA", IncrementalPCA(n_components=2, batch_size=20).fit(X)
    yield "IncrementalBasicStatistics", IncrementalBasicStatistics(batch_size=16).fit(
        X, sample_weight=np.linspace(0.5, 2.0, len(X))
    )
    yield "DBSCAN", DBSCAN(eps=1.2, min_samples=4).fit(X)
    yield "DBSCAN-manhattan-float32", DBSCAN(eps=2.0, min_samples=4, metric="manhattan").fit(X32)
    # scikit-learn's own fit (sparse input): CSR components_.
    yield "DBSCAN-sparse", DBSCAN(eps=1.2, min_samples=4).fit(sparse.csr_matrix(X))
    # Classifiers: labels from the regression target (int64 array; strings and
    # int16 labels are stored in the header's attrs).
    third = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    yield "LogisticRegression", LogisticRegression().fit(X, (y > np.median(y)).astype(int))
    yield "LogisticRegression-multinomial-str-float32", LogisticRegression(
        solver="newton-cg", class_weight="balanced"
    ).fit(X32, np.array(["high", "low", "mid"])[third])
    # Format 1.1: a dict parameter whose keys are not strings (__items__).
    yield "LogisticRegression-class-weight-dict", LogisticRegression(
        class_weight={0: 1.0, 1: 2.5}
    ).fit(X, (y > np.median(y)).astype(int))
    yield "LogisticRegression-nopenalty-int16", LogisticRegression(
        C=np.inf, fit_intercept=False
    ).fit(X + 0.3 * np.random.default_rng(0).standard_normal(X.shape),
          np.array([-7, 3, 12], dtype=np.int16)[third])
    yield "KMeans", KMeans(n_clusters=3, n_init=2, random_state=0).fit(X)
    yield "KMeans-float32-elkan", KMeans(
        n_clusters=4, init="random", algorithm="elkan", random_state=1
    ).fit(X32)
    # k-nearest neighbours: the training data is the model (_fit_X).
    yield "KNeighborsClassifier", KNeighborsClassifier(5).fit(X, third)
    yield "KNeighborsClassifier-distance-str-float32", KNeighborsClassifier(
        4, weights="distance", metric="manhattan"
    ).fit(X32, np.array(["high", "low", "mid"])[third])
    # Several outputs with string labels: one label list per output (attrs).
    yield "KNeighborsClassifier-multi-str", KNeighborsClassifier(3).fit(
        X, np.c_[np.array(["high", "low", "mid"])[third], (third % 2).astype(str)]
    )
    yield "KNeighborsRegressor", KNeighborsRegressor(3, weights="distance").fit(X, y)
    yield "KNeighborsRegressor-multi-minkowski-float32", KNeighborsRegressor(
        6, metric="minkowski", p=3, algorithm="brute"
    ).fit(X32, Y.astype(np.float32))
    yield "NearestNeighbors", NearestNeighbors(n_neighbors=4, metric="manhattan").fit(X)
    yield "LocalOutlierFactor", LocalOutlierFactor(10).fit(X)
    # Outlier detection (no predict without novelty=True): the golden output
    # is every fitted array (negative_outlier_factor_ among them).
    yield "LocalOutlierFactor-float32", LocalOutlierFactor(8, contamination=0.1).fit(X32)
    # t-SNE has no transform: the golden output is its embedding (float32,
    # scikit-learn's dtype, from "pca" and "random"; a float64 start keeps
    # float64).
    yield "TSNE", TSNE(perplexity=10, max_iter=300, random_state=0).fit(X)
    yield "TSNE-exact-float64-init", TSNE(
        method="exact", perplexity=5, max_iter=260,
        init=np.random.default_rng(0).standard_normal((60, 2)) * 1e-4).fit(X32)
    # Forests: flat node arrays (thresholds and values float64 whatever X's dtype).
    labels = np.array(["high", "low", "mid"])[third]
    yield "RandomForestClassifier", RandomForestClassifier(
        4, max_depth=4, random_state=0).fit(X, third)
    yield "RandomForestClassifier-str-float32", RandomForestClassifier(
        3, max_features=None, bootstrap=False, random_state=1).fit(X32, labels)
    yield "ExtraTreesClassifier-balanced", ExtraTreesClassifier(
        4, class_weight="balanced", max_leaf_nodes=6, random_state=0).fit(X, labels)
    yield "RandomForestRegressor", RandomForestRegressor(
        4, max_depth=5, max_samples=0.7, random_state=0).fit(X, y)
    yield "ExtraTreesRegressor-multi-float32", ExtraTreesRegressor(
        3, min_samples_leaf=3, random_state=0).fit(X32, Y.astype(np.float32))
    # scikit-learn's own fit (absolute_error; missing values): the same flat form,
    # with missing_go_to_left for the trees grown on missing values.
    yield "RandomForestRegressor-sklearn-absolute-error", RandomForestRegressor(
        3, criterion="absolute_error", max_depth=4, random_state=0).fit(X, y)
    Xnan = X.copy()
    Xnan[::6, 1] = np.nan
    yield "RandomForestClassifier-sklearn-missing", RandomForestClassifier(
        3, max_depth=4, random_state=0).fit(Xnan, third)
    # Format 1.2: fitted under array API dispatch on array-api-strict's
    # non-default device; the header names namespace and device, the golden
    # output is that of its host copy (model.to_numpy()).
    import array_api_strict as xp

    device = xp.Device("device1")
    with sklearn.config_context(array_api_dispatch=True):
        yield "Ridge-array-api-strict-device1", Ridge(alpha=0.7).fit(
            xp.asarray(X, device=device), xp.asarray(y, device=device))


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
