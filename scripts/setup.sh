#!/usr/bin/env bash
# Shared setup for scripts/demo.sh and scripts/test.sh: a project virtualenv (.venv, or $CONVAPI_VENV)
# with maturin and the test tools from PyPI, and the convapi extension built into it (release mode).
# Sourced, not run: it exports VENV and PY.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CONVAPI_VENV:-$REPO_ROOT/.venv}
BASE_PYTHON=${CONVAPI_PYTHON:-$(command -v python3.11 || command -v python3)}

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not on PATH; install a Rust toolchain (rustup) first" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating virtualenv $VENV with $BASE_PYTHON" >&2
    "$BASE_PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python
# Quiet, idempotent installs: pip skips what is already satisfied.
"$PY" -m pip install -q --disable-pip-version-check "maturin>=1.7,<2" "pytest>=7" "hypothesis>=6" "ruff>=0.5"
echo "setup: building the convapi extension (cargo, release) into $VENV" >&2
(cd "$REPO_ROOT" && VIRTUAL_ENV=$VENV "$VENV/bin/maturin" develop --release --quiet 2>&1 | grep -v '^\s*$' | tail -n 3) >&2
"$PY" -c "import convapi" || { echo "setup: convapi did not import after the build" >&2; exit 1; }
export VENV PY REPO_ROOT
