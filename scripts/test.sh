#!/usr/bin/env bash
# The whole test suite on a fresh machine: lint, Rust tests, Python tests.
source "$(dirname "$0")/env.sh"

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> ruff"
ruff check python bench examples scripts conftest.py
echo "==> cargo test"
cargo test --workspace --quiet
echo "==> building the extension and the oxlearn binary (dev profile: optimised dependencies)"
maturin develop --quiet
cargo build --quiet -p oxlearn-cli
export OXLEARN_CLI="$ROOT/target/debug/oxlearn"
# scikit-learn's own test files run beside pytest: both are mostly one
# Python thread each, and the two cores would otherwise take turns idling
# (about 6 of CI's minutes). Its output follows pytest's.
SUITE_LOG="$(mktemp)"
trap 'rm -f "$SUITE_LOG"' EXIT
scripts/sklearn_suite.sh oxlearn > "$SUITE_LOG" 2>&1 &
SUITE_PID=$!
echo "==> pytest"
PYTEST_RC=0
python -m pytest python/oxlearn --doctest-modules || PYTEST_RC=$?
SUITE_RC=0
wait "$SUITE_PID" || SUITE_RC=$?
echo "==> scikit-learn's own test files under patch_sklearn() (tests/sklearn_deselected.toml)"
cat "$SUITE_LOG"
if [ "$PYTEST_RC" -ne 0 ] || [ "$SUITE_RC" -ne 0 ]; then
  echo "pytest exited $PYTEST_RC, scikit-learn's suite $SUITE_RC" >&2
  exit 1
fi
