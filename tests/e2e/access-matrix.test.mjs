// The access-control matrix (issue #11): every role against every endpoint `sund serve` answers,
// each cell a real HTTP request to a real server in secure mode (no --insecure-dev).
//
// The endpoints come from `sund endpoints --json`, the union of the modules' dispatch
// catalogues (src/http/endpoint.h). The expectations are in access-matrix.json: its `roles`
// name the columns, and each row (one catalogue entry, "method path") gives the request to send
// (placeholders below) and one outcome per role:
//   "allow"  2xx or 3xx
//   "deny"   401 or 403
//   "empty"  200, but the Bundle's entries hold none of patient A's data (searches and history
//            restricted in SQL)
//   "active" / "inactive"  200 with an RFC 7662 introspection answer whose `active` is true /
//            false (a caller that may not introspect a token is told it is inactive)
//   a number that exact status: 401 (no or invalid token), 403 (scope or policy refuses), 404
//            (the API answers a resource the caller may not see as unknown, so as not to reveal
//            that it exists; also "past the gate, no such job"), 400 (past the gate, and the
//            bogus content is what is refused), 426 (the websocket needs an Upgrade)
// A row's `why` says why its outcomes are what they are; `cases` are more requests for the same
// endpoint (conditional create, registration with system/ scopes). `fresh`: each cell gets an
// Observation of its own (writes that would change what other cells see). `knownBugs` names the
// cells where the server is known to answer otherwise than expected (the outcome in `expect` is
// the right one): they are printed, not failed, until the bug is fixed, and then the test fails
// until the entry is removed (tests/e2e/README.md, "Conventions", for a whole test).
//
// The test first asserts that the catalogue and the rows are the same set, so an endpoint
// added to a dispatch table without a row here fails it; then it runs every cell and prints the
// table of the cells that did not match.
//
// Roles: anonymous (no token); citizen (patient A's token, the citizen portal's scopes); other
// citizen (patient B's, on A's data); practitioner (user/ scopes of the clinician portal);
// blocked practitioner (the same, but A's Consent denies them); apps with one scope each
// (patient/Observation.read, launch/patient, offline_access, sund/synth); system (a backend
// service's system/*.rs token from client_credentials with a client secret; the bootstrap
// system/*.cruds token); administrator (user/*.cruds without a fhirUser, as the operator portal
// gets it). Tokens are minted offline with `sund token` except the backend's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { rawFetch, startSund, sundBin } from './lib/sund.mjs';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const matrix = JSON.parse(readFileSync(path.join(here, 'access-matrix.json'), 'utf8'));
const CONCURRENCY = 8;

const key = (e) => `${e.method} ${e.path}`;

let sund;
let webDir;
const ids = {};      // placeholder -> value
const tokens = {};   // role -> bearer token (none for anonymous)

async function admin(method, url, body) {
  const r = await rawFetch(`${sund.fhirBase}${url}`, {
    method,
    headers: { authorization: `Bearer ${sund.token}`, 'content-type': 'application/fhir+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

function observationOf(patient, identifier) {
  return {
    resourceType: 'Observation', status: 'final',
    identifier: [{ system: 'urn:matrix', value: identifier }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/${patient}` },
    valueQuantity: { value: 61, unit: '/min' },
  };
}

before(async () => {
  // The portals: a one-page site is enough to see who may fetch it.
  webDir = mkdtempSync(path.join(tmpdir(), 'sund-matrix-web-'));
  writeFileSync(path.join(webDir, 'index.html'), '<!doctype html><title>matrix</title>');
  sund = await startSund({ args: ['--web-dir', webDir] });
  ids.origin = sund.baseUrl;
  ids.fhirBase = sund.fhirBase;

  ids.A = (await admin('POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Aasen' }] })).id;
  ids.B = (await admin('POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Bech' }] })).id;
  ids.P1 = (await admin('POST', '/Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Lund' }] })).id;
  ids.P2 = (await admin('POST', '/Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Holm' }] })).id;
  ids.obsA = (await admin('POST', '/Observation', observationOf(ids.A, `a-${randomUUID()}`))).id;
  ids.obsB = (await admin('POST', '/Observation', observationOf(ids.B, `b-${randomUUID()}`))).id;
  ids.group = (await admin('POST', '/Group', {
    resourceType: 'Group', type: 'person', actual: true,
    member: [{ entity: { reference: `Patient/${ids.A}` } }],
  })).id;
  // Patient A blocks the second practitioner.
  await admin('PUT', '/Consent/matrix-block-p2', {
    resourceType: 'Consent', id: 'matrix-block-p2', status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${ids.A}` },
    provision: { type: 'deny', actor: [{ reference: { reference: `Practitioner/${ids.P2}` } }] },
  });

  const citizenScope = 'launch/patient patient/*.rs patient/Consent.u';
  const clinicianScope = 'user/*.rs user/Flag.u user/Communication.u user/Subscription.c';
  const minted = await Promise.all([
    sund.mint(['--patient', ids.A, '--scope', citizenScope]),
    sund.mint(['--patient', ids.B, '--scope', citizenScope]),
    sund.mint(['--user', `Practitioner/${ids.P1}`, '--scope', clinicianScope]),
    sund.mint(['--user', `Practitioner/${ids.P2}`, '--scope', clinicianScope]),
    sund.mint(['--patient', ids.A, '--scope', 'patient/Observation.read']),
    sund.mint(['--patient', ids.A, '--scope', 'launch/patient']),
    sund.mint(['--patient', ids.A, '--scope', 'offline_access']),
    sund.mint(['--system', '--scope', 'sund/synth']),
    sund.mint(['--system', '--scope', 'user/*.cruds']),
  ]);
  [tokens.citizen, tokens.other_citizen, tokens.practitioner, tokens.blocked_practitioner,
   tokens.app_observation_read, tokens.app_launch_patient, tokens.app_offline_access,
   tokens.app_synth, tokens.administrator] = minted;
  tokens.system_all = sund.token;
  ids.citizenToken = tokens.citizen;

  // A backend service with a client secret gets its token from the token endpoint.
  const { stdout } = await run(sundBin, [
    'app', 'register', '--data', sund.dataDir, '--backend', '--auth', 'client_secret_basic',
    '--scope', 'system/*.rs', '--name', 'Matrix backend',
  ]);
  const backend = JSON.parse(stdout);
  ids.confidentialClient = backend.client_id;
  const basic = Buffer.from(`${backend.client_id}:${backend.client_secret}`).toString('base64');
  const t = await rawFetch(`${sund.baseUrl}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs' }).toString(),
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  tokens.system_read = t.body.access_token;
  for (const role of matrix.roles) {
    if (role !== 'anonymous') assert.ok(tokens[role], `no token for ${role}`);
  }
});

after(async () => {
  await sund?.stop();
  if (webDir) rmSync(webDir, { recursive: true, force: true });
});

// `text` with its {placeholders} filled from `vars`.
function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (m, name) => {
    if (!(name in vars)) throw new Error(`unknown placeholder ${m} in ${text}`);
    return vars[name];
  });
}

// Fills placeholders throughout a request description (strings inside JSON bodies too).
function fillDeep(value, vars) {
  if (typeof value === 'string') {
    const whole = /^\{(\w+)\}$/.exec(value);
    if (whole && typeof vars[whole[1]] === 'object') return vars[whole[1]];
    return fill(value, vars);
  }
  if (Array.isArray(value)) return value.map((v) => fillDeep(v, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillDeep(v, vars)]));
  }
  return value;
}

// One cell: the request of `spec` for `endpoint` as `role`. Resolves to { status, text }.
async function send(endpoint, spec, role) {
  const vars = { ...ids, uid: randomUUID() };
  vars.newObservationOfA = observationOf(ids.A, vars.uid);
  if (spec.fresh) {
    vars.fresh = (await admin('POST', '/Observation', observationOf(ids.A, `f-${vars.uid}`))).id;
    vars.freshObservation = { ...observationOf(ids.A, `f-${vars.uid}`), id: vars.fresh };
  }
  const req = fillDeep(spec.request ?? {}, vars);
  const headers = { accept: 'application/fhir+json, application/json, text/html', ...req.headers };
  if (tokens[role]) headers.authorization = `Bearer ${tokens[role]}`;
  let body;
  if (req.json !== undefined) {
    headers['content-type'] ??= 'application/fhir+json';
    body = JSON.stringify(req.json);
  } else if (req.form !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    body = new URLSearchParams(req.form).toString();
  } else if (req.patch !== undefined) {
    headers['content-type'] = 'application/json-patch+json';
    body = JSON.stringify(req.patch);
  }
  const url = `${sund.baseUrl}${req.path ?? endpoint.path}`;
  const res = await fetch(url, { method: endpoint.method, headers, body, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, text, request: `${endpoint.method} ${req.path ?? endpoint.path}` };
}

function matches(outcome, { status, text }) {
  if (outcome === 'allow') return status >= 200 && status < 400;
  if (outcome === 'deny') return status === 401 || status === 403;
  if (outcome === 'active' || outcome === 'inactive') {
    if (status !== 200) return false;
    try { return JSON.parse(text).active === (outcome === 'active'); } catch { return false; }
  }
  if (outcome === 'empty') {
    if (status !== 200) return false;
    let entries;
    try { entries = JSON.stringify(JSON.parse(text).entry ?? []); } catch { return false; }
    return !entries.includes(ids.obsA) && !entries.includes(`Patient/${ids.A}`);
  }
  return status === outcome;
}

describe('access matrix: every role against every endpoint', () => {
  let catalogue;

  // Verifies: REQ-AUTH-005
  test('every endpoint of `sund endpoints` has a row, and every row an endpoint', async () => {
    const { stdout } = await run(sundBin, ['endpoints', '--json']);
    catalogue = JSON.parse(stdout);
    assert.ok(catalogue.length > 0, 'sund endpoints listed nothing');
    const listed = catalogue.map(key);
    assert.equal(new Set(listed).size, listed.length, 'the catalogue lists an endpoint twice');
    const rows = matrix.rows.map(key);
    assert.equal(new Set(rows).size, rows.length, 'the matrix has a row twice');
    const missing = listed.filter((k) => !rows.includes(k));
    const stale = rows.filter((k) => !listed.includes(k));
    assert.deepEqual({ missing, stale }, { missing: [], stale: [] },
                     'missing: endpoints without a row in access-matrix.json (add one with the ' +
                     'expected outcome for every role); stale: rows of endpoints no longer served');
    for (const row of matrix.rows) {
      for (const spec of [row, ...(row.cases ?? [])]) {
        assert.equal(spec.expect.length, matrix.roles.length,
                     `${key(row)}${spec.name ? ` (${spec.name})` : ''}: one outcome per role`);
      }
    }
  });

  // Verifies: REQ-AUTH-014, REQ-AUTH-015, REQ-AUTH-025, REQ-AUTH-041, REQ-AUTH-054, REQ-AUTH-057
  // Verifies: REQ-AUTH-110
  test('every cell answers as expected', async () => {
    const cells = [];
    for (const row of matrix.rows) {
      for (const spec of [row, ...(row.cases ?? [])]) {
        const request = { ...(row.request ?? {}), ...(spec === row ? {} : spec.request) };
        matrix.roles.forEach((role, i) => {
          cells.push({ row, spec: { ...spec, request, fresh: row.fresh }, role,
                       expect: spec.expect[i] });
        });
      }
    }
    const failures = [];
    const known = [];
    const fixed = [];
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < cells.length) {
        const cell = cells[next++];
        let got;
        try {
          got = await send(cell.row, cell.spec, cell.role);
        } catch (e) {
          got = { status: `error: ${e.message}`, text: '', request: key(cell.row) };
        }
        const bug = cell.row.knownBugs?.[cell.role];
        if (bug !== undefined) {
          // A known server bug: reported, not failed; a fix makes its entry stale.
          if (matches(cell.expect, got)) fixed.push(`${key(cell.row)} as ${cell.role}`);
          else known.push(`${cell.role} ${got.request} -> ${got.status}: ${bug}`);
        } else if (!matches(cell.expect, got)) {
          failures.push({
            endpoint: key(cell.row) + (cell.spec.name ? ` (${cell.spec.name})` : ''),
            role: cell.role, expected: cell.expect, got: got.status, request: got.request,
            body: got.text.slice(0, 160),
          });
        }
      }
    }));
    for (const k of known) console.log(`known: ${k}`);
    if (failures.length > 0) {
      failures.sort((a, b) => a.endpoint.localeCompare(b.endpoint) || a.role.localeCompare(b.role));
      console.log(`access matrix: ${failures.length} of ${cells.length} cells differ`);
      console.table(failures.map(({ body, ...f }) => f));
      for (const f of failures) console.log(`${f.role} ${f.request} -> ${f.got}: ${f.body}`);
    }
    assert.equal(failures.length, 0, `${failures.length} of ${cells.length} cells differ (table above)`);
    assert.deepEqual(fixed, [], 'these known bugs are fixed: remove their knownBugs entries');
  });
});
