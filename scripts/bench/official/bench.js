#!/usr/bin/env node
// The OFFICIAL Azure IoT Node.js device SDK (azure-iot-device + azure-iot-device-mqtt), unchanged,
// in the iotc-sdk benchmark scenarios (docs/benchmarks.md). Prints one JSON line, in the same
// fields as iotc-loadgen. Devices must already be provisioned (iotc-loadgen provision); they
// connect with a connection string to the hub on localhost:8883, like the Rust clients.
//
//   node bench.js throughput --device-id ID --inflight 100 --messages 20000 --warmup 2000
//   node bench.js fleet --prefix fleet- --devices 1000 --interval 5 --hold 20 --connect-concurrency 100
//
// Environment: IOTC_GROUP_KEY (group key, base64), IOTC_CA_CERT (CA PEM file),
// IOTC_HUB_HOST (default localhost).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const args = process.argv.slice(2);
const scenario = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const groupKey = process.env.IOTC_GROUP_KEY;
const ca = fs.readFileSync(process.env.IOTC_CA_CERT, 'utf8');
const hubHost = process.env.IOTC_HUB_HOST || 'localhost';

const deviceKey = (id) =>
  crypto.createHmac('sha256', Buffer.from(groupKey, 'base64')).update(id, 'utf8').digest('base64');

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const rss = () => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
};
const peakRss = () => {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
};
const threads = () => {
  const m = /Threads:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
};
const snap = () => ({ at: process.hrtime.bigint(), cpu: cpu(), rss: rss() });
const wall = (a, b) => Number(b.at - a.at) / 1e9;
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length))) - 1] : 0;

// The same 200-byte JSON body as the Rust clients (benches/src/lib.rs `Telemetry`).
const PAD = 'iotc-sdk benchmark padding to reach two hundred bytes ............';
const body = (seq) =>
  JSON.stringify({
    temperature: (215 + (seq % 10)) / 10,
    humidity: 48.25,
    pressure: 1013.2,
    battery: 87,
    status: 'ok',
    seq: 100000 + (seq % 900000),
    lat: 47.6423,
    lon: -122.1369,
    pad: PAD,
  });
const message = (seq) => {
  const m = new Message(body(seq));
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  return m;
};

// Connect: TLS + CONNECT, the method and C2D subscriptions, and a twin GET (which subscribes to
// twin responses and desired patches): the protocol work of the Rust clients' connect.
async function connect(id) {
  const client = Client.fromConnectionString(
    `HostName=${hubHost};DeviceId=${id};SharedAccessKey=${deviceKey(id)}`,
    Mqtt
  );
  await client.setOptions({ ca, keepalive: 240 });
  await client.open();
  client.onDeviceMethod('ping', (req, res) => res.send(200, { ok: true }, () => {}));
  client.on('message', (msg) => client.complete(msg, () => {}));
  await client.getTwin();
  return client;
}

async function throughput() {
  const id = opt('device-id', 'tp-node');
  const inflight = Number(opt('inflight', '100'));
  const messages = Number(opt('messages', '20000'));
  const warmup = Number(opt('warmup', '2000'));
  const client = await connect(id);
  const burst = async (count) => {
    let next = 0;
    const worker = async () => {
      for (;;) {
        const seq = next++;
        if (seq >= count) return;
        await client.sendEvent(message(seq));
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  };
  await burst(warmup);
  const a = snap();
  await burst(messages);
  const b = snap();
  const w = wall(a, b);
  out({
    scenario: 'throughput', client: 'node-sdk', inflight, messages,
    payload_bytes: body(0).length, wall_s: round(w, 3), msgs_per_s: Math.round(messages / w),
    cpu_s: round(b.cpu - a.cpu, 4), cpu_s_per_10k: round(((b.cpu - a.cpu) * 1e4) / messages, 4),
  });
  await client.close();
}

async function fleet() {
  const prefix = opt('prefix', 'fleet-');
  const k = Number(opt('devices', '100'));
  const interval = Number(opt('interval', '5')) * 1000;
  const hold = Number(opt('hold', '20')) * 1000;
  const concurrency = Number(opt('connect-concurrency', '100'));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Warm-up device, as in iotc-loadgen.
  await (await connect(`${prefix}warmup`)).close();
  await sleep(500);
  if (global.gc) global.gc();
  const base = snap();
  const clients = new Array(k);
  const times = [];
  let errors = 0;
  let nextIndex = 0;
  const connector = async () => {
    for (;;) {
      const i = nextIndex++;
      if (i >= k) return;
      const t0 = process.hrtime.bigint();
      try {
        clients[i] = await connect(`${prefix}${i}`);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (e) {
        errors++;
        if (errors === 1) console.error(`connect ${prefix}${i}: ${e}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, connector));
  const connected = snap();
  await sleep(2000);
  const idle = snap();
  let acked = 0;
  let sendErrors = 0;
  const go = Date.now() + 100;
  const timers = [];
  clients.forEach((client, i) => {
    if (!client) return;
    let seq = 0;
    const send = () => {
      seq++;
      client.sendEvent(message(seq)).then(() => acked++, () => sendErrors++);
    };
    const offset = go + (interval * i) / k - Date.now();
    timers.push(setTimeout(() => {
      send();
      timers.push(setInterval(send, interval));
    }, Math.max(0, offset)));
  });
  await sleep(go + interval - Date.now());
  const acked0 = acked;
  const s0 = snap();
  await sleep(hold);
  const s1 = snap();
  const steadyMsgs = acked - acked0;
  times.sort((x, y) => x - y);
  const ok = Math.max(times.length, 1);
  out({
    scenario: 'fleet', client: 'node-sdk', devices: k, connected: times.length,
    connect_errors: errors, connect_concurrency: concurrency,
    interval_s: interval / 1000, hold_s: hold / 1000,
    connect_wall_s: round(wall(base, connected), 2),
    connect_cpu_s: round(connected.cpu - base.cpu, 3),
    cpu_ms_per_connect: round(((connected.cpu - base.cpu) * 1e3) / ok, 3),
    connect_ms_p50: round(pct(times, 0.5), 2), connect_ms_p99: round(pct(times, 0.99), 2),
    rss_base_mb: round(base.rss / 1048576, 2),
    kb_per_device_idle: round((idle.rss - base.rss) / 1024 / k, 1),
    kb_per_device: round((s1.rss - base.rss) / 1024 / k, 1),
    rss_end_mb: round(s1.rss / 1048576, 2),
    steady_msgs: steadyMsgs, steady_msgs_per_s: round(steadyMsgs / wall(s0, s1), 1),
    steady_cpu_s: round(s1.cpu - s0.cpu, 3),
    cpu_s_per_10k_msgs: steadyMsgs ? round(((s1.cpu - s0.cpu) * 1e4) / steadyMsgs, 4) : null,
    send_errors: sendErrors,
  });
  process.exit(0);
}

function out(result) {
  result.runtime = `node ${process.version}`;
  result.label = opt('label', '');
  result.peak_rss_mb = round(peakRss() / 1048576, 2);
  result.threads = threads();
  console.log(JSON.stringify(result));
}

const run = { throughput, fleet }[scenario];
if (!run) {
  console.error('usage: bench.js throughput|fleet [options]');
  process.exit(2);
}
run().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench.js: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  }
);
