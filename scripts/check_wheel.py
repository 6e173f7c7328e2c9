"""Check a built oxlearn wheel: no tests, the `oxlearn` command, the platform tag.

Usage: ``python scripts/check_wheel.py WHEEL [--tag manylinux_2_28_x86_64]``.
Exits non-zero, naming the problem, when the wheel ships tests, lacks the
``oxlearn`` command (the console script and its launcher ``oxlearn_cli``) or
lacks the tag. Used by ``scripts/test_wheel.sh`` (release wheel) and by
``python/oxlearn/tests/test_wheel_contents.py`` (a development build).
"""

import argparse
import sys
import zipfile
from pathlib import Path


def problems(wheel, tag=None):
    """Return what is wrong with ``wheel`` (an empty list when nothing is)."""
    wheel = Path(wheel)
    found = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        wheel_meta = next((n for n in names if n.endswith(".dist-info/WHEEL")), None)
        tags = [] if wheel_meta is None else [
            line.split(":", 1)[1].strip() for line in zf.read(wheel_meta).decode().splitlines()
            if line.startswith("Tag:")
        ]
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")),
                            None)
        scripts = "" if entry_points is None else zf.read(entry_points).decode()
    tests = [n for n in names if "/tests/" in n or n.startswith("tests/")]
    if tests:
        found.append(f"{len(tests)} test files are in the wheel, e.g. {tests[:3]}")
    if not any(n.endswith((".so", ".pyd")) for n in names):
        found.append("the wheel holds no compiled extension")
    if ("oxlearn=oxlearn_cli:main" not in scripts.replace(" ", "")
            or "oxlearn_cli/__init__.py" not in names):
        found.append("the wheel has no `oxlearn` command (console script oxlearn_cli:main)")
    if tag is not None:
        if tag not in wheel.name or not any(t.endswith(tag) for t in tags):
            found.append(f"the wheel is not tagged {tag}: file name {wheel.name}, tags {tags}")
    return found


def main():
    """Check the wheel named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("--tag", default=None, help="a platform tag the wheel must carry")
    args = parser.parse_args()
    found = problems(args.wheel, args.tag)
    for p in found:
        print(f"{args.wheel}: {p}", file=sys.stderr)
    if not found:
        with zipfile.ZipFile(args.wheel) as zf:
            n = len(zf.namelist())
        print(f"==> {Path(args.wheel).name}: {n} files, no tests"
              + (f", tagged {args.tag}" if args.tag else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
