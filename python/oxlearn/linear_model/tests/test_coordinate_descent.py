"""ElasticNet and Lasso: scikit-learn's coordinate descent, update for update."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import oxlearn
from oxlearn.linear_model import ElasticNet, Lasso

PAIRS = {ElasticNet: sk.ElasticNet, Lasso: sk.Lasso}

# (estimator class, parameters): each row exercises one branch of the solver.
SETTINGS = [
    (ElasticNet, {"alpha": 0.01}),
    (ElasticNet, {"alpha": 0.001, "l1_ratio": 0.2, "tol": 1e-8}),
    (ElasticNet, {"alpha": 0.05, "positive": True}),
    (ElasticNet, {"alpha": 0.01, "precompute": True}),
    (ElasticNet, {"alpha": 0.01, "selection": "random", "random_state": 3}),
    (ElasticNet, {"alpha": 0.1, "l1_ratio": 0.0}),  # pure L2: formulation B of the gap
    (Lasso, {"alpha": 0.1}),
    (Lasso, {"alpha": 0.0005, "tol": 1e-9, "max_iter": 5000}),
    (Lasso, {"alpha": 0.02, "selection": "random", "random_state": 0, "precompute": True}),
]


def _ids(setting):
    cls, params = setting
    return f"{cls.__name__}({', '.join(f'{k}={v}' for k, v in params.items())})"


def _pair(cls, params, X, y, **fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cls(**params).fit(X, y, **fit)
        ref = PAIRS[cls](**params).fit(X, y, **fit)
    # The gap is a difference of numbers of the order of ‖y‖²/n: its
    # rounding error scales with that, whatever the gap's own size.
    ref.gap_atol_ = 1e-12 * np.mean(np.square(y))
    return ours, ref


def _assert_same(ours, ref, rtol=1e-9):
    """The same fitted model: coefficients to rounding, the same iterations."""
    assert ours.coef_.shape == ref.coef_.shape and ours.coef_.dtype == ref.coef_.dtype
    scale = np.abs(ref.coef_).max()
    assert_allclose(ours.coef_, ref.coef_, rtol=rtol, atol=rtol * scale)
    # Exact zeros stay exact: screening and soft-thresholding agree.
    assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    assert_allclose(ours.intercept_, ref.intercept_, rtol=rtol, atol=rtol * max(scale, 1.0))
    assert ours.n_iter_ == ref.n_iter_
    assert type(ours.n_iter_) is type(ref.n_iter_)
    assert np.shape(ours.dual_gap_) == np.shape(ref.dual_gap_)
    assert_allclose(ours.dual_gap_, ref.dual_gap_, rtol=1e-5,
                    atol=getattr(ref, "gap_atol_", 1e-12))


def _synthetic(n=400, p=30, seed=0):
    X, y = make_regression(n, p, n_informative=8, noise=5.0, random_state=seed)
    # Offsets and scales that centring has to handle.
    return X * np.linspace(0.5, 3.0, p) + np.linspace(-5.0, 50.0, p), y + 100.0


@pytest.mark.parametrize("setting", SETTINGS, ids=_ids)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_diabetes_matches_sklearn(setting, fit_intercept, weighted):
    cls, params = setting
    X, y = load_diabetes(return_X_y=True)
    sw = np.random.default_rng(0).uniform(0.1, 3.0, len(y)) if weighted else None
    ours, ref = _pair(cls, {**params, "fit_intercept": fit_intercept}, X, y, sample_weight=sw)
    assert ours.n_iter_ > 1
    _assert_same(ours, ref)


@pytest.mark.parametrize("setting", SETTINGS, ids=_ids)
@pytest.mark.parametrize("shape", ["n>p", "p>n"])
def test_synthetic_matches_sklearn(setting, shape):
    # n > p runs on the Gram matrix, p > n on the centred data.
    cls, params = setting
    X, y = _synthetic(400, 30) if shape == "n>p" else _synthetic(40, 120, seed=1)
    ours, ref = _pair(cls, params, X, y)
    _assert_same(ours, ref, rtol=1e-8)
    if cls is Lasso and params["alpha"] >= 0.02:
        assert 0 < np.count_nonzero(ours.coef_) < X.shape[1]  # sparse solutions too


@pytest.mark.parametrize("seed", [0, 4])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_ill_conditioned_tight_tolerances_match_sklearn(seed, l1_ratio):
    # effective_rank=10 of 100 features and weights spanning three decades
    # (scikit-learn's test_enet_ridge_consistency): the Gram matrix's
    # cancellation is largest here, down to tol=1e-12; below that the
    # descent runs on the data, as scikit-learn's.
    rng = np.random.RandomState(seed)
    X, y = make_regression(300, 100, effective_rank=10, n_informative=50, random_state=rng)
    sw = rng.uniform(0.01, 10, size=len(y))
    for ridge_alpha, tol in [(1e-6, 1e-10), (1e-4, 1e-12), (1e-2, 1e-11), (1e-2, 1e-8)]:
        params = {"alpha": ridge_alpha / sw.sum(), "l1_ratio": l1_ratio, "tol": tol,
                  "max_iter": 3000}
        ours, ref = _pair(ElasticNet, params, X, y, sample_weight=sw)
        assert ours.n_iter_ == ref.n_iter_ < 3000
        assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10 * np.abs(ref.coef_).max())


@pytest.mark.parametrize("cls", [ElasticNet, Lasso])
def test_targets_shapes_and_values(cls):
    X, Y = make_regression(200, 8, n_targets=3, noise=1.0, random_state=2)
    for y in (Y[:, 0], Y[:, :1], Y):
        for fit_intercept in (True, False):
            params = {"alpha": 0.5, "fit_intercept": fit_intercept}
            ours, ref = _pair(cls, params, X, y)
            _assert_same(ours, ref)
            if not fit_intercept:
                assert ours.intercept_ == 0.0 and isinstance(ours.intercept_, float)
    assert isinstance(ours.n_iter_, list) and len(ours.n_iter_) == 3
    assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)


def test_random_selection_takes_sklearns_stream():
    # With one seed per target drawn as scikit-learn draws it, the random
    # coordinate order is scikit-learn's: the same iterations, and a shared
    # RandomState is left where scikit-learn leaves it.
    X, Y = make_regression(300, 20, n_targets=2, noise=2.0, random_state=4)
    rngs = [np.random.RandomState(7), np.random.RandomState(7)]
    ours = ElasticNet(alpha=0.01, selection="random", random_state=rngs[0]).fit(X, Y)
    ref = sk.ElasticNet(alpha=0.01, selection="random", random_state=rngs[1]).fit(X, Y)
    _assert_same(ours, ref)
    assert rngs[0].randint(1 << 30) == rngs[1].randint(1 << 30)
    cyclic = ElasticNet(alpha=0.01).fit(X, Y)
    assert ours.n_iter_ != cyclic.n_iter_


def test_float32_is_computed_in_float64():
    X, y = load_diabetes(return_X_y=True)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    ours = ElasticNet(alpha=0.01).fit(X32, y32)
    ref32 = sk.ElasticNet(alpha=0.01).fit(X32, y32)
    ref64 = sk.ElasticNet(alpha=0.01).fit(X, y)
    assert ours.coef_.dtype == np.float32 and np.asarray(ours.intercept_).dtype == np.float32
    assert ours.dual_gap_.dtype == np.float32
    # Closer to the float64 solution than scikit-learn's float32 arithmetic.
    err_ours = np.abs(ours.coef_ - ref64.coef_).max()
    assert err_ours <= np.abs(ref32.coef_ - ref64.coef_).max() + 1e-4
    assert_allclose(ours.coef_, ref32.coef_, rtol=1e-4, atol=1e-3)


def test_warm_start_continues_from_coef():
    X, y = _synthetic()
    ours = ElasticNet(alpha=1.0, warm_start=True).fit(X, y)
    ref = sk.ElasticNet(alpha=1.0, warm_start=True).fit(X, y)
    for est in (ours, ref):
        est.set_params(alpha=0.1)
        est.fit(X, y)
    _assert_same(ours, ref)
    # From its own optimum, a refit stops at the first gap check.
    assert ours.fit(X, y).n_iter_ <= 1


def test_convergence_warning_as_sklearn():
    X, y = _synthetic()

    def messages(cls, **params):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            cls(**params).fit(X, y)
        return [(type(m.message), str(m.message)) for m in w
                if issubclass(m.category, (ConvergenceWarning, UserWarning))]

    number = re.compile(r"\d\.\d+e[+-]\d+")
    for params in ({"alpha": 1e-4, "max_iter": 2, "tol": 0.0}, {"alpha": 0.0, "max_iter": 3}):
        ours, ref = messages(ElasticNet, **params), messages(sk.ElasticNet, **params)
        assert [t for t, _ in ours] == [t for t, _ in ref] and ours
        for (_, a), (_, b) in zip(ours, ref, strict=True):
            assert number.sub("#", a) == number.sub("#", b)
            assert_allclose([float(v) for v in number.findall(a)],
                            [float(v) for v in number.findall(b)], rtol=1e-6)


@pytest.mark.parametrize("case", ["sparse", "gram", "check_input", "negative_weight",
                                  "warm_start_shape"])
def test_fallbacks_are_logged_and_match(case, caplog):
    X, y = _synthetic(200, 10)
    est, ref = Lasso(alpha=0.1), sk.Lasso(alpha=0.1)
    fit = {}
    if case == "sparse":
        X = sparse.csr_matrix(np.where(np.abs(X) > 20, X, 0.0))
    elif case == "gram":
        Xc = X - X.mean(axis=0)
        est.set_params(precompute=Xc.T @ Xc, fit_intercept=False)
        ref.set_params(precompute=Xc.T @ Xc, fit_intercept=False)
        X = Xc
    elif case == "check_input":
        X, y = np.asfortranarray(X), np.asfortranarray(y)
        fit = {"check_input": False}
    elif case == "negative_weight":
        fit = {"sample_weight": np.r_[-0.5, np.ones(len(y) - 1)]}
    else:
        # A previous fit on two targets: the same starting point for both.
        _, Y = make_regression(200, 10, n_targets=2, random_state=0)
        ref.set_params(warm_start=True).fit(X, Y)
        est.set_params(warm_start=True).coef_ = ref.coef_.copy()
    with caplog.at_level("INFO", logger="oxlearn"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y, **fit)
        ref.fit(X, y, **fit)
    assert "Lasso.fit: fallback to scikit-learn (" in caplog.text
    assert_array_equal(est.coef_, ref.coef_)
    assert est.n_iter_ == ref.n_iter_


def test_accelerated_fit_is_logged(caplog):
    X, y = _synthetic(100, 5)
    with caplog.at_level("INFO", logger="oxlearn"):
        ElasticNet().fit(X, y)
    assert "ElasticNet.fit: running accelerated version on CPU" in caplog.text


def test_does_not_depend_on_thread_count():
    X, Y = make_regression(30_000, 40, n_targets=2, noise=1.0, random_state=5)
    ElasticNet.get_hyperparameters("fit").chunk_rows = 1024  # many chunks to spread
    try:
        fits = []
        for limit in (1, None):
            with threadpool_limits(limit):
                m = ElasticNet(alpha=0.05, selection="random", random_state=0).fit(X, Y)
            fits.append((m.coef_, m.intercept_, m.dual_gap_, m.n_iter_))
    finally:
        ElasticNet.reset_hyperparameters("fit")
    for a, b in zip(*fits, strict=True):
        assert_array_equal(a, b)


def test_copy_x_false_leaves_x_alone():
    X, y = _synthetic(100, 5)
    before = X.copy()
    Lasso(alpha=0.1, copy_X=False).fit(X, y)
    assert_array_equal(X, before)


def test_refuses_non_finite_input_as_sklearn():
    X, y = _synthetic(50, 4)
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ElasticNet().fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        sk.ElasticNet().fit(X, y)


def test_patched_cv_refits_through_oxlearn(caplog):
    # LassoCV's path over alphas and folds is scikit-learn's (enet_path), but
    # its final refit builds the module's Lasso: the patched one.
    X, y = _synthetic(150, 10)
    oxlearn.patch_sklearn(["Lasso", "ElasticNet"])
    try:
        from sklearn.linear_model import LassoCV

        assert sk.Lasso is Lasso
        with caplog.at_level("INFO", logger="oxlearn"):
            cv = LassoCV(cv=3).fit(X, y)
    finally:
        oxlearn.unpatch_sklearn(["Lasso", "ElasticNet"])
    assert sk.Lasso is not Lasso
    assert "Lasso.fit: running accelerated version" in caplog.text
    ref = Lasso(alpha=cv.alpha_).fit(X, y)
    assert_array_equal(cv.coef_, ref.coef_)
