"""An example estimator of every oxlearn model kind, for the kind-wide test lists.

The kinds are the Rust registry's (``oxlearn-format``, seen as
``_core.known_kinds("oxlearn")``); ``test_examples_cover_every_kind`` holds
this table to it, so a new kind fails the tests until it has an example
here, and every list built with :func:`with_every_kind` then covers it.
"""

from sklearn.base import clone

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
from oxlearn.svm import SVC, SVR, NuSVC, NuSVR, OneClassSVM

# Small and deterministic: each fits in well under a second on a few hundred
# rows of 4 to 6 features.
EXAMPLES = {
    "linear_model.LinearRegression": [LinearRegression()],
    "linear_model.Ridge": [Ridge(alpha=2.0)],
    "linear_model.IncrementalLinearRegression": [IncrementalLinearRegression()],
    "linear_model.IncrementalRidge": [IncrementalRidge()],
    "linear_model.LogisticRegression": [LogisticRegression()],
    "linear_model.ElasticNet": [ElasticNet(alpha=0.1)],
    "linear_model.Lasso": [Lasso(alpha=0.1)],
    "covariance.EmpiricalCovariance": [EmpiricalCovariance()],
    "covariance.IncrementalEmpiricalCovariance": [IncrementalEmpiricalCovariance()],
    "basic_statistics.BasicStatistics": [BasicStatistics()],
    "basic_statistics.IncrementalBasicStatistics": [IncrementalBasicStatistics()],
    "decomposition.PCA": [PCA(n_components=3)],
    "decomposition.IncrementalPCA": [IncrementalPCA(n_components=3)],
    "cluster.DBSCAN": [DBSCAN(eps=3.0)],
    "neighbors.NearestNeighbors": [NearestNeighbors(n_neighbors=4)],
    "neighbors.KNeighborsClassifier": [KNeighborsClassifier()],
    "neighbors.KNeighborsRegressor": [KNeighborsRegressor()],
    "neighbors.LocalOutlierFactor": [LocalOutlierFactor(novelty=True)],
    "cluster.KMeans": [KMeans(n_clusters=3, n_init=1, random_state=0)],
    "ensemble.RandomForestClassifier": [RandomForestClassifier(4, random_state=0)],
    "ensemble.RandomForestRegressor": [RandomForestRegressor(4, random_state=0)],
    "ensemble.ExtraTreesClassifier": [ExtraTreesClassifier(4, random_state=0)],
    "ensemble.ExtraTreesRegressor": [ExtraTreesRegressor(4, random_state=0)],
    "manifold.TSNE": [TSNE(perplexity=10, max_iter=260, random_state=0)],
    "svm.SVC": [SVC()],
    "svm.NuSVC": [NuSVC(nu=0.3, kernel="poly", degree=2)],
    "svm.SVR": [SVR(kernel="linear")],
    "svm.NuSVR": [NuSVR(kernel="sigmoid", gamma=0.05)],
    "svm.OneClassSVM": [OneClassSVM(nu=0.2)],
}


def examples():
    """Fresh copies of every example, in the registry's order.

    Returns
    -------
    estimators : list of estimator
    """
    return [clone(est) for ests in EXAMPLES.values() for est in ests]


def missing(estimators):
    """Fresh copies of the examples of the kinds ``estimators`` lack.

    Parameters
    ----------
    estimators : list of estimator

    Returns
    -------
    estimators : list of estimator
    """
    have = {est._oxlearn_kind for est in estimators}
    return [clone(est) for kind, ests in EXAMPLES.items() if kind not in have for est in ests]


def with_every_kind(estimators):
    """``estimators``, then the examples of the kinds they miss.

    A test list keeps the variants it chose (the cases its checks are
    about) and still covers every kind.

    Parameters
    ----------
    estimators : list of estimator
        The test's own choice.

    Returns
    -------
    estimators : list of estimator
    """
    return list(estimators) + missing(estimators)
