#!/usr/bin/env python3
"""Summarizes scripts/bench/run.sh results (results.jsonl) as Markdown tables: the median of
every metric over the runs, its spread (min-max), and ratios against bare rumqttc (native-tls)
and the official SDKs. Standard library only.

    python3 scripts/bench/summarize.py results.jsonl [machine.json] > summary.md
"""

import json
import statistics
import sys
from collections import defaultdict

BASE = "rumqttc-native-tls"
ORDER = ["iotc-sdk", "iotc-sdk-rustls", "rumqttc-native-tls", "rumqttc-rustls", "node-sdk", "python-sdk"]


def load(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip().startswith("{")]
    for r in rows:
        # A fleet run where some devices could not connect: memory per *connected* device, and
        # the run is left out of the ratios.
        if r.get("scenario") == "fleet" and 0 < r.get("connected", 0) < r.get("devices", 0):
            r["partial"] = True
            for m in ("kb_per_device_idle", "kb_per_device"):
                if isinstance(r.get(m), (int, float)):
                    r[m] = r[m] * r["devices"] / r["connected"]
    return rows


def groups(rows, scenario, keys):
    out = defaultdict(list)
    for r in rows:
        if r.get("scenario") == scenario:
            out[tuple(r.get(k) for k in keys)].append(r)
    return out


def med(rows, metric):
    values = [r[metric] for r in rows if isinstance(r.get(metric), (int, float))]
    return statistics.median(values) if values else None


def spread(rows, metric, digits=2):
    values = [r[metric] for r in rows if isinstance(r.get(metric), (int, float))]
    if not values:
        return "–"
    m = statistics.median(values)
    fmt = lambda x: f"{x:,.{digits}f}"  # noqa: E731
    if len(values) == 1:
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(values))}–{fmt(max(values))})"


def ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.2f}×"


def client_key(c):
    return ORDER.index(c) if c in ORDER else len(ORDER)


def main():
    rows = load(sys.argv[1])
    machine = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    p = print
    if machine:
        p(f"Machine: {machine.get('nproc')} cores, {machine.get('cpu')}, {machine.get('mem_gib')} GiB, "
          f"kernel {machine.get('kernel')}, {machine.get('rustc')}, node {machine.get('node')}, "
          f"{machine.get('python')}, {machine.get('openssl')}\n")
    p("Values: median (min–max) over the runs; n = runs. Ratios are of medians.\n")

    tp = groups(rows, "throughput", ["inflight", "client"])
    if tp:
        p("### Throughput: one device, QoS 1, 200-byte JSON\n")
        p("| in flight | client | n | msgs/s | client CPU s per 10k msgs | CPU ratio vs bare rumqttc (native-tls) | SDK advantage (their CPU / ours) | emulator CPU s |")
        p("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for inflight in sorted({k[0] for k in tp}):
            base = med(tp.get((inflight, BASE), []), "cpu_s_per_10k")
            ours = med(tp.get((inflight, "iotc-sdk"), []), "cpu_s_per_10k")
            for client in sorted({k[1] for k in tp if k[0] == inflight}, key=client_key):
                rs = tp[(inflight, client)]
                c = med(rs, "cpu_s_per_10k")
                adv = ratio(c, ours) if client in ("node-sdk", "python-sdk") else ""
                p(f"| {inflight} | {client} | {len(rs)} | {spread(rs, 'msgs_per_s', 0)} | "
                  f"{spread(rs, 'cpu_s_per_10k', 3)} | {ratio(c, base)} | {adv} | {spread(rs, 'emulator_cpu_s', 2)} |")
        p("")

    lat = groups(rows, "latency", ["kind", "client"])
    if lat:
        p("### Latency: one at a time, loopback\n")
        p("| round trip | client | n | p50 ms | p90 ms | p99 ms | max ms |")
        p("| --- | --- | --- | --- | --- | --- | --- |")
        for (kind, client), rs in sorted(lat.items(), key=lambda kv: (kv[0][0], client_key(kv[0][1]))):
            p(f"| {kind} | {client} | {len(rs)} | {spread(rs, 'p50_ms', 3)} | {spread(rs, 'p90_ms', 3)} | "
              f"{spread(rs, 'p99_ms', 3)} | {spread(rs, 'max_ms', 2)} |")
        p("")

    fl = groups(rows, "fleet", ["devices", "client"])
    if fl:
        p("### Fleet: K devices in one process, one message each every 5 s\n")
        p("| K | client | n | connected | CPU ms per connect | connect p50 ms | connect p99 ms | KB per idle device | KB per device (sending) | CPU s per 10k msgs (steady) | emulator CPU s (connect) |")
        p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        # (KB per device of a run where not all devices connected is per connected device.)
        for k in sorted({key[0] for key in fl}):
            for client in sorted({key[1] for key in fl if key[0] == k}, key=client_key):
                rs = fl[(k, client)]
                p(f"| {k:,} | {client} | {len(rs)} | {spread(rs, 'connected', 0)} | {spread(rs, 'cpu_ms_per_connect', 2)} | "
                  f"{spread(rs, 'connect_ms_p50', 1)} | {spread(rs, 'connect_ms_p99', 1)} | "
                  f"{spread(rs, 'kb_per_device_idle', 1)} | {spread(rs, 'kb_per_device', 1)} | "
                  f"{spread(rs, 'cpu_s_per_10k_msgs', 3)} | {spread(rs, 'emulator_cpu_connect_s', 1)} |")
        p("")
        p("Ratios of medians, iotc-sdk vs the others (below 1 = iotc-sdk uses less):\n")
        p("| K | vs | CPU per connect | KB per idle device | KB per device (sending) | CPU per message (steady) |")
        p("| --- | --- | --- | --- | --- | --- |")
        for k in sorted({key[0] for key in fl}):
            ours = fl.get((k, "iotc-sdk"))
            if not ours:
                continue
            for client in sorted({key[1] for key in fl if key[0] == k and key[1] != "iotc-sdk"}, key=client_key):
                rs = fl[(k, client)]
                if any(r.get("partial") for r in rs):
                    p(f"| {k:,} | {client} | not all devices connected: no ratio | | | |")
                    continue
                cells = [ratio(med(ours, m), med(rs, m)) for m in
                         ("cpu_ms_per_connect", "kb_per_device_idle", "kb_per_device", "cpu_s_per_10k_msgs")]
                p(f"| {k:,} | {client} | " + " | ".join(cells) + " |")
        p("")

    prov = [r for r in rows if r.get("scenario") == "provision"]
    if prov:
        p("### Provisioning (set-up, iotc-sdk ProvisioningClient, 200 concurrent)\n")
        for r in prov:
            p(f"- {r['devices']:,} registrations: {r['cpu_ms_per_registration']} ms CPU each, {r['wall_s']} s wall")
        p("")

    fp = [r for r in rows if r.get("scenario") == "footprint"]
    for r in fp:
        p("### Footprint\n")
        p(f"- `thermostat` example, release: {r['thermostat_bytes']:,} bytes; stripped: {r['thermostat_stripped_bytes']:,} bytes")
        if r.get("thermostat_rustls_stripped_bytes"):
            p(f"- the same with the SDK on rustls (`--no-default-features --features tls-rustls`): "
              f"{r['thermostat_rustls_bytes']:,} bytes; stripped: {r['thermostat_rustls_stripped_bytes']:,} bytes")
        p(f"- iotc-sdk dependencies (unique packages, normal edges): {r['deps_minimal_mqtt']} with "
          f"`--no-default-features` (MQTT only), {r['deps_default']} with default features")
        if r.get("deps_minimal_mqtt_rustls"):
            p(f"- MQTT only on rustls (`--no-default-features --features tls-rustls`): {r['deps_minimal_mqtt_rustls']}")
        if r.get("node_sdk_packages"):
            p(f"- official Node SDK (azure-iot-device + azure-iot-device-mqtt): {r['node_sdk_packages']} npm packages installed")
        if r.get("python_sdk_packages"):
            p(f"- official Python SDK (azure-iot-device): {r['python_sdk_packages']} PyPI packages installed")
        p("")


if __name__ == "__main__":
    main()
