#!/usr/bin/env python3
"""The OFFICIAL Azure IoT Python device SDK (azure-iot-device, asyncio client), unchanged, in the
iotc-sdk benchmark scenarios (docs/benchmarks.md). Prints one JSON line, in the same fields as
iotc-loadgen. Devices must already be provisioned (iotc-loadgen provision); they connect with
their derived key to the hub on localhost:8883, like the Rust clients.

    python bench.py throughput --device-id ID --inflight 100 --messages 5000 --warmup 500
    python bench.py fleet --prefix fleet- --devices 100 --interval 5 --hold 20 --connect-concurrency 100

Environment: IOTC_GROUP_KEY (group key, base64), IOTC_CA_CERT (CA PEM file),
IOTC_HUB_HOST (default localhost).
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import os
import resource
import sys
import time

from azure.iot.device import Message, MethodResponse
from azure.iot.device.aio import IoTHubDeviceClient

logging.disable(logging.CRITICAL)

GROUP_KEY = os.environ["IOTC_GROUP_KEY"]
CA = open(os.environ["IOTC_CA_CERT"]).read()
HUB = os.environ.get("IOTC_HUB_HOST", "localhost")
PAD = "iotc-sdk benchmark padding to reach two hundred bytes ............"


def device_key(device_id):
    mac = hmac.new(base64.b64decode(GROUP_KEY), device_id.encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def snap():
    return {"at": time.monotonic(), "cpu": cpu(), "rss": status("VmRSS:") * 1024}


def body(seq):
    # The same 200-byte JSON body as the Rust clients (benches/src/lib.rs `Telemetry`).
    return json.dumps(
        {
            "temperature": (215 + seq % 10) / 10,
            "humidity": 48.25,
            "pressure": 1013.2,
            "battery": 87,
            "status": "ok",
            "seq": 100000 + seq % 900000,
            "lat": 47.6423,
            "lon": -122.1369,
            "pad": PAD,
        },
        separators=(",", ":"),
    )


def message(seq):
    m = Message(body(seq))
    m.content_type = "application/json"
    m.content_encoding = "utf-8"
    return m


def pct(sorted_values, p):
    if not sorted_values:
        return 0
    rank = min(len(sorted_values), max(1, math.ceil(p * len(sorted_values))))
    return sorted_values[rank - 1]


async def connect(device_id):
    """TLS + CONNECT, method and C2D subscriptions, twin GET (subscribes to twin responses)."""
    client = IoTHubDeviceClient.create_from_symmetric_key(
        symmetric_key=device_key(device_id),
        hostname=HUB,
        device_id=device_id,
        server_verification_cert=CA,
        keep_alive=240,
    )
    await client.connect()

    async def on_method(request):
        await client.send_method_response(MethodResponse.create_from_method_request(request, 200, {"ok": True}))

    client.on_method_request_received = on_method
    client.on_message_received = lambda m: None
    await client.get_twin()
    return client


async def throughput(a):
    client = await connect(a.device_id)

    async def burst(count):
        state = {"next": 0}

        async def worker():
            while True:
                seq = state["next"]
                state["next"] += 1
                if seq >= count:
                    return
                await client.send_message(message(seq))

        await asyncio.gather(*(worker() for _ in range(a.inflight)))

    await burst(a.warmup)
    s0 = snap()
    await burst(a.messages)
    s1 = snap()
    w = s1["at"] - s0["at"]
    c = s1["cpu"] - s0["cpu"]
    out(
        a,
        {
            "scenario": "throughput", "client": "python-sdk", "inflight": a.inflight,
            "messages": a.messages, "payload_bytes": len(body(0)), "wall_s": round(w, 3),
            "msgs_per_s": round(a.messages / w), "cpu_s": round(c, 4),
            "cpu_s_per_10k": round(c * 1e4 / a.messages, 4),
        },
    )
    await client.shutdown()


async def fleet(a):
    k = a.devices
    warm = await connect(f"{a.prefix}warmup")
    await warm.shutdown()
    await asyncio.sleep(0.5)
    base = snap()
    clients = [None] * k
    times = []
    errors = [0]
    nxt = [0]

    async def connector():
        while True:
            i = nxt[0]
            nxt[0] += 1
            if i >= k:
                return
            t0 = time.monotonic()
            try:
                clients[i] = await connect(f"{a.prefix}{i}")
                times.append((time.monotonic() - t0) * 1e3)
            except Exception as e:  # noqa: BLE001 - count and go on
                errors[0] += 1
                if errors[0] == 1:
                    print(f"connect {a.prefix}{i}: {e!r}", file=sys.stderr)

    await asyncio.gather(*(connector() for _ in range(a.connect_concurrency)))
    connected = snap()
    await asyncio.sleep(2)
    idle = snap()
    counts = {"acked": 0, "errors": 0}
    go = time.monotonic() + 0.1

    async def sender(i, client):
        await asyncio.sleep(max(0, go + a.interval * i / k - time.monotonic()))
        seq = 0
        while True:
            seq += 1
            t = time.monotonic()
            try:
                await client.send_message(message(seq))
                counts["acked"] += 1
            except Exception:  # noqa: BLE001
                counts["errors"] += 1
            await asyncio.sleep(max(0, a.interval - (time.monotonic() - t)))

    tasks = [asyncio.create_task(sender(i, c)) for i, c in enumerate(clients) if c]
    await asyncio.sleep(max(0, go + a.interval - time.monotonic()))
    acked0 = counts["acked"]
    s0 = snap()
    await asyncio.sleep(a.hold)
    s1 = snap()
    steady = counts["acked"] - acked0
    times.sort()
    ok = max(len(times), 1)
    out(
        a,
        {
            "scenario": "fleet", "client": "python-sdk", "devices": k, "connected": len(times),
            "connect_errors": errors[0], "connect_concurrency": a.connect_concurrency,
            "interval_s": a.interval, "hold_s": a.hold,
            "connect_wall_s": round(connected["at"] - base["at"], 2),
            "connect_cpu_s": round(connected["cpu"] - base["cpu"], 3),
            "cpu_ms_per_connect": round((connected["cpu"] - base["cpu"]) * 1e3 / ok, 3),
            "connect_ms_p50": round(pct(times, 0.5), 2), "connect_ms_p99": round(pct(times, 0.99), 2),
            "rss_base_mb": round(base["rss"] / 1048576, 2),
            "kb_per_device_idle": round((idle["rss"] - base["rss"]) / 1024 / k, 1),
            "kb_per_device": round((s1["rss"] - base["rss"]) / 1024 / k, 1),
            "rss_end_mb": round(s1["rss"] / 1048576, 2),
            "steady_msgs": steady, "steady_msgs_per_s": round(steady / (s1["at"] - s0["at"]), 1),
            "steady_cpu_s": round(s1["cpu"] - s0["cpu"], 3),
            "cpu_s_per_10k_msgs": round((s1["cpu"] - s0["cpu"]) * 1e4 / steady, 4) if steady else None,
            "send_errors": counts["errors"],
        },
    )
    sys.stdout.flush()
    os._exit(0)


def out(a, result):
    result["runtime"] = f"python {sys.version.split()[0]} asyncio"
    result["label"] = a.label
    result["peak_rss_mb"] = round(status("VmHWM:") / 1024, 2)
    result["threads"] = status("Threads:")
    print(json.dumps(result), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["throughput", "fleet"])
    p.add_argument("--device-id", default="tp-python")
    p.add_argument("--inflight", type=int, default=100)
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--prefix", default="fleet-")
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--hold", type=float, default=20.0)
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--label", default="")
    a = p.parse_args()
    asyncio.run(throughput(a) if a.scenario == "throughput" else fleet(a))
    os._exit(0)


if __name__ == "__main__":
    main()
