"""The wheel's contents and tag (issue 18, item 9), checked without a release build.

``maturin build`` in the development profile reuses what ``maturin develop``
built (seconds), and packs the same files as the release wheel: no test
files may be inside. The manylinux tag of the release wheel needs zig to link
against glibc 2.28 (``scripts/test_wheel.sh`` builds and checks it); here the
configuration that asks for it is checked, and that a wheel built without
that tag is refused by ``scripts/check_wheel.py``.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import check_wheel  # noqa: E402


def test_maturin_asks_for_manylinux_2_28_and_excludes_the_tests():
    maturin = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maturin"]
    assert maturin["compatibility"] == "manylinux_2_28"
    assert {"path": "python/oxlearn/**/tests/**", "format": "wheel"} in maturin["exclude"]


def test_the_wheel_holds_no_tests(tmp_path):
    maturin = shutil.which("maturin", path=os.path.dirname(sys.executable)) or "maturin"
    # --compatibility linux: the tag needs zig (test_wheel.sh); the file list does not.
    run = subprocess.run(
        [maturin, "build", "--quiet", "--compatibility", "linux", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (wheel,) = tmp_path.glob("oxlearn-*.whl")
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
        "1 test files are in the wheel, e.g. ['oxlearn/tests/test_x.py']"
    ]
