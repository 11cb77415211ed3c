#!/usr/bin/env bash
# Runs the OFFICIAL Azure IoT device SDKs (Node.js and Python), unchanged, against iotc-emulator:
# provision through DPS with a group-derived key, connect to the assigned hub, telemetry, twin
# get / reported / desired patch, direct method, C2D, close; then, as root (port 443), Node's
# HTTP and MQTT-over-WebSockets transports (node/transports-check.js). Every step is also checked
# on the service side through the emulator's REST API. `node` runs the Node SDK over MQTT,
# `node-amqp` the same script over AMQP 1.0 (azure-iot-device-amqp,
# azure-iot-provisioning-device-amqp). `node-faults` runs node/faults-check.js: the Node SDK asks
# for faults through IoT hub's fault-injection properties over AMQP (KillAmqpConnection,
# KillAmqpSession, KillTcp, ShutDownAmqp, InvokeThrottling) and, as root on 443, AMQP over
# WebSockets (KillTcp) and MQTT over WebSockets (ShutDownMqtt); each time the client observes
# the fault, recovers, sends telemetry and reads its twin (scripts/official-sdks/faults.sh).
#
# Usage:   scripts/official-sdks/run.sh [node] [node-amqp] [node-faults] [python]
#          (default: node node-amqp python)
#
# The last line printed is "N passed, M failed" (N, M = SDK scripts). An SDK whose packages
# cannot be installed (no registry access, no node/npm, no python venv) is reported as
# "SKIPPED: could not install <sdk>" and counts as neither; the exit code is 1 only when an SDK
# script ran and failed (or the emulator could not be built or started).
#
# Environment (all optional):
#   IOTC_EMULATOR_BIN  emulator binary to use instead of `cargo build -p iotc-emulator`
#   PYTHON             interpreter for the venv (default: python3.11, else python3)
#   KEEP_LOGS=1        keep the scratch directory (emulator log, install logs) even on success
#   RUST_LOG           emulator log filter (default: info)
#
# Needs ports 8883 and 5671 free on 127.0.0.1: the official SDKs always connect to DPS and the
# hub on 8883 (MQTT) and 5671 (AMQP).
# Everything listens on and connects to loopback only (the package installs aside).

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# Fixed emulator identity, so runs are reproducible. The group key is base64 of
# SHA-512("iotc-emulator official sdk check") (64 bytes, like a real IoT Central group key).
ID_SCOPE=0ne0000CAFE
GROUP_KEY='VDNUzZc1SUGjxv8mPTbAtriPWENdUZPjN5QSsHpm/nQJOxxnGEj7+zfk1qV+6fEsLNitxjywuZFh5J9TCeXFxQ=='
HOST=localhost            # DPS host and hub host; resolves to 127.0.0.1; in the server cert SANs
LISTEN=127.0.0.1:8883     # one shared listener: the CONNECT username tells DPS from hub
# HTTPS and WebSockets: the SDKs use 443, which needs root; without it the emulator takes a free
# port and the Node transports check (HTTP, MQTT over WebSockets) is skipped.
if [ "$(id -u)" = 0 ] && ! (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null; then
    HTTPS_PORT=443
else
    HTTPS_PORT=0
fi

SDKS=("$@")
if [ ${#SDKS[@]} -eq 0 ]; then
    SDKS=(node node-amqp python)
fi
for sdk in "${SDKS[@]}"; do
    case "$sdk" in
        node | node-amqp | node-faults | python) ;;
        *)
            echo "usage: $0 [node] [node-amqp] [node-faults] [python]" >&2
            exit 2
            ;;
    esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/iotc-official-sdks.XXXXXX")
EMU_PID=""
PASSED=0
FAILED=0
SKIPPED=0

log() { echo "[run.sh] $*"; }

cleanup() {
    if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
        kill "$EMU_PID" 2>/dev/null
        wait "$EMU_PID" 2>/dev/null
    fi
    EMU_PID=""
    if [ "${KEEP_LOGS:-0}" = 1 ] || [ "$FAILED" -gt 0 ]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
    echo "$PASSED passed, $FAILED failed"
    if [ "$FAILED" -gt 0 ]; then
        exit 1
    fi
    exit 0
}

# Counts every selected SDK as failed (the emulator could not be built or started) and exits.
abort_all() {
    log "ERROR: $*"
    FAILED=${#SDKS[@]}
    finish
}

tail_log() {
    [ -f "$1" ] && sed 's/\x1b\[[0-9;]*m//g' "$1" | tail -n "${2:-30}" | sed 's/^/    | /'
}

# --- 1. the emulator binary -------------------------------------------------------------------

for port in 8883 5671; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        abort_all "something already listens on 127.0.0.1:$port; the official SDKs need that port"
    fi
done

if [ -n "${IOTC_EMULATOR_BIN:-}" ]; then
    BIN=$IOTC_EMULATOR_BIN
else
    log "building iotc-emulator (cargo build -p iotc-emulator)"
    if ! (cd "$ROOT" && cargo build -p iotc-emulator --bin iotc-emulator \
        --message-format=json-render-diagnostics) >"$WORK/build.json" 2>"$WORK/build.log"; then
        tail_log "$WORK/build.log" 40
        abort_all "cargo build -p iotc-emulator failed"
    fi
    BIN=$(sed -n 's/.*"executable":"\([^"]*\/iotc-emulator\)".*/\1/p' "$WORK/build.json" | tail -n 1)
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    abort_all "emulator binary not found (${BIN:-none})"
fi

# --- 2. start it on 8883 ----------------------------------------------------------------------

log "starting $BIN on $LISTEN and AMQP 5671 (DPS + hub, host name $HOST, ID scope $ID_SCOPE)"
RUST_LOG=${RUST_LOG:-info} "$BIN" \
    --dps-listen "$LISTEN" \
    --dps-hostname "$HOST" \
    --hub-hostname "$HOST" \
    --id-scope "$ID_SCOPE" \
    --group-key "$GROUP_KEY" \
    --ca-cert-out "$WORK/ca.pem" \
    --service-listen 127.0.0.1:0 \
    --dps-retry-after 3 \
    --https-port "$HTTPS_PORT" \
    --amqp-port 5671 \
    >"$WORK/emulator.out" 2>"$WORK/emulator.log" </dev/null &
EMU_PID=$!

SERVICE_URL=""
for _ in $(seq 1 150); do
    SERVICE_URL=$(sed -n 's/^ *Service API: *\(http:[^ ]*\).*/\1/p' "$WORK/emulator.out" 2>/dev/null)
    if [ -n "$SERVICE_URL" ] && [ -s "$WORK/ca.pem" ]; then
        break
    fi
    if ! kill -0 "$EMU_PID" 2>/dev/null; then
        tail_log "$WORK/emulator.log"
        EMU_PID=""
        abort_all "the emulator exited during start-up"
    fi
    sleep 0.2
done
if [ -z "$SERVICE_URL" ] || [ ! -s "$WORK/ca.pem" ]; then
    tail_log "$WORK/emulator.log"
    abort_all "the emulator did not start within 30 s"
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/8883) 2>/dev/null; then
    abort_all "the emulator does not listen on 127.0.0.1:8883"
fi
log "emulator up: DPS and hub at $HOST:8883 (MQTT) and $HOST:5671 (AMQP), service API $SERVICE_URL, CA $WORK/ca.pem"

export IOTC_DPS_HOST=$HOST
export IOTC_ID_SCOPE=$ID_SCOPE
export IOTC_GROUP_KEY=$GROUP_KEY
export IOTC_SERVICE_URL=$SERVICE_URL
export IOTC_EXPECTED_HUB=$HOST
export IOTC_CA_CERT=$WORK/ca.pem

# --- 3. the SDKs ------------------------------------------------------------------------------

# True when the Node packages are installed at the exact versions in package.json and load.
node_ready() {
    (cd "$HERE/node" && node -e '
        const deps = require("./package.json").dependencies;
        for (const [name, version] of Object.entries(deps)) {
            if (require(name + "/package.json").version !== version) process.exit(1);
            require(name);
        }' ) >/dev/null 2>&1
}

install_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "node or npm not found" >"$WORK/install-node.log"
        return 1
    fi
    if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
        echo "node $(node --version) is too old (18 or later needed)" >"$WORK/install-node.log"
        return 1
    fi
    node_ready && return 0
    # No package-lock.json is written (it would name the registry host).
    (cd "$HERE/node" && timeout 600 npm install --no-package-lock --no-audit --no-fund \
        --loglevel=error --fetch-retries=1) >"$WORK/install-node.log" 2>&1 || return 1
    node_ready
}

python_ready() {
    "$HERE/.venv/bin/python" -c '
import importlib.metadata as m, sys
want = [l.split("==") for l in open(sys.argv[1]) if "==" in l and not l.startswith("#")]
sys.exit(0 if all(m.version(n.strip()) == v.strip() for n, v in want) else 1)
' "$HERE/python/requirements.txt" >/dev/null 2>&1 &&
        "$HERE/.venv/bin/python" -c 'import azure.iot.device' >/dev/null 2>&1
}

install_python() {
    local py=${PYTHON:-}
    if [ -z "$py" ]; then
        py=$(command -v python3.11 || command -v python3 || true)
    fi
    if [ -z "$py" ]; then
        echo "python3 not found" >"$WORK/install-python.log"
        return 1
    fi
    if ! "$HERE/.venv/bin/python" -c 'pass' >/dev/null 2>&1; then
        rm -rf "$HERE/.venv"
        "$py" -m venv "$HERE/.venv" >"$WORK/install-python.log" 2>&1 || return 1
    fi
    python_ready && return 0
    timeout 600 "$HERE/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --retries 1 --timeout 30 -r "$HERE/python/requirements.txt" \
        >>"$WORK/install-python.log" 2>&1 || return 1
    python_ready
}

run_sdk() {
    local sdk=$1 label rc
    case "$sdk" in
        node) label="Node.js SDK over MQTT (azure-iot-device + azure-iot-provisioning-device)" ;;
        node-amqp) label="Node.js SDK over AMQP (azure-iot-device-amqp + azure-iot-provisioning-device-amqp)" ;;
        node-faults) label="Node.js SDK fault injection (azure-iot-device-amqp, azure-iot-device-mqtt)" ;;
        python) label="Python SDK (azure-iot-device)" ;;
    esac
    local installer=${sdk%%-*}
    log "installing the $label"
    if ! "install_$installer"; then
        tail_log "$WORK/install-$installer.log" 10
        echo "SKIPPED: could not install $sdk SDK"
        SKIPPED=$((SKIPPED + 1))
        return
    fi
    log "running the $label"
    case "$sdk" in
        node)
            # NODE_EXTRA_CA_CERTS: the provisioning MQTT transport has no `ca` option.
            NODE_EXTRA_CA_CERTS=$WORK/ca.pem IOTC_DEVICE_ID=node-sdk-device-01 \
                timeout 240 node "$HERE/node/device-check.js"
            rc=$?
            # HTTP and MQTT over WebSockets, on 443.
            if [ "$rc" -eq 0 ] && [ "$HTTPS_PORT" = 443 ]; then
                NODE_EXTRA_CA_CERTS=$WORK/ca.pem IOTC_DEVICE_ID=node-sdk-device \
                    timeout 240 node "$HERE/node/transports-check.js"
                rc=$?
            elif [ "$rc" -eq 0 ]; then
                log "node: HTTP and MQTT-WS checks skipped (port 443 needs root and must be free)"
            fi
            ;;
        node-amqp)
            NODE_EXTRA_CA_CERTS=$WORK/ca.pem IOTC_DEVICE_ID=node-amqp-sdk-device-01 IOTC_TRANSPORT=amqp \
                timeout 240 node "$HERE/node/device-check.js"
            rc=$?
            ;;
        node-faults)
            local ws=0
            if [ "$HTTPS_PORT" = 443 ]; then
                ws=1
            else
                log "node-faults: the WebSocket scenarios are skipped (port 443 needs root and must be free)"
            fi
            NODE_EXTRA_CA_CERTS=$WORK/ca.pem IOTC_DEVICE_ID=node-faults IOTC_WEBSOCKETS=$ws \
                timeout 900 node "$HERE/node/faults-check.js"
            rc=$?
            ;;
        python)
            IOTC_DEVICE_ID=python-sdk-device-01 \
                timeout 240 "$HERE/.venv/bin/python" "$HERE/python/device_check.py"
            rc=$?
            ;;
    esac
    if [ "$rc" -eq 0 ]; then
        log "$sdk: PASSED"
        PASSED=$((PASSED + 1))
    else
        log "$sdk: FAILED (exit code $rc); last emulator log lines:"
        tail_log "$WORK/emulator.log" 20
        FAILED=$((FAILED + 1))
    fi
}

for sdk in "${SDKS[@]}"; do
    run_sdk "$sdk"
done

if ! kill -0 "$EMU_PID" 2>/dev/null; then
    wait "$EMU_PID" 2>/dev/null
    log "the emulator died during the run (exit status $?)"
    EMU_PID=""
    tail_log "$WORK/emulator.log"
    FAILED=$((FAILED + 1))
fi
[ "$SKIPPED" -gt 0 ] && log "$SKIPPED SDK(s) skipped (could not install)"
finish
