// End-to-end test of the web portals (web/, issue #10) in Debian's Chromium, driven by
// playwright-core, against a private `sund serve --web-dir DIR`:
//
//  1. a citizen signs in and sees the measurements chart; a third-party app (registered with
//     /oauth2/register, launched in the browser as the same citizen through the consent screen,
//     the code exchanged here) reads their record; in "My apps" the citizen removes it and the
//     app's next request answers 401; the access log shows the app's access;
//  2. a nurse signs in to the monitoring worklist of 20 simulated home-monitored citizens; the
//     test posts deteriorating measurements for the patient at the bottom (/iomt/v1/measurements)
//     and that patient rises to the top without a reload (websocket Subscriptions); the nurse
//     acknowledges the alert on the patient page and its state changes; a patient who blocked
//     the nurse is reached by break-the-glass;
//  3. a developer registers an app in the developer portal (redirect URI /app/launch-callback)
//     and completes a SMART launch with it as the sandbox citizen; the token response is shown;
//  4. axe-core on every page and view (no violation of impact serious or critical), the
//     language switch, and the operator portal;
//  5. a citizen withdraws a Consent, a developer registers a confidential app, a nurse resolves
//     an alert Flag, and the worklist catches up on notifications it missed while its websockets
//     were cut (the test drops them with page.routeWebSocket).
// Every page fails the test on console errors (CSP violations included) and page errors; HTTP
// answers the portals handle (401, 403, 404) are allowed. Screenshots of each step go to
// $SUND_E2E_OUT (default tests/e2e/out/portals/).
//
// The built portals come from $SUND_WEB_DIR (ctest sets it to the build's web/); without it the
// test builds web/ into a temporary folder with its own npm packages (`npm ci` in web/ first).
// Skipped, with the reason, without /usr/bin/chromium, the Synthea data, axe-core or the portals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { rawFetch, startSund, sundBin, syntheaFiles } from './lib/sund.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CHROMIUM = '/usr/bin/chromium';
const OUT = process.env.SUND_E2E_OUT
  ? path.join(path.resolve(process.env.SUND_E2E_OUT), 'portals')
  : path.join(here, 'out', 'portals');
const WEB_SRC = path.resolve(here, '../../web');
const PASSWORD = `Kodeord-${randomBytes(9).toString('base64url')}`;
const SANDBOX = { username: 'sandkasse', password: 'demo-sandkasse' };
const MONITORED = 20;
const NEWS2 = 'http://snomed.info/sct|1104051000000101';

const synthea = syntheaFiles(2);
let axeSource;
try {
  axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
} catch { /* reported below */ }

const skipReason = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (Debian's chromium package, from scripts/install-deps.sh)`
  : synthea.reason
    ?? (axeSource ? undefined : 'axe-core is not installed (npm ci in tests/e2e)')
    ?? webDirProblem();

function webDirProblem() {
  if (process.env.SUND_WEB_DIR) {
    return existsSync(path.join(process.env.SUND_WEB_DIR, 'index.html')) ? undefined
      : `SUND_WEB_DIR=${process.env.SUND_WEB_DIR} holds no built portals (build the web target)`;
  }
  return existsSync(path.join(WEB_SRC, 'node_modules', 'vite')) ? undefined
    : 'SUND_WEB_DIR is not set and web/node_modules is missing (npm ci in web/, or build the web target)';
}

function run(bin, args, { input = '', cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(bin)} ${args.slice(0, 2).join(' ')} failed: ${stderr || stdout}`));
      else resolve(stdout);
    });
    child.stdin.end(input);
  });
}

// The built portals: $SUND_WEB_DIR, or a build of web/ into a temporary folder.
async function webDir() {
  if (process.env.SUND_WEB_DIR) return { dir: path.resolve(process.env.SUND_WEB_DIR), remove: () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'sund-web-'));
  await run('npm', ['run', '--silent', 'build', '--', '--outDir', dir, '--logLevel', 'warn'], { cwd: WEB_SRC });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const pkce = () => {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
};

// One browser page with its console watched: errors and page errors are collected; the HTTP
// statuses the portals handle themselves are kept apart.
async function newPage(browser, { locale = 'da-DK', width = 1280 } = {}) {
  const context = await browser.newContext({ locale, viewport: { width, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/Failed to load resource: the server responded with a status of (401|403|404)\b/.test(m.text())) return;
    problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { context, page, problems };
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: path.join(OUT, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// axe-core in the page: fails on violations of impact serious or critical.
async function axe(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    // Evaluated as a function's body, not a <script> element (the page's CSP forbids inline scripts).
    await page.evaluate(`${axeSource}\n;undefined`);
  }
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe on ${name}: ${JSON.stringify(bad, null, 2)}`);
  return violations;
}

// Sund's login page (Danish): username and password, then back in the portal or app.
async function logIn(page, username, password) {
  await page.getByRole('heading', { name: 'Log ind' }).waitFor();
  await page.getByLabel('Brugernavn').fill(username);
  await page.getByLabel('Adgangskode').fill(password);
  await page.getByRole('button', { name: 'Log ind' }).click();
}

async function signIn(page, base, hash, username, password = PASSWORD) {
  await page.goto(`${base}/app/${hash}`);
  await page.getByRole('button', { name: 'Log ind' }).first().click();
  await logIn(page, username, password);
  await page.waitForURL((u) => u.pathname === '/app/' && !u.search.includes('code='));
}

describe('web portals in Chromium', () => {
  let server;
  let web;
  let browser;
  let citizenPatient;
  let sandboxPatient;
  let practitioner;
  let callback;
  const pages = [];

  const fhir = (p, init = {}) => rawFetch(`${server.fhirBase}/${p}`, {
    ...init,
    headers: { authorization: `Bearer ${server.token}`, accept: 'application/fhir+json',
      'content-type': 'application/fhir+json', ...init.headers },
  });

  before(async () => {
    if (skipReason) return;
    mkdirSync(OUT, { recursive: true });
    web = await webDir();
    server = await startSund({ importFiles: synthea.files, args: ['--web-dir', web.dir] });

    // The two Synthea patients: the one with more vital signs is the citizen of scenario 1.
    const patients = (await fhir('Patient?_count=10&_elements=id')).body.entry.map((e) => e.resource.id);
    assert.equal(patients.length, 2);
    const counts = await Promise.all(patients.map(async (id) =>
      (await fhir(`Observation?patient=${id}&category=vital-signs&_summary=count`)).body.total));
    [citizenPatient, sandboxPatient] = counts[0] >= counts[1] ? patients : [...patients].reverse();
    practitioner = (await fhir('Practitioner?_count=1')).body.entry[0].resource.id;

    const add = (username, role, fhirUser, name, password = PASSWORD) => run(sundBin, [
      'user', 'add', '--data', server.dataDir, '--username', username, '--role', role,
      ...(fhirUser ? ['--fhir-user', fhirUser] : []), '--name', name, '--password-stdin',
    ], { input: `${password}\n` });
    await add('borger-e2e', 'citizen', `Patient/${citizenPatient}`, 'Test Borger');
    await add('sygeplejerske-e2e', 'practitioner', `Practitioner/${practitioner}`, 'Test Sygeplejerske');
    await add('admin-e2e', 'admin', null, 'Test Drift');
    await add('udvikler-e2e', 'developer', null, 'Test Udvikler');
    await add(SANDBOX.username, 'citizen', `Patient/${sandboxPatient}`, 'Sandkasse Borger', SANDBOX.password);

    // Twenty citizens monitored at home, with three hours of measurements each.
    await run(sundBin, ['iomt', 'simulate', '--url', server.baseUrl, '--token', server.token,
      '--patients', String(MONITORED), '--deteriorating', '0', '--rate', '4', '--duration', '3',
      '--speed', '3600', '--seed', '7']);
    // Scoring runs in the background: wait until every monitored citizen has a NEWS2.
    for (let i = 0; ; i++) {
      const b = (await fhir(`Observation?code=${encodeURIComponent(NEWS2)}&_count=1000&_elements=subject`)).body;
      const scored = new Set((b.entry ?? []).map((e) => e.resource.subject?.reference));
      if (scored.size >= MONITORED) break;
      assert.ok(i < 100, `only ${scored.size} of ${MONITORED} monitored citizens were scored`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // A dead letter for the operator portal.
    await rawFetch(`${server.baseUrl}/iomt/v1/measurements`, {
      method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ device: 'e2e-unknown' }),
    });

    // The third-party app's redirect target: a small server on loopback.
    callback = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    await new Promise((r) => callback.listen(0, '127.0.0.1', r));

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await new Promise((r) => (callback ? callback.close(r) : r()));
    await server?.stop();
    web?.remove();
  });

  const track = async (options) => {
    const p = await newPage(browser, options);
    pages.push(p);
    return p;
  };
  const noProblems = (p, step) => assert.deepEqual(p.problems, [], `${step}: ${p.problems.join('\n')}`);

  // Verifies: REQ-WEB-001, REQ-WEB-002, REQ-WEB-003, REQ-WEB-004, REQ-WEB-005
  test('landing page, language switch, and the page is served with its CSP', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const res = await rawFetch(`${server.baseUrl}/app/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.doesNotMatch(res.body, /<script>|<style|style="/, 'inline script or style in index.html');

    const p = await track();
    const { page } = p;
    await page.goto(`${server.baseUrl}/app/`);
    await page.getByRole('heading', { level: 1, name: 'Sund' }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'da');
    await axe(page, 'landing (da)');
    await screenshot(page, 'landing-da');
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.getByRole('link', { name: 'Citizen' }).first().waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await page.reload();
    await page.getByRole('link', { name: 'Citizen' }).first().waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'en', 'the language was not remembered');
    await axe(page, 'landing (en)');
    await screenshot(page, 'landing-en');
    // Narrow screens: nothing wider than the viewport.
    await page.setViewportSize({ width: 375, height: 800 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'wider than 375 px');
    await screenshot(page, 'landing-375');
    noProblems(p, 'landing');
  });

  // Verifies: REQ-WEB-003, REQ-WEB-004, REQ-WEB-005, REQ-WEB-006, REQ-WEB-007, REQ-WEB-008
  // Verifies: REQ-WEB-009, REQ-WEB-010
  test('citizen: chart, an app launched and removed, the access log', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/citizen', 'borger-e2e');
    await page.locator('#timeline[data-ready="true"]').waitFor({ timeout: 15_000 });
    t.diagnostic(`timeline rendered ${await page.getAttribute('#timeline', 'data-render-ms')} ms after its view mounted`);
    const chart = page.locator('figure.chart').first();
    assert.match(await chart.locator('figcaption').innerText(), /målinger fra/);
    assert.equal(await chart.locator('canvas').count() > 0, true, 'no chart canvas');
    await axe(page, 'citizen timeline');
    await screenshot(page, 'citizen-timeline');

    // A third-party app, registered the RFC 7591 way and launched as this citizen.
    const redirectUri = `http://127.0.0.1:${callback.address().port}/callback`;
    const scope = 'launch/patient openid fhirUser patient/*.rs';
    const reg = await rawFetch(`${server.baseUrl}/oauth2/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'E2E Sundhedsapp', redirect_uris: [redirectUri],
        token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope }),
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const clientId = reg.body.client_id;
    const { verifier, challenge } = pkce();
    const state = b64url(randomBytes(12));
    const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri,
      scope, state, aud: server.fhirBase, code_challenge: challenge, code_challenge_method: 'S256' });
    await page.goto(`${server.baseUrl}/oauth2/authorize?${q}`);
    if (await page.getByRole('heading', { name: 'Log ind' }).isVisible()) await logIn(page, 'borger-e2e', PASSWORD);
    await page.getByRole('heading', { name: 'E2E Sundhedsapp beder om adgang' }).waitFor();
    await screenshot(page, 'citizen-app-consent');
    const [back] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(redirectUri)),
      page.getByRole('button', { name: 'Giv adgang' }).click(),
    ]);
    const returned = new URL(back.url());
    assert.equal(returned.searchParams.get('state'), state);
    const tokenRes = await rawFetch(`${server.baseUrl}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: returned.searchParams.get('code'),
        redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }).toString(),
    });
    assert.equal(tokenRes.status, 200, JSON.stringify(tokenRes.body));
    const appToken = tokenRes.body.access_token;
    const appRead = () => rawFetch(`${server.fhirBase}/Patient/${citizenPatient}`,
      { headers: { authorization: `Bearer ${appToken}`, accept: 'application/fhir+json' } });
    assert.equal((await appRead()).status, 200, 'the app\'s token does not work');

    // "My apps": the citizen removes it.
    await page.goto(`${server.baseUrl}/app/#/citizen/apps`);
    const item = page.locator('ul.items > li', { has: page.getByRole('heading', { name: 'E2E Sundhedsapp' }) });
    await item.waitFor();
    await axe(page, 'citizen apps');
    await screenshot(page, 'citizen-apps');
    await item.getByRole('button', { name: /^Fjern adgang/ }).click();
    await item.getByRole('group').getByRole('button', { name: /^Fjern adgang/ }).click();
    await item.getByText('Trukket tilbage').waitFor();
    await screenshot(page, 'citizen-app-removed');
    const refused = await appRead();
    assert.equal(refused.status, 401, `the removed app still reads: ${refused.status}`);

    // The access log shows the app's access.
    await page.goto(`${server.baseUrl}/app/#/citizen/log`);
    await page.locator('table.log tbody tr').first().waitFor();
    await page.getByText('via E2E Sundhedsapp').first().waitFor();
    await axe(page, 'citizen log');
    await screenshot(page, 'citizen-log');

    for (const view of ['consents', 'download']) {
      await page.goto(`${server.baseUrl}/app/#/citizen/${view}`);
      await page.locator(`#${view}-h`).waitFor();
      if (view === 'download') {
        await page.getByRole('button', { name: 'Hent mine data' }).click();
        const link = page.getByRole('link', { name: /^Gem filen/ });
        await link.waitFor();
        assert.ok(await link.getAttribute('download'));
      } else {
        await page.locator('p.status').waitFor({ state: 'detached' }).catch(() => {});
      }
      await axe(page, `citizen ${view}`);
      await screenshot(page, `citizen-${view}`);
    }
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${server.baseUrl}/app/#/citizen/timeline`);
    await page.locator('#timeline[data-ready="true"]').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'wider than 375 px');
    await axe(page, 'citizen timeline at 375 px');
    await screenshot(page, 'citizen-timeline-375');
    noProblems(p, 'citizen');
  });

  // Tokens are kept for the tab only; signing out forgets them and ends the login session, so
  // the next sign-in goes through the password form again (signIn waits for it).
  // Verifies: REQ-WEB-019, REQ-WEB-020
  test('citizen: the token lives in sessionStorage only, and signing out forgets it', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/citizen', 'borger-e2e');
    await page.locator('#timeline[data-ready="true"]').waitFor({ timeout: 15_000 });
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('sund.session.citizen'),
      local: Object.keys(localStorage).map((k) => `${k}=${localStorage.getItem(k)}`).join('\n'),
    }));
    assert.ok(stored.session, 'no citizen session in sessionStorage');
    const { accessToken } = JSON.parse(stored.session);
    assert.ok(accessToken, 'the stored session holds no access token');
    assert.ok(!stored.local.includes(accessToken), 'the access token is in localStorage');

    await page.getByRole('button', { name: 'Log ud' }).click();
    await page.waitForURL((u) => u.pathname === '/app/' && u.hash === '');
    await page.getByRole('heading', { level: 1, name: 'Sund' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('sund.session.citizen')), null);
    await signIn(page, server.baseUrl, '#/citizen', 'borger-e2e');
    await page.locator('#timeline[data-ready="true"]').waitFor({ timeout: 15_000 });
    noProblems(p, 'sign-out');
  });

  // Verifies: REQ-WEB-004, REQ-WEB-005, REQ-WEB-006, REQ-WEB-011, REQ-WEB-012, REQ-WEB-013
  // Verifies: REQ-WEB-014
  test('nurse: the worklist follows a deteriorating patient live; the alert is acknowledged', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/clinician', 'sygeplejerske-e2e');
    const rows = page.locator('table.worklist tbody tr');
    await rows.nth(MONITORED - 1).waitFor({ timeout: 20_000 });
    assert.equal(await rows.count(), MONITORED);
    await page.getByText('Live-opdateringer er slået til').waitFor({ timeout: 20_000 });
    await axe(page, 'worklist');
    await screenshot(page, 'worklist');

    const bottom = await rows.last().getAttribute('data-patient');
    assert.match(bottom, /^sim-p-\d+$/);
    assert.notEqual(await rows.first().getAttribute('data-patient'), bottom);
    const device = bottom.replace('sim-p-', 'sim-hub-');
    const measured = await rawFetch(`${server.baseUrl}/iomt/v1/measurements`, {
      method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ device, time: new Date().toISOString(), measurements: [
        { code: { system: 'sund', code: 'respiration-rate' }, value: 31, unit: '/min' },
        { code: { system: 'sund', code: 'spo2' }, value: 86, unit: '%' },
        { code: { system: 'sund', code: 'systolic-pressure' }, value: 86, unit: 'mm[Hg]' },
        { code: { system: 'sund', code: 'diastolic-pressure' }, value: 50, unit: 'mm[Hg]' },
        { code: { system: 'sund', code: 'heart-rate' }, value: 138, unit: '/min' },
        { code: { system: 'sund', code: 'body-temperature' }, value: 34.6, unit: 'Cel' },
      ] }),
    });
    assert.equal(measured.status, 200, JSON.stringify(measured.body));
    assert.equal(measured.body.accepted, 6, JSON.stringify(measured.body));
    const started = Date.now();
    await page.waitForFunction((id) => document.querySelector('table.worklist tbody tr')?.dataset.patient === id,
      bottom, { timeout: 20_000 });
    t.diagnostic(`${bottom} rose to the top ${Date.now() - started} ms after the POST, without a reload`);
    const top = rows.first();
    await top.locator('td[data-alert="unacknowledged"]').waitFor();
    assert.match(await top.innerText(), /høj risiko/);
    const name = (await top.locator('th').innerText()).trim();
    await page.waitForFunction((n) => document.querySelector('[aria-live="polite"].visually-hidden')
      ?.textContent?.includes(n), name, { timeout: 5_000 });
    t.diagnostic(`announced: ${await page.locator('[aria-live="polite"].visually-hidden').innerText()}`);
    await screenshot(page, 'worklist-risen');

    // The patient page: charts, the alert acknowledged.
    await top.getByRole('link').click();
    await page.locator('#news2-chart-caption').waitFor();
    const alertRow = page.locator('table.alerts tbody tr').first();
    await alertRow.locator('td[data-state="unacknowledged"]').waitFor();
    await axe(page, 'patient page');
    await screenshot(page, 'patient');
    await alertRow.getByRole('button', { name: /^Kvittér/ }).click();
    await alertRow.locator('td[data-state="acknowledged"]').waitFor();
    const comms = (await fhir(`Communication?subject=${encodeURIComponent(`Patient/${bottom}`)}&category=alert`)).body;
    const done = (comms.entry ?? []).map((e) => e.resource).filter((c) => c.status === 'completed');
    assert.equal(done.length, 1, JSON.stringify(comms));
    assert.ok(done[0].received, 'acknowledged without received');
    await screenshot(page, 'patient-acknowledged');
    await page.getByRole('link', { name: 'Tilbage til oversigten' }).click();
    await page.locator(`tr[data-patient="${bottom}"] td[data-alert="acknowledged"]`).waitFor({ timeout: 15_000 });
    await screenshot(page, 'worklist-acknowledged');

    // Break-the-glass: the sandbox citizen blocks this nurse; the page offers emergency access.
    const blocked = await fhir('Consent/e2e-block-nurse', { method: 'PUT', body: JSON.stringify({
      resourceType: 'Consent', id: 'e2e-block-nurse', status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${sandboxPatient}` },
      provision: { type: 'deny', actor: [{ reference: { reference: `Practitioner/${practitioner}` } }] },
    }) });
    assert.ok(blocked.status === 200 || blocked.status === 201, JSON.stringify(blocked.body));
    await page.goto(`${server.baseUrl}/app/#/clinician/patient/${sandboxPatient}`);
    await page.getByLabel('Begrundelse (påkrævet)').waitFor();
    await axe(page, 'emergency access form');
    await page.getByRole('button', { name: 'Brug nødadgang' }).click();
    await page.getByText('Skriv en begrundelse.').waitFor();
    await page.getByLabel('Begrundelse (påkrævet)').fill('Bevidstløs ved indlæggelse');
    await page.getByRole('button', { name: 'Brug nødadgang' }).click();
    await page.locator('.banner-emergency').waitFor();
    await page.locator('#news2-chart-caption').waitFor();
    assert.match(await page.locator('h1').innerText(), /Patient: /);
    await axe(page, 'patient under emergency access');
    await screenshot(page, 'patient-emergency');
    const log = (await fhir(`AuditEvent?patient=${encodeURIComponent(`Patient/${sandboxPatient}`)}&_count=20`)).body;
    assert.ok((log.entry ?? []).some((e) => (e.resource.purposeOfEvent ?? [])
      .some((p) => (p.coding ?? []).some((c) => c.code === 'ETREAT'))), 'no ETREAT in the patient\'s log');
    noProblems(p, 'nurse');
  });

  // Verifies: REQ-WEB-004, REQ-WEB-005, REQ-WEB-006, REQ-WEB-015, REQ-WEB-016, REQ-WEB-017
  test('developer: an app registered in the portal, a SMART launch as the sandbox citizen', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/developer', 'udvikler-e2e');
    await page.getByRole('heading', { level: 1, name: 'Udviklerportal' }).waitFor();
    assert.equal(await page.getByLabel('Redirect-URI\'er (én pr. linje)').inputValue(),
      `${server.baseUrl}/app/launch-callback`);
    await page.getByLabel('Appens navn').fill('E2E Udviklerapp');
    await page.getByRole('button', { name: 'Registrér' }).click();
    const clientId = await page.locator('[data-client-id]').innerText();
    assert.ok(clientId.length > 8, clientId);
    await axe(page, 'developer register');
    await screenshot(page, 'developer-registered');

    await page.getByRole('link', { name: 'Prøv SMART-opstart' }).click();
    await axe(page, 'developer launch');
    await page.getByRole('button', { name: 'Start SMART-opstart med E2E Udviklerapp' }).click();
    await logIn(page, SANDBOX.username, SANDBOX.password);
    await page.getByRole('heading', { name: 'E2E Udviklerapp beder om adgang' }).waitFor();
    await screenshot(page, 'developer-consent');
    await page.getByRole('button', { name: 'Giv adgang' }).click();
    await page.locator('#token-response').waitFor();
    assert.equal(new URL(page.url()).pathname, '/app/');
    assert.equal(await page.locator('[data-patient]').innerText(), sandboxPatient);
    assert.match(await page.locator('[data-scope]').innerText(), /patient\/\*\.rs/);
    await page.locator('#sandbox-patient-h + pre').waitFor();
    assert.match(await page.locator('#sandbox-patient-h + pre').innerText(), new RegExp(sandboxPatient));
    await axe(page, 'developer launch result');
    await screenshot(page, 'developer-launched');

    await page.getByRole('link', { name: 'API-dokumentation' }).click();
    for (const button of await page.getByRole('button', { name: /^Kør/ }).all()) await button.click();
    await page.locator('[data-status]').nth(5).waitFor();
    const statuses = await page.locator('[data-status]').allInnerTexts();
    assert.deepEqual(statuses.slice(0, 4), ['200', '200', '200', '200'], statuses.join(' '));
    await axe(page, 'developer docs');
    await screenshot(page, 'developer-docs');
    noProblems(p, 'developer');
  });

  // Verifies: REQ-WEB-004, REQ-WEB-005, REQ-WEB-006, REQ-WEB-018
  test('operator: health, metrics, checkpoints and rejected messages', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/operator', 'admin-e2e');
    await page.locator('[data-health="healthz"]').getByText('OK').waitFor();
    await page.getByText('malformed').first().waitFor({ timeout: 15_000 });
    await page.getByRole('heading', { name: 'Auditlogens kontrolpunkter' }).waitFor();
    await axe(page, 'operator');
    await screenshot(page, 'operator');
    noProblems(p, 'operator');
  });

  // The citizen's own choice (not an app grant), withdrawn after the confirmation: the page
  // shows it withdrawn without its actions, and the server holds it as inactive.
  // Verifies: REQ-WEB-021
  test('citizen: a consent withdrawn in "My consents" is stored as inactive', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const put = await fhir('Consent/e2e-withdraw', { method: 'PUT', body: JSON.stringify({
      resourceType: 'Consent', id: 'e2e-withdraw', status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${citizenPatient}` },
      provision: { type: 'deny', actor: [{ reference: { reference: `Practitioner/${practitioner}` } }],
        class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation', display: 'E2E testsamtykke' }] },
    }) });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/citizen', 'borger-e2e');
    // The portal settles on its landing view after the sign-in first; a view asked for sooner
    // can be replaced by it.
    await page.locator('#timeline[data-ready="true"]').waitFor({ timeout: 15_000 });
    await page.goto(`${server.baseUrl}/app/#/citizen/consents`);
    await page.locator('#consents-h').waitFor();
    const item = page.locator('ul.items > li', { hasText: 'E2E testsamtykke' });
    await item.getByRole('heading', { name: 'Afviser · Aktiv' }).waitFor();
    await item.getByRole('button', { name: 'Træk tilbage' }).click();
    await item.getByRole('group', { name: 'Vil du trække dette samtykke tilbage?' })
      .getByRole('button', { name: 'Træk tilbage' }).click();
    await item.getByRole('heading', { name: 'Afviser · Trukket tilbage' }).waitFor();
    assert.equal(await item.getByRole('button').count(), 0, 'a withdrawn consent still offers actions');
    await page.waitForFunction(() => document.querySelector('[aria-live="polite"].visually-hidden')
      ?.textContent?.includes('Samtykket er trukket tilbage.'), null, { timeout: 5_000 });
    await screenshot(page, 'citizen-consent-withdrawn');
    const stored = await fhir('Consent/e2e-withdraw');
    assert.equal(stored.status, 200);
    assert.equal(stored.body.status, 'inactive', JSON.stringify(stored.body));
    noProblems(p, 'consent withdrawal');
  });

  // A confidential app's secret is shown once and kept nowhere in the browser; the token
  // endpoint then knows the app as one that must authenticate with that very secret (a code
  // that does not exist is refused as invalid_grant only once the client is authenticated).
  // Verifies: REQ-WEB-022
  test('developer: a confidential app gets its client secret once, and the server requires it', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    await page.goto(`${server.baseUrl}/app/#/developer`);
    await page.getByRole('heading', { level: 1, name: 'Udviklerportal' }).waitFor();
    await page.getByLabel('Appens navn').fill('E2E Fortrolig app');
    await page.getByRole('radio', { name: 'Fortrolig med klienthemmelighed (client_secret_basic)' }).check();
    await page.getByRole('button', { name: 'Registrér' }).click();
    const result = page.locator('#registration-result');
    await result.getByText('Klienthemmelighed: vises kun denne ene gang.').waitFor();
    const clientId = await result.locator('[data-client-id]').innerText();
    const secret = (await result.locator('.secret code').innerText()).trim();
    assert.ok(clientId.length > 8, clientId);
    assert.ok(secret.length >= 20, 'no client secret shown');
    const listed = page.locator('ul.items > li', { has: page.getByRole('heading', { name: 'E2E Fortrolig app' }) });
    assert.match(await listed.innerText(), /client_secret_basic/);
    const kept = await page.evaluate(() => localStorage.getItem('sund.dev.apps') ?? '');
    assert.ok(kept.includes(clientId), 'the app is not remembered in this browser');
    assert.ok(!kept.includes(secret), 'the client secret is kept in localStorage');
    await axe(page, 'developer confidential app');
    await screenshot(page, 'developer-confidential');

    const exchange = (headers, form = {}) => rawFetch(`${server.baseUrl}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'e2e-ingen-kode',
        redirect_uri: `${server.baseUrl}/app/launch-callback`, ...form }).toString(),
    });
    const basic = (s) => ({ authorization: `Basic ${Buffer.from(
      `${encodeURIComponent(clientId)}:${encodeURIComponent(s)}`).toString('base64')}` });
    const bare = await exchange({}, { client_id: clientId });
    assert.equal(bare.status, 401, JSON.stringify(bare.body));
    assert.equal(bare.body.error, 'invalid_client');
    const wrong = await exchange(basic(`${secret}x`));
    assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
    assert.equal(wrong.body.error, 'invalid_client');
    const right = await exchange(basic(secret));
    assert.equal(right.status, 400, JSON.stringify(right.body));
    assert.equal(right.body.error, 'invalid_grant');
    noProblems(p, 'confidential registration');
  });

  // Resolving an alert on the patient page: its Flag becomes inactive with an end time.
  // Verifies: REQ-WEB-023
  test('nurse: resolving an alert makes its Flag inactive', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // A simulated citizen monitored at home (the test's Flag is told apart by its id). Not the
    // sandbox citizen: an earlier test leaves a Consent that blocks this nurse from their page.
    const use = ((await fhir('DeviceUseStatement?_count=50')).body.entry ?? [])
      .map((e) => e.resource)
      .find((r) => r?.resourceType === 'DeviceUseStatement' &&
        /^Patient\/sim-p-\d+$/.test(r.subject?.reference ?? ''));
    assert.ok(use?.subject?.reference, 'no simulated citizen with a DeviceUseStatement');
    const patient = use.subject.reference.split('/').pop();
    const start = new Date().toISOString();
    const put = await fhir('Flag/e2e-flag-resolve', { method: 'PUT', body: JSON.stringify({
      resourceType: 'Flag', id: 'e2e-flag-resolve', status: 'active',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] }],
      code: { coding: [{ system: 'urn:sund:news2-escalation', code: 'medium' }], text: 'E2E testalarm' },
      subject: { reference: `Patient/${patient}` },
      period: { start },
    }) });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const p = await track();
    const { page } = p;
    await signIn(page, server.baseUrl, '#/clinician', 'sygeplejerske-e2e');
    await page.locator('table.worklist tbody tr').nth(MONITORED - 1).waitFor({ timeout: 20_000 });
    await page.goto(`${server.baseUrl}/app/#/clinician/patient/${patient}`);
    const row = page.locator('table.alerts tr[data-flag="e2e-flag-resolve"]');
    await row.waitFor({ timeout: 15_000 });
    assert.match(await row.innerText(), /E2E testalarm/);
    assert.match(await row.locator('td[data-state]').innerText(), /Aktiv/);
    await row.getByRole('button', { name: /^Afslut alarm/ }).click();
    await row.locator('td[data-state]', { hasText: 'Afsluttet' }).waitFor();
    assert.equal(await row.getByRole('button', { name: /^Afslut alarm/ }).count(), 0);
    await page.waitForFunction(() => document.querySelector('[aria-live="polite"].visually-hidden')
      ?.textContent?.includes('Alarmen er afsluttet.'), null, { timeout: 5_000 });
    await screenshot(page, 'patient-alert-resolved');
    const flag = (await fhir('Flag/e2e-flag-resolve')).body;
    assert.equal(flag.status, 'inactive', JSON.stringify(flag));
    assert.ok(flag.period?.end, 'resolved without period.end');
    assert.ok(Date.parse(flag.period.end) >= Date.parse(flag.period.start), JSON.stringify(flag.period));
    noProblems(p, 'resolve');
  });

  // Notifications missed while the live connection is down: the test drops everything the server
  // sends on the worklist's websockets, raises an alert for the patient at the bottom, then cuts
  // the sockets; the worklist reconnects and catches up on the scores and alerts written since.
  // (The 30-second poll, the other way to catch up, is far off: the test takes a few seconds.)
  // Verifies: REQ-WEB-024
  test('nurse: after its websockets drop, the worklist catches up on what it missed', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const p = await track();
    const { page } = p;
    const sockets = [];
    await page.routeWebSocket(/\/fhir\/\$subscription-ws$/, (ws) => {
      const socket = { ws, upstream: ws.connectToServer(), drop: false };
      socket.upstream.onMessage((m) => { if (!socket.drop) ws.send(m); });
      sockets.push(socket);
    });
    await signIn(page, server.baseUrl, '#/clinician', 'sygeplejerske-e2e');
    const rows = page.locator('table.worklist tbody tr');
    await rows.nth(MONITORED - 1).waitFor({ timeout: 20_000 });
    await page.getByText('Live-opdateringer er slået til').waitFor({ timeout: 20_000 });
    assert.ok(sockets.length >= 2, `${sockets.length} websockets, one per topic expected`);

    const patient = await rows.last().getAttribute('data-patient');
    assert.match(patient, /^sim-p-\d+$/);
    const row = page.locator(`table.worklist tr[data-patient="${patient}"]`);
    const alertState = () => row.locator('td[data-alert]').getAttribute('data-alert');
    assert.notEqual(await alertState(), 'unacknowledged');
    const activeFlags = async () => {
      const b = (await fhir(`Flag?patient=${encodeURIComponent(patient)}&status=active&_count=100`)).body;
      return (b.entry ?? []).filter((e) => e.resource?.resourceType === 'Flag').length;
    };
    const before = await activeFlags();

    for (const s of sockets) s.drop = true;
    const measured = await rawFetch(`${server.baseUrl}/iomt/v1/measurements`, {
      method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ device: patient.replace('sim-p-', 'sim-hub-'), time: new Date().toISOString(),
        measurements: [
          { code: { system: 'sund', code: 'respiration-rate' }, value: 31, unit: '/min' },
          { code: { system: 'sund', code: 'spo2' }, value: 86, unit: '%' },
          { code: { system: 'sund', code: 'systolic-pressure' }, value: 86, unit: 'mm[Hg]' },
          { code: { system: 'sund', code: 'diastolic-pressure' }, value: 50, unit: 'mm[Hg]' },
          { code: { system: 'sund', code: 'heart-rate' }, value: 138, unit: '/min' },
          { code: { system: 'sund', code: 'body-temperature' }, value: 34.6, unit: 'Cel' },
        ] }),
    });
    assert.equal(measured.status, 200, JSON.stringify(measured.body));
    // Scoring runs in the background: wait for the alert it raises.
    for (let i = 0; (await activeFlags()) <= before; i++) {
      assert.ok(i < 100, 'no alert was raised for the measurements');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.notEqual(await alertState(), 'unacknowledged', 'a dropped notification reached the worklist');

    const cut = sockets.splice(0);
    for (const s of cut) {
      await s.upstream.close();
      await s.ws.close();
    }
    const started = Date.now();
    await page.getByText('Live-opdateringer er afbrudt').waitFor({ timeout: 5_000 });
    await row.locator('td[data-alert="unacknowledged"]').waitFor({ timeout: 15_000 });
    t.diagnostic(`${patient}'s alert shown ${Date.now() - started} ms after the websockets were cut`);
    assert.match(await row.innerText(), /høj risiko/);
    await page.getByText('Live-opdateringer er slået til').waitFor({ timeout: 15_000 });
    assert.ok(sockets.length >= 2, 'the worklist did not reconnect');
    await screenshot(page, 'worklist-caught-up');
    noProblems(p, 'catch-up');

    // Acknowledged here, so that this patient's open alert does not change the worklist's order
    // for a test that runs after this one.
    const open = (await fhir(`Communication?subject=${encodeURIComponent(`Patient/${patient}`)}`
      + '&category=alert&status=in-progress&_count=100')).body;
    for (const c of (open.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === 'Communication')) {
      const done = await fhir(`Communication/${c.id}`, { method: 'PUT',
        body: JSON.stringify({ ...c, status: 'completed', received: new Date().toISOString() }) });
      assert.equal(done.status, 200, JSON.stringify(done.body));
    }
  });
});
