#!/usr/bin/env node
// Provisions a device through iotc-emulator's DPS and exercises the IoT hub with the OFFICIAL
// Azure IoT Node.js device SDK (azure-iot-device + azure-iot-device-mqtt or -amqp +
// azure-iot-provisioning-device(-mqtt or -amqp) + azure-iot-security-symmetric-key), unchanged.
// After every device-side step it checks what the service side saw through the emulator's
// REST service API. Exits 0 when every step passed, 1 otherwise.
//
// Environment (scripts/official-sdks/run.sh sets all of them):
//   IOTC_TRANSPORT      optional: mqtt (default; DPS and hub on 8883) or amqp (AMQP 1.0 over
//                       TLS; the SDK always uses port 5671)
//   IOTC_DPS_HOST       DPS host name (the SDK always uses port 8883 or 5671), e.g. localhost
//   IOTC_ID_SCOPE       the emulator's ID scope
//   IOTC_GROUP_KEY      the SAS-IoT-Devices enrollment group key (base64)
//   IOTC_SERVICE_URL    the emulator's REST service API, e.g. http://127.0.0.1:18080
//   IOTC_EXPECTED_HUB   optional: the assignedHub DPS must announce (e.g. localhost)
//   IOTC_DEVICE_ID      optional: registration/device id (default node-sdk-device-01)
//   IOTC_MODEL_ID       optional: model id (default dtmi:com:example:Thermostat;1)
//   NODE_EXTRA_CA_CERTS the emulator's CA certificate (PEM). Required: the provisioning MQTT
//                       transport has no `ca` option, so Node must trust the CA process-wide.
'use strict';

const crypto = require('crypto');
const fs = require('fs');

const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const { Client, Message } = require('azure-iot-device');

const { check, sleep, withTimeout, eventually, envReader, restClient, Steps } = require('./common');

const TRANSPORT = (process.env.IOTC_TRANSPORT || 'mqtt').toLowerCase();
if (TRANSPORT !== 'mqtt' && TRANSPORT !== 'amqp') {
  console.error(`[node] FAIL setup: IOTC_TRANSPORT must be mqtt or amqp, not ${TRANSPORT}`);
  process.exit(1);
}
const HUB_PACKAGE = `azure-iot-device-${TRANSPORT}`;
const DPS_PACKAGE = `azure-iot-provisioning-device-${TRANSPORT}`;
const HubTransport = TRANSPORT === 'amqp' ? require(HUB_PACKAGE).Amqp : require(HUB_PACKAGE).Mqtt;
const DpsTransport = TRANSPORT === 'amqp' ? require(DPS_PACKAGE).Amqp : require(DPS_PACKAGE).Mqtt;
const PORT = TRANSPORT === 'amqp' ? 5671 : 8883;

const TAG = `[node-${TRANSPORT}]`;
const env = envReader(TAG);

const dpsHost = env('IOTC_DPS_HOST');
const idScope = env('IOTC_ID_SCOPE');
const groupKey = env('IOTC_GROUP_KEY');
const serviceUrl = env('IOTC_SERVICE_URL').replace(/\/$/, '');
const expectedHub = env('IOTC_EXPECTED_HUB', '');
const deviceId = env('IOTC_DEVICE_ID', 'node-sdk-device-01');
const modelId = env('IOTC_MODEL_ID', 'dtmi:com:example:Thermostat;1');
const caPath = env('NODE_EXTRA_CA_CERTS');

const rest = restClient(serviceUrl);

// The REST API's registry objects may use snake_case or camelCase keys; accept both.
function field(obj, snake) {
  if (!obj) return undefined;
  if (obj[snake] !== undefined) return obj[snake];
  return obj[snake.replace(/_([a-z])/g, (_, c) => c.toUpperCase())];
}

// ---------------------------------------------------------------------------------------------

async function main() {
  console.log(`${TAG} azure-iot-device ${require('azure-iot-device/package.json').version}, ` +
    `${HUB_PACKAGE} ${require(HUB_PACKAGE + '/package.json').version}, ` +
    `azure-iot-provisioning-device ${require('azure-iot-provisioning-device/package.json').version}, ` +
    `${DPS_PACKAGE} ${require(DPS_PACKAGE + '/package.json').version}, ` +
    `node ${process.version}`);
  console.log(`${TAG} DPS ${dpsHost}:${PORT} scope ${idScope}, device ${deviceId}, model ${modelId}, service ${serviceUrl}`);
  const caPem = fs.readFileSync(caPath, 'utf8');

  let deviceKey;
  let registration;
  let client;
  let twin;
  const steps = new Steps(TAG);
  const run = (name, fn) => steps.run(name, fn);

  await run('derive device key from group key (HMAC-SHA256)', async () => {
    deviceKey = crypto
      .createHmac('sha256', Buffer.from(groupKey, 'base64'))
      .update(deviceId, 'utf8')
      .digest('base64');
    check(deviceKey.length === 44, `unexpected derived key length ${deviceKey.length}`);
    return 'derived a 32-byte key';
  });

  await run('provision through DPS with modelId payload', async () => {
    const security = new SymmetricKeySecurityClient(deviceId, deviceKey);
    const provClient = ProvisioningDeviceClient.create(dpsHost, idScope, new DpsTransport(), security);
    provClient.setProvisioningPayload({ modelId });
    registration = await withTimeout(provClient.register(), 60000, 'DPS register');
    check(registration.status === 'assigned' || registration.status === undefined,
      `registration status ${registration.status}`);
    check(registration.deviceId === deviceId, `deviceId ${registration.deviceId} != ${deviceId}`);
    check(typeof registration.assignedHub === 'string' && registration.assignedHub.length > 0,
      `no assignedHub in ${JSON.stringify(registration)}`);
    if (expectedHub) {
      check(registration.assignedHub === expectedHub,
        `assignedHub ${registration.assignedHub} != expected ${expectedHub}`);
    }
    const regs = await rest('GET', '/registrations');
    check(regs.status === 200, `GET /registrations -> ${regs.status} ${regs.text}`);
    const reg = (regs.json || []).find((r) => field(r, 'registration_id') === deviceId);
    check(reg, `service: no registration for ${deviceId} in ${regs.text}`);
    check(reg.status === 'assigned', `service: registration status ${reg.status}`);
    check(reg.payload && reg.payload.modelId === modelId,
      `service: registration payload ${JSON.stringify(reg.payload)} lacks modelId ${modelId}`);
    return `assignedHub=${registration.assignedHub} deviceId=${registration.deviceId}`;
  });

  await run(`connect to the assigned hub (Client.fromConnectionString, ${TRANSPORT}, modelId)`, async () => {
    const cs = `HostName=${registration.assignedHub};DeviceId=${registration.deviceId};SharedAccessKey=${deviceKey}`;
    client = Client.fromConnectionString(cs, HubTransport);
    client.on('error', (e) => console.log(`${TAG} client error event: ${e && e.message}`));
    // `ca` is redundant with NODE_EXTRA_CA_CERTS but shows the per-client option.
    await client.setOptions({ modelId, ca: caPem });
    await withTimeout(client.open(), 30000, 'client.open');
    const dev = await eventually(async () => {
      const r = await rest('GET', `/devices/${encodeURIComponent(deviceId)}`);
      return r.status === 200 && r.json && r.json.connected ? r.json : null;
    }, 5000, 'service: device connected');
    check(field(dev, 'model_id') === modelId, `service: device model_id ${field(dev, 'model_id')} != ${modelId}`);
    check(/azure-iot-device/.test(field(dev, 'device_client_type') || ''),
      `service: DeviceClientType ${field(dev, 'device_client_type')} does not name the Node SDK`);
    const t = await rest('GET', `/twins/${encodeURIComponent(deviceId)}`);
    check(t.status === 200 && t.json.modelId === modelId, `service: twin modelId ${t.json && t.json.modelId}`);
    return `connected; service sees model_id=${field(dev, 'model_id')}, DeviceClientType=${field(dev, 'device_client_type')}`;
  });

  await run('send telemetry with properties', async () => {
    const body = { temperature: 21.5, sdk: 'node', seq: 1 };
    const msg = new Message(JSON.stringify(body));
    msg.messageId = 'node-msg-0001';
    msg.correlationId = 'node-corr-0001';
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('sdk', 'node');
    msg.properties.add('temperatureAlert', 'false');
    msg.properties.add('with space', 'a/b&c=d');
    await withTimeout(client.sendEvent(msg), 30000, 'sendEvent');
    const seen = await eventually(async () => {
      const r = await rest('GET', `/devices/${encodeURIComponent(deviceId)}/telemetry`);
      if (r.status !== 200) return null;
      return (r.json || []).find((m) => m.systemProperties && m.systemProperties.mid === 'node-msg-0001');
    }, 5000, 'service: telemetry message node-msg-0001');
    check(seen.body && seen.body.temperature === 21.5 && seen.body.seq === 1,
      `service: body ${JSON.stringify(seen.body)}`);
    const sp = seen.systemProperties;
    const ap = seen.applicationProperties;
    check(sp.cid === 'node-corr-0001', `service: correlation id ${sp.cid}`);
    check(sp.ct === 'application/json', `service: content type ${sp.ct}`);
    check(sp.ce === 'utf-8', `service: content encoding ${sp.ce}`);
    check(sp['iothub-connection-device-id'] === deviceId,
      `service: iothub-connection-device-id ${sp['iothub-connection-device-id']}`);
    check(ap.sdk === 'node' && ap.temperatureAlert === 'false',
      `service: application properties ${JSON.stringify(ap)}`);
    check(ap['with space'] === 'a/b&c=d', `service: encoded property ${JSON.stringify(ap)}`);
    return `service saw body+mid/cid/ct/ce and app properties ${JSON.stringify(ap)}`;
  });

  await run('get twin', async () => {
    twin = await withTimeout(client.getTwin(), 30000, 'getTwin');
    const svc = await rest('GET', `/twins/${encodeURIComponent(deviceId)}`);
    check(svc.status === 200, `service: GET twin -> ${svc.status}`);
    check(typeof twin.properties.desired.$version === 'number',
      `device: desired.$version missing in ${JSON.stringify(twin.properties.desired)}`);
    check(typeof twin.properties.reported.$version === 'number',
      `device: reported.$version missing in ${JSON.stringify(twin.properties.reported)}`);
    check(twin.properties.desired.$version === svc.json.properties.desired.$version,
      `desired $version device ${twin.properties.desired.$version} != service ${svc.json.properties.desired.$version}`);
    return `desired.$version=${twin.properties.desired.$version} reported.$version=${twin.properties.reported.$version}`;
  });

  await run('report a property', async () => {
    const patch = { firmwareVersion: '1.2.3', sdk: { name: 'node', client: 'azure-iot-device' } };
    await withTimeout(new Promise((resolve, reject) => {
      twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
    }), 30000, 'reported.update');
    const svc = await rest('GET', `/twins/${encodeURIComponent(deviceId)}`);
    const rep = svc.json && svc.json.properties && svc.json.properties.reported;
    check(rep && rep.firmwareVersion === '1.2.3' && rep.sdk && rep.sdk.name === 'node',
      `service: reported ${JSON.stringify(rep)}`);
    return `service reported.$version=${rep.$version}`;
  });

  await run('receive a desired-property patch (PATCH /twins via REST)', async () => {
    const target = 23.5;
    let gotPatch;
    const received = new Promise((resolve) => {
      gotPatch = resolve;
    });
    twin.on('properties.desired', (delta) => {
      if (delta && delta.targetTemperature === target) gotPatch(delta);
    });
    // Wait for the SUBACK of $iothub/twin/PATCH/properties/desired/#: the real hub does not
    // store desired-property notifications for a device that is not subscribed yet.
    await withTimeout(new Promise((resolve, reject) => {
      twin.enableTwinDesiredPropertiesUpdates((err) => (err ? reject(err) : resolve()));
    }), 30000, 'enable desired property updates');
    const r = await rest('PATCH', `/twins/${encodeURIComponent(deviceId)}`,
      { properties: { desired: { targetTemperature: target } } });
    check(r.status === 200, `service: PATCH twin -> ${r.status} ${r.text}`);
    const version = r.json.properties.desired.$version;
    const delta = await withTimeout(received, 15000, 'desired patch on the device');
    check(delta.$version === version, `device: patch $version ${delta.$version} != service ${version}`);
    check(twin.properties.desired.targetTemperature === target, 'device: twin.properties.desired not merged');
    // Acknowledge it the IoT Plug and Play way and check the service got the ack.
    await new Promise((resolve, reject) => {
      twin.properties.reported.update(
        { targetTemperature: { value: target, ac: 200, av: version, ad: 'applied' } },
        (err) => (err ? reject(err) : resolve()));
    });
    const svc = await rest('GET', `/twins/${encodeURIComponent(deviceId)}`);
    const ack = svc.json.properties.reported.targetTemperature;
    check(ack && ack.value === target && ack.ac === 200 && ack.av === version,
      `service: ack ${JSON.stringify(ack)}`);
    return `patch ${JSON.stringify(delta)} received and acknowledged (av=${version})`;
  });

  await run('answer a direct method (POST /twins/{id}/methods via REST)', async () => {
    let requests = 0;
    client.onDeviceMethod('reboot', (request, response) => {
      requests += 1;
      response.send(200, { rebooted: true, echo: request.payload, method: request.methodName }, (err) => {
        if (err) console.log(`${TAG} method response send error: ${err.message}`);
      });
    });
    // onDeviceMethod subscribes in the background without a completion callback; until the
    // SUBACK the service answers 404 DeviceNotOnline (like the real hub), so retry that only.
    let r;
    let attempts = 0;
    const deadline = Date.now() + 15000;
    for (;;) {
      attempts += 1;
      r = await rest('POST', `/twins/${encodeURIComponent(deviceId)}/methods`,
        { methodName: 'reboot', payload: { delay: 1 }, responseTimeoutInSeconds: 10 });
      if (r.status !== 404 || Date.now() > deadline) break;
      console.log(`${TAG}      method invoke attempt ${attempts}: 404 (${r.text}), method subscription not active yet; retrying`);
      await sleep(250);
    }
    check(r.status === 200, `service: invoke -> ${r.status} ${r.text}`);
    check(r.json.status === 200, `service: method status ${r.json.status}`);
    const p = r.json.payload;
    check(p && p.rebooted === true && p.method === 'reboot' && p.echo && p.echo.delay === 1,
      `service: method payload ${JSON.stringify(p)}`);
    check(requests === 1, `device: handler ran ${requests} times`);
    return `service got ${JSON.stringify(r.json)}`;
  });

  await run('receive a C2D message (POST /devices/{id}/messages/devicebound via REST)', async () => {
    let gotMessage;
    const received = new Promise((resolve) => {
      gotMessage = resolve;
    });
    client.on('message', (msg) => {
      client.complete(msg, (err) => {
        if (err) console.log(`${TAG} complete error: ${err.message}`);
      });
      gotMessage(msg);
    });
    const r = await rest('POST', `/devices/${encodeURIComponent(deviceId)}/messages/devicebound`,
      JSON.stringify({ command: 'blink', times: 3 }), {
        'content-type': 'application/json',
        'content-encoding': 'utf-8',
        'iothub-messageid': 'c2d-node-0001',
        'iothub-correlationid': 'c2d-corr-0001',
        'iothub-app-color': 'blue',
        'iothub-app-method-name': 'blink',
      });
    check(r.status === 204 || r.status === 200, `service: send C2D -> ${r.status} ${r.text}`);
    const msg = await withTimeout(received, 15000, 'C2D message on the device');
    const body = JSON.parse(msg.getData().toString('utf8'));
    check(body.command === 'blink' && body.times === 3, `device: body ${msg.getData().toString()}`);
    check(msg.messageId === 'c2d-node-0001', `device: messageId ${msg.messageId}`);
    check(msg.correlationId === 'c2d-corr-0001', `device: correlationId ${msg.correlationId}`);
    const color = msg.properties.getValue('color');
    check(color === 'blue', `device: property color ${color} (properties ${JSON.stringify(msg.properties)})`);
    const mname = msg.properties.getValue('method-name');
    check(mname === 'blink', `device: property method-name ${mname}`);
    return `device got ${msg.getData().toString()} mid=${msg.messageId} ct=${msg.contentType} ce=${msg.contentEncoding}`;
  });

  await run('close', async () => {
    await withTimeout(client.close(), 15000, 'client.close');
    client = undefined;
    await eventually(async () => {
      const r = await rest('GET', `/devices/${encodeURIComponent(deviceId)}`);
      return r.status === 200 && r.json && r.json.connected === false;
    }, 5000, 'service: device disconnected');
    return 'service sees the device disconnected';
  });

  if (client) {
    try {
      await withTimeout(client.close(), 5000, 'close after failure');
    } catch (_) {
      // ignore
    }
  }
  const failed = steps.failed();
  const passed = steps.results.length - failed;
  console.log(`${TAG} ${failed === 0 ? 'OK' : 'FAILED'}: ${passed} of ${steps.results.length} steps passed`);
  return failed === 0 ? 0 : 1;
}

const overall = setTimeout(() => {
  console.log(`${TAG} FAIL: overall time limit (150 s) exceeded`);
  process.exit(1);
}, 150000);
overall.unref();

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`${TAG} FAIL: unexpected error: ${(e && e.stack) || e}`);
    process.exit(1);
  },
);
