#!/usr/bin/env bash
# Instruction counts per telemetry message (docs/benchmarks.md, "instruction counts"): runs
# `iotc-loadgen throughput` under valgrind's callgrind at two message counts and prints the
# difference per message, so that connecting and set-up cancel out. Deterministic where wall
# and CPU time are not: the figure does not depend on what else runs on the machine.
#
#   scripts/bench/callgrind.sh [LABEL]
#
# Environment (all optional):
#   CLIENTS="sdk rumqttc"   loadgen clients (sdk, sdk-rustls, rumqttc, rumqttc-rustls)
#   INFLIGHT="100 1"        in-flight settings
#   LOADGEN=target/release/iotc-loadgen   (build it first, see run.sh)
#   LOADGEN_RUSTLS=target/release/iotc-loadgen-sdk-rustls   the build for sdk-rustls (run.sh)
#   PORT=18883              the emulator's port (not 8883, which the official SDKs' scripts use)
#   OUT=target/bench-results/callgrind    where the callgrind files and totals.txt go
#
# For 100 in flight: (Ir(25,000 msgs) - Ir(5,000 msgs)) / 20,000, warm-up 1,000.
# For 1 in flight:   (Ir(6,000 msgs) - Ir(2,000 msgs)) / 4,000, warm-up 200.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LABEL=${1:-$(cd "$ROOT" && git rev-parse --short HEAD)}
CLIENTS=${CLIENTS:-"sdk rumqttc"}
INFLIGHT=${INFLIGHT:-"100 1"}
PORT=${PORT:-18883}
OUT=${OUT:-$ROOT/target/bench-results/callgrind}
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
LOADGEN=${LOADGEN:-$TARGET_DIR/release/iotc-loadgen}
LOADGEN_RUSTLS=${LOADGEN_RUSTLS:-$TARGET_DIR/release/iotc-loadgen-sdk-rustls}
EMU=${EMU:-$TARGET_DIR/release/iotc-emulator}
GROUP_KEY='VDNUzZc1SUGjxv8mPTbAtriPWENdUZPjN5QSsHpm/nQJOxxnGEj7+zfk1qV+6fEsLNitxjywuZFh5J9TCeXFxQ=='
export IOTC_GROUP_KEY=$GROUP_KEY
mkdir -p "$OUT"
CA=$OUT/ca-$PORT.pem

RUST_LOG=warn "$EMU" --dps-listen 127.0.0.1:"$PORT" --id-scope 0ne0000CAFE --group-key "$GROUP_KEY" \
    --ca-cert-out "$CA" --service-listen 127.0.0.1:0 --dps-retry-after 0 \
    >"$OUT/emulator.out" 2>"$OUT/emulator.log" </dev/null &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null; wait $EMU_PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    grep -q 'Service API' "$OUT/emulator.out" 2>/dev/null && [ -s "$CA" ] && break
    sleep 0.2
done

# Total instructions (Ir) of one callgrind run.
ir() {
    local name=$1 bin=$LOADGEN; shift
    [[ $name == sdk-rustls-* ]] && bin=$LOADGEN_RUSTLS
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$LABEL-$name.out" \
        "$bin" --dps "localhost:$PORT" --hub-port "$PORT" --ca "$CA" "$@" \
        >"$OUT/$LABEL-$name.json" 2>"$OUT/$LABEL-$name.log"
    sed -n 's/^summary: *//p' "$OUT/$LABEL-$name.out"
}

for inflight in $INFLIGHT; do
    if [ "$inflight" = 1 ]; then lo=2000; hi=6000; warm=200; else lo=5000; hi=25000; warm=1000; fi
    for client in $CLIENTS; do
        arg=${client/sdk-rustls/sdk}
        a=$(ir "$client-$inflight-$lo" throughput --client "$arg" --inflight "$inflight" --messages $lo --warmup $warm)
        b=$(ir "$client-$inflight-$hi" throughput --client "$arg" --inflight "$inflight" --messages $hi --warmup $warm)
        per=$(( (b - a) / (hi - lo) ))
        printf '%-22s %-16s inflight %-4s Ir(%s) %s  Ir(%s) %s  per message %s\n' \
            "$LABEL" "$client" "$inflight" "$lo" "$a" "$hi" "$b" "$per" | tee -a "$OUT/totals.txt"
    done
done
