"""The Rust registry of model kinds is the one list: the Python tables derived
from it (load's classes, the stock classes, the patch table) and the test
lists checked against it."""

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import covariance as sk_covariance

import oxlearn
from oxlearn import _composite, _core, _patch
from oxlearn._io import _from_sklearn_classes, _registry
from oxlearn.covariance import EmpiricalCovariance
from oxlearn.tests import _kinds


def test_examples_cover_every_kind():
    assert list(_kinds.EXAMPLES) == _core.known_kinds("oxlearn")
    for kind, ests in _kinds.EXAMPLES.items():
        assert ests and all(est._oxlearn_kind == kind for est in ests)


def test_every_kind_has_golden_files():
    # scripts/make_golden.py records every kind of the registry.
    index = Path(__file__).parent / "golden" / _core.FORMAT_VERSION / "index.json"
    recorded = set(json.loads(index.read_text()).values())
    assert {cls.__name__ for cls in _registry().values()} <= recorded


def test_origins_partition_the_registry():
    kinds = {o: _core.known_kinds(o) for o in ("oxlearn", "sklearn", "marker")}
    assert sorted(sum(kinds.values(), [])) == sorted(_core.known_kinds())
    assert kinds["marker"] == ["compose.passthrough", "compose.drop"]
    with pytest.raises(ValueError, match="unknown origin"):
        _core.known_kinds("stock")


def test_every_kind_names_its_class():
    # Kind "<module>.<class>" is oxlearn.<module>.<class> or sklearn.<module>.<class>.
    assert list(_registry()) == _core.known_kinds("oxlearn")
    for kind, cls in _registry().items():
        assert cls._oxlearn_kind == kind
        assert cls.__module__.startswith("oxlearn." + kind.rsplit(".", 1)[0])
    assert sorted(_composite.stock_classes()) == sorted(_core.known_kinds("sklearn"))
    for kind, cls in _composite.stock_classes().items():
        assert f"{cls.__module__}.{cls.__name__}".startswith("sklearn." + kind.split(".")[0])
        assert cls.__name__ == kind.rsplit(".", 1)[1]


def test_from_sklearn_gives_the_class_of_the_same_name():
    # IncrementalEmpiricalCovariance subclasses scikit-learn's
    # EmpiricalCovariance: it must not take over its conversion.
    assert all(ox.__name__ == sk.__name__ for sk, ox in _from_sklearn_classes().items())
    X = np.random.default_rng(0).standard_normal((30, 3))
    assert type(oxlearn.from_sklearn(sk_covariance.EmpiricalCovariance().fit(X))) is (
        EmpiricalCovariance)


# The patch table as it was written by hand before it was derived from the
# registry: deriving it changed nothing.
_FOREST_MODULES = ("sklearn.ensemble", "sklearn.ensemble._forest")
PATCHABLE = {
    "LinearRegression": (
        "oxlearn.linear_model", ("sklearn.linear_model", "sklearn.linear_model._base")
    ),
    "Ridge": ("oxlearn.linear_model", ("sklearn.linear_model", "sklearn.linear_model._ridge")),
    "ElasticNet": (
        "oxlearn.linear_model", ("sklearn.linear_model", "sklearn.linear_model._coordinate_descent")
    ),
    "Lasso": (
        "oxlearn.linear_model", ("sklearn.linear_model", "sklearn.linear_model._coordinate_descent")
    ),
    "LogisticRegression": (
        "oxlearn.linear_model", ("sklearn.linear_model", "sklearn.linear_model._logistic")
    ),
    "KMeans": ("oxlearn.cluster", ("sklearn.cluster", "sklearn.cluster._kmeans")),
    "EmpiricalCovariance": (
        "oxlearn.covariance", ("sklearn.covariance", "sklearn.covariance._empirical_covariance")
    ),
    "PCA": ("oxlearn.decomposition", ("sklearn.decomposition", "sklearn.decomposition._pca")),
    "IncrementalPCA": (
        "oxlearn.decomposition",
        ("sklearn.decomposition", "sklearn.decomposition._incremental_pca"),
    ),
    "DBSCAN": ("oxlearn.cluster", ("sklearn.cluster", "sklearn.cluster._dbscan")),
    "NearestNeighbors": ("oxlearn.neighbors", ("sklearn.neighbors",
                                               "sklearn.neighbors._unsupervised")),
    "KNeighborsClassifier": ("oxlearn.neighbors", ("sklearn.neighbors",
                                                   "sklearn.neighbors._classification")),
    "KNeighborsRegressor": ("oxlearn.neighbors", ("sklearn.neighbors",
                                                  "sklearn.neighbors._regression")),
    "RandomForestClassifier": ("oxlearn.ensemble", _FOREST_MODULES),
    "RandomForestRegressor": ("oxlearn.ensemble", _FOREST_MODULES),
    "ExtraTreesClassifier": ("oxlearn.ensemble", _FOREST_MODULES),
    "ExtraTreesRegressor": ("oxlearn.ensemble", _FOREST_MODULES),
    "LocalOutlierFactor": ("oxlearn.neighbors", ("sklearn.neighbors",
                                                 "sklearn.neighbors._lof")),
    "TSNE": ("oxlearn.manifold", ("sklearn.manifold", "sklearn.manifold._t_sne")),
    **{name: ("oxlearn.svm", ("sklearn.svm", "sklearn.svm._classes"))
       for name in ("SVC", "NuSVC", "SVR", "NuSVR", "OneClassSVM")},
    "pairwise_distances": ("oxlearn.metrics", ("sklearn.metrics", "sklearn.metrics.pairwise")),
    "roc_auc_score": ("oxlearn.metrics", ("sklearn.metrics", "sklearn.metrics._ranking")),
    "train_test_split": ("oxlearn.model_selection", ("sklearn.model_selection",
                                                     "sklearn.model_selection._split")),
}


def test_patch_table_is_unchanged():
    assert _patch._PATCHABLE == PATCHABLE


def test_every_kind_with_a_sklearn_class_is_patchable():
    # Found from scikit-learn's side: a class of the kind's name in
    # sklearn.<module> (an oxlearn class that forgot to subclass it fails here).
    for kind in _core.known_kinds("oxlearn"):
        module, name = kind.rsplit(".", 1)
        try:
            stock = importlib.import_module(f"sklearn.{module}")
        except ModuleNotFoundError:  # basic_statistics: scikit-learn-intelex's API
            continue
        assert (name in oxlearn.get_patch_names()) == hasattr(stock, name), kind
