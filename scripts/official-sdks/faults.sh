#!/usr/bin/env bash
# The official Node.js device SDK (azure-iot-device 1.18.4 with azure-iot-device-amqp and
# azure-iot-device-mqtt), unchanged, asks iotc-emulator for faults the way IoT hub's
# fault-injection hook works (telemetry with the AzIoTHub_FaultOperation* properties):
#   AMQP:                KillAmqpConnection, KillAmqpSession, KillTcp, ShutDownAmqp, InvokeThrottling
#   AMQP over WebSockets: KillTcp        (needs port 443: root, port free)
#   MQTT over WebSockets: ShutDownMqtt   (needs port 443: root, port free)
# Each time the client observes the fault, recovers, sends telemetry (checked on the service
# side) and reads its twin (node/faults-check.js). Runs through run.sh (same emulator start-up,
# same Node install, same PASS/FAIL/SKIPPED reporting and exit code).
#
# Usage: scripts/official-sdks/faults.sh
set -uo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run.sh" node-faults
