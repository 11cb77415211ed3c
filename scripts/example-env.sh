#!/usr/bin/env bash
# Runs the thermostat example the way a user runs it against a real IoT Central application
# (IOTC_* variables, run until Ctrl-C), with the iotc-emulator binary standing in for the
# service, and drives the service side over the emulator's REST API with curl-like requests.
# Checks: provisioning, the writable-property acknowledgement in the twin, the command answer,
# and a clean exit 0 after SIGINT. Touches only loopback addresses.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p iotc-emulator --bin iotc-emulator
cargo build -q --example thermostat
work=$(mktemp -d)
cleanup() { kill "${emu_pid:-}" "${dev_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

key=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
"${CARGO_TARGET_DIR:-target}"/debug/iotc-emulator --id-scope 0ne00SMOKE1 --group-key "$key" \
  --ca-cert-out "$work/ca.pem" >"$work/emulator.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do grep -q "Service API:" "$work/emulator.log" && break; sleep 0.1; done
dps=$(sed -n 's/^ *DPS endpoint: *//p' "$work/emulator.log")
service=$(sed -n 's/^ *Service API: *//p' "$work/emulator.log")
[ -n "$dps" ] && [ -n "$service" ] || { cat "$work/emulator.log"; echo "emulator did not start"; exit 1; }

IOTC_ID_SCOPE=0ne00SMOKE1 IOTC_DEVICE_ID=smoke-thermostat IOTC_GROUP_KEY="$key" \
IOTC_DPS_ENDPOINT="$dps" IOTC_TRUST_CA="$work/ca.pem" \
  "${CARGO_TARGET_DIR:-target}"/debug/examples/thermostat >"$work/device.log" 2>&1 &
dev_pid=$!

http() { python3 - "$@" <<'PY'
import json, sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
print(urllib.request.urlopen(req, timeout=15).read().decode())
PY
}
for _ in $(seq 100); do grep -q "== running" "$work/device.log" && break; sleep 0.1; done
grep -q "== running" "$work/device.log" || { cat "$work/device.log"; echo "device did not connect"; exit 1; }

http PATCH "$service/twins/smoke-thermostat" '{"properties":{"desired":{"targetTemperature":30}}}' >/dev/null
acked=""
for _ in $(seq 50); do
  twin=$(http GET "$service/twins/smoke-thermostat")
  if python3 -c 'import json,sys; t=json.loads(sys.argv[1]); a=t["properties"]["reported"].get("targetTemperature",{}); sys.exit(0 if a.get("ac")==200 and a.get("av")==t["properties"]["desired"]["$version"] else 1)' "$twin"; then acked=1; break; fi
  sleep 0.1
done
[ -n "$acked" ] || { echo "no acknowledgement in the twin: $twin"; cat "$work/device.log"; exit 1; }
answer=$(http POST "$service/twins/smoke-thermostat/methods" '{"methodName":"getMaxMinReport","payload":"2020-01-01T00:00:00Z","responseTimeoutInSeconds":10}')
python3 -c 'import json,sys; a=json.loads(sys.argv[1]); assert a["status"]==200 and "maxTemp" in a["payload"], a' "$answer"

kill -INT "$dev_pid"
status=0; wait "$dev_pid" || status=$?
dev_pid=""
[ "$status" -eq 0 ] || { cat "$work/device.log"; echo "example exited with $status after Ctrl-C"; exit 1; }
grep -q "== disconnected" "$work/device.log" || { cat "$work/device.log"; echo "no clean disconnect"; exit 1; }
echo "example-env: provisioned, acknowledged, answered, exited 0 after Ctrl-C"
