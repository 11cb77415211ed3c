#!/usr/bin/env node
// The OFFICIAL Node.js device SDK's HTTP transport (azure-iot-device-http +
// azure-iot-provisioning-device-http) and MQTT-over-WebSockets transport (MqttWs of
// azure-iot-device-mqtt + azure-iot-provisioning-device-mqtt) and AMQP-over-WebSockets transport
// (AmqpWs of azure-iot-device-amqp + azure-iot-provisioning-device-amqp) against iotc-emulator,
// unchanged: provision, telemetry, C2D with complete (HTTP, AMQP-WS) and the twin (WebSockets;
// HTTP must refuse it),
// each step checked on the service side. The emulator must serve HTTPS on 443 (its default when
// the hub is on 8883). Exits 0 when every step passed, 1 otherwise.
//
// Environment: as device-check.js (IOTC_DPS_HOST, IOTC_ID_SCOPE, IOTC_GROUP_KEY,
// IOTC_SERVICE_URL, NODE_EXTRA_CA_CERTS, optional IOTC_EXPECTED_HUB); device ids are
// IOTC_DEVICE_ID + "-http", "-ws" and "-amqpws".
'use strict';

const crypto = require('crypto');

const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const { Http: ProvisioningHttp } = require('azure-iot-provisioning-device-http');
const { MqttWs: ProvisioningMqttWs } = require('azure-iot-provisioning-device-mqtt');
const { AmqpWs: ProvisioningAmqpWs } = require('azure-iot-provisioning-device-amqp');
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const { Client, Message } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');
const { MqttWs } = require('azure-iot-device-mqtt');
const { AmqpWs } = require('azure-iot-device-amqp');

const { check, withTimeout, eventually, envReader, restClient, Steps } = require('./common');

const TAG = '[node-transports]';
const env = envReader(TAG);
const dpsHost = env('IOTC_DPS_HOST');
const idScope = env('IOTC_ID_SCOPE');
const groupKey = env('IOTC_GROUP_KEY');
const serviceUrl = env('IOTC_SERVICE_URL').replace(/\/$/, '');
const expectedHub = env('IOTC_EXPECTED_HUB', '');
const baseId = env('IOTC_DEVICE_ID', 'node-sdk-device');

const rest = restClient(serviceUrl);
const steps = new Steps(TAG);
const run = (name, fn) => steps.run(name, fn);
const keyFor = (id) => crypto.createHmac('sha256', Buffer.from(groupKey, 'base64')).update(id, 'utf8').digest('base64');

async function provision(id, transport) {
  const provClient = ProvisioningDeviceClient.create(dpsHost, idScope, transport,
    new SymmetricKeySecurityClient(id, keyFor(id)));
  const registration = await withTimeout(provClient.register(), 60000, 'DPS register');
  check(registration.deviceId === id, `deviceId ${registration.deviceId} != ${id}`);
  if (expectedHub) {
    check(registration.assignedHub === expectedHub, `assignedHub ${registration.assignedHub} != ${expectedHub}`);
  }
  return registration;
}

async function sendAndCheck(client, id, mid) {
  const msg = new Message(JSON.stringify({ temperature: 22.5, mid }));
  msg.messageId = mid;
  msg.properties.add('sdk', 'node');
  await withTimeout(client.sendEvent(msg), 30000, 'sendEvent');
  const seen = await eventually(async () => {
    const r = await rest('GET', `/devices/${encodeURIComponent(id)}/telemetry`);
    return r.status === 200 && (r.json || []).find((m) => m.systemProperties && m.systemProperties.mid === mid);
  }, 5000, `service: telemetry ${mid}`);
  check(seen.body && seen.body.temperature === 22.5, `service: body ${JSON.stringify(seen.body)}`);
  check(seen.applicationProperties.sdk === 'node', `service: properties ${JSON.stringify(seen.applicationProperties)}`);
  return `service saw ${mid} with its properties`;
}

async function main() {
  console.log(`${TAG} azure-iot-device-http ${require('azure-iot-device-http/package.json').version}, ` +
    `azure-iot-provisioning-device-http ${require('azure-iot-provisioning-device-http/package.json').version}, ` +
    `azure-iot-device-mqtt ${require('azure-iot-device-mqtt/package.json').version}, ` +
    `azure-iot-device-amqp ${require('azure-iot-device-amqp/package.json').version}, node ${process.version}`);

  // --- HTTP ---------------------------------------------------------------------------------
  const httpId = `${baseId}-http`;
  let reg;
  let client;
  await run('HTTP: provision through DPS REST', async () => {
    reg = await provision(httpId, new ProvisioningHttp());
    return `assignedHub=${reg.assignedHub}`;
  });
  await run('HTTP: connect and send telemetry', async () => {
    client = Client.fromConnectionString(
      `HostName=${reg.assignedHub};DeviceId=${httpId};SharedAccessKey=${keyFor(httpId)}`, Http);
    await withTimeout(client.open(), 30000, 'client.open');
    return sendAndCheck(client, httpId, 'node-http-0001');
  });
  await run('HTTP: receive a C2D message by polling and complete it', async () => {
    const received = new Promise((resolve) => client.on('message', resolve));
    const sent = await rest('POST', `/devices/${encodeURIComponent(httpId)}/messages/devicebound`, 'hello-http');
    check(sent.status < 300, `service: send C2D -> ${sent.status} ${sent.text}`);
    const msg = await withTimeout(received, 15000, 'C2D message');
    check(msg.getData().toString() === 'hello-http', `device: body ${msg.getData()}`);
    await withTimeout(client.complete(msg), 15000, 'complete');
    const dev = await eventually(async () => {
      const r = await rest('GET', `/devices/${encodeURIComponent(httpId)}`);
      const pending = r.json && (r.json.pendingC2d ?? r.json.pending_c2d);
      return r.status === 200 && pending === 0 ? r.json : null;
    }, 5000, 'service: C2D queue empty after complete');
    return 'completed; queue empty';
  });
  await run('HTTP: the twin is not available', async () => {
    let refused = false;
    try { await client.getTwin(); } catch (e) { refused = true; }
    check(refused, 'getTwin over HTTP did not fail');
    await client.close();
    return 'getTwin refused by the transport';
  });

  // --- MQTT over WebSockets -----------------------------------------------------------------
  steps.resume();
  const wsId = `${baseId}-ws`;
  await run('MQTT-WS: provision through DPS over WebSockets', async () => {
    reg = await provision(wsId, new ProvisioningMqttWs());
    return `assignedHub=${reg.assignedHub}`;
  });
  await run('MQTT-WS: connect, send telemetry, read the twin', async () => {
    client = Client.fromConnectionString(
      `HostName=${reg.assignedHub};DeviceId=${wsId};SharedAccessKey=${keyFor(wsId)}`, MqttWs);
    await withTimeout(client.open(), 30000, 'client.open');
    const detail = await sendAndCheck(client, wsId, 'node-ws-0001');
    const twin = await withTimeout(client.getTwin(), 30000, 'getTwin');
    check(typeof twin.properties.desired.$version === 'number', 'device: no desired $version');
    await client.close();
    return `${detail}; twin read`;
  });

  // --- AMQP over WebSockets ------------------------------------------------------------------
  steps.resume();
  const amqpWsId = `${baseId}-amqpws`;
  await run('AMQP-WS: provision through DPS over WebSockets', async () => {
    reg = await provision(amqpWsId, new ProvisioningAmqpWs());
    return `assignedHub=${reg.assignedHub}`;
  });
  await run('AMQP-WS: connect, send telemetry, read the twin, complete a C2D message', async () => {
    client = Client.fromConnectionString(
      `HostName=${reg.assignedHub};DeviceId=${amqpWsId};SharedAccessKey=${keyFor(amqpWsId)}`, AmqpWs);
    await withTimeout(client.open(), 30000, 'client.open');
    const detail = await sendAndCheck(client, amqpWsId, 'node-amqpws-0001');
    const twin = await withTimeout(client.getTwin(), 30000, 'getTwin');
    check(typeof twin.properties.desired.$version === 'number', 'device: no desired $version');
    const received = new Promise((resolve) => client.on('message', resolve));
    const sent = await rest('POST', `/devices/${encodeURIComponent(amqpWsId)}/messages/devicebound`, 'hello-amqpws');
    check(sent.status < 300, `service: send C2D -> ${sent.status} ${sent.text}`);
    const msg = await withTimeout(received, 15000, 'C2D message');
    check(msg.getData().toString() === 'hello-amqpws', `device: body ${msg.getData()}`);
    await withTimeout(client.complete(msg), 15000, 'complete');
    await eventually(async () => {
      const r = await rest('GET', `/devices/${encodeURIComponent(amqpWsId)}`);
      const pending = r.json && (r.json.pendingC2d ?? r.json.pending_c2d);
      return r.status === 200 && pending === 0 ? r.json : null;
    }, 5000, 'service: C2D queue empty after complete');
    await client.close();
    return `${detail}; twin read; C2D completed`;
  });

  const failed = steps.failed();
  console.log(`${TAG} ${steps.results.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`${TAG} FAIL unexpected: ${(e && e.stack) || e}`);
  process.exit(1);
});
