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
echo "==> pytest"
python -m pytest python/oxlearn --doctest-modules
echo "==> scikit-learn's own test files under patch_sklearn() (tests/sklearn_deselected.toml)"
scripts/sklearn_suite.sh oxlearn
