#!/usr/bin/env bash
# A user's build resolves dependencies afresh: the SDK must build warning-free against the
# newest compatible versions of its dependencies, not only against our Cargo.lock. This copies
# the tracked tree to a scratch folder, runs `cargo update` there (Cargo.lock in the checkout is
# untouched) and checks the SDK on each TLS stack with warnings denied.
#
# Needs the package registry (it runs in `.ci/run`'s install phase, where registries are
# reachable). Set FRESH_TARGET to reuse a target folder between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$scratch"
cd "$scratch"
cargo update 2>&1 | grep -E 'Updating|Adding|Locking' | grep -v 'crates.io index' || true

export CARGO_TARGET_DIR="${FRESH_TARGET:-$scratch/target}"
export RUSTFLAGS="-D warnings"
echo "--- iotc-sdk, default features (native-tls), fresh dependencies"
cargo check -q -p iotc-sdk --all-features
echo "--- iotc-sdk on rustls, fresh dependencies"
cargo check -q -p iotc-sdk --no-default-features --features tls-rustls,derive,amqp,https,websocket,edge
echo "--- iotc-sdk, minimal MQTT-only, fresh dependencies"
cargo check -q -p iotc-sdk --no-default-features --features tls-native
echo "--- iotc-sdk-derive and iotc-emulator, fresh dependencies"
cargo check -q -p iotc-sdk-derive -p iotc-emulator
echo "fresh dependencies: no warnings"
