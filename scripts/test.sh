#!/usr/bin/env bash
# Every test of the project: Rust format, lints and unit tests; the Python package's lint and
# pytest suite (against the local fake Meta and TikTok APIs); and the Odoo addon's tests on a real
# Odoo when ODOO_TREE points at one or more Odoo source trees (':'-separated), skipped otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== rust: fmt, clippy, tests"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --features python --quiet -- -D warnings
cargo test --quiet

echo "== python: setup, ruff, pytest"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
"$VENV/bin/ruff" check python tests benches
"$PY" -m pytest -q tests

echo "== odoo addon"
if [ -n "${ODOO_TREE:-}" ]; then
    bash scripts/run_odoo_tests.sh
else
    echo "SKIPPED the Odoo addon's tests: no Odoo tree given (set ODOO_TREE=/path/to/odoo[:/other/odoo])."
fi
