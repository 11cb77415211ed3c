#!/usr/bin/env python3
"""Provision a device through iotc-emulator's DPS and exercise the IoT hub with the OFFICIAL
Azure IoT Python device SDK (`azure-iot-device`), unchanged. After every device-side step it
checks what the service side saw through the emulator's REST service API. Exits 0 when every
step passed, 1 otherwise.

Environment (scripts/official-sdks/run.sh sets all of them):
  IOTC_DPS_HOST      DPS host name (the SDK always uses port 8883), e.g. localhost
  IOTC_ID_SCOPE      the emulator's ID scope
  IOTC_GROUP_KEY     the SAS-IoT-Devices enrollment group key (base64)
  IOTC_CA_CERT       path of the emulator's CA certificate (PEM), passed to the SDK as
                     server_verification_cert
  IOTC_SERVICE_URL   the emulator's REST service API, e.g. http://127.0.0.1:18080
  IOTC_EXPECTED_HUB  optional: the assignedHub DPS must announce (e.g. localhost)
  IOTC_DEVICE_ID     optional: registration/device id (default python-sdk-device-01)
  IOTC_MODEL_ID      optional: model id (default dtmi:com:example:Thermostat;1)
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from azure.iot.device import (
    IoTHubDeviceClient,
    Message,
    MethodResponse,
    ProvisioningDeviceClient,
)
from importlib.metadata import version as _pkg_version

SDK_VERSION = _pkg_version("azure-iot-device")

TAG = "[python]"


def env(name, default=None):
    value = os.environ.get(name, "")
    if value == "":
        if default is None:
            print(f"{TAG} FAIL setup: environment variable {name} is not set", flush=True)
            sys.exit(1)
        return default
    return value


DPS_HOST = env("IOTC_DPS_HOST")
ID_SCOPE = env("IOTC_ID_SCOPE")
GROUP_KEY = env("IOTC_GROUP_KEY")
CA_PATH = env("IOTC_CA_CERT")
SERVICE_URL = env("IOTC_SERVICE_URL").rstrip("/")
EXPECTED_HUB = env("IOTC_EXPECTED_HUB", "")
DEVICE_ID = env("IOTC_DEVICE_ID", "python-sdk-device-01")
MODEL_ID = env("IOTC_MODEL_ID", "dtmi:com:example:Thermostat;1")
QUOTED_ID = urllib.parse.quote(DEVICE_ID, safe="")


class StepError(Exception):
    pass


def check(cond, what):
    if not cond:
        raise StepError(what)


def field(obj, snake):
    """The REST API's registry objects may use snake_case or camelCase keys; accept both."""
    if not isinstance(obj, dict):
        return None
    if snake in obj:
        return obj[snake]
    head, *rest = snake.split("_")
    return obj.get(head + "".join(p.capitalize() for p in rest))


def rest(method, path, body=None, headers=None):
    """Calls the emulator's REST service API; returns (status, parsed JSON or None, text)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        if isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        else:
            data = json.dumps(body).encode()
            hdrs.setdefault("content-type", "application/json")
    req = urllib.request.Request(SERVICE_URL + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            status, text = res.status, res.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, parsed, text


def eventually(probe, seconds, what):
    """Polls probe() until it returns something truthy, or fails the step after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepError(f"not seen within {seconds} s: {what}")
        time.sleep(0.2)


RESULTS = []


def step(name, fn):
    started = time.monotonic()
    try:
        detail = fn()
    except StepError as e:
        print(f"{TAG} FAIL {name}: {e}", flush=True)
        RESULTS.append(False)
        return False
    except Exception:  # noqa: BLE001 - any SDK exception is a failed step
        print(f"{TAG} FAIL {name}: {traceback.format_exc()}", flush=True)
        RESULTS.append(False)
        return False
    ms = int((time.monotonic() - started) * 1000)
    print(f"{TAG} PASS {name} ({ms} ms){': ' + detail if detail else ''}", flush=True)
    RESULTS.append(True)
    return True


def main():
    print(
        f"{TAG} azure-iot-device {SDK_VERSION}, python {sys.version.split()[0]}",
        flush=True,
    )
    print(
        f"{TAG} DPS {DPS_HOST}:8883 scope {ID_SCOPE}, device {DEVICE_ID}, model {MODEL_ID}, "
        f"service {SERVICE_URL}",
        flush=True,
    )
    with open(CA_PATH, encoding="utf-8") as f:
        ca_pem = f.read()

    ctx = {}

    def derive_key():
        ctx["key"] = base64.b64encode(
            hmac.new(
                base64.b64decode(GROUP_KEY), DEVICE_ID.encode("utf-8"), hashlib.sha256
            ).digest()
        ).decode()
        check(len(ctx["key"]) == 44, f"unexpected derived key length {len(ctx['key'])}")
        return "derived a 32-byte key"

    def provision():
        prov = ProvisioningDeviceClient.create_from_symmetric_key(
            provisioning_host=DPS_HOST,
            registration_id=DEVICE_ID,
            id_scope=ID_SCOPE,
            symmetric_key=ctx["key"],
            server_verification_cert=ca_pem,
        )
        prov.provisioning_payload = {"modelId": MODEL_ID}
        result = prov.register()
        ctx["registration"] = result
        check(result.status == "assigned", f"registration status {result.status}: {result}")
        state = result.registration_state
        check(state.device_id == DEVICE_ID, f"deviceId {state.device_id} != {DEVICE_ID}")
        check(state.assigned_hub, f"no assignedHub in {result}")
        if EXPECTED_HUB:
            check(
                state.assigned_hub == EXPECTED_HUB,
                f"assignedHub {state.assigned_hub} != expected {EXPECTED_HUB}",
            )
        status, regs, text = rest("GET", "/registrations")
        check(status == 200, f"GET /registrations -> {status} {text}")
        reg = next((r for r in regs or [] if field(r, "registration_id") == DEVICE_ID), None)
        check(reg is not None, f"service: no registration for {DEVICE_ID} in {text}")
        check(reg.get("status") == "assigned", f"service: registration status {reg.get('status')}")
        payload = reg.get("payload") or {}
        check(
            payload.get("modelId") == MODEL_ID,
            f"service: registration payload {payload} lacks modelId {MODEL_ID}",
        )
        return f"assignedHub={state.assigned_hub} deviceId={state.device_id}"

    def connect():
        state = ctx["registration"].registration_state
        client = IoTHubDeviceClient.create_from_symmetric_key(
            symmetric_key=ctx["key"],
            hostname=state.assigned_hub,
            device_id=state.device_id,
            server_verification_cert=ca_pem,
            # The Python SDK announces a model id through product_info: a value starting with
            # "dtmi" is sent as the MQTT username's model-id parameter.
            product_info=MODEL_ID,
        )
        ctx["client"] = client
        client.connect()

        def connected():
            status, dev, _ = rest("GET", f"/devices/{QUOTED_ID}")
            return dev if status == 200 and dev and dev.get("connected") else None

        dev = eventually(connected, 5, "service: device connected")
        check(
            field(dev, "model_id") == MODEL_ID,
            f"service: device model_id {field(dev, 'model_id')} != {MODEL_ID}",
        )
        client_type = field(dev, "device_client_type") or ""
        check(
            "azure-iot-device-iothub-py" in client_type,
            f"service: DeviceClientType {client_type!r} does not name the Python SDK",
        )
        status, twin, _ = rest("GET", f"/twins/{QUOTED_ID}")
        check(status == 200 and twin.get("modelId") == MODEL_ID, f"service: twin {twin}")
        return f"connected; service sees model_id={field(dev, 'model_id')}, DeviceClientType={client_type}"

    def telemetry():
        client = ctx["client"]
        body = {"temperature": 22.5, "sdk": "python", "seq": 1}
        msg = Message(
            json.dumps(body),
            message_id="python-msg-0001",
            content_encoding="utf-8",
            content_type="application/json",
        )
        msg.correlation_id = "python-corr-0001"
        msg.custom_properties["sdk"] = "python"
        msg.custom_properties["temperatureAlert"] = "false"
        msg.custom_properties["with space"] = "a/b&c=d"
        client.send_message(msg)

        def seen():
            status, msgs, _ = rest("GET", f"/devices/{QUOTED_ID}/telemetry")
            if status != 200:
                return None
            return next(
                (m for m in msgs or [] if (m.get("systemProperties") or {}).get("mid") == "python-msg-0001"),
                None,
            )

        m = eventually(seen, 5, "service: telemetry message python-msg-0001")
        b = m.get("body")
        check(
            isinstance(b, dict) and b.get("temperature") == 22.5 and b.get("seq") == 1,
            f"service: body {b!r}",
        )
        sp, ap = m["systemProperties"], m["applicationProperties"]
        check(sp.get("cid") == "python-corr-0001", f"service: correlation id {sp.get('cid')}")
        check(sp.get("ct") == "application/json", f"service: content type {sp.get('ct')}")
        check(sp.get("ce") == "utf-8", f"service: content encoding {sp.get('ce')}")
        check(
            sp.get("iothub-connection-device-id") == DEVICE_ID,
            f"service: iothub-connection-device-id {sp.get('iothub-connection-device-id')}",
        )
        check(
            ap.get("sdk") == "python" and ap.get("temperatureAlert") == "false",
            f"service: application properties {ap}",
        )
        check(ap.get("with space") == "a/b&c=d", f"service: encoded property {ap}")
        return f"service saw body+mid/cid/ct/ce and app properties {json.dumps(ap)}"

    def get_twin():
        twin = ctx["client"].get_twin()
        ctx["twin"] = twin
        status, svc, _ = rest("GET", f"/twins/{QUOTED_ID}")
        check(status == 200, f"service: GET twin -> {status}")
        check(isinstance(twin.get("desired", {}).get("$version"), int), f"device: twin {twin}")
        check(isinstance(twin.get("reported", {}).get("$version"), int), f"device: twin {twin}")
        check(
            twin["desired"]["$version"] == svc["properties"]["desired"]["$version"],
            f"desired $version device {twin['desired']['$version']} != service "
            f"{svc['properties']['desired']['$version']}",
        )
        return (
            f"desired.$version={twin['desired']['$version']} "
            f"reported.$version={twin['reported']['$version']}"
        )

    def report():
        ctx["client"].patch_twin_reported_properties(
            {"firmwareVersion": "2.3.4", "sdk": {"name": "python", "client": "azure-iot-device"}}
        )
        status, svc, _ = rest("GET", f"/twins/{QUOTED_ID}")
        rep = (svc or {}).get("properties", {}).get("reported", {})
        check(
            status == 200 and rep.get("firmwareVersion") == "2.3.4"
            and (rep.get("sdk") or {}).get("name") == "python",
            f"service: reported {rep}",
        )
        return f"service reported.$version={rep.get('$version')}"

    def desired():
        client = ctx["client"]
        target = 24.5
        got = threading.Event()
        patches = []

        def on_patch(patch):
            patches.append(patch)
            if patch.get("targetTemperature") == target:
                got.set()

        # Setting a handler on the connected sync client blocks until the SUBACK of
        # $iothub/twin/PATCH/properties/desired/#.
        client.on_twin_desired_properties_patch_received = on_patch
        status, svc, text = rest(
            "PATCH", f"/twins/{QUOTED_ID}", {"properties": {"desired": {"targetTemperature": target}}}
        )
        check(status == 200, f"service: PATCH twin -> {status} {text}")
        version = svc["properties"]["desired"]["$version"]
        check(got.wait(15), f"device: no patch with targetTemperature={target} (got {patches})")
        patch = next(p for p in patches if p.get("targetTemperature") == target)
        check(patch.get("$version") == version, f"device: patch $version {patch.get('$version')} != {version}")
        client.patch_twin_reported_properties(
            {"targetTemperature": {"value": target, "ac": 200, "av": version, "ad": "applied"}}
        )
        status, svc, _ = rest("GET", f"/twins/{QUOTED_ID}")
        ack = svc["properties"]["reported"].get("targetTemperature")
        check(
            isinstance(ack, dict) and ack.get("value") == target and ack.get("ac") == 200
            and ack.get("av") == version,
            f"service: ack {ack}",
        )
        return f"patch {json.dumps(patch)} received and acknowledged (av={version})"

    def method():
        client = ctx["client"]
        calls = []

        def on_method(request):
            calls.append(request.name)
            payload = {"rebooted": True, "echo": request.payload, "method": request.name}
            client.send_method_response(MethodResponse.create_from_method_request(request, 200, payload))

        # Blocks until the SUBACK of $iothub/methods/POST/#.
        client.on_method_request_received = on_method
        status, res, text = rest(
            "POST",
            f"/twins/{QUOTED_ID}/methods",
            {"methodName": "reboot", "payload": {"delay": 1}, "responseTimeoutInSeconds": 10},
        )
        check(status == 200, f"service: invoke -> {status} {text}")
        check(res.get("status") == 200, f"service: method status {res.get('status')}")
        p = res.get("payload") or {}
        check(
            p.get("rebooted") is True and p.get("method") == "reboot" and (p.get("echo") or {}).get("delay") == 1,
            f"service: method payload {p}",
        )
        check(calls == ["reboot"], f"device: handler calls {calls}")
        return f"service got {json.dumps(res)}"

    def c2d():
        client = ctx["client"]
        got = threading.Event()
        messages = []

        def on_message(msg):
            messages.append(msg)
            got.set()

        client.on_message_received = on_message
        status, _, text = rest(
            "POST",
            f"/devices/{QUOTED_ID}/messages/devicebound",
            json.dumps({"command": "blink", "times": 3}),
            {
                "content-type": "application/json",
                "content-encoding": "utf-8",
                "iothub-messageid": "c2d-python-0001",
                "iothub-correlationid": "c2d-corr-0001",
                "iothub-app-color": "blue",
                "iothub-app-method-name": "blink",
            },
        )
        check(status in (200, 204), f"service: send C2D -> {status} {text}")
        check(got.wait(15), "device: no C2D message within 15 s")
        msg = messages[0]
        data = msg.data.decode("utf-8") if isinstance(msg.data, bytes) else str(msg.data)
        body = json.loads(data)
        check(body == {"command": "blink", "times": 3}, f"device: body {data}")
        check(msg.message_id == "c2d-python-0001", f"device: message_id {msg.message_id}")
        check(msg.correlation_id == "c2d-corr-0001", f"device: correlation_id {msg.correlation_id}")
        check(msg.custom_properties.get("color") == "blue", f"device: custom_properties {msg.custom_properties}")
        check(
            msg.custom_properties.get("method-name") == "blink",
            f"device: custom_properties {msg.custom_properties}",
        )
        return (
            f"device got {data} mid={msg.message_id} ct={msg.content_type} "
            f"ce={msg.content_encoding} props={msg.custom_properties}"
        )

    def close():
        ctx["client"].shutdown()
        ctx.pop("client")

        def disconnected():
            status, dev, _ = rest("GET", f"/devices/{QUOTED_ID}")
            return status == 200 and dev and dev.get("connected") is False

        eventually(disconnected, 5, "service: device disconnected")
        return "service sees the device disconnected"

    steps = [
        ("derive device key from group key (HMAC-SHA256)", derive_key),
        ("provision through DPS with modelId payload", provision),
        ("connect to the assigned hub (create_from_symmetric_key, MQTT, model id)", connect),
        ("send telemetry with properties", telemetry),
        ("get twin", get_twin),
        ("report a property", report),
        ("receive a desired-property patch (PATCH /twins via REST)", desired),
        ("answer a direct method (POST /twins/{id}/methods via REST)", method),
        ("receive a C2D message (POST /devices/{id}/messages/devicebound via REST)", c2d),
        ("close", close),
    ]
    ok = True
    for name, fn in steps:
        if not ok:
            print(f"{TAG} SKIP {name} (an earlier step failed)", flush=True)
            RESULTS.append(False)
            continue
        ok = step(name, fn)
    if "client" in ctx:
        try:
            ctx["client"].shutdown()
        except Exception:  # noqa: BLE001
            pass
    failed = RESULTS.count(False)
    print(
        f"{TAG} {'OK' if failed == 0 else 'FAILED'}: {len(RESULTS) - failed} of {len(RESULTS)} steps passed",
        flush=True,
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    # A hard limit so a hung SDK call cannot stall CI.
    watchdog = threading.Timer(150, lambda: (print(f"{TAG} FAIL: overall time limit (150 s) exceeded", flush=True), os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    code = main()
    sys.stdout.flush()
    os._exit(code)
