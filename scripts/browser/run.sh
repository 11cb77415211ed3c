#!/usr/bin/env bash
# Browser tests of the emulator's web app in headless Chromium. Needs Debian's `chromium`
# (apt-get install chromium) and Node.js with npm; installs playwright-core and mqtt here.
# Writes the screenshots to docs/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cargo build -p iotc-emulator --bin iotc-emulator
bin="${CARGO_TARGET_DIR:-$root/target}/debug/iotc-emulator"
cd "$here"
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/mqtt ]; then
    npm install --no-audit --no-fund --silent
fi
node test.mjs "$bin" "$root/docs"
