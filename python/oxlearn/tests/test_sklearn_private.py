"""Private scikit-learn names: one module, a clear error naming the range."""

import ast
import importlib
import re
import sys
import types
from pathlib import Path

import pytest
import sklearn

import oxlearn
from oxlearn import _sklearn_private

ROOT = Path(oxlearn.__file__).resolve().parent


def test_declared_range_is_the_one_named_and_holds_the_installed_version():
    pyproject = (ROOT.parent.parent / "pyproject.toml").read_text()
    assert f'"scikit-learn{_sklearn_private.SUPPORTED_SKLEARN}"' in pyproject
    major, minor, patch = (int(v) for v in sklearn.__version__.split(".")[:3])
    assert (1, 9, 1) <= (major, minor, patch) < (1, 10, 0)


def _private_sklearn_imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
            names = [*node.module.split("."), *(a.name for a in node.names)]
            if any(n.startswith("_") for n in names):
                yield f"{path.relative_to(ROOT)}:{node.lineno}"


def test_no_other_module_imports_private_sklearn_names():
    offenders = [
        hit for p in ROOT.rglob("*.py")
        if "tests" not in p.parts and p.name != "_sklearn_private.py"
        for hit in _private_sklearn_imports(p)
    ]
    assert offenders == []
    assert list(_private_sklearn_imports(ROOT / "_sklearn_private.py"))


def test_a_missing_private_name_fails_with_the_supported_range(monkeypatch):
    stub = types.ModuleType("sklearn.ensemble._forest")  # lacks _get_n_samples_bootstrap
    monkeypatch.setitem(sys.modules, "sklearn.ensemble._forest", stub)
    try:
        with pytest.raises(ImportError, match=re.escape(
                "oxlearn supports scikit-learn >=1.9.1,<1.10")) as info:
            importlib.reload(_sklearn_private)
        assert "_get_n_samples_bootstrap" in str(info.value)
    finally:
        monkeypatch.undo()
        importlib.reload(_sklearn_private)
    assert _sklearn_private._get_n_samples_bootstrap is not None
