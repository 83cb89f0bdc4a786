#!/usr/bin/env bash
# Builds @gatehouse/client: `npm ci` when package-lock.json changed since the last install, then
# the generated code and tsc (npm run build) into dist/ (clients/npm_build.sh).
# Used by scripts/ctest.sh and bench/node; run it under the build lock by hand.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/../npm_build.sh" "$here"
