#!/usr/bin/env bash
# Builds the Node package in DIR: `npm ci` when its package-lock.json changed since the last
# install (a stamp in node_modules records it), then `npm run build` into a fresh dist/. Shared by
# the TypeScript client's and the console's scripts/build.sh.
#   clients/npm_build.sh DIR
set -euo pipefail
cd "${1:?usage: clients/npm_build.sh DIR}"
stamp=node_modules/.gatehouse-package-lock.json
if ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
rm -rf dist
npm run --silent build
