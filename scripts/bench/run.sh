#!/usr/bin/env bash
# Runs the iotc-sdk benchmarks (docs/benchmarks.md) against iotc-emulator started as a separate
# process on 127.0.0.1:8883 (the port the official SDKs need), and writes one JSON line per
# measurement to $OUT/results.jsonl, then $OUT/summary.md and docs/benchmarks-fleet.svg.
#
#   scripts/bench/run.sh [throughput] [transports] [latency] [fleet] [gateway] [footprint]
#   (default: all but gateway and transports)
#
# Environment (all optional):
#   RUNS=5                  repetitions of every measurement (clients interleaved in each run)
#   FLEET_SIZES="100 1000 10000"
#   FLEET_RUNS=3            repetitions of each fleet size
#   CLIENTS="sdk sdk-rustls rumqttc rumqttc-rustls node python"   which clients (node/python:
#                           official SDKs; sdk-rustls: the SDK built with its tls-rustls feature)
#   PYTHON_FLEET_MAX=1000   largest fleet for the Python SDK (two threads per device)
#   HOLD=15                 seconds of steady sending measured per fleet run (after one interval)
#   GATEWAY_SIZES="1000"    downstream devices of the gateway scenario
#   GATEWAY_PROTOCOLS="amqp mqtt"   amqp: one shared connection; mqtt: a connection per device
#   GATEWAY_RUNS=3          repetitions of each gateway size and protocol
#   TRANSPORTS="mqtt mqtt-ws amqp amqp-ws https"   the SDK's transports for `transports`
#   OUT=target/bench-results/<UTC time>   (the raw data the docs cite is copied to scripts/bench/results/)
#   PLOT=1                  regenerate docs/benchmarks-fleet.svg from this run
#   PLOT_WITH=""            earlier results.jsonl files for clients this run did not measure
#
# Needs: the Rust toolchain; for the official SDKs scripts/bench/install-official.sh first
# (node/python are skipped when not installed). Not part of .ci/run: loopback only, but it
# takes 20-40 minutes and several GB of memory at 10,000 devices.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-5}
FLEET_RUNS=${FLEET_RUNS:-3}
FLEET_SIZES=${FLEET_SIZES:-"100 1000 10000"}
CLIENTS=${CLIENTS:-"sdk sdk-rustls rumqttc rumqttc-rustls node python"}
PYTHON_FLEET_MAX=${PYTHON_FLEET_MAX:-1000}
HOLD=${HOLD:-15}
GATEWAY_SIZES=${GATEWAY_SIZES:-"1000"}
GATEWAY_RUNS=${GATEWAY_RUNS:-3}
GATEWAY_PROTOCOLS=${GATEWAY_PROTOCOLS:-"amqp mqtt"}
OUT=${OUT:-$ROOT/target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(throughput latency fleet footprint)

# Fixed identity, as scripts/official-sdks/run.sh.
ID_SCOPE=0ne0000CAFE
GROUP_KEY='VDNUzZc1SUGjxv8mPTbAtriPWENdUZPjN5QSsHpm/nQJOxxnGEj7+zfk1qV+6fEsLNitxjywuZFh5J9TCeXFxQ=='
export IOTC_GROUP_KEY=$GROUP_KEY

mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
LOG=$OUT/run.log
log() { echo "[bench $(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
has() { [[ " $CLIENTS " == *" $1 "* ]]; }
wants() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

# --- build --------------------------------------------------------------------------------------
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
EMU=$TARGET_DIR/release/iotc-emulator
LOADGEN=$TARGET_DIR/release/iotc-loadgen
# The SDK on rustls is a second build of iotc-loadgen (the TLS stack is a build feature), kept
# under another name; its `--client sdk` is the SDK with rustls.
LOADGEN_RUSTLS=$TARGET_DIR/release/iotc-loadgen-sdk-rustls
if has sdk-rustls; then
    log "building (release): iotc-loadgen with the SDK on rustls"
    (cd "$ROOT" && cargo build -q --release -p iotc-benches --no-default-features \
        --features tls-rustls,rustls --bin iotc-loadgen) >>"$LOG" 2>&1 ||
        { log "build failed (see $LOG)"; exit 1; }
    cp "$LOADGEN" "$LOADGEN_RUSTLS"
fi
log "building (release): iotc-emulator, iotc-loadgen with rustls"
(cd "$ROOT" && cargo build -q --release -p iotc-emulator --bin iotc-emulator \
    -p iotc-benches --features iotc-benches/rustls --bin iotc-loadgen) >>"$LOG" 2>&1 ||
    { log "build failed (see $LOG)"; exit 1; }
NODE_MODULES=$HERE/.official/node/node_modules
VENV_PY=$HERE/.official/venv/bin/python
if has node && [ ! -d "$NODE_MODULES/azure-iot-device-mqtt" ]; then
    log "SKIP node: run scripts/bench/install-official.sh node"; CLIENTS=${CLIENTS/node/}
fi
if has python && [ ! -x "$VENV_PY" ]; then
    log "SKIP python: run scripts/bench/install-official.sh python"; CLIENTS=${CLIENTS/python/}
fi

# 10,000 connections plus files: raise the descriptor limit to the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- machine ------------------------------------------------------------------------------------
python3 - "$OUT/machine.json" <<'PY'
import json, os, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
json.dump({"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(int(mem) / 1048576, 1),
           "kernel": platform.release(), "rustc": sh("rustc --version"), "node": sh("node --version"),
           "python": sh("python3 --version"), "openssl": sh("openssl version"),
           "ulimit_n": sh("ulimit -n")}, open(sys.argv[1], "w"), indent=1)
PY
log "machine: $(tr -d '\n' < "$OUT/machine.json")"

# --- emulator -----------------------------------------------------------------------------------
EMU_PID=""
SERVICE_URL=""
CA=$OUT/ca.pem
stop_emulator() {
    if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
        kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null
    fi
    EMU_PID=""
}
trap stop_emulator EXIT
trap 'exit 130' INT TERM

start_emulator() {
    stop_emulator
    if (exec 3<>/dev/tcp/127.0.0.1/8883) 2>/dev/null; then
        log "ERROR: something already listens on 127.0.0.1:8883"; exit 1
    fi
    # --dps-retry-after 0: provisioning is set-up here, not measured. RUST_LOG=warn: logging
    # 10,000 connects at info would cost the emulator's CPU, not the clients'.
    RUST_LOG=${EMU_LOG:-warn} "$EMU" --dps-listen 127.0.0.1:8883 --id-scope "$ID_SCOPE" \
        --group-key "$GROUP_KEY" --ca-cert-out "$CA" --service-listen 127.0.0.1:0 \
        --dps-retry-after 0 >"$OUT/emulator.out" 2>>"$OUT/emulator.log" </dev/null &
    EMU_PID=$!
    for _ in $(seq 1 100); do
        SERVICE_URL=$(sed -n 's/^ *Service API: *\(http:[^ ]*\).*/\1/p' "$OUT/emulator.out")
        [ -n "$SERVICE_URL" ] && [ -s "$CA" ] && break
        sleep 0.2
    done
    [ -n "$SERVICE_URL" ] || { log "ERROR: the emulator did not start"; exit 1; }
    log "emulator pid $EMU_PID on 127.0.0.1:8883, service $SERVICE_URL"
}

# Runs a client command and appends its JSON line, with the run number and load average.
record() {
    local run=$1; shift
    local line rc
    line=$("$@" 2>>"$LOG"); rc=$?
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        log "FAILED (exit $rc): $*"; return 1
    fi
    python3 -c '
import json, sys
r = json.loads(sys.argv[1]); r["run"] = int(sys.argv[2])
r["loadavg_1m"] = float(open("/proc/loadavg").read().split()[0])
print(json.dumps(r))' "$line" "$run" | tee -a "$RESULTS" >&2
}

loadgen() {
    "$LOADGEN" --scope "$ID_SCOPE" --ca "$CA" --service-url "$SERVICE_URL" --emulator-pid "$EMU_PID" "$@"
}
# `client C SCENARIO ARGS...`: the loadgen scenario for client C (the rustls build for sdk-rustls).
client() {
    local c=$1 scenario=$2; shift 2
    if [ "$c" = sdk-rustls ]; then
        "$LOADGEN_RUSTLS" --scope "$ID_SCOPE" --ca "$CA" --service-url "$SERVICE_URL" \
            --emulator-pid "$EMU_PID" "$scenario" --client sdk "$@"
    else
        loadgen "$scenario" --client "$c" "$@"
    fi
}
node_bench() { NODE_PATH=$NODE_MODULES IOTC_CA_CERT=$CA node "$HERE/official/bench.js" "$@"; }
python_bench() { IOTC_CA_CERT=$CA "$VENV_PY" "$HERE/official/bench.py" "$@"; }

start_emulator

# --- transports: the SDK's throughput over each of its transports -------------------------------
# Each protocol provisions through its own DPS endpoint on the emulator (MQTT 8883, AMQP 5671,
# HTTPS and both WebSocket transports 443). The bare clients are MQTT only.
if wants transports; then
    for run in $(seq 1 "$RUNS"); do
        for inflight in 1 100; do
            if [ "$inflight" = 1 ]; then n=2000; w=200; else n=10000; w=1000; fi
            for protocol in ${TRANSPORTS:-mqtt mqtt-ws amqp amqp-ws https}; do
                case "$protocol" in
                    mqtt) dps=127.0.0.1:8883 ;;
                    amqp) dps=127.0.0.1:5671 ;;
                    *) dps=127.0.0.1:443 ;;
                esac
                record "$run" loadgen --dps "$dps" throughput --client sdk --protocol "$protocol" \
                    --inflight $inflight --messages $n --warmup $w
            done
        done
    done
fi

# --- throughput ---------------------------------------------------------------------------------
if wants throughput; then
    loadgen provision --prefix tp- --devices 2 >>"$LOG" 2>&1  # tp-0 node, tp-1 python
    for run in $(seq 1 "$RUNS"); do
        for inflight in 1 100; do
            if [ "$inflight" = 1 ]; then n=5000; w=500; else n=20000; w=2000; fi
            for c in sdk sdk-rustls rumqttc rumqttc-rustls; do
                has "$c" && record "$run" client "$c" throughput --inflight $inflight --messages $n --warmup $w
            done
            has node && record "$run" node_bench throughput --device-id tp-0 --inflight $inflight --messages $n --warmup $w
            has python && record "$run" python_bench throughput --device-id tp-1 --inflight $inflight \
                --messages $((n / 4)) --warmup $((w / 4))
        done
    done
fi

# --- latency ------------------------------------------------------------------------------------
if wants latency; then
    for run in $(seq 1 "$RUNS"); do
        for kind in command reported; do
            for c in sdk rumqttc; do
                has "$c" && record "$run" client "$c" latency --kind $kind --count 2000 --warmup 200
            done
        done
    done
fi

# --- fleet --------------------------------------------------------------------------------------
if wants fleet; then
    max=0; for k in $FLEET_SIZES; do [ "$k" -gt "$max" ] && max=$k; done
    log "provisioning $max fleet devices"
    record 0 loadgen provision --prefix fleet- --devices "$max" --concurrency 200
    for k in $FLEET_SIZES; do
        for run in $(seq 1 "$FLEET_RUNS"); do
            for c in sdk sdk-rustls rumqttc rumqttc-rustls; do
                has "$c" && record "$run" client "$c" fleet --devices "$k" --interval-secs 5 --hold-secs "$HOLD"
                sleep 2
            done
            has node && { record "$run" node_bench fleet --devices "$k" --interval 5 --hold "$HOLD"; sleep 2; }
            if has python && [ "$k" -le "$PYTHON_FLEET_MAX" ]; then
                record "$run" python_bench fleet --devices "$k" --interval 5 --hold "$HOLD"; sleep 2
            fi
        done
    done
fi
stop_emulator

# --- footprint ----------------------------------------------------------------------------------
# --- gateway: K downstream devices (AMQP: over the gateway's one connection) -------------------
if wants gateway; then
    for size in $GATEWAY_SIZES; do
        for run in $(seq 1 "$GATEWAY_RUNS"); do
            for protocol in $GATEWAY_PROTOCOLS; do
                # A fresh emulator per run: every device provisions and connects anew.
                start_emulator
                case "$protocol" in amqp) dps=127.0.0.1:5671 ;; *) dps=127.0.0.1:8883 ;; esac
                record "$run" loadgen --dps "$dps" gateway --protocol "$protocol" \
                    --devices "$size" --prefix "gw$run-"
            done
        done
    done
fi

if wants footprint; then
    # The thermostat example with each of the SDK's TLS stacks (it embeds the emulator, which
    # always links OpenSSL for its TLS server).
    (cd "$ROOT" && cargo build -q --release -p iotc-examples --no-default-features \
        --features tls-rustls --example thermostat) >>"$LOG" 2>&1
    cp "$TARGET_DIR/release/examples/thermostat" "$OUT/thermostat-rustls"
    (cd "$ROOT" && cargo build -q --release -p iotc-examples --example thermostat) >>"$LOG" 2>&1
    cp "$TARGET_DIR/release/examples/thermostat" "$OUT/thermostat"
    unstripped=$(stat -c %s "$OUT/thermostat")
    strip "$OUT/thermostat"
    stripped=$(stat -c %s "$OUT/thermostat")
    unstripped_rustls=$(stat -c %s "$OUT/thermostat-rustls")
    strip "$OUT/thermostat-rustls"
    stripped_rustls=$(stat -c %s "$OUT/thermostat-rustls")
    # Unique packages in the normal (non-dev, non-build) dependency graph, iotc-sdk itself
    # excluded: --prefix none prints one package per line, "(*)" marks repeats.
    deps() { (cd "$ROOT" && cargo tree -p iotc-sdk "$@" -e normal --prefix none) |
        sed 's/ (\*)$//' | sort -u | grep -vc '^iotc-sdk '; }
    minimal=$(deps --no-default-features --features tls-native)
    minimal_rustls=$(deps --no-default-features --features tls-rustls)
    full=$(deps)
    node_pkgs=""; py_pkgs=""
    [ -d "$NODE_MODULES" ] && node_pkgs=$(find "$NODE_MODULES" -name package.json -path '*/node_modules/*/package.json' \
        -not -path '*/node_modules/*/node_modules/*/node_modules/*' | grep -v '/test/' | wc -l)
    [ -x "$VENV_PY" ] && py_pkgs=$("$VENV_PY" -m pip list --format=freeze 2>/dev/null | grep -vcE '^(pip|setuptools|wheel)==')
    python3 -c '
import json, sys
print(json.dumps({"scenario": "footprint", "thermostat_bytes": int(sys.argv[1]),
  "thermostat_stripped_bytes": int(sys.argv[2]), "deps_minimal_mqtt": int(sys.argv[3]),
  "deps_default": int(sys.argv[4]), "node_sdk_packages": sys.argv[5] or None,
  "python_sdk_packages": sys.argv[6] or None, "thermostat_rustls_bytes": int(sys.argv[7]),
  "thermostat_rustls_stripped_bytes": int(sys.argv[8]), "deps_minimal_mqtt_rustls": int(sys.argv[9])}))' \
        "$unstripped" "$stripped" "$minimal" "$full" "$node_pkgs" "$py_pkgs" \
        "$unstripped_rustls" "$stripped_rustls" "$minimal_rustls" | tee -a "$RESULTS" >&2
fi

python3 "$HERE/summarize.py" "$RESULTS" "$OUT/machine.json" >"$OUT/summary.md" && log "summary: $OUT/summary.md"
if [ "${PLOT:-1}" = 1 ] && wants fleet; then
    # PLOT_WITH: earlier results files for the clients this run did not measure.
    # shellcheck disable=SC2086
    python3 "$HERE/plot.py" "$RESULTS" ${PLOT_WITH:-} "$ROOT/docs/benchmarks-fleet.svg" && log "plot: docs/benchmarks-fleet.svg"
fi
