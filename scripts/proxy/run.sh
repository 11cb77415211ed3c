#!/usr/bin/env bash
# The SDK through a real HTTP proxy: three tinyproxy instances on loopback (Debian's
# `tinyproxy`, installed here when missing) and the `proxy` test binary against them.
#   - open:   no authentication, any port may be tunnelled;
#   - auth:   `BasicAuth user pass`;
#   - strict: tunnels only to port 443 (tinyproxy's default rule), so it refuses the
#             emulator's port with 403.
# No `ConnectPort` line in open and auth: tinyproxy then tunnels to any port (with a
# `ConnectPort` line, or by default in some builds, only 443 and 563).
# Extra arguments go to the test binary (a name filter, --nocapture).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if ! command -v tinyproxy >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tinyproxy
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port (the kernel's choice; closed again before tinyproxy binds it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME PORT [EXTRA CONFIG LINE...]: a tinyproxy in the foreground (-d), in the background.
start() {
    local name="$1" port="$2"
    shift 2
    {
        echo "Port $port"
        echo "Listen 127.0.0.1"
        echo "Allow 127.0.0.1"
        echo "Timeout 600"
        echo "MaxClients 200"
        echo "LogFile \"$work/$name.log\""
        echo "LogLevel Connect"
        for line in "$@"; do echo "$line"; done
    } >"$work/$name.conf"
    : >"$work/$name.log"
    tinyproxy -d -c "$work/$name.conf" >"$work/$name.out" 2>&1 &
    pids+=("$!")
    # Ready when it accepts a connection.
    for _ in $(seq 1 50); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "tinyproxy ($name) did not start:" >&2
    cat "$work/$name.out" >&2
    exit 1
}

open_port="$(free_port)"
start open "$open_port"
auth_port="$(free_port)"
start auth "$auth_port" "BasicAuth user pass"
strict_port="$(free_port)"
start strict "$strict_port" "ConnectPort 443"

export IOTC_TEST_PROXY="http://127.0.0.1:$open_port"
export IOTC_TEST_PROXY_LOG="$work/open.log"
export IOTC_TEST_PROXY_AUTH="http://user:pass@127.0.0.1:$auth_port"
export IOTC_TEST_PROXY_AUTH_LOG="$work/auth.log"
export IOTC_TEST_PROXY_STRICT="http://127.0.0.1:$strict_port"
echo "tinyproxy: open $IOTC_TEST_PROXY, auth 127.0.0.1:$auth_port, strict $IOTC_TEST_PROXY_STRICT"

cargo test -p iotc-tests --test proxy -- --include-ignored "$@"

# The thermostat example (its embedded emulator) through the authenticating proxy, over MQTT
# over WebSockets: the example's IOTC_PROXY path end to end, checked in the proxy's log.
if [ "$#" -eq 0 ]; then
    before=$(grep -c 'CONNECT localhost:' "$IOTC_TEST_PROXY_AUTH_LOG" || true)
    IOTC_PROXY="$IOTC_TEST_PROXY_AUTH" IOTC_TRANSPORT=mqtt-ws timeout 120 cargo run -q --example thermostat
    after=$(grep -c 'CONNECT localhost:' "$IOTC_TEST_PROXY_AUTH_LOG" || true)
    if [ "$after" -lt $((before + 2)) ]; then
        echo "the thermostat example did not go through the proxy (CONNECTs: $before -> $after)" >&2
        exit 1
    fi
    echo "thermostat through the proxy: $((after - before)) tunnels in the proxy's log"
fi
