#!/usr/bin/env bash
# Benchmarks oxlearn against stock scikit-learn and scikit-learn-intelex in
# the same run. Uses its own environment (.venv-bench) with intelex
# installed from the package registry, and the LTO `bench-release` profile.
VENV="$(cd "$(dirname "$0")/.." && pwd)/.venv-bench" EXTRA_REQUIREMENTS=requirements/bench.txt \
  source "$(dirname "$0")/env.sh"
echo "==> building oxlearn (bench-release profile)"
maturin develop --profile bench-release --quiet
# OpenBLAS tuning variables some machines set slow numpy down: unset them
# for the benchmark only (never in tests or CI).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
if [ "${1:-}" = "--persistence" ]; then
  shift
  python bench/bench_persistence.py "$@"
else
  python bench/bench.py "$@"
fi
