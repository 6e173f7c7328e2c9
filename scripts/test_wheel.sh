#!/usr/bin/env bash
# The wheel users install, tested as installed: `maturin build --release
# --zig` (manylinux_2_28: zig links against glibc 2.28 whatever this
# machine's glibc; requirements/wheel.txt), checked (no tests inside, the
# manylinux tag: scripts/check_wheel.py), installed into a clean virtual
# environment (.venv-wheel, the pinned requirements plus the wheel, nothing
# from the source tree), then the persistence tests and scikit-learn's own
# suites (scripts/sklearn_suite.sh) run against it from outside the
# repository, so that the installed package is the one imported.
set -euo pipefail
export EXTRA_REQUIREMENTS="${EXTRA_REQUIREMENTS:-requirements/wheel.txt}"
source "$(dirname "$0")/env.sh"
WHEELS="${CARGO_TARGET_DIR:-$ROOT/target}/wheels-test"
rm -rf "$WHEELS"
echo "==> building the release wheel (manylinux_2_28, zig)"
maturin build --release --zig --quiet --out "$WHEELS"
WHEEL="$(ls "$WHEELS"/oxlearn-*.whl)"
python "$ROOT/scripts/check_wheel.py" "$WHEEL" --tag manylinux_2_28_x86_64
WVENV="$ROOT/.venv-wheel"
rm -rf "$WVENV"
"$PYTHON" -m venv "$WVENV"
"$WVENV/bin/python" -m pip install -q -r requirements/dev.txt "$WHEEL"
RUN="$(mktemp -d)"
trap 'rm -rf "$RUN"' EXIT
cd "$RUN"
"$WVENV/bin/python" - "$ROOT" <<'PY'
import sys, pathlib, oxlearn
where = pathlib.Path(oxlearn.__file__).resolve()
assert pathlib.Path(sys.argv[1]) / "python" not in where.parents, f"imported from the source tree: {where}"
assert not (where.parent / "tests").exists(), "the wheel ships tests"
print(f"==> testing the installed wheel: {where.parent}")
PY
# The wheel ships no tests: the source tree's are copied next to the
# installed package in this throwaway environment, so that they import
# oxlearn (and oxlearn.tests) from the wheel, never from the source tree.
PKG="$("$WVENV/bin/python" -c 'import os, oxlearn; print(os.path.dirname(oxlearn.__file__))')"
cp -r "$ROOT/python/oxlearn/tests" "$PKG/tests"
cargo build --quiet --manifest-path "$ROOT/Cargo.toml" -p oxlearn-cli  # model-file tests use it
export OXLEARN_CLI="${CARGO_TARGET_DIR:-$ROOT/target}/debug/oxlearn"
echo "==> persistence tests (installed wheel)"
SCIPY_ARRAY_API=1 "$WVENV/bin/python" -m pytest -q -p no:cacheprovider \
  -c "$ROOT/tests/sklearn_suite.ini" --rootdir="$RUN" --pyargs \
  oxlearn.tests.test_persistence oxlearn.tests.test_model_file oxlearn.tests.test_pickle_states \
  oxlearn.tests.test_unaligned
echo "==> scikit-learn's suites (installed wheel)"
PYTHON="$WVENV/bin/python" "$ROOT/scripts/sklearn_suite.sh" oxlearn
