#!/usr/bin/env python3
"""Draws docs/benchmarks-fleet.svg from scripts/bench/run.sh results: client CPU per message and
resident memory per device against fleet size (log scale), one line per client (medians over
the runs). Standard library only.

    python3 scripts/bench/plot.py results.jsonl [older.jsonl ...] docs/benchmarks-fleet.svg

With several result files, each client is drawn from the first file that has it, so a run of
some clients can be drawn with others from an earlier run; the legend names the file of those.
"""

import json
import math
import os
import statistics
import sys
from collections import defaultdict

COLORS = {
    "iotc-sdk": "#d62728",
    "iotc-sdk-rustls": "#ff7f0e",
    "rumqttc-native-tls": "#1f77b4",
    "rumqttc-rustls": "#17becf",
    "node-sdk": "#2ca02c",
    "python-sdk": "#9467bd",
}
LABELS = {
    "iotc-sdk": "iotc-sdk (native-tls)",
    "iotc-sdk-rustls": "iotc-sdk (rustls)",
    "rumqttc-native-tls": "bare rumqttc, native-tls",
    "rumqttc-rustls": "bare rumqttc, rustls",
    "node-sdk": "official Node SDK",
    "python-sdk": "official Python SDK",
}
W, H = 980, 470
PANEL_W, PANEL_H = 380, 300
TOP, LEFT = 70, 80


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_ticks(lo, hi):
    """Log-scale ticks (1, 2, 5 × 10^n) covering lo..hi."""
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 10:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo / 1.01 <= v <= hi * 1.01:
                ticks.append(v)
        e += 1
    return ticks


def fmt(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:g}"
    return f"{v:.2g}"


def panel(x0, title, ylabel, series, sizes):
    out = []
    values = [v for pts in series.values() for _, v in pts if v and v > 0]
    if not values:
        return out
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ylo, yhi = math.log10(lo), math.log10(hi)
    xlo, xhi = math.log10(min(sizes)) - 0.15, math.log10(max(sizes)) + 0.15
    sx = lambda k: x0 + (math.log10(k) - xlo) / (xhi - xlo) * PANEL_W  # noqa: E731
    sy = lambda v: TOP + PANEL_H - (math.log10(v) - ylo) / (yhi - ylo) * PANEL_H  # noqa: E731
    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP - 14}" text-anchor="middle" font-weight="bold">{esc(title)}</text>')
    out.append(f'<rect x="{x0}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#444"/>')
    for t in nice_ticks(lo, hi):
        y = sy(t)
        out.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(t)}</text>')
    for k in sizes:
        x = sx(k)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + PANEL_H}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + PANEL_H + 16}" text-anchor="middle" font-size="11">{k:,}</text>')
    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP + PANEL_H + 34}" text-anchor="middle" font-size="12">devices in one process (log scale)</text>')
    out.append(f'<text transform="translate({x0 - 52},{TOP + PANEL_H / 2}) rotate(-90)" text-anchor="middle" font-size="12">{esc(ylabel)}</text>')
    for client, pts in series.items():
        pts = sorted((k, v) for k, v in pts if v and v > 0)
        if not pts:
            continue
        color = COLORS.get(client, "#000")
        path = " ".join(f"{sx(k):.1f},{sy(v):.1f}" for k, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for k, v in pts:
            out.append(f'<circle cx="{sx(k):.1f}" cy="{sy(v):.1f}" r="4" fill="{color}" stroke="{color}"/>')
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: plot.py results.jsonl [older.jsonl ...] out.svg")
    inputs, out_path = sys.argv[1:-1], sys.argv[-1]
    primary = os.path.basename(inputs[0])
    data = defaultdict(lambda: defaultdict(list))
    source = {}
    for path in inputs:
        name = os.path.basename(path)
        rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
        found = set()
        for r in rows:
            if r.get("scenario") != "fleet" or r.get("connected") != r.get("devices"):
                continue
            client = r["client"]
            if client in source and source[client] != name:
                continue  # drawn from an earlier file
            found.add(client)
            data[client][r["devices"]].append(r)
        for client in found:
            source.setdefault(client, name)
    sizes = sorted({k for per in data.values() for k in per})
    if not sizes:
        sys.exit("no fleet results")

    def series(metric, scale):
        s = {}
        for client, per in data.items():
            pts = []
            for k, rs in per.items():
                vs = [r[metric] for r in rs if isinstance(r.get(metric), (int, float))]
                if vs:
                    pts.append((k, statistics.median(vs) * scale))
            s[client] = pts
        return s

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             '<text x="10" y="18" font-size="14">iotc-sdk benchmarks: K devices in one process, each sending 200 B QoS 1 every 5 s, loopback, 2 cores</text>',
             '<text x="10" y="34" font-size="11" fill="#555">medians over the runs; only runs where every device connected; drawn by scripts/bench/plot.py</text>']
    # cpu_s_per_10k_msgs * 100 = microseconds per message.
    parts += panel(LEFT, "client CPU per message (steady state)", "µs CPU per message", series("cpu_s_per_10k_msgs", 100.0), sizes)
    parts += panel(LEFT + PANEL_W + 110, "resident memory per device", "KB per device", series("kb_per_device", 1.0), sizes)
    ly = H - 30
    lx = 20
    for client in COLORS:
        if client in data:
            if lx > W - 200:
                lx, ly = 20, ly + 18
            label = LABELS[client] + (f" ({source[client]})" if source[client] != primary else "")
            parts.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{COLORS[client]}" stroke-width="3"/>')
            parts.append(f'<text x="{lx + 30}" y="{ly + 4}" font-size="12">{esc(label)}</text>')
            lx += 30 + 7 * len(label) + 20
    parts.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
