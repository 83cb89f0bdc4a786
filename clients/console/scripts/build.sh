#!/usr/bin/env bash
# Builds the console: @gatehouse/client first (its own scripts/build.sh), then `npm ci` here when
# package-lock.json changed since the last install (a stamp in node_modules records it), then tsc
# into dist/. Used by scripts/ctest.sh and scripts/console; run it under the build lock by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
../typescript/scripts/build.sh
stamp=node_modules/.gatehouse-package-lock.json
if ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
rm -rf dist
npm run --silent build
