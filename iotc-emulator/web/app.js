// The emulator's web app: plain JS, no build step. Data from IoT Central's API (/api), the
// service routes (/devices, /faults) and live events (/ui/events, server-sent events).
'use strict';

const V = 'api-version=2022-07-31';
const MAX_POINTS = 60;
let token = sessionStorage.getItem('iotc-token') || '';
const app = { devices: [], events: null, page: null };

// ---------- helpers ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const enc = encodeURIComponent;
const show = v => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
const when = t => (t ? new Date(t).toLocaleTimeString() : '—');

async function call(method, path, body, extraHeaders) {
  const headers = Object.assign({ Authorization: token }, extraHeaders || {});
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') payload = body;
    else { payload = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  }
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = text; }
  return { status: res.status, body: json };
}
const api = (method, path, body) => call(method, path + (path.includes('?') ? '&' : '?') + V, body);
const errorText = r => (r.body && r.body.error ? r.body.error.message : r.body && r.body.message ? r.body.message : 'HTTP ' + r.status);

// ---------- DTDL helpers ----------
function types(x) { const t = x['@type']; return Array.isArray(t) ? t : [t]; }
function isType(x, k) { return types(x).includes(k); }
function flatten(iface) {
  let contents = [...(iface.contents || [])];
  let schemas = [...(iface.schemas || [])];
  for (const p of [].concat(iface.extends || [])) {
    if (p && typeof p === 'object') { const f = flatten(p); contents = contents.concat(f.contents); schemas = schemas.concat(f.schemas); }
  }
  return { contents, schemas };
}
function label(x) {
  const d = x.displayName;
  const text = d && typeof d === 'object' ? (d.en || Object.values(d)[0]) : d;
  return text || x.name;
}
function resolve(schema, schemas) {
  if (typeof schema === 'string' && schema.startsWith('dtmi:')) return schemas.find(s => s['@id'] === schema) || schema;
  return schema;
}
// Each capability of a model: [{component, item, schemas}].
function capabilities(model) {
  const out = [];
  const root = flatten(model);
  for (const item of root.contents) {
    if (isType(item, 'Component') && typeof item.schema === 'object') {
      const inner = flatten(item.schema);
      for (const c of inner.contents) out.push({ component: item.name, item: c, schemas: inner.schemas });
    } else if (!isType(item, 'Component')) out.push({ component: null, item, schemas: root.schemas });
  }
  return out;
}
const NUMERIC = ['double', 'float', 'integer', 'long', 'short', 'byte', 'decimal', 'unsignedByte', 'unsignedShort', 'unsignedInteger', 'unsignedLong'];

// A labelled form field for a schema; returns {el, read()} (read throws a message when invalid).
function field(id, text, schema, schemas, current) {
  schema = resolve(schema, schemas);
  const lab = h('label', { for: id, text });
  if (schema === 'boolean') {
    const sel = h('select', { id }, h('option', { value: 'true', text: 'true' }), h('option', { value: 'false', text: 'false' }));
    if (current === false) sel.value = 'false';
    return { el: h('div', {}, lab, sel), read: () => sel.value === 'true' };
  }
  if (typeof schema === 'string' && NUMERIC.includes(schema)) {
    const whole = !['double', 'float', 'decimal'].includes(schema);
    const inp = h('input', { id, type: 'number', step: whole ? '1' : 'any', value: current ?? '' });
    return { el: h('div', {}, lab, inp), read: () => {
      if (inp.value === '') throw text + ': a number is needed';
      const n = Number(inp.value);
      if (whole && !Number.isInteger(n)) throw text + ': a whole number is needed';
      return n;
    } };
  }
  if (schema && typeof schema === 'object' && isType(schema, 'Enum')) {
    const sel = h('select', { id }, schema.enumValues.map(v => h('option', { value: JSON.stringify(v.enumValue), text: label(v) })));
    if (current !== undefined) sel.value = JSON.stringify(current);
    return { el: h('div', {}, lab, sel), read: () => JSON.parse(sel.value) };
  }
  if (typeof schema === 'string' && ['string', 'dateTime', 'date', 'time', 'duration', 'uuid'].includes(schema)) {
    const hint = { dateTime: '2024-01-01T00:00:00Z', date: '2024-01-01', time: '12:00:00', duration: 'PT5M' }[schema];
    const inp = h('input', { id, type: 'text', placeholder: hint, value: current ?? '' });
    return { el: h('div', {}, lab, inp), read: () => inp.value };
  }
  const ta = h('textarea', { id, rows: 3, cols: 32, placeholder: 'JSON' });
  ta.value = current === undefined ? '' : JSON.stringify(current);
  return { el: h('div', {}, lab, ta), read: () => {
    try { return JSON.parse(ta.value); } catch (e) { throw text + ': not JSON (' + e.message + ')'; }
  } };
}

// ---------- live events ----------
function connectEvents() {
  if (app.events) app.events.close();
  const es = new EventSource('/ui/events?token=' + enc(token));
  app.events = es;
  const live = document.getElementById('live');
  es.onopen = () => { live.textContent = 'live'; };
  es.onerror = () => { live.textContent = 'reconnecting…'; };
  es.addEventListener('state', e => {
    app.devices = JSON.parse(e.data).devices;
    if (app.page && app.page.onState) app.page.onState();
  });
  es.addEventListener('telemetry', e => {
    const m = JSON.parse(e.data);
    if (app.page && app.page.onTelemetry) app.page.onTelemetry(m);
  });
}

// ---------- devices ----------
function statusBadge(d) {
  if (!d.enabled) return h('span', { class: 'badge bad', text: 'blocked' });
  if (d.connected) return h('span', { class: 'badge ok', text: 'connected' });
  if (d.provisioned) return h('span', { class: 'badge warn', text: 'disconnected' });
  return h('span', { class: 'badge', text: 'registered' });
}
function deviceRow(d, depth) {
  return h('tr', { 'data-device': d.id },
    h('td', {}, h('span', { class: 'muted', text: depth ? '↳ '.padStart(depth * 2 + 2, ' ') : '' }),
      h('a', { href: '#/devices/' + enc(d.id), text: d.displayName })),
    h('td', {}, statusBadge(d)),
    h('td', { text: d.template || 'Unassigned' }),
    h('td', { text: when(d.lastActivity) }),
    h('td', { 'data-col': 'protocol', text: d.protocol || '—' }),
    h('td', { text: d.client || '—' }),
    h('td', { text: d.auth || '—' }),
    h('td', { text: d.gatewayId || '' }));
}
function devicesPage() {
  const body = h('tbody', { id: 'device-rows' });
  const render = () => {
    body.replaceChildren();
    const byGateway = {};
    for (const d of app.devices) if (d.gatewayId) (byGateway[d.gatewayId] ||= []).push(d);
    const add = (d, depth) => { body.append(deviceRow(d, depth)); for (const c of byGateway[d.id] || []) add(c, depth + 1); };
    for (const d of app.devices) if (!d.gatewayId || !app.devices.some(g => g.id === d.gatewayId)) add(d, 0);
    if (!app.devices.length) body.append(h('tr', {}, h('td', { colspan: 8, class: 'muted', text: 'No device yet: provision one through DPS or create one with PUT /api/devices/{id}.' })));
  };
  render();
  const view = h('section', { 'aria-labelledby': 'devices-title' },
    h('h2', { id: 'devices-title', text: 'Devices' }),
    h('table', {}, h('caption', { class: 'muted', text: 'Downstream devices are listed under their gateway.' }),
      h('thead', {}, h('tr', {}, ['Device', 'Status', 'Template', 'Last activity', 'Protocol', 'Client', 'Auth', 'Gateway'].map(t => h('th', { scope: 'col', text: t })))),
      body));
  return { view, onState: render };
}

// ---------- one device ----------
function chartFor(key, title, unit) {
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('fill', 'none'); line.setAttribute('stroke', '#0b5cad'); line.setAttribute('stroke-width', '2');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 300 100'); svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', 'Chart of ' + title);
  svg.append(line);
  const value = h('div', { class: 'value', text: '—' });
  const fig = h('figure', { class: 'chart', 'data-telemetry': key, 'data-points': '0' }, h('figcaption', { text: title + (unit ? ' (' + unit + ')' : '') }), value, svg);
  const points = [];
  return {
    el: fig,
    add(v) {
      value.textContent = show(v);
      if (typeof v !== 'number') return;
      points.push(v); if (points.length > MAX_POINTS) points.shift();
      const lo = Math.min(...points), hi = Math.max(...points), span = hi - lo || 1;
      line.setAttribute('points', points.map((p, i) => (i * 300 / Math.max(points.length - 1, 1)).toFixed(1) + ',' + (95 - (p - lo) * 90 / span).toFixed(1)).join(' '));
      fig.setAttribute('data-points', String(points.length));
    },
  };
}

async function devicePage(id) {
  const dev = () => app.devices.find(d => d.id === id) || { id, displayName: id, enabled: true };
  const r = await api('GET', '/api/devices/' + enc(id));
  if (r.status !== 200) return { view: h('section', {}, h('h2', { text: id }), h('p', { class: 'error', role: 'alert', text: errorText(r) })) };
  let model = null;
  if (r.body.template) {
    const t = await api('GET', '/api/deviceTemplates/' + enc(r.body.template));
    if (t.status === 200) model = t.body.capabilityModel;
  }
  const caps = model ? capabilities(model) : [];
  const keyOf = (component, name) => (component ? component + '/' : '') + name;
  const head = h('div', {});
  const renderHead = () => {
    const d = dev();
    head.replaceChildren(h('h2', { text: d.displayName + ' ' }, statusBadge(d)),
      h('p', { class: 'muted' }, 'Id ' + id + ' · template ' + (r.body.template || 'Unassigned') + (d.modelId ? ' · model ' + d.modelId : '') + (d.client ? ' · ' + d.client : '') + ' · last activity ' + when(d.lastActivity)));
  };
  renderHead();

  // Telemetry charts.
  const charts = {};
  const grid = h('div', { class: 'grid' });
  for (const c of caps.filter(c => isType(c.item, 'Telemetry'))) {
    const k = keyOf(c.component, c.item.name);
    charts[k] = chartFor(k, (c.component ? c.component + ' / ' : '') + label(c.item), c.item.unit);
    grid.append(charts[k].el);
  }
  const telemetrySection = h('section', { 'aria-labelledby': 'tel-title' }, h('h2', { id: 'tel-title', text: 'Telemetry' }),
    caps.length ? grid : h('p', { class: 'muted', text: 'No template: raw data only.' }));

  // Raw data.
  const modeled = new Set(caps.filter(c => isType(c.item, 'Telemetry')).map(c => keyOf(c.component, c.item.name)));
  const rawBody = h('tbody', { id: 'raw-rows' });
  const addRaw = m => {
    const members = m.body && typeof m.body === 'object' && !Array.isArray(m.body) ? Object.keys(m.body) : [];
    const extra = model ? members.filter(n => !modeled.has(keyOf(m.component, n))) : [];
    const notObject = model && members.length === 0;
    rawBody.prepend(h('tr', { class: extra.length || notObject ? 'unmodeled' : '' },
      h('td', { text: when(m.enqueuedTime) }), h('td', { text: m.component || '' }),
      h('td', {}, h('pre', { text: show(m.body) })),
      h('td', {}, extra.map(n => h('span', { class: 'badge warn', text: 'unmodeled: ' + n })), notObject ? h('span', { class: 'badge warn', text: 'unmodeled' }) : null)));
    while (rawBody.children.length > 50) rawBody.lastChild.remove();
  };
  const rawSection = h('section', { 'aria-labelledby': 'raw-title' }, h('h2', { id: 'raw-title', text: 'Raw data' }),
    h('table', {}, h('thead', {}, h('tr', {}, ['Time', 'Component', 'Body', 'Unmodeled'].map(t => h('th', { scope: 'col', text: t })))), rawBody));
  const onMessage = m => {
    addRaw(m);
    if (m.body && typeof m.body === 'object') {
      for (const [n, v] of Object.entries(m.body)) { const c = charts[keyOf(m.component, n)]; if (c) c.add(v); }
    }
  };
  const recent = await call('GET', '/devices/' + enc(id) + '/telemetry');
  if (recent.status === 200) for (const m of recent.body) onMessage(m);

  // Unmodeled data with reasons.
  const unmodeledList = h('ul', { id: 'unmodeled-list' });
  const loadUnmodeled = async () => {
    const u = await call('GET', '/devices/' + enc(id) + '/unmodeled');
    unmodeledList.replaceChildren(...(u.status === 200 ? u.body.slice(-20).reverse() : []).map(x =>
      h('li', {}, h('strong', { text: x.kind + ' ' + (x.component ? x.component + '/' : '') + (x.name || '(message)') }), ': ' + x.reason + ' — ', h('code', { text: show(x.value) }))));
    if (!unmodeledList.children.length) unmodeledList.append(h('li', { class: 'muted', text: 'None.' }));
  };
  await loadUnmodeled();
  const unmodeledSection = h('section', { 'aria-labelledby': 'unm-title' }, h('h2', { id: 'unm-title', text: 'Unmodeled data' }), unmodeledList);

  // Properties.
  const propsBody = h('tbody', { id: 'prop-rows' });
  const ackCells = {};
  const reportedCells = {};
  const loadProps = async () => {
    const p = await api('GET', '/api/devices/' + enc(id) + '/properties');
    if (p.status !== 200) return;
    for (const c of caps.filter(c => isType(c.item, 'Property'))) {
      const k = keyOf(c.component, c.item.name);
      const scope = c.component ? p.body[c.component] || {} : p.body;
      const meta = (scope.$metadata || {})[c.item.name] || {};
      if (reportedCells[k]) reportedCells[k].textContent = scope[c.item.name] === undefined ? '—' : show(scope[c.item.name]);
      if (ackCells[k]) {
        const pending = meta.desiredVersion !== undefined && meta.ackVersion !== meta.desiredVersion;
        ackCells[k].textContent = meta.ackCode !== undefined
          ? 'ack ' + meta.ackCode + ', version ' + meta.ackVersion + (meta.ackDescription ? ', "' + meta.ackDescription + '"' : '') + (pending ? ' (desired version ' + meta.desiredVersion + ' pending)' : '')
          : meta.desiredVersion !== undefined ? 'sent, version ' + meta.desiredVersion + ', no acknowledgement yet' : '';
      }
    }
  };
  for (const c of caps.filter(c => isType(c.item, 'Property'))) {
    const k = keyOf(c.component, c.item.name);
    const title = (c.component ? c.component + ' / ' : '') + label(c.item);
    reportedCells[k] = h('td', { text: '—' });
    ackCells[k] = h('td', { 'data-ack': k, role: 'status' });
    let editor = h('td', { class: 'muted', text: 'read-only' });
    if (c.item.writable) {
      const fid = 'prop-' + k.replace(/[^A-Za-z0-9_-]/g, '-');
      const f = field(fid, 'New value of ' + title, c.item.schema, c.schemas);
      const err = h('span', { class: 'error', role: 'alert' });
      editor = h('td', {}, h('form', { class: 'inline', 'data-property': k, onsubmit: async e => {
        e.preventDefault(); err.textContent = '';
        let v; try { v = f.read(); } catch (m) { err.textContent = m; return; }
        const path = '/api/devices/' + enc(id) + (c.component ? '/components/' + enc(c.component) : '') + '/properties';
        const res = await api('PATCH', path, { [c.item.name]: v });
        if (res.status !== 200) err.textContent = errorText(res); else await loadProps();
      } }, f.el, h('button', { type: 'submit', class: 'primary', text: 'Save' }), err));
    }
    propsBody.append(h('tr', {}, h('th', { scope: 'row', text: title }), reportedCells[k], editor, ackCells[k]));
  }
  await loadProps();
  const propsSection = h('section', { 'aria-labelledby': 'prop-title' }, h('h2', { id: 'prop-title', text: 'Properties' }),
    caps.some(c => isType(c.item, 'Property'))
      ? h('table', {}, h('thead', {}, h('tr', {}, ['Property', 'Reported', 'Set', 'Device acknowledgement'].map(t => h('th', { scope: 'col', text: t })))), propsBody)
      : h('p', { class: 'muted', text: 'The template has no properties.' }));

  // Commands.
  const cmdList = h('div', {});
  for (const c of caps.filter(c => isType(c.item, 'Command'))) {
    const k = keyOf(c.component, c.item.name);
    const title = (c.component ? c.component + ' / ' : '') + label(c.item);
    const fid = 'cmd-' + k.replace(/[^A-Za-z0-9_-]/g, '-');
    const f = c.item.request ? field(fid, label(c.item.request) + ' (request)', c.item.request.schema, c.schemas) : null;
    const tid = fid + '-timeout';
    const timeoutInput = h('input', { id: tid, type: 'number', min: '0', max: '30', step: '1', value: '30' });
    const out = h('div', { role: 'status', 'data-command-result': k });
    cmdList.append(h('form', { class: 'inline', 'data-command': k, onsubmit: async e => {
      e.preventDefault();
      let body = { responseTimeout: Number(timeoutInput.value || 30) };
      try { if (f) body.request = f.read(); } catch (m) { out.replaceChildren(h('span', { class: 'error', text: m })); return; }
      out.replaceChildren(h('span', { class: 'muted', text: 'Running…' }));
      const path = '/api/devices/' + enc(id) + (c.component ? '/components/' + enc(c.component) : '') + '/commands/' + enc(c.item.name);
      const res = await api('POST', path, body);
      if (res.status !== 201) { out.replaceChildren(h('span', { class: 'error', text: errorText(res) })); return; }
      const code = res.body.responseCode;
      const words = code === 504 ? 'Timed out: the device did not answer in time (504)'
        : code === 404 ? 'The device is not online (404)'
        : code === 202 ? 'Queued: the device is offline; sent as a cloud-to-device message (202)'
        : 'Response code ' + code;
      out.replaceChildren(h('span', { class: code >= 200 && code < 300 ? 'badge ok' : 'badge bad', text: words }));
      if (res.body.response !== undefined) out.append(h('pre', { text: show(res.body.response) }));
    } }, h('h3', { text: title }), f ? f.el : null,
    h('div', {}, h('label', { for: tid, text: 'Response timeout (s)' }), timeoutInput), h('button', { type: 'submit', class: 'primary', text: 'Run ' + label(c.item) }), out));
  }
  const cmdSection = h('section', { 'aria-labelledby': 'cmd-title' }, h('h2', { id: 'cmd-title', text: 'Commands' }),
    cmdList.children.length ? cmdList : h('p', { class: 'muted', text: 'The template has no commands.' }));

  // Cloud-to-device messages.
  const c2dOut = h('span', { role: 'status' });
  const c2dSection = h('section', { 'aria-labelledby': 'c2d-title' }, h('h2', { id: 'c2d-title', text: 'Cloud-to-device message' }),
    h('form', { class: 'inline', onsubmit: async e => {
      e.preventDefault();
      const form = e.target;
      const headers = {};
      if (form.pname.value) headers['iothub-app-' + form.pname.value] = form.pvalue.value;
      const res = await call('POST', '/devices/' + enc(id) + '/messages/devicebound', form.c2dbody.value, headers);
      c2dOut.textContent = res.status === 204 ? 'Sent (queued until the device takes it).' : errorText(res);
    } },
    h('div', {}, h('label', { for: 'c2d-body', text: 'Body' }), h('textarea', { id: 'c2d-body', name: 'c2dbody', rows: 2, cols: 40 })),
    h('div', {}, h('label', { for: 'c2d-pname', text: 'Property name' }), h('input', { id: 'c2d-pname', name: 'pname' })),
    h('div', {}, h('label', { for: 'c2d-pvalue', text: 'Property value' }), h('input', { id: 'c2d-pvalue', name: 'pvalue' })),
    h('button', { type: 'submit', text: 'Send' }), c2dOut));

  // Faults.
  const faultOut = h('span', { role: 'status' });
  const fault = (text, method, path, body) => h('button', { type: 'button', text, onclick: async () => {
    const res = await call(method, path, body === undefined ? undefined : body);
    faultOut.textContent = res.status < 300 ? text + ': done' : errorText(res);
  } });
  const faultSection = h('section', { 'aria-labelledby': 'fault-title' }, h('h2', { id: 'fault-title', text: 'Faults' }),
    h('div', { class: 'inline' },
      fault('Disconnect', 'POST', '/faults/devices/' + enc(id) + '/disconnect'),
      fault('Refuse connections for 30 s', 'POST', '/faults/refuse-connections', { deviceId: id, code: 'serverUnavailable', durationMs: 30000 }),
      fault('Drop the next 3 acknowledgements', 'POST', '/faults/devices/' + enc(id) + '/drop-acks', { count: 3 }),
      fault('Delay acknowledgements by 2 s', 'POST', '/faults/devices/' + enc(id) + '/delay-acks', { delayMs: 2000 }),
      fault('Clear all faults', 'DELETE', '/faults'), ' ', faultOut));

  let lastReported = dev().reportedVersion;
  let lastUnmodeled = dev().unmodeled;
  return {
    view: h('div', {}, head, telemetrySection, propsSection, cmdSection, rawSection, unmodeledSection, c2dSection, faultSection),
    onState() {
      renderHead();
      const d = dev();
      if (d.reportedVersion !== lastReported) { lastReported = d.reportedVersion; loadProps(); }
      if (d.unmodeled !== lastUnmodeled) { lastUnmodeled = d.unmodeled; loadUnmodeled(); }
    },
    onTelemetry(m) { if (m.deviceId === id && !m.moduleId) onMessage(m); },
  };
}

// ---------- templates ----------
async function templatesPage() {
  const body = h('tbody', { id: 'template-rows' });
  const load = async () => {
    const r = await api('GET', '/api/deviceTemplates?maxpagesize=1000');
    body.replaceChildren();
    for (const t of (r.body && r.body.value) || []) {
      const caps = t.capabilityModel ? capabilities(t.capabilityModel) : [];
      const count = k => caps.filter(c => isType(c.item, k)).length;
      body.append(h('tr', { 'data-template': t['@id'] }, h('td', { text: label(t) || t['@id'] }), h('td', {}, h('code', { text: t['@id'] })),
        h('td', {}, h('code', { text: t.capabilityModel ? t.capabilityModel['@id'] : '' })),
        h('td', { text: count('Telemetry') + ' telemetry, ' + count('Property') + ' properties, ' + count('Command') + ' commands' })));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'No template yet.' })));
  };
  await load();
  const msg = h('p', { id: 'import-result', role: 'alert' });
  const form = h('form', { class: 'inline', onsubmit: async e => {
    e.preventDefault(); msg.textContent = ''; msg.className = '';
    const file = e.target.model.files[0];
    if (!file) { msg.textContent = 'Choose a DTDL file first.'; msg.className = 'error'; return; }
    let doc;
    try { doc = JSON.parse(await file.text()); } catch (err) { msg.textContent = file.name + ' is not JSON: ' + err.message; msg.className = 'error'; return; }
    const id = doc['@id'] || (doc.capabilityModel && doc.capabilityModel['@id']) || (Array.isArray(doc) && doc[0] && doc[0]['@id']);
    if (!id) { msg.textContent = file.name + ' has no "@id".'; msg.className = 'error'; return; }
    const r = await api('PUT', '/api/deviceTemplates/' + enc(id), doc);
    if (r.status === 200) { msg.textContent = 'Imported ' + id + '.'; msg.className = 'ok'; await load(); }
    else { msg.textContent = 'Refused: ' + errorText(r); msg.className = 'error'; }
  } }, h('div', {}, h('label', { for: 'model-file', text: 'DTDL model or IoT Central template (JSON)' }), h('input', { id: 'model-file', name: 'model', type: 'file', accept: '.json,application/json' })),
  h('button', { type: 'submit', class: 'primary', text: 'Import' }));
  return {
    view: h('div', {}, h('section', { 'aria-labelledby': 'tpl-title' }, h('h2', { id: 'tpl-title', text: 'Device templates' }),
      h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Template id', 'Model id', 'Capabilities'].map(t => h('th', { scope: 'col', text: t })))), body)),
    h('section', { 'aria-labelledby': 'import-title' }, h('h2', { id: 'import-title', text: 'Import a template' }), form, msg)),
  };
}

// ---------- routing ----------
async function route() {
  const hash = location.hash || '#/devices';
  if (hash.startsWith('#token=')) {
    token = decodeURIComponent(hash.slice(7));
    sessionStorage.setItem('iotc-token', token);
    history.replaceState(null, '', '#/devices');
    return start();
  }
  const view = document.getElementById('view');
  let page;
  document.getElementById('nav-devices').removeAttribute('aria-current');
  document.getElementById('nav-templates').removeAttribute('aria-current');
  if (hash.startsWith('#/devices/')) page = await devicePage(decodeURIComponent(hash.slice(10)));
  else if (hash.startsWith('#/templates')) { page = await templatesPage(); document.getElementById('nav-templates').setAttribute('aria-current', 'page'); }
  else { page = devicesPage(); document.getElementById('nav-devices').setAttribute('aria-current', 'page'); }
  app.page = page;
  view.replaceChildren(page.view);
}

async function start() {
  const login = document.getElementById('login');
  if (location.hash.startsWith('#token=')) return route();
  const r = token ? await call('GET', '/ui/state') : { status: 401 };
  if (r.status !== 200) {
    login.hidden = false;
    document.getElementById('view').replaceChildren();
    document.getElementById('token-input').focus();
    return;
  }
  login.hidden = true;
  app.devices = r.body.devices;
  connectEvents();
  await route();
}

document.getElementById('login').addEventListener('submit', async e => {
  e.preventDefault();
  token = document.getElementById('token-input').value.trim();
  const r = await call('GET', '/ui/state');
  if (r.status !== 200) { document.getElementById('login-error').textContent = 'The emulator refused this token.'; return; }
  sessionStorage.setItem('iotc-token', token);
  start();
});
window.addEventListener('hashchange', () => { if (token) route(); });
start();
