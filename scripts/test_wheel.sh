#!/usr/bin/env bash
# The wheel users install, tested as installed: `maturin build --release`,
# installed into a clean virtual environment (.venv-wheel, the pinned
# requirements plus the wheel, nothing from the source tree), then the
# persistence tests and scikit-learn's own suites (scripts/sklearn_suite.sh)
# run against it from outside the repository, so that the installed package
# is the one imported.
set -euo pipefail
source "$(dirname "$0")/env.sh"
WHEELS="$ROOT/target/wheels-test"
rm -rf "$WHEELS"
echo "==> building the release wheel"
maturin build --release --quiet --out "$WHEELS"
WHEEL="$(ls "$WHEELS"/oxlearn-*.whl)"
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
print(f"==> testing the installed wheel: {where.parent}")
PY
cargo build --quiet --manifest-path "$ROOT/Cargo.toml" -p oxlearn-cli  # model-file tests use it
export OXLEARN_CLI="$ROOT/target/debug/oxlearn"
echo "==> persistence tests (installed wheel)"
SCIPY_ARRAY_API=1 "$WVENV/bin/python" -m pytest -q -p no:cacheprovider \
  -c "$ROOT/tests/sklearn_suite.ini" --rootdir="$RUN" --pyargs \
  oxlearn.tests.test_persistence oxlearn.tests.test_model_file oxlearn.tests.test_pickle_states \
  oxlearn.tests.test_unaligned
echo "==> scikit-learn's suites (installed wheel)"
PYTHON="$WVENV/bin/python" "$ROOT/scripts/sklearn_suite.sh" oxlearn
