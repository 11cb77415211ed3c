#!/usr/bin/env bash
# Installs the DTDL validator when needed, proves that its strict mode rejects the negative
# samples, then validates the given models strictly.
#
# Usage:   scripts/dtdl-validator/run.sh [validate.js options] [DIR_OR_FILE...]
#
#   With no DIR_OR_FILE: install and self-check only (what a developer runs once before
#   `cargo test`, so the models test can run the validator).
#   Options are passed to validate.js after `--strict` (e.g. --require-v2, --allow-iotc-terms).
#
# Steps:
#   1. npm install --no-package-lock the pinned @digicatapult/dtdl-parser (see package.json) into
#      scripts/dtdl-validator/node_modules, unless that version is already there. When npm is
#      missing or the registry cannot be reached, prints
#      "SKIPPED: could not install the DTDL parser" and exits 0.
#   2. `validate.js --self-check`: every sample in samples/invalid/ must FAIL
#      `--strict --require-v2` with the text listed in samples/invalid/expected.tsv ("strict-only"
#      samples must also PASS without --strict); samples/valid/ must pass
#      `--strict --allow-iotc-terms --require-v2`. So the validator cannot silently pass everything.
#   3. `validate.js --strict [options] DIR_OR_FILE...`; its exit code is this script's.
#
# Exit code: 0 all good (or SKIPPED), 1 a model or a self-check failed, 2 bad usage.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACKAGE=@digicatapult/dtdl-parser
# The version pinned in package.json (DTDLParser 1.1.3 inside, see shared docs/dtdl.md §13).
PINNED=$(sed -n 's/.*"@digicatapult\/dtdl-parser": *"\([^"]*\)".*/\1/p' "$HERE/package.json")
INSTALLED_JSON="$HERE/node_modules/$PACKAGE/package.json"

log() { echo "[dtdl-validator] $*"; }

skip() {
    log "$*"
    echo "SKIPPED: could not install the DTDL parser"
    exit 0
}

installed_version() {
    [ -f "$INSTALLED_JSON" ] || return 1
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$INSTALLED_JSON" 2>/dev/null
}

# 1. Install.
command -v node >/dev/null 2>&1 || skip "node is not installed"
if [ -z "$PINNED" ]; then
    log "cannot read the pinned $PACKAGE version from $HERE/package.json"
    exit 1
fi
if [ "$(installed_version)" != "$PINNED" ]; then
    command -v npm >/dev/null 2>&1 || skip "npm is not installed"
    INSTALL_LOG=$(mktemp "${TMPDIR:-/tmp}/dtdl-validator-npm.XXXXXX")
    log "installing $PACKAGE@$PINNED into $HERE/node_modules"
    if ! (cd "$HERE" && npm install --no-package-lock --no-audit --no-fund >"$INSTALL_LOG" 2>&1); then
        if grep -Eqi 'E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|HOSTUNREACH|PROXY)|network|socket hang up|request to .* failed' "$INSTALL_LOG"; then
            tail -n 5 "$INSTALL_LOG" | sed 's/^/    /'
            rm -f "$INSTALL_LOG"
            skip "the npm registry cannot be reached"
        fi
        log "npm install failed:"
        sed 's/^/    /' "$INSTALL_LOG"
        rm -f "$INSTALL_LOG"
        exit 1
    fi
    rm -f "$INSTALL_LOG"
    if [ "$(installed_version)" != "$PINNED" ]; then
        log "npm install did not leave $PACKAGE@$PINNED in $HERE/node_modules"
        exit 1
    fi
fi
log "$PACKAGE $(installed_version)"

# 2. Self-check (one process): the negative samples must fail, for the expected reason.
if ! node "$HERE/validate.js" --self-check; then
    log "the validator's self-check failed: it would not catch the errors in samples/invalid/"
    exit 1
fi

# 3. The models asked for.
HAVE_PATHS=0
for arg in "$@"; do
    case "$arg" in
        --*) ;;
        *) HAVE_PATHS=1 ;;
    esac
done
if [ "$HAVE_PATHS" -eq 0 ]; then
    log "installed and self-checked; no models given"
    exit 0
fi
node "$HERE/validate.js" --strict "$@"
