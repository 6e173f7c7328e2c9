"""LogisticRegression: agreement with scikit-learn, determinism, warnings, errors."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import linear_model as sk
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import oxlearn
from oxlearn.linear_model import LogisticRegression

TIGHT = {"tol": 1e-10, "max_iter": 10_000}
DATASETS = {
    "iris": load_iris,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
    "wine": load_wine,
}


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


def _fit_both(X, y, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = LogisticRegression(**params).fit(X, y, sample_weight=sample_weight)
        ref = sk.LogisticRegression(**params).fit(X, y, sample_weight=sample_weight)
    return ours, ref


def _check_same(ours, ref, rtol=1e-4):
    assert ours.coef_.shape == ref.coef_.shape
    assert ours.intercept_.shape == ref.intercept_.shape
    assert ours.coef_.dtype == ref.coef_.dtype
    assert_array_equal(ours.classes_, ref.classes_)
    assert _rel(ours.coef_, ref.coef_) < rtol, _rel(ours.coef_, ref.coef_)
    if np.any(ref.intercept_):
        assert _rel(ours.intercept_, ref.intercept_) < rtol
    else:
        assert_array_equal(ours.intercept_, 0)
    assert ours.n_iter_.dtype == np.int32 and ours.n_iter_.shape == (1,)


def _standardised(name):
    X, y = DATASETS[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
@pytest.mark.parametrize("C", [1.0, 0.05])
def test_real_datasets_match_sklearn(name, solver, C):
    X, y = _standardised(name)
    ours, ref = _fit_both(X, y, solver=solver, C=C, **TIGHT)
    _check_same(ours, ref)
    # The same algorithm step for step: the iteration counts agree too.
    assert abs(int(ours.n_iter_[0]) - int(ref.n_iter_[0])) <= max(2, 0.1 * ref.n_iter_[0])


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_default_tolerance_stops_where_sklearn_stops(name, solver):
    X, y = _standardised(name)
    ours, ref = _fit_both(X, y, solver=solver)
    _check_same(ours, ref, rtol=1e-4)
    assert abs(int(ours.n_iter_[0]) - int(ref.n_iter_[0])) <= 1
    assert_array_equal(ours.predict(X), ref.predict(X))


def _synthetic(n_classes, rng_seed=0, n=600, p=8):
    # flip_y keeps the classes overlapping: the unpenalised optimum is finite.
    return make_classification(n, p, n_informative=5, n_classes=n_classes, flip_y=0.1,
                               class_sep=0.8, random_state=rng_seed)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_synthetic_matches_sklearn(n_classes, solver, fit_intercept, weighted):
    X, y = _synthetic(n_classes)
    X[:, 0] = 3.0 + 5 * X[:, 0]  # an offset, scaled feature
    sw = np.random.default_rng(1).uniform(0.1, 3.0, len(y)) if weighted else None
    ours, ref = _fit_both(X, y, sample_weight=sw, solver=solver,
                          fit_intercept=fit_intercept, C=0.7, **TIGHT)
    _check_same(ours, ref)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_no_penalty_matches_sklearn(n_classes, solver):
    X, y = _synthetic(n_classes, rng_seed=3)
    ours, ref = _fit_both(X, y, solver=solver, C=np.inf, **TIGHT)
    _check_same(ours, ref)
    # The deprecated spelling gives the same model, with sklearn's warning.
    with pytest.warns(FutureWarning, match="'penalty' was deprecated"):
        old = LogisticRegression(penalty=None, solver=solver, **TIGHT).fit(X, y)
    assert_allclose(old.coef_, ours.coef_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 1: 0.5, 2: 1.5}])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_class_weight_matches_sklearn(class_weight, solver):
    X, y = _synthetic(3, rng_seed=4)
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    ours, ref = _fit_both(X, y, sample_weight=sw, solver=solver, class_weight=class_weight,
                          **TIGHT)
    _check_same(ours, ref)
    # class_weight is a multiplier on the sample weights.
    if isinstance(class_weight, dict):
        cw = class_weight
        folded = LogisticRegression(solver=solver, **TIGHT).fit(
            X, y, sample_weight=sw * np.array([cw[c] for c in y]))
        assert_allclose(folded.coef_, ours.coef_, rtol=1e-8, atol=1e-10)


def test_outputs_match_sklearn_on_the_same_coefficients():
    for n_classes in (2, 4):
        X, y = _synthetic(n_classes, rng_seed=5)
        ref = sk.LogisticRegression().fit(X, y)
        ours = oxlearn.from_sklearn(ref)
        assert type(ours) is LogisticRegression
        assert_allclose(ours.decision_function(X), ref.decision_function(X), rtol=1e-12,
                        atol=1e-12)
        assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-12, atol=1e-15)
        assert_allclose(ours.predict_log_proba(X), ref.predict_log_proba(X), rtol=1e-10)
        assert_array_equal(ours.predict(X), ref.predict(X))
        assert ours.score(X, y) == ref.score(X, y)
        assert ours.decision_function(X).shape == ref.decision_function(X).shape


def test_log_proba_is_stable_where_proba_underflows():
    X = np.array([[0.0], [1.0]])
    model = LogisticRegression().fit(X, [0, 1])
    model.coef_ = np.array([[2000.0]])
    model.intercept_ = np.array([-1000.0])
    lp = model.predict_log_proba(np.array([[-1.0], [2.0]]))
    assert np.all(np.isfinite(lp))
    assert_allclose(lp[0], [0.0, -3000.0])
    assert_allclose(lp[1], [-3000.0, 0.0])


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"]),
    np.array(["no", "yes"], dtype=object),
    np.array([-5, 7, 100], dtype=np.int16),
    np.array([-1.0, 2.0]),
    np.array([False, True]),
])
def test_any_label_type(labels):
    X, y = _synthetic(len(labels), rng_seed=6)
    y = labels[y]
    ours, ref = _fit_both(X, y, **TIGHT)
    _check_same(ours, ref)
    assert ours.classes_.dtype == ref.classes_.dtype
    pred = ours.predict(X)
    assert pred.dtype == ref.predict(X).dtype
    assert_array_equal(pred, ref.predict(X))
    loaded = pickle.loads(pickle.dumps(ours))
    assert loaded.classes_.dtype == ours.classes_.dtype
    assert_array_equal(loaded.predict(X), pred)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_independent_of_thread_count(solver):
    X, y = _synthetic(3, n=20_000, p=12)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # n_jobs is deprecated in sklearn
        for n_jobs in (1, 2, 3, None):
            LogisticRegression.get_hyperparameters("fit").chunk_rows = 512
            try:
                m = LogisticRegression(solver=solver, n_jobs=n_jobs, tol=1e-8).fit(
                    X, y, sample_weight=sw)
            finally:
                LogisticRegression.reset_hyperparameters("fit")
            fits.append(m)
    for m in fits[1:]:
        assert_array_equal(m.coef_, fits[0].coef_)
        assert_array_equal(m.intercept_, fits[0].intercept_)
        assert_array_equal(m.n_iter_, fits[0].n_iter_)
        for method in ("decision_function", "predict_proba", "predict_log_proba"):
            assert_array_equal(getattr(m, method)(X), getattr(fits[0], method)(X))


def test_memory_layout_and_chunking_do_not_change_the_optimum():
    X, y = _synthetic(3, n=3000)
    a = LogisticRegression(**TIGHT).fit(X, y)
    b = LogisticRegression(**TIGHT).fit(np.asfortranarray(X), y)
    c = LogisticRegression(**TIGHT).fit(X[:, ::1].copy()[::1], y)
    strided = np.zeros((X.shape[0], 2 * X.shape[1]))
    strided[:, ::2] = X
    d = LogisticRegression(**TIGHT).fit(strided[:, ::2], y)
    for m in (b, c, d):
        assert_allclose(m.coef_, a.coef_, rtol=1e-6, atol=1e-8)


def test_float32_is_kept_as_sklearn_keeps_it():
    X, y = _standardised("breast_cancer")
    X32 = X.astype(np.float32)
    ours, ref = _fit_both(X32, y, tol=1e-6, max_iter=1000)
    assert ours.coef_.dtype == ref.coef_.dtype == np.float32
    assert ours.intercept_.dtype == ref.intercept_.dtype == np.float32
    # scikit-learn computes the loss in float32; oxlearn accumulates in f64.
    assert _rel(ours.coef_, ref.coef_) < 1e-3
    full = LogisticRegression(tol=1e-6, max_iter=1000).fit(X32.astype(np.float64), y)
    assert _rel(ours.coef_, full.coef_) < 1e-5
    assert ours.predict_proba(X32).dtype == np.float32
    assert ours.decision_function(X).dtype == np.float64


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_warm_start(solver):
    X, y = _synthetic(3, rng_seed=7)
    ours = LogisticRegression(solver=solver, warm_start=True, tol=1e-6).fit(X, y)
    ref = sk.LogisticRegression(solver=solver, warm_start=True, tol=1e-6).fit(X, y)
    ours.fit(X, y)
    ref.fit(X, y)
    assert_array_equal(ours.n_iter_, ref.n_iter_)
    assert ours.n_iter_[0] <= 1
    _check_same(ours, ref)
    # Starting from the previous solution of a different problem.
    ours.set_params(C=0.1).fit(X, y)
    ref.set_params(C=0.1).fit(X, y)
    _check_same(ours, ref)
    assert_array_equal(ours.n_iter_, ref.n_iter_)
    X4, y4 = _synthetic(4, rng_seed=7)
    msg = r"Initialization coef is of shape \(3, 9\), expected shape \(4, 9\)"
    with pytest.raises(ValueError, match=msg):
        ours.fit(X4, y4)
    with pytest.raises(ValueError, match=msg):
        ref.fit(X4, y4)


def test_convergence_warnings_as_sklearn():
    X, y = _standardised("digits")
    for solver, match in [("lbfgs", "lbfgs failed to converge after 3 iteration"),
                          ("newton-cg", "newton-cg failed to converge")]:
        with pytest.warns(ConvergenceWarning, match=match):
            ours = LogisticRegression(solver=solver, max_iter=3).fit(X, y)
        with pytest.warns(ConvergenceWarning, match=match):
            ref = sk.LogisticRegression(solver=solver, max_iter=3).fit(X, y)
        assert_array_equal(ours.n_iter_, ref.n_iter_)
        _check_same(ours, ref, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(max_iter=1000).fit(X, y)


def test_max_iter_zero_as_sklearn():
    X, y = _synthetic(2)
    with pytest.warns(ConvergenceWarning):
        ours = LogisticRegression(max_iter=0).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        ref = sk.LogisticRegression(max_iter=0).fit(X, y)
    assert_array_equal(ours.n_iter_, ref.n_iter_)
    _check_same(ours, ref, rtol=1e-10)


def test_unsupported_parameters_fall_back(caplog):
    X, y = _synthetic(2)
    cases = [
        ({"solver": "liblinear"}, "solver='liblinear' is not accelerated", X),
        ({"solver": "saga", "l1_ratio": 1.0, "random_state": 0}, "solver='saga'", X),
        ({"solver": "lbfgs"}, "sparse input", sparse.csr_matrix(X)),
    ]
    for params, reason, data in cases:
        caplog.clear()
        with caplog.at_level("INFO", logger="oxlearn"):
            ours = LogisticRegression(**params).fit(data, y)
        assert f"LogisticRegression.fit: fallback to scikit-learn ({reason}" in caplog.text
        ref = sk.LogisticRegression(**params).fit(data, y)
        assert_array_equal(ours.coef_, ref.coef_)
        assert_array_equal(ours.predict(data), ref.predict(data))
        assert_array_equal(pickle.loads(pickle.dumps(ours)).predict(X), ours.predict(X))
    # liblinear without an intercept leaves a scalar intercept_ = 0.0: it
    # saves and serves too.
    model = LogisticRegression(solver="liblinear", fit_intercept=False).fit(X, y)
    assert np.ndim(model.intercept_) == 0
    loaded = pickle.loads(pickle.dumps(model))
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # An L1 penalty needs another solver, as in scikit-learn.
    with pytest.raises(ValueError, match="Solver lbfgs supports only 'l2' or None penalties"):
        LogisticRegression(l1_ratio=1.0).fit(X, y)
    sw = np.ones(len(y))
    sw[0] = -1.0
    with caplog.at_level("INFO", logger="oxlearn"):
        ours = LogisticRegression().fit(X, y, sample_weight=sw)
    assert "negative sample weights" in caplog.text
    assert_array_equal(ours.coef_, sk.LogisticRegression().fit(X, y, sample_weight=sw).coef_)


def test_sparse_predict_and_sparsified_model_fall_back():
    X, y = _synthetic(3)
    model = LogisticRegression().fit(X, y)
    dense = model.predict_proba(X)
    assert_allclose(model.predict_proba(sparse.csr_matrix(X)), dense, rtol=1e-12)
    model.sparsify()
    assert_allclose(model.predict_proba(X), dense, rtol=1e-12)
    loaded = pickle.loads(pickle.dumps(model))
    assert sparse.issparse(loaded.coef_)
    assert_allclose(loaded.predict_proba(X), dense, rtol=1e-12)


def test_bad_input_errors():
    X, y = _synthetic(2, n=50)
    Xn = X.copy()
    Xn[7, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN.*row 7, column 3"):
        LogisticRegression().fit(Xn, y)
    Xn[7, 3] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        LogisticRegression(solver="newton-cg").fit(Xn, y)
    with pytest.raises(ValueError, match="needs samples of at least 2 classes"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="zero"):
        LogisticRegression().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        LogisticRegression().fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="class 0 the weight inf"):
        LogisticRegression(class_weight="balanced").fit(X, y, sample_weight=y.astype(float))
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="expecting 8 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict_proba(Xn.astype(float) * np.nan)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_deprecation_warnings_as_sklearn():
    X, y = _synthetic(2)
    for params, category, match in [
        ({"penalty": "l2"}, FutureWarning, "'penalty' was deprecated"),
        ({"n_jobs": 2}, FutureWarning, "'n_jobs' has no effect"),
        ({"l1_ratio": 0.5, "penalty": "l2"}, UserWarning, "l1_ratio parameter is only used"),
    ]:
        with pytest.warns(category, match=match):
            LogisticRegression(**params).fit(X, y)
        with pytest.warns(category, match=match):
            sk.LogisticRegression(**params).fit(X, y)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_patched_sklearn_uses_it_inside_logistic_regression_cv():
    X, y = _synthetic(3)
    oxlearn.patch_sklearn("LogisticRegression")
    try:
        from sklearn.linear_model import LogisticRegression as Patched
        from sklearn.linear_model import LogisticRegressionCV

        assert Patched is LogisticRegression
        cv = LogisticRegressionCV(Cs=3, cv=3).fit(X, y)
    finally:
        oxlearn.unpatch_sklearn("LogisticRegression")
    ref = LogisticRegressionCV(Cs=3, cv=3).fit(X, y)
    assert_allclose(cv.coef_, ref.coef_, rtol=1e-10)
