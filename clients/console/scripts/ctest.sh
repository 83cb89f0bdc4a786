#!/usr/bin/env bash
# The CTest test console_browser_test: builds the console, then runs its tests (node --test, one
# file at a time) in Debian's headless Chromium against the gatehoused named by $GATEHOUSED,
# which CTest sets to the binary it just built. Screenshots go to $GATEHOUSE_CONSOLE_SCREENSHOTS.
# No build lock here: scripts/test or whoever runs ctest holds it already.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GATEHOUSED:?GATEHOUSED must name the gatehoused binary to test}"
if [[ ! -x "${GATEHOUSE_CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "console_browser_test: ${GATEHOUSE_CHROMIUM:-/usr/bin/chromium} is missing (apt-get install chromium; scripts/deps)" >&2
  exit 1
fi
./scripts/build.sh
exec node --test --test-concurrency=1 dist/test/*.test.js
