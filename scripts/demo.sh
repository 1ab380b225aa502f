#!/usr/bin/env bash
# The main job on its embedded default: set up, start the local fake Meta and TikTok APIs, send a
# sample shopper funnel to both from one engine, and print what was sent (hashed) and what came back.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$PY" -m convapi demo "$@"
