"""Patching, configuration, logging and tuning knobs."""

import subprocess
import sys
import threading

import numpy as np
import pytest
import sklearn
import sklearn.linear_model
from sklearn.datasets import make_regression

import oxlearn
from oxlearn.linear_model import LinearRegression, Ridge


@pytest.fixture(autouse=True)
def _unpatched():
    oxlearn.unpatch_sklearn()
    yield
    oxlearn.unpatch_sklearn()


def test_patch_and_unpatch():
    original = sklearn.linear_model.LinearRegression
    names = oxlearn.get_patch_names()
    assert names == sorted(names)
    assert {
        "DBSCAN", "EmpiricalCovariance", "KMeans", "LinearRegression", "LogisticRegression",
        "PCA", "Ridge",
    } <= set(names)
    assert not oxlearn.sklearn_is_patched()
    oxlearn.patch_sklearn("LinearRegression")
    assert sklearn.linear_model.LinearRegression is LinearRegression
    assert sklearn.linear_model._base.LinearRegression is LinearRegression
    assert sklearn.linear_model.Ridge is not Ridge
    assert oxlearn.sklearn_is_patched(return_map=True) == {
        name: name == "LinearRegression" for name in oxlearn.get_patch_names()
    }
    oxlearn.patch_sklearn()
    assert oxlearn.sklearn_is_patched()
    assert sklearn.linear_model.Ridge is Ridge
    oxlearn.unpatch_sklearn()
    assert sklearn.linear_model.LinearRegression is original
    assert not oxlearn.sklearn_is_patched(return_map=True)["Ridge"]
    with pytest.raises(ValueError, match="cannot patch"):
        oxlearn.patch_sklearn("LinearSVC")


def test_patched_estimator_is_used_by_sklearn_code():
    from sklearn.linear_model import RANSACRegressor

    oxlearn.patch_sklearn()
    X, y = make_regression(200, 3, random_state=0)
    model = RANSACRegressor(random_state=0).fit(X, y)
    assert isinstance(model.estimator_, LinearRegression)


def test_python_m_oxlearn_runs_script_patched(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "print(LinearRegression.__module__, sys.argv[1:])\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "oxlearn", str(script), "a", "--b"],
        check=True, capture_output=True, text=True,
    )
    assert out.stdout.strip() == "oxlearn.linear_model._linear ['a', '--b']"
    (tmp_path / "patched_mod.py").write_text(script.read_text())
    out = subprocess.run(
        [sys.executable, "-m", "oxlearn", "-m", "patched_mod", "x"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )
    assert out.stdout.strip() == "oxlearn.linear_model._linear ['x']"
    bad = subprocess.run([sys.executable, "-m", "oxlearn"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_verbose_env_logs_dispatch():
    code = (
        "import numpy as np\n"
        "from oxlearn.linear_model import LinearRegression\n"
        "X = np.random.default_rng(0).standard_normal((20, 3))\n"
        "m = LinearRegression().fit(X, X[:, 0]); m.predict(X)\n"
        "LinearRegression(positive=True).fit(X, X[:, 0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True,
        env={**__import__("os").environ, "OXLEARN_VERBOSE": "INFO"},
    )
    assert "LinearRegression.fit: running accelerated version on CPU" in out.stderr
    assert "LinearRegression.predict: running accelerated version on CPU" in out.stderr
    assert "LinearRegression.fit: fallback to scikit-learn (positive=True" in out.stderr


def test_config_extends_sklearn_and_context_restores():
    config = oxlearn.get_config()
    assert config["target_offload"] == "auto"
    assert config["allow_fallback_to_host"] is False
    assert config["strict_persistence"] is False
    assert set(sklearn.get_config()) <= set(config)
    with oxlearn.config_context(assume_finite=True, target_offload="cpu"):
        assert sklearn.get_config()["assume_finite"] is True
        assert oxlearn.get_config()["target_offload"] == "cpu"
    assert sklearn.get_config()["assume_finite"] is False
    assert oxlearn.get_config()["target_offload"] == "auto"
    with pytest.raises(ValueError, match="target_offload"):
        oxlearn.set_config(target_offload="tpu")
    with pytest.raises(ValueError, match="strict_persistence"):
        oxlearn.set_config(strict_persistence="yes")
    with pytest.raises(TypeError):
        oxlearn.set_config(not_an_option=1)


def test_config_is_thread_local():
    seen = {}
    with oxlearn.config_context(target_offload="cpu"):
        t = threading.Thread(target=lambda: seen.update(oxlearn.get_config()))
        t.start()
        t.join()
    assert seen["target_offload"] == "auto"


def test_gpu_offload_not_implemented_unless_fallback_allowed(caplog):
    # An estimator without a GPU path (the GPU ones: test_gpu.py).
    from oxlearn.covariance import EmpiricalCovariance

    X, y = make_regression(50, 3, random_state=0)
    with oxlearn.config_context(target_offload="gpu"):
        with pytest.raises(NotImplementedError, match="EmpiricalCovariance.fit: GPU offload"):
            EmpiricalCovariance().fit(X)
        with oxlearn.config_context(allow_fallback_to_host=True):
            with caplog.at_level("INFO", logger="oxlearn"):
                model = EmpiricalCovariance().fit(X)
    assert "running on host" in caplog.text
    assert np.isfinite(model.covariance_).all()


def test_hyperparameters():
    hp = LinearRegression.get_hyperparameters("fit")
    assert hp.to_dict() == {"chunk_rows": 0}
    assert LinearRegression().get_hyperparameters("fit") is hp
    X, y = make_regression(5000, 4, random_state=0)
    default = LinearRegression().fit(X, y)
    hp.chunk_rows = 256
    try:
        tuned = LinearRegression().fit(X, y)
        np.testing.assert_allclose(tuned.coef_, default.coef_, rtol=1e-12)
        with pytest.raises(ValueError, match="non-negative integer"):
            hp.chunk_rows = -1
        with pytest.raises(AttributeError, match="no hyperparameter 'block'"):
            hp.block = 3
    finally:
        LinearRegression.reset_hyperparameters("fit")
    assert hp.chunk_rows == 0
    with pytest.raises(ValueError, match="no hyperparameters for 'transform'"):
        LinearRegression.get_hyperparameters("transform")
