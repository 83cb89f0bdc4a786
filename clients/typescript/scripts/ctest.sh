#!/usr/bin/env bash
# The CTest test typescript_client_test: builds the client, then runs its tests (node --test, one
# file at a time) against the gatehoused named by $GATEHOUSED, which CTest sets to the binary it
# just built. No build lock here: scripts/test or whoever runs ctest holds it already.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GATEHOUSED:?GATEHOUSED must name the gatehoused binary to test}"
./scripts/build.sh
exec node --test --test-concurrency=1 dist/test/*.test.js
