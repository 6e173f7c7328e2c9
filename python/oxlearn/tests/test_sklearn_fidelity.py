"""Shapes and behaviours scikit-learn's own tests pin, on oxlearn's models."""

import numpy as np
from sklearn import linear_model as sk
from sklearn import neighbors as sk_neighbors

import oxlearn
from oxlearn.cluster import KMeans
from oxlearn.linear_model import LogisticRegression, Ridge
from oxlearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors

rng = np.random.RandomState(0)
X = rng.randn(30, 5)
y = X @ rng.randn(5) + 0.1 * rng.randn(30)


def test_ridge_single_column_target_shapes_and_file(tmp_path):
    for fit_intercept in (True, False):
        ours = Ridge(fit_intercept=fit_intercept).fit(X, y[:, None])
        stock = sk.Ridge(fit_intercept=fit_intercept).fit(X, y[:, None])
        assert ours.coef_.shape == stock.coef_.shape == (5,)
        assert np.shape(ours.intercept_) == np.shape(stock.intercept_)
        assert ours.predict(X).shape == stock.predict(X).shape
        np.testing.assert_allclose(ours.coef_, stock.coef_, rtol=1e-8)
        oxlearn.save(ours, tmp_path / "r.oxl")
        loaded = oxlearn.load(tmp_path / "r.oxl")
        np.testing.assert_array_equal(loaded.predict(X), ours.predict(X))


def test_logistic_predicts_with_a_hand_set_binary_coef():
    # LogisticRegressionCV's scoring path sets coef_ of shape (n_features,).
    yc = (y > 0).astype(int)
    ours, stock = LogisticRegression(), sk.LogisticRegression()
    for m in (ours, stock):
        m.classes_ = np.array([0, 1])
        m.coef_ = np.arange(5.0) / 10
        m.intercept_ = np.float64(0.25)
    np.testing.assert_allclose(ours.decision_function(X), stock.decision_function(X))
    np.testing.assert_array_equal(ours.predict(X), stock.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), stock.predict_proba(X))
    assert ours.score(X, yc) == stock.score(X, yc)


def test_kmeans_records_n_init():
    assert KMeans(n_clusters=2, random_state=0).fit(X)._n_init == 1
    assert KMeans(n_clusters=2, init="random", random_state=0).fit(X)._n_init == 10


def test_knn_on_a_fitted_index_and_leave_one_out_queries():
    from sklearn.neighbors import BallTree, KDTree

    yc = (y > 0).astype(int)
    ref = NearestNeighbors(n_neighbors=2).fit(X)
    for data in (ref, BallTree(X), KDTree(X)):
        nn = NearestNeighbors(n_neighbors=2).fit(data)
        for a, b in zip(nn.kneighbors(X), ref.kneighbors(X), strict=True):
            np.testing.assert_allclose(a, b)
    for cls, target in ((KNeighborsClassifier, yc), (KNeighborsRegressor, y)):
        model = cls(n_neighbors=3).fit(X, target)
        stock = getattr(sk_neighbors, cls.__name__)
        expected = stock(n_neighbors=3).fit(X, target).predict(None)
        np.testing.assert_allclose(model.predict(None), expected)
