#!/usr/bin/env bash
# Builds @gatehouse/client: `npm ci` when package-lock.json changed since the last install (a stamp
# in node_modules records it), then the generated code and tsc (npm run build) into dist/.
# Used by scripts/ctest.sh and bench/node; run it under the build lock by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.gatehouse-package-lock.json
if ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
rm -rf dist
npm run --silent build
