"""The wheel's contents and tag (issue 18, item 9), checked without a release build.

``maturin build`` in the development profile reuses what ``maturin develop``
built (seconds), and packs the same files as the release wheel: no test
files may be inside. The manylinux tag of the release wheel needs zig to link
against glibc 2.28 (``scripts/test_wheel.sh`` builds and checks it); here the
configuration that asks for it is checked, and that a wheel built without
that tag is refused by ``scripts/check_wheel.py``.

The wheel also puts the ``oxlearn`` command on PATH (issue 16): installed
alone into a fresh virtual environment (no numpy, no scikit-learn: the
command needs none), it answers as the binary does, byte for byte.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomllib
from numpy.testing import assert_array_equal

import oxlearn
from oxlearn.linear_model import LogisticRegression
from oxlearn.tests.test_model_file import cli

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import check_wheel  # noqa: E402


def test_maturin_asks_for_manylinux_2_28_and_excludes_the_tests():
    maturin = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maturin"]
    assert maturin["compatibility"] == "manylinux_2_28"
    assert {"path": "python/oxlearn/**/tests/**", "format": "wheel"} in maturin["exclude"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built by ``maturin build`` in the development profile."""
    out = tmp_path_factory.mktemp("wheel")
    maturin = shutil.which("maturin", path=os.path.dirname(sys.executable)) or "maturin"
    # --compatibility linux: the tag needs zig (test_wheel.sh); the file list does not.
    run = subprocess.run(
        [maturin, "build", "--quiet", "--compatibility", "linux", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (found,) = out.glob("oxlearn-*.whl")
    return found


def test_the_wheel_holds_no_tests(wheel):
    assert check_wheel.problems(wheel) == []
    # The checker names a wheel without the manylinux tag (this one).
    assert check_wheel.problems(wheel, "manylinux_2_28_x86_64") == [
        f"the wheel is not tagged manylinux_2_28_x86_64: file name {wheel.name}, "
        "tags ['cp310-abi3-linux_x86_64']"
    ]


def test_the_checker_names_test_files(tmp_path):
    wheel = tmp_path / "oxlearn-0.1.0-cp310-abi3-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("oxlearn/_core.abi3.so", b"")
        zf.writestr("oxlearn/tests/test_x.py", "")
        zf.writestr("oxlearn-0.1.0.dist-info/WHEEL",
                    "Wheel-Version: 1.0\nTag: cp310-abi3-manylinux_2_28_x86_64\n")
    assert check_wheel.problems(wheel, "manylinux_2_28_x86_64") == [
        "1 test files are in the wheel, e.g. ['oxlearn/tests/test_x.py']",
        "the wheel has no `oxlearn` command (console script oxlearn_cli:main)",
    ]


def test_the_wheel_puts_the_oxlearn_command_on_path(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # The wheel alone, offline: the command needs no other package.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--no-index", "--no-deps", str(wheel)], check=True, timeout=300)
    installed = str(venv / "bin" / "oxlearn")

    def both(*args):
        """The installed command's and the binary's answers: (code, out, err)."""
        runs = [subprocess.run([exe, *map(str, args)], capture_output=True, timeout=120)
                for exe in (installed, cli())]
        return [(r.returncode, r.stdout, r.stderr) for r in runs]

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    model = LogisticRegression().fit(X, np.where(X[:, 0] > 0, "yes", "no"))
    oxlearn.save(model, tmp_path / "m.oxl")
    np.save(tmp_path / "X.npy", X)
    mine, binary = both("--version")
    assert mine == binary and mine[0] == 0 and mine[1].startswith(b"oxlearn ")
    mine, binary = both("inspect", tmp_path / "m.oxl")
    assert mine == binary and mine[0] == 0
    for out in ("y.npy", "y.csv"):
        mine, _ = both("predict", tmp_path / "m.oxl", "--input", tmp_path / "X.npy",
                       "--output", tmp_path / out)
        assert mine[0] == 0, mine[2]
    mine, binary = both("predict", tmp_path / "m.oxl", "--input", tmp_path / "X.npy",
                        "--output", tmp_path / "y.npy")
    assert mine == binary and mine[0] == 0
    assert_array_equal(np.load(tmp_path / "y.npy"), model.predict(X))
    # Failures: the same messages and exit codes (2: usage, 1: an error).
    mine, binary = both("predict", tmp_path / "m.oxl")
    assert mine == binary and mine[0] == 2
    mine, binary = both("predict", tmp_path / "missing.oxl", "--input", tmp_path / "X.npy",
                        "--output", tmp_path / "z.npy")
    assert mine == binary and mine[0] == 1
