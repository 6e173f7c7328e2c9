# Sourced by the other scripts: creates/updates the project's virtual
# environment from the package registry and activates it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the pinned requirements change.
STAMP="$VENV/.requirements.sha"
WANT="$(cat requirements/dev.txt ${EXTRA_REQUIREMENTS:-} | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  echo "==> installing Python dependencies"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements/dev.txt ${EXTRA_REQUIREMENTS:+-r $EXTRA_REQUIREMENTS}
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
