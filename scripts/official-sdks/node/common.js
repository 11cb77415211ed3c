// Helpers shared by device-check.js and transports-check.js: environment variables, step
// checks, the emulator's REST service API, polling, and the step runner that prints the
// PASS / FAIL / SKIP lines.
'use strict';

// A failed check: reported by its message alone (other errors with their stack).
class StepError extends Error {}

function check(cond, what) {
  if (!cond) throw new StepError(what);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new StepError(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Polls `probe` (async, returns a truthy value when satisfied) until it succeeds or `ms` pass.
async function eventually(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new StepError(`not seen within ${ms} ms: ${what}`);
    await sleep(200);
  }
}

// `env(name, dflt)` for a script whose lines start with `tag`: the variable's value, else
// `dflt`; without a default, a missing or empty variable ends the process (FAIL setup).
function envReader(tag) {
  return (name, dflt) => {
    const v = process.env[name];
    if (v === undefined || v === '') {
      if (dflt === undefined) {
        console.error(`${tag} FAIL setup: environment variable ${name} is not set`);
        process.exit(1);
      }
      return dflt;
    }
    return v;
  };
}

// `rest(method, path, body, headers)` against the emulator's REST service API at `serviceUrl`:
// a string or Buffer body is sent as is, anything else as JSON. Resolves to
// { status, json (null unless the answer is JSON), text }.
function restClient(serviceUrl) {
  return async function rest(method, path, body, headers) {
    const init = { method, headers: { ...(headers || {}) } };
    if (body !== undefined) {
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        init.body = body;
      } else {
        init.body = JSON.stringify(body);
        init.headers['content-type'] = 'application/json';
      }
    }
    const res = await fetch(serviceUrl + path, init);
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = null;
    }
    return { status: res.status, json, text };
  };
}

// Runs the steps of a check and records their results. After a failed step the next ones are
// skipped until `resume()` (the start of an independent section).
class Steps {
  constructor(tag) {
    this.tag = tag;
    this.results = [];
    this.ok = true;
  }

  // Runs step `name`: `fn` (async) returns an optional detail for the PASS line, or throws.
  async run(name, fn) {
    if (!this.ok) {
      console.log(`${this.tag} SKIP ${name} (an earlier step failed)`);
      this.results.push({ name, ok: false, skipped: true });
      return;
    }
    const started = Date.now();
    try {
      const detail = await fn();
      const ms = Date.now() - started;
      console.log(`${this.tag} PASS ${name} (${ms} ms)${detail ? ': ' + detail : ''}`);
      this.results.push({ name, ok: true });
    } catch (e) {
      const msg = e instanceof StepError ? e.message : (e && e.stack) || String(e);
      console.log(`${this.tag} FAIL ${name}: ${msg}`);
      this.results.push({ name, ok: false });
      this.ok = false;
    }
  }

  // Runs the next steps even if an earlier one failed.
  resume() {
    this.ok = true;
  }

  // How many steps failed or were skipped.
  failed() {
    return this.results.filter((r) => !r.ok).length;
  }
}

module.exports = {
  StepError,
  check,
  sleep,
  withTimeout,
  eventually,
  envReader,
  restClient,
  Steps,
};
