"""scripts/sklearn_suite.sh: the deselection list can only shrink."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "sklearn_suite.sh"
PASSING = "linear_model/tests/test_base.py::test_linear_regression_positive_multiple_outcome"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="needs the source tree")


def _run(tmp_path, toml, *tests):
    path = tmp_path / "deselected.toml"
    path.write_text(toml)
    env = {**os.environ, "SKLEARN_SUITE_DESELECTED": str(path), "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), "oxlearn", *tests], env=env,
                          capture_output=True, text=True, timeout=600)


def _entry(test, category="deliberate", reason="because"):
    return f'[[deselect]]\ntest = "{test}"\ncategory = "{category}"\nreason = "{reason}"\n'


def test_a_deselected_test_that_passes_fails_the_run(tmp_path):
    # The test takes scikit-learn's global_random_seed fixture: it runs (and
    # passes) only because scikit-learn's conftest.py is loaded.
    out = _run(tmp_path, _entry(PASSING + "[*]"), PASSING)
    assert out.returncode != 0, out.stdout
    assert "XPASS(strict)" in out.stdout
    assert "fixture 'global_random_seed' not found" not in out.stdout


def test_an_entry_matching_no_test_fails_the_run(tmp_path):
    stale = "linear_model/tests/test_base.py::test_no_such_test"
    out = _run(tmp_path, _entry(PASSING + "[*]") + _entry(stale), PASSING, "--collect-only")
    assert out.returncode != 0
    assert "match no test" in out.stdout + out.stderr


def test_an_entry_needs_a_category_and_a_reason(tmp_path):
    out = _run(tmp_path, _entry(PASSING + "[*]", category="not implemented yet"), PASSING,
               "--collect-only")
    assert out.returncode != 0
    assert "bad entry" in out.stdout + out.stderr
