#!/usr/bin/env bash
# scikit-learn's own test files for every patched estimator and function,
# run under patch_sklearn() the way scikit-learn runs them: pytest from inside
# the installed sklearn package, so its conftest.py and fixtures
# (global_random_seed, ...) load. Files: tests/sklearn_suite_files.toml; tests
# allowed to fail: tests/sklearn_deselected.toml (a passing one fails the run).
#
#   scripts/sklearn_suite.sh [oxlearn|sklearnex|none] [pytest args...]
#
# Arguments that name test files or tests (".../tests/test_x.py[::name]")
# replace the list of files: only those run.
#
# Uses the active Python (activate .venv first, or set PYTHON).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
case "$PY" in /*) ;; */*) PY="$PWD/$PY" ;; esac  # the script changes directory
export SKLEARN_SUITE_PATCH="${1:-oxlearn}"
shift || true
SK="$("$PY" -c 'import os, sklearn; print(os.path.dirname(sklearn.__file__))')"
mapfile -t FILES < <("$PY" -c '
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["files"]))' "$ROOT/tests/sklearn_suite_files.toml")
for a in "$@"; do
  if [[ "$a" == *tests/test_*.py* && "$a" != -* ]]; then FILES=(); break; fi
done
cd "$SK"
PYTHONPATH="$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pytest \
  -c "$ROOT/tests/sklearn_suite.ini" --rootdir="$SK" --confcutdir="$SK" \
  -p sklearn_suite_plugin -p no:cacheprovider -q -rfE --tb=line "${FILES[@]}" "$@"
