#!/usr/bin/env bash
# GPU check on a machine with an NVIDIA GPU, CUDA 13 libraries (pip packages
# nvidia-cublas / nvidia-cuda-nvrtc, or a toolkit) and no Rust toolchain.
#
# Installs the wheels carried in .whl/ (oxlearn's abi3 wheel built by
# `maturin build --release -o .whl`, plus scikit-learn and its dependencies
# and pytest for the machine's Python) into a private directory, points the
# dynamic loader at the CUDA libraries, prints nvidia-smi and oxlearn's probe,
# runs the GPU tests against the INSTALLED wheel, then the benchmark. All
# output goes to $OUT/gpu_log.txt as well; the whole run is bounded.
#
# Usage (repository root):  bash scripts/gpu_check.sh
#   WHL_DIR   wheels to install (default .whl)
#   OUT       output directory (default /tmp/gpu_out)
#   SITE      install target (default /tmp/oxlearn_site)
#   SKIP_GPU=1  only install, import and run the no-GPU tests (checks the
#               script's logic on a machine without a GPU)
#   BENCH_SCALE size factor of the benchmark (default 1.0)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHL_DIR="${WHL_DIR:-$ROOT/.whl}"
OUT="${OUT:-/tmp/gpu_out}"
SITE="${SITE:-/tmp/oxlearn_site}"
PY="${PYTHON:-python3}"
BENCH_SCALE="${BENCH_SCALE:-1.0}"
mkdir -p "$OUT"
LOG="$OUT/gpu_log.txt"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
step() { echo; echo "==> $* ($(date +%T))"; }

step "python and wheels"
"$PY" --version
ls -la "$WHL_DIR" || { echo "no wheel directory $WHL_DIR"; exit 2; }

step "install into $SITE (no index, no dependencies resolved: the carried wheels only)"
rm -rf "$SITE"
timeout 60 "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$WHL_DIR"/*.whl \
  || { echo "pip install failed"; exit 3; }
export PYTHONPATH="$SITE"
# The wheel ships no tests: put the source tree's next to the installed
# package, so that they import everything from the wheel.
cp -r "$ROOT/python/oxlearn/tests" "$SITE/oxlearn/tests"
# The oxlearn binary, when carried (tests that check inspect/predict use it).
if [ -x "$WHL_DIR/bin/oxlearn" ]; then export OXLEARN_CLI="$WHL_DIR/bin/oxlearn"; fi
# scikit-learn's array API dispatch needs scipy's (array API tests below).
export SCIPY_ARRAY_API=1
# The process must not pick up the source tree's oxlearn.
RUN="$(mktemp -d /tmp/oxlearn_run.XXXX)"
printf '[pytest]\nmarkers =\n    gpu: needs an NVIDIA GPU\n' > "$RUN/pytest.ini"

step "CUDA libraries (cudarc dlopens libcuda.so.1, libcublas.so.13, libnvrtc.so.13)"
LIBDIRS="$(cd "$RUN" && "$PY" - <<'EOF'
import glob, os, site, sys
roots = [p for p in sys.path if p and os.path.isdir(p)]
try:
    roots += site.getsitepackages() + [site.getusersitepackages()]
except Exception:
    pass
found = []
for root in dict.fromkeys(roots):
    for pat in ("nvidia/**/libcublas.so*", "nvidia/**/libnvrtc.so*", "nvidia/**/libcublasLt.so*"):
        for f in glob.glob(os.path.join(root, pat), recursive=True):
            d = os.path.dirname(os.path.realpath(f))
            if d not in found:
                found.append(d)
# CUDA 13 directories first: cudarc (built for 13.0) tries libcublas.so.13
# before older majors, but an unversioned name in an older directory would win.
found.sort(key=lambda d: "cu13" not in d and "13" not in os.path.basename(os.path.dirname(d)))
print(":".join(found))
EOF
)"
if [ -z "$LIBDIRS" ]; then
  LIBDIRS="$(find / -xdev \( -name 'libcublas.so.13*' -o -name 'libnvrtc.so.13*' \) 2>/dev/null \
             | xargs -r -n1 dirname | sort -u | paste -sd: -)"
fi
echo "library directories: ${LIBDIRS:-<none found>}"
export LD_LIBRARY_PATH="${LIBDIRS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ls "${LIBDIRS%%:*}" 2>/dev/null | grep -E 'cublas|nvrtc' | head -20

step "nvidia-smi"
if [ -z "${SKIP_GPU:-}" ]; then
  timeout 30 nvidia-smi || echo "nvidia-smi failed"
else
  echo "skipped (SKIP_GPU)"
fi

step "import and probe"
(cd "$RUN" && timeout 60 "$PY" - <<'EOF'
import numpy, scipy, sklearn
import oxlearn
from oxlearn import _gpu
from oxlearn.exceptions import GpuUnavailableError
print("oxlearn", oxlearn.__file__)
print("numpy", numpy.__version__, "scipy", scipy.__version__, "scikit-learn", sklearn.__version__)
try:
    print("probe:", _gpu.gpu_info(0))
except GpuUnavailableError as e:
    print("probe: GpuUnavailableError:", e)
EOF
) || { echo "import failed"; exit 4; }

step "tests (installed wheel: --pyargs oxlearn.tests.test_gpu)"
if [ -z "${SKIP_GPU:-}" ]; then
  MARK=(-m gpu)
else
  MARK=(-m "not gpu")
fi
(cd "$RUN" && timeout 150 "$PY" -m pytest -c "$RUN/pytest.ini" --rootdir "$RUN" \
   -p no:cacheprovider --pyargs oxlearn.tests.test_gpu "${MARK[@]}" -x -q -rs \
   --junitxml "$OUT/test_gpu.xml")
TEST_RC=$?
echo "pytest exit code: $TEST_RC"

step "array API tests on torch (CPU and CUDA) and array-api-strict (installed wheel)"
(cd "$RUN" && timeout 150 "$PY" -m pytest -c "$RUN/pytest.ini" --rootdir "$RUN" \
   -p no:cacheprovider --pyargs oxlearn.tests.test_array_api -q -rs \
   --junitxml "$OUT/test_array_api.xml")
AAPI_RC=$?
echo "array API pytest exit code: $AAPI_RC"
[ "$TEST_RC" -eq 0 ] && TEST_RC=$AAPI_RC

step "array API round-trip overhead (10-row predict)"
(cd "$RUN" && timeout 90 "$PY" "$ROOT/bench/bench_array_api.py" --calls 200 --repeats 7) \
  || echo "array API benchmark exit code: $?"

step "benchmark"
if [ -z "${SKIP_GPU:-}" ]; then
  (cd "$RUN" && timeout 120 "$PY" "$ROOT/bench/bench_gpu.py" --repeat 3 --scale "$BENCH_SCALE") \
    || echo "benchmark exit code: $?"
else
  (cd "$RUN" && timeout 60 "$PY" "$ROOT/bench/bench_gpu.py" --repeat 1 --scale 0.01)
fi
rm -rf "$RUN"
step "done: tests exit code $TEST_RC; log in $LOG"
exit "$TEST_RC"
