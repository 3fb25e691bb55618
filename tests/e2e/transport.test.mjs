// Transport hardening (issue #11, docs/security.md) against a real `sund serve`:
// - TLS: `--tls-cert auto` makes a development certificate in DATA/tls and serves HTTPS only,
//   with HSTS; plain HTTP on that port gets no answer; a client that offers only TLS 1.1 or
//   older is refused.
// - CORS, in Debian's Chromium: a page on a registered app's origin may call the FHIR API with
//   a bearer token (preflight and all); a page on any other origin may not.
// - Rate limits: with --limit-loopback, a client over its rate gets 429 with Retry-After and an
//   OperationOutcome (code throttled), counted in /metrics.
// The browser part is skipped, with the reason, without /usr/bin/chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startSund, sundBin } from './lib/sund.mjs';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';

// One HTTPS request trusting only `ca`. Resolves { status, headers, body }.
function httpsGet(url, ca, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
}

// A page server for the browser: the same blank page on every path, on 127.0.0.1 (the
// registered app's origin) and, through the name localhost, on an unregistered origin.
function startPageServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>app</title><p>app</p>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      stop: () => new Promise((r) => server.close(r)),
    }));
  });
}

let sund;
let ca;

before(async () => {
  sund = await startSund({ args: ['--tls-cert', 'auto'] });
  ca = readFileSync(path.join(sund.dataDir, 'tls', 'dev-cert.pem'));
});

after(async () => {
  await sund?.stop();
});

// Verifies: REQ-HTTP-025, REQ-HTTP-026
test('--tls-cert auto serves HTTPS only, with HSTS', async () => {
  assert.match(sund.baseUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await httpsGet(`${sund.fhirBase}/metadata`, ca);
  assert.equal(r.status, 200);
  assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
  assert.equal(JSON.parse(r.body).resourceType, 'CapabilityStatement');

  // An authorised read over TLS, as any client would.
  const patients = await httpsGet(`${sund.fhirBase}/Patient?_count=1`, ca,
                                  { Authorization: `Bearer ${sund.token}` });
  assert.equal(patients.status, 200);

  // Plain HTTP to the TLS port: the handshake fails and the connection closes unanswered.
  const plain = await new Promise((resolve) => {
    const req = http.get(`http://127.0.0.1:${sund.port}/fhir/metadata`, (res) => resolve(res.statusCode));
    req.on('error', (e) => resolve(e.code));
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
  assert.notEqual(plain, 200);

  // An untrusted certificate is refused by a verifying client (the dev certificate is
  // self-signed; nothing trusts it unless told to).
  await assert.rejects(httpsGet(`${sund.fhirBase}/metadata`, undefined), /self[- ]signed/i);

  // TLS 1.1 and older: no handshake.
  await assert.rejects(new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: sund.port, ca, servername: 'localhost',
                                 minVersion: 'TLSv1', maxVersion: 'TLSv1.1',
                                 ciphers: 'DEFAULT:@SECLEVEL=0' }, () => {
      socket.end();
      resolve(socket.getProtocol());
    });
    socket.on('error', reject);
  }));
  // TLS 1.2 and 1.3: yes.
  for (const version of ['TLSv1.2', 'TLSv1.3']) {
    const protocol = await new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: sund.port, ca, servername: 'localhost',
                                   minVersion: version, maxVersion: version }, () => {
        const p = socket.getProtocol();
        socket.end();
        resolve(p);
      });
      socket.on('error', reject);
    });
    assert.equal(protocol, version);
  }
});

// Verifies: REQ-AUTH-058, REQ-HTTP-038, REQ-HTTP-041
test('CORS: only a registered app\'s origin may call the API from a browser', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`SKIPPED: ${CHROMIUM} is not installed (Debian's chromium, scripts/install-deps.sh)`);
    return;
  }
  const pages = await startPageServer();
  const registeredOrigin = `http://127.0.0.1:${pages.port}`;
  const otherOrigin = `http://localhost:${pages.port}`;
  await run(sundBin, ['app', 'register', '--data', sund.dataDir, '--name', 'Browser app',
                      '--redirect-uri', `${registeredOrigin}/callback`,
                      '--scope', 'patient/*.read launch/patient openid fhirUser', '--auth', 'none']);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
                                          args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const call = (origin) => page.goto(`${origin}/`).then(() => page.evaluate(
      async ({ url, token }) => {
        try {
          const r = await fetch(url, { headers: { Authorization: `Bearer ${token}`,
                                                  Accept: 'application/fhir+json' } });
          return { status: r.status, location: r.headers.get('content-type') };
        } catch (e) {
          return { error: String(e) };
        }
      }, { url: `${sund.fhirBase}/Patient?_count=1`, token: sund.token }));

    // The registered origin: the preflight (Authorization is not a simple header) passes, and
    // the page reads the response. Apps added by `sund app` count within the server's 5 s reload.
    let allowed;
    for (let i = 0; i < 40; i++) {
      allowed = await call(registeredOrigin);
      if (allowed.status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(allowed.status, 200, JSON.stringify(allowed));
    assert.match(allowed.location, /fhir\+json/);

    // Any other origin: the browser withholds the response.
    const refused = await call(otherOrigin);
    assert.ok(refused.error, `an unregistered origin read the API: ${JSON.stringify(refused)}`);
  } finally {
    await browser.close();
    await pages.stop();
  }
});

// Verifies: REQ-HTTP-033
test('a client over its rate gets 429 with Retry-After and an OperationOutcome', async () => {
  const limited = await startSund({ args: ['--limit-loopback', '--rate-limit', '5',
                                           '--connection-rate-limit', '0'] });
  try {
    const statuses = [];
    let throttled;
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${limited.fhirBase}/metadata`);
      statuses.push(r.status);
      if (r.status === 429 && !throttled) {
        throttled = { retryAfter: r.headers.get('retry-after'), body: await r.json() };
      } else {
        await r.arrayBuffer();
      }
    }
    const ok = statuses.filter((s) => s === 200).length;
    // A burst of ten (twice the rate) passes, plus what refills while the loop runs.
    assert.ok(ok >= 10 && ok < 30, `statuses: ${statuses.join(',')}`);
    assert.ok(throttled, 'no request was throttled');
    assert.ok(Number(throttled.retryAfter) >= 1);
    assert.equal(throttled.body.resourceType, 'OperationOutcome');
    assert.equal(throttled.body.issue[0].code, 'throttled');

    await new Promise((r) => setTimeout(r, 1000 * Number(throttled.retryAfter)));
    const metrics = await fetch(`${limited.baseUrl}/metrics`);
    assert.equal(metrics.status, 200);
    const m = /^sund_http_throttled_requests_total (\d+)$/m.exec(await metrics.text());
    assert.ok(m && Number(m[1]) === 30 - ok, `metrics: ${m?.[0]}`);
  } finally {
    await limited.stop();
  }
});
