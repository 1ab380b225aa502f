#!/usr/bin/env bash
# The main job on its embedded default: set up, start the local fakes of Meta CAPI, TikTok Events API,
# Pinterest Conversions API and GA4 Measurement Protocol, send a sample shopper funnel to all four from
# one engine, and print what each was sent (hashed) and what came back.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$PY" -m convapi demo "$@"
