// Browser tests of the emulator's web app in headless Chromium (playwright-core, Debian's
// chromium): the page loads; a device connects and appears; an uploaded template assigns the
// waiting device; a telemetry chart updates; a writable property set in the form reaches the
// device and its acknowledgement shows; a command run from the form shows the device's
// response, and one the device does not answer shows the timeout. Screenshots of each view go
// to docs/. Usage: node test.mjs <emulator binary> <docs dir>
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startDevice } from './device.mjs';

const [bin, docs] = process.argv.slice(2);
if (!bin || !docs) { console.error('usage: node test.mjs <emulator binary> <docs dir>'); process.exit(2); }
const here = path.dirname(new URL(import.meta.url).pathname);
const token = 'browser-test-token';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'iotc-browser-'));
const caPath = path.join(work, 'ca.pem');

function check(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
  console.log('ok - ' + what);
}

const emulator = spawn(bin, ['--api-token', token, '--ca-cert-out', caPath, '--dps-retry-after', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const printed = await new Promise((resolve, reject) => {
  let out = '';
  emulator.stdout.on('data', d => {
    out += d;
    if (out.includes('e.g. thermostat-01')) resolve(out);
  });
  emulator.on('exit', code => reject(new Error('emulator exited ' + code + ': ' + out)));
});
const grab = label => printed.split('\n').find(l => l.trim().startsWith(label)).split(label)[1].trim().split(/\s+/)[0];
const base = grab('Service API:');
const settings = { dpsEndpoint: grab('DPS endpoint:'), scope: grab('ID scope:'), groupKey: grab('Group key:'), ca: fs.readFileSync(caPath) };

let browser;
let device;
let failed = false;
try {
  // A fresh profile (--user-data-dir) per run.
  browser = await chromium.launchPersistentContext(path.join(work, 'profile'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const consoleErrors = [];
  page.on('pageerror', e => consoleErrors.push(String(e)));

  // The page loads and asks for the token; the token opens it.
  await page.goto(base + '/');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  check(true, 'the page loads and takes the API token');
  await page.locator('#live', { hasText: 'live' }).waitFor();
  check(true, 'live updates connected');

  // A device connects and appears, unassigned (no template yet).
  device = await startDevice({ ...settings, id: 'thermostat-web', modelId: 'dtmi:com:example:Thermostat;1' });
  const row = page.locator('tr[data-device="thermostat-web"]');
  await row.getByText('connected').waitFor();
  check((await row.textContent()).includes('Unassigned'), 'the connected device appears, unassigned');
  await row.locator('td[data-col="protocol"]', { hasText: 'MQTT' }).waitFor();
  check((await row.locator('td[data-col="protocol"]').textContent()) === 'MQTT', 'the protocol column shows the transport it connected with (MQTT)');
  const head = await page.locator('thead th').allTextContents();
  check(head.includes('Protocol'), 'the device list has a Protocol column');

  // An uploaded template assigns the waiting device.
  await page.getByRole('link', { name: 'Templates' }).click();
  await page.getByLabel('DTDL model or IoT Central template (JSON)').setInputFiles(path.join(here, 'broken.json'));
  await page.getByRole('button', { name: 'Import' }).click();
  await page.locator('#import-result', { hasText: 'Refused' }).waitFor();
  check((await page.locator('#import-result').textContent()).includes('unknown schema `dobule`'), 'a malformed template is refused with the reason');
  await page.getByLabel('DTDL model or IoT Central template (JSON)').setInputFiles(path.join(here, 'thermostat.json'));
  await page.getByRole('button', { name: 'Import' }).click();
  await page.locator('#import-result', { hasText: 'Imported' }).waitFor();
  await page.locator('tr[data-template="dtmi:com:example:Thermostat;1"]').waitFor();
  check(true, 'the uploaded template is listed');
  await page.screenshot({ path: path.join(docs, 'emulator-web-templates.png'), fullPage: true });
  await page.getByRole('link', { name: 'Devices' }).click();
  await row.getByText('dtmi:com:example:Thermostat;1').waitFor();
  check(true, 'the uploaded template assigns the waiting device');
  await page.screenshot({ path: path.join(docs, 'emulator-web-devices.png'), fullPage: true });

  // The device page: a telemetry chart updates live.
  await row.getByRole('link').click();
  const chart = page.locator('figure[data-telemetry="temperature"]');
  await chart.waitFor();
  const before = Number(await chart.getAttribute('data-points'));
  await page.waitForFunction(n => Number(document.querySelector('figure[data-telemetry="temperature"]').dataset.points) >= n + 3, before);
  check(true, 'the temperature chart updates live (' + before + ' -> ' + (await chart.getAttribute('data-points')) + ' points)');
  await page.locator('#raw-rows .badge', { hasText: 'unmodeled: humidity' }).first().waitFor();
  check(true, 'raw data marks the unmodeled member');

  // A writable property set in the form reaches the device; its acknowledgement shows.
  await page.getByLabel('New value of Target temperature').fill('22.5');
  await page.locator('form[data-property="targetTemperature"]').getByRole('button', { name: 'Save' }).click();
  await page.locator('[data-ack="targetTemperature"]', { hasText: 'ack 200' }).waitFor();
  check(device.seen.desired.some(p => p.targetTemperature === 22.5), 'the device received targetTemperature 22.5');
  check((await page.locator('[data-ack="targetTemperature"]').textContent()).includes('applied by the test device'), 'the acknowledgement shows');

  // A command from the form shows the device's response.
  const report = page.locator('form[data-command="getMaxMinReport"]');
  await report.getByLabel('Since (request)').fill('2024-01-01T00:00:00Z');
  await report.getByRole('button', { name: 'Run Get max-min report' }).click();
  await page.locator('[data-command-result="getMaxMinReport"]', { hasText: 'Response code 200' }).waitFor();
  check((await page.locator('[data-command-result="getMaxMinReport"]').textContent()).includes('30.5'), 'the command response shows');

  // A command the device does not answer: the page says it timed out.
  const reboot = page.locator('form[data-command="reboot"]');
  await reboot.getByLabel('Delay (s) (request)').fill('3');
  await reboot.getByLabel('Response timeout (s)').fill('2');
  await reboot.getByRole('button', { name: 'Run Reboot' }).click();
  await page.locator('[data-command-result="reboot"]', { hasText: 'Timed out' }).waitFor();
  check(device.seen.commands.includes('reboot'), 'an unanswered command ends in the timeout status');
  await page.screenshot({ path: path.join(docs, 'emulator-web-device.png'), fullPage: true });

  // Keyboard: after a reload the first Tab reaches the skip link; the navigation works with
  // Tab and Enter.
  await page.reload();
  await page.locator('figure[data-telemetry="temperature"]').waitFor();
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.textContent === 'Skip to content'), 'the first Tab reaches the skip link');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.textContent === 'Templates'), 'Tab reaches the Templates link');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Device templates' }).waitFor();
  check(true, 'Enter on the link opens the templates');
  check(consoleErrors.length === 0, 'no script error on the page ' + consoleErrors.join('; '));
} catch (e) {
  failed = true;
  console.error('FAILED: ' + (e.stack || e));
} finally {
  if (device) await device.stop().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  emulator.kill();
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
