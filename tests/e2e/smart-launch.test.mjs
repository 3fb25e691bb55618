// End-to-end test of a SMART App Launch 2.x standalone launch with PKCE, with clients nobody here
// wrote: the npm `fhirclient` library (SMART's client-js, through its Node entry point) is the
// app, and Debian's Chromium, driven by Playwright (`playwright-core`), is the citizen who signs
// in on Sund's login screen and approves on its consent screen.
//
// The app is a small Node HTTP server on 127.0.0.1: GET /launch calls fhirclient's authorize(),
// which reads /.well-known/smart-configuration and redirects the browser to /oauth2/authorize
// with a code_challenge (S256) and aud; GET /callback calls ready(), which exchanges the code
// with the code_verifier, and then reads the patient's Observations with the new token. Each
// browser gets an in-memory session (a cookie naming an object), where fhirclient's Node adapter
// keeps its state (it reads and writes `request.session`).
//
// Skipped, with the reason, when /usr/bin/chromium or the Synthea data is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import smart from 'fhirclient/lib/entry/node.js';
import { chromium } from 'playwright-core';

import { rawFetch, startSund, sundBin, syntheaFiles } from './lib/sund.mjs';

const CHROMIUM = '/usr/bin/chromium';
const SCOPE = 'launch/patient openid fhirUser offline_access patient/*.rs';
const USERNAME = 'borger-e2e';
const PASSWORD = `Kodeord-${randomBytes(9).toString('base64url')}`;

const synthea = syntheaFiles(1);
const skipReason = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (Debian's chromium package, from scripts/install-deps.sh)`
  : synthea.reason;

// Runs `sund ARGS...` with `input` on stdin; resolves to its stdout.
function sund(args, input = '') {
  return new Promise((resolve, reject) => {
    const child = execFile(sundBin, args, (err, stdout, stderr) => {
      if (err) reject(new Error(`sund ${args.slice(0, 2).join(' ')} failed: ${stderr || stdout}`));
      else resolve(stdout);
    });
    child.stdin.end(input);
  });
}

// GET with a bearer token; resolves to { status, headers, body }.
function get(url, token) {
  return rawFetch(url, { headers: { authorization: `Bearer ${token}`,
                                    accept: 'application/fhir+json' } });
}

// The app: fhirclient behind a Node HTTP server, with cookie-keyed in-memory sessions.
// `clients` receives every fhirclient Client the callback creates, so the test can use its token
// directly; the token itself never appears in a page.
// clientId and pkceMode are functions, read at each launch.
async function startApp(clientId, pkceMode, fhirBase, clients) {
  const sessions = new Map();
  const server = http.createServer(async (req, res) => {
    const sid = /(?:^|;\s*)app_sid=([\w-]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (sid && sessions.has(sid)) {
      req.session = sessions.get(sid);
    } else {
      const fresh = randomBytes(16).toString('base64url');
      req.session = {};
      sessions.set(fresh, req.session);
      res.setHeader('Set-Cookie', `app_sid=${fresh}; Path=/; HttpOnly; SameSite=Lax`);
    }
    const url = new URL(req.url, `http://${req.headers.host}`);
    const redirectUri = `http://${req.headers.host}/callback`;
    try {
      if (url.pathname === '/launch') {
        await smart(req, res).authorize({
          clientId: clientId(), scope: SCOPE, redirectUri, iss: fhirBase, pkceMode: pkceMode(),
        });
      } else if (url.pathname === '/callback') {
        const client = await smart(req, res).ready();
        clients.push(client);
        const bundle = await client.request(
          `Observation?patient=${encodeURIComponent(client.patient.id)}&_count=100`);
        const entries = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include');
        const answer = {
          patient: client.patient.id,
          count: entries.length,
          total: bundle.total,
          others: entries.filter((e) =>
            e.resource.subject?.reference !== `Patient/${client.patient.id}`).length,
          scope: client.state.tokenResponse.scope,
          fhirUser: client.getFhirUser(),
          refreshToken: Boolean(client.state.tokenResponse.refresh_token),
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      } else {
        res.writeHead(404).end();
      }
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`app error: ${e.message}`);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

describe('SMART standalone launch: fhirclient + Chromium', () => {
  let server;
  let app;
  let browser;
  let patientId;
  let otherPatientId;
  let otherObservationId;
  let clientId;
  let pkceMode;
  const clients = [];

  before(async () => {
    if (skipReason) return;
    server = await startSund({ importFiles: synthea.files });

    // The citizen's Patient, found with the administrator's system token.
    const found = await get(`${server.fhirBase}/Patient?_count=1`, server.token);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    patientId = found.body.entry?.[0]?.resource?.id;
    assert.ok(patientId, 'the Synthea bundle holds no Patient');

    // Someone else, with an Observation, for the cross-patient check.
    const post = async (resource) => {
      const r = await rawFetch(`${server.fhirBase}/${resource.resourceType}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`,
                   'content-type': 'application/fhir+json' },
        body: JSON.stringify(resource),
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id;
    };
    otherPatientId = await post({ resourceType: 'Patient', name: [{ family: 'Andensen' }] });
    otherObservationId = await post({
      resourceType: 'Observation', status: 'final',
      subject: { reference: `Patient/${otherPatientId}` },
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      valueQuantity: { value: 61, unit: '/min' },
    });

    await sund(['user', 'add', '--data', server.dataDir, '--username', USERNAME,
                '--password-stdin', '--role', 'citizen', '--fhir-user', `Patient/${patientId}`,
                '--name', 'Testborger'], `${PASSWORD}\n`);

    // The app's port is needed for its redirect URI before it can be registered.
    app = await startApp(() => clientId, () => pkceMode, server.fhirBase, clients);
    const registered = JSON.parse(await sund([
      'app', 'register', '--data', server.dataDir, '--name', 'Min Sundhedsapp',
      '--redirect-uri', `${app.base}/callback`, '--scope', SCOPE, '--auth', 'none',
    ]));
    clientId = registered.client_id;
    assert.ok(clientId, 'app register printed no client_id');

    // fhirclient finds the SMART configuration at {FHIR base}/.well-known/ (SMART App Launch
    // 2.2, "Discovery"), learns that S256 is supported, and with pkceMode 'required' refuses to
    // launch without PKCE.
    pkceMode = 'required';

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
                                      args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await app?.stop();
    await server?.stop();
  });

  // Verifies: REQ-AUTH-001, REQ-AUTH-002
  test('the SMART configuration is found at the FHIR base, without a token', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const r = await rawFetch(`${server.fhirBase}/.well-known/smart-configuration`);
    assert.equal(r.status, 200, `${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.authorization_endpoint, `${server.baseUrl}/oauth2/authorize`);
    assert.deepEqual(r.body.code_challenge_methods_supported, ['S256']);
  });

  let answer;

  // Verifies: REQ-AUTH-011, REQ-AUTH-012, REQ-AUTH-016, REQ-AUTH-018, REQ-AUTH-022, REQ-AUTH-031
  // Verifies: REQ-AUTH-032, REQ-AUTH-042, REQ-AUTH-067
  test('login and consent in Chromium; fhirclient reads the patient\'s Observations', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const context = await browser.newContext({ locale: 'da-DK' });
    const page = await context.newPage();
    try {
      // fhirclient redirects to Sund's login screen (Danish, the browser's language).
      const launched = await page.goto(`${app.base}/launch`);
      assert.equal(new URL(page.url()).pathname, '/oauth2/authorize',
                   `${launched.status()} ${await page.locator('body').innerText()}`);
      const authorizeUrl = new URL(page.url());
      assert.equal(authorizeUrl.searchParams.get('code_challenge_method'), 'S256');
      assert.match(authorizeUrl.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
      assert.equal(authorizeUrl.searchParams.get('aud'), server.fhirBase);
      await page.getByRole('heading', { name: 'Log ind' }).waitFor();
      assert.match(await page.locator('main').innerText(), /Min Sundhedsapp/);

      // A wrong password first: the form comes back with an error.
      await page.getByLabel('Brugernavn').fill(USERNAME);
      await page.getByLabel('Adgangskode').fill(`${PASSWORD}x`);
      await page.getByRole('button', { name: 'Log ind' }).click();
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(),
                   /Forkert brugernavn eller adgangskode/);

      await page.getByLabel('Brugernavn').fill(USERNAME);
      await page.getByLabel('Adgangskode').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log ind' }).click();

      // The consent screen names the app and what it asks for, ticked by default.
      await page.getByRole('heading', { name: 'Min Sundhedsapp beder om adgang' }).waitFor();
      const box = page.locator('input[type=checkbox][name=scope][value="patient/*.rs"]');
      assert.equal(await box.count(), 1, 'no checkbox for patient/*.rs on the consent screen');
      assert.equal(await box.isChecked(), true);

      const [callback] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith(`${app.base}/callback`)),
        page.getByRole('button', { name: 'Giv adgang' }).click(),
      ]);
      const text = await callback.text();
      assert.equal(callback.status(), 200, text);
      answer = JSON.parse(text);
    } finally {
      await context.close();
    }

    t.diagnostic(`${answer.count} Observations read; granted scope "${answer.scope}"`);
    assert.equal(answer.patient, patientId);
    assert.ok(answer.count > 0, `no Observations for Patient/${patientId}`);
    assert.equal(answer.others, 0, 'the search returned Observations of other patients');
    const granted = answer.scope.split(' ');
    assert.ok(granted.includes('patient/*.rs'), `granted scope: ${answer.scope}`);
    assert.ok(granted.includes('launch/patient'), `granted scope: ${answer.scope}`);
    assert.ok(granted.includes('offline_access'), `granted scope: ${answer.scope}`);
    assert.equal(answer.refreshToken, true, 'offline_access was granted but no refresh token came');
    assert.equal(answer.fhirUser, `Patient/${patientId}`);
  });

  // Verifies: REQ-AUTH-022, REQ-AUTH-042
  test('the launch token cannot read another patient\'s resources (404)', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.equal(clients.length, 1, 'the launch did not complete');
    const token = clients[0].state.tokenResponse.access_token;
    assert.ok(token);

    // Its own data: readable.
    const own = await get(`${server.fhirBase}/Patient/${patientId}`, token);
    assert.equal(own.status, 200, JSON.stringify(own.body));

    // Someone else's: as if it did not exist (the admin token shows that it does).
    for (const ref of [`Patient/${otherPatientId}`, `Observation/${otherObservationId}`]) {
      assert.equal((await get(`${server.fhirBase}/${ref}`, server.token)).status, 200);
      const r = await get(`${server.fhirBase}/${ref}`, token);
      assert.equal(r.status, 404, `${ref}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.resourceType, 'OperationOutcome');
    }
    const search = await get(`${server.fhirBase}/Observation?patient=${otherPatientId}`, token);
    assert.ok(search.status === 200 || search.status === 403 || search.status === 404,
              `search for another patient: ${search.status}`);
    if (search.status === 200) {
      assert.equal(search.body.entry?.length ?? 0, 0);
      assert.ok((search.body.total ?? 0) === 0, `total ${search.body.total}`);
    }
  });
  // The grant is on record as a Consent of the patient (api/app_grants.h). Withdrawing that
  // Consent through the FHIR API revokes the grant before the answer: the app's access token and
  // its refresh token stop working at once.
  // Verifies: REQ-AUTH-021, REQ-AUTH-051
  test('the grant is a Consent; withdrawing it stops the app\'s tokens at once', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.equal(clients.length, 1, 'the launch did not complete');
    const { access_token: token, refresh_token: refresh } = clients[0].state.tokenResponse;
    assert.ok(token && refresh);

    const search = await get(`${server.fhirBase}/Consent?patient=${patientId}`, server.token);
    assert.equal(search.status, 200, JSON.stringify(search.body));
    const grants = (search.body.entry ?? []).map((e) => e.resource)
      .filter((c) => (c.identifier ?? []).some((i) => i.system === 'urn:sund:app-grant'));
    assert.equal(grants.length, 1, `app-grant Consents: ${JSON.stringify(search.body)}`);
    const consent = grants[0];
    assert.equal(consent.status, 'active');
    assert.equal(consent.provision.type, 'permit');
    assert.equal(consent.provision.actor[0].reference.identifier.value, clientId);
    assert.ok(consent.provision.period.start && consent.provision.period.end);
    // The citizen's app sees it too: it is the patient's own record.
    assert.equal((await get(`${server.fhirBase}/Consent/${consent.id}`, token)).status, 200);

    const withdrawn = await rawFetch(`${server.fhirBase}/Consent/${consent.id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${server.token}`,
                 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...consent, status: 'inactive' }),
    });
    assert.equal(withdrawn.status, 200, JSON.stringify(withdrawn.body));

    const after = await get(`${server.fhirBase}/Patient/${patientId}`, token);
    assert.equal(after.status, 401, `the access token still works: ${after.status}`);
    const refreshed = await rawFetch(`${server.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh,
                                  client_id: clientId }).toString(),
    });
    assert.equal(refreshed.status, 400, JSON.stringify(refreshed.body));
    assert.equal(refreshed.body.error, 'invalid_grant');
  });
});
