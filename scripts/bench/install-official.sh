#!/usr/bin/env bash
# Installs the official Azure IoT device SDKs for the benchmarks into scripts/bench/.official/
# (git-ignored): Node packages at the versions pinned in scripts/official-sdks/node/package.json
# and Python's azure-iot-device at the version pinned in scripts/official-sdks/python/requirements.txt.
# An install that is already complete is reused. Not part of .ci/run.
#
#   scripts/bench/install-official.sh [node] [python]     (default: both)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DEST=$HERE/.official
mkdir -p "$DEST"
WANT=("$@")
[ ${#WANT[@]} -eq 0 ] && WANT=(node python)

for sdk in "${WANT[@]}"; do
    case "$sdk" in
        node)
            mkdir -p "$DEST/node"
            # Only the two hub packages are needed: devices are provisioned by iotc-loadgen.
            node -e '
                const p = require(process.argv[1]).dependencies;
                const keep = ["azure-iot-device", "azure-iot-device-mqtt"];
                const deps = Object.fromEntries(keep.map((k) => [k, p[k]]));
                require("fs").writeFileSync(process.argv[2], JSON.stringify(
                    { name: "iotc-bench-official-node", private: true, dependencies: deps }, null, 2));
            ' "$ROOT/scripts/official-sdks/node/package.json" "$DEST/node/package.json"
            if (cd "$DEST/node" && node -e 'for (const [n, v] of Object.entries(require("./package.json").dependencies)) { if (require(n + "/package.json").version !== v) process.exit(1); }') 2>/dev/null; then
                echo "node SDK: already installed"
            else
                (cd "$DEST/node" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
                echo "node SDK: installed"
            fi
            ;;
        python)
            py=${PYTHON:-$(command -v python3.11 || command -v python3)}
            [ -x "$DEST/venv/bin/python" ] || "$py" -m venv "$DEST/venv"
            "$DEST/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                -r "$ROOT/scripts/official-sdks/python/requirements.txt"
            echo "python SDK: $("$DEST/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("azure-iot-device"))')"
            ;;
        *) echo "usage: $0 [node] [python]" >&2; exit 2 ;;
    esac
done
