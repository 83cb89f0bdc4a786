#!/usr/bin/env bash
# Builds the console: @gatehouse/client first (its own scripts/build.sh), then `npm ci` here when
# package-lock.json changed since the last install, then tsc into dist/ (clients/npm_build.sh).
# Used by scripts/ctest.sh and scripts/console; run it under the build lock by hand.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/../typescript/scripts/build.sh"
"$here/../npm_build.sh" "$here"
