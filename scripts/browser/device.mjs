// A thermostat device for the browser tests, over MQTT/TLS with a group-derived SAS key: DPS
// registration, then telemetry every 300 ms, acknowledged writable properties, and commands
// (`getMaxMinReport` answered; `reboot` never answered, to show the timeout).
import crypto from 'node:crypto';
import mqtt from 'mqtt';

const enc = encodeURIComponent;
function sas(resource, keyB64, skn) {
  const se = Math.floor(Date.now() / 1000) + 3600;
  const sr = enc(resource);
  const sig = crypto.createHmac('sha256', Buffer.from(keyB64, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${enc(sig)}&se=${se}` + (skn ? `&skn=${skn}` : '');
}
const once = (client, event) => new Promise((resolve, reject) => {
  client.once(event, resolve);
  client.once('error', reject);
});

export async function startDevice({ dpsEndpoint, scope, groupKey, ca, id, modelId }) {
  const key = crypto.createHmac('sha256', Buffer.from(groupKey, 'base64')).update(id).digest('base64');
  const [dpsHost, dpsPort] = dpsEndpoint.split(':');
  const dps = mqtt.connect({
    host: dpsHost, port: Number(dpsPort), protocol: 'mqtts', ca, clientId: id, protocolVersion: 4,
    username: `${scope}/registrations/${id}/api-version=2021-06-01`,
    password: sas(`${scope}/registrations/${id}`, key, 'registration'), reconnectPeriod: 0,
  });
  await once(dps, 'connect');
  await dps.subscribeAsync('$dps/registrations/res/#');
  const assigned = await new Promise((resolve, reject) => {
    dps.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString());
      if (body.status === 'assigned') resolve(body.registrationState.assignedHub);
      else if (body.operationId) setTimeout(() => dps.publish(`$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${body.operationId}`, ''), 100);
      else reject(new Error('DPS: ' + payload));
    });
    dps.publish('$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId: id, payload: { modelId } }));
  });
  await dps.endAsync();
  const [hubHost, hubPort] = assigned.split(':');
  const hub = mqtt.connect({
    host: hubHost, port: Number(hubPort || 8883), protocol: 'mqtts', ca, clientId: id, protocolVersion: 4,
    username: `${hubHost}/${id}/?api-version=2021-04-12&model-id=${enc(modelId)}&DeviceClientType=browser-test-device`,
    password: sas(`${hubHost}/devices/${id}`, key), reconnectPeriod: 0,
  });
  await once(hub, 'connect');
  await hub.subscribeAsync(['$iothub/methods/POST/#', '$iothub/twin/PATCH/properties/desired/#', '$iothub/twin/res/#']);
  const seen = { desired: [], commands: [] };
  let rid = 10;
  hub.on('message', (topic, payload) => {
    if (topic.startsWith('$iothub/twin/PATCH/properties/desired/')) {
      const patch = JSON.parse(payload.toString());
      seen.desired.push(patch);
      const report = {};
      for (const [k, v] of Object.entries(patch)) {
        if (k !== '$version') report[k] = { value: v, ac: 200, av: patch.$version, ad: 'applied by the test device' };
      }
      hub.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid++}`, JSON.stringify(report));
    } else if (topic.startsWith('$iothub/methods/POST/')) {
      const name = topic.split('/')[3];
      const r = new URLSearchParams(topic.split('?')[1]).get('$rid');
      seen.commands.push(name);
      if (name === 'getMaxMinReport') {
        hub.publish(`$iothub/methods/res/200/?$rid=${r}`, JSON.stringify({ maxTemp: 30.5, minTemp: 18.25 }));
      }
    }
  });
  hub.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid++}`, JSON.stringify({ maxTempSinceLastReboot: 30.5 }));
  let t = 0;
  const timer = setInterval(() => {
    t += 1;
    const body = { temperature: Math.round((21 + 3 * Math.sin(t / 3)) * 100) / 100 };
    if (t % 5 === 0) body.humidity = 40 + t % 7;
    hub.publish(`devices/${id}/messages/events/`, JSON.stringify(body), { qos: 1 });
  }, 300);
  return {
    seen,
    async stop() { clearInterval(timer); await hub.endAsync(); },
  };
}
