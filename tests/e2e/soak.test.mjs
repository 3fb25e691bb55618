// Soak test (issue #11): a real `sund serve` with authorization, consent and the audit log on
// loopback, under a steady mixed load for SUND_SOAK_SECONDS (default 45; docs in README.md):
// reads by id, searches (identifier, subject with _include, date ranges, _count paging), writes
// (create, update with If-Match, a small transaction), IoMT payloads over
// POST /iomt/v1/measurements and an occasional Patient/$everything, from a fixed number of
// concurrent workers on keep-alive connections, while two websocket Subscriptions (the
// vital-signs and NEWS2 topics) receive their notifications.
//
// It fails on:
// - any error: a status other than the one the request must get (no 5xx, no 429: loopback
//   clients are exempt from the rate limits), an answer whose content is wrong, a connection
//   error or a request unanswered for 60 s;
// - a websocket closed during the run, a gap in a Subscription's event numbers (an event the
//   server dropped), or fewer vital-signs notifications than vital-signs Observations written;
// - memory growth after the warm-up (the first third of the run), see MEMORY below;
// - an audit log that does not verify afterwards (`sund audit verify`).
// It prints one summary line (requests, requests/s, errors, p50/p95/p99/max latency, RSS at the
// end of the warm-up and at the end, notifications) and a line per kind of request.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

import WebSocket from 'ws';

import { startSund, sundBin } from './lib/sund.mjs';

const SECONDS = Number(process.env.SUND_SOAK_SECONDS ?? 45);
const WORKERS = Number(process.env.SUND_SOAK_WORKERS ?? 16);
const SEED = Number(process.env.SUND_SOAK_SEED ?? 11);
const PATIENTS = 200;          // the population loaded before the run
const LAB_PER_PATIENT = 5;     // laboratory Observations each, dated across 2025
const DEVICES = 40;            // home-monitoring hubs, one each for the first 40 patients
const REQUEST_TIMEOUT_MS = 60_000;

// MEMORY. After a warm-up (the first third of the run) the server's heap (RssAnon) may grow by
// at most 25 % of its size at the end of the warm-up, plus 20 MB, plus what the database files
// (*.db, without their WAL) grew meanwhile. The last term is SQLite's page cache: each connection
// keeps the pages it wrote or read, up to 256 MiB (SqliteOptions::cache_kib), so while a run keeps
// writing, the cache grows with the data until it is full; heaptrack on a 40 s run put 33 of the
// 46 MB peak heap in SQLite's page allocations, the rest flat. The 25 % and 20 MB are for malloc's
// arenas settling on two cores, the change feed and the subscribers' queues. A leak of a few KB
// per request exceeds the bound in a default run (about 10,000 requests), one of 300 bytes in a
// 600 s run. VmRSS also counts the memory-mapped database (mmap_size 1 GiB), which is file-backed
// pages of those same files: its growth may exceed the heap's bound by the files' growth once more.
const GROWTH_FRACTION = 0.25;
const GROWTH_SLACK_MB = 20;

// The mix: relative weights of the operations each worker draws from.
const MIX = [
  ['read-patient', 16],
  ['read-observation', 10],
  ['search-identifier', 10],
  ['search-include', 8],
  ['search-date', 6],
  ['search-paging', 5],
  ['create', 8],
  ['update', 5],
  ['transaction', 4],
  ['iomt', 14],
  ['everything', 2],
];

// A small deterministic generator (mulberry32), one per worker, so a run's mix is repeatable.
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let server;
let dataDir;
const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS + 4 });
const patients = [];       // ids of the population, index i has identifier urn:sund:soak|p-i
const observations = [];   // ids of Observations any worker may read
const sockets = [];        // the two websocket Subscriptions, see subscribe()

// One HTTP request on the keep-alive agent: { status, headers, text, json, ms }. A connection
// error or timeout resolves with status 0 and the error's message.
function send(method, url, { body, headers = {} } = {}) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const done = (r) => resolve({ ...r, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    const u = new URL(url, server.baseUrl);
    const payload = body === undefined ? undefined
      : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({
      agent, host: u.hostname, port: u.port, method, path: u.pathname + u.search,
      headers: {
        authorization: `Bearer ${server.token}`,
        accept: 'application/fhir+json',
        ...(payload ? { 'content-type': 'application/fhir+json', 'content-length': payload.length } : {}),
        ...headers,
      },
      timeout: REQUEST_TIMEOUT_MS,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
        done({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (e) => done({ status: 0, error: e.message, text: '' }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e) => done({ status: 0, error: e.message, text: '' }));
    if (payload) req.write(payload);
    req.end();
  });
}

// For the setup: a request that must succeed.
async function must(method, url, body, expected = 200) {
  const r = await send(method, url, { body });
  assert.equal(r.status, expected, `${method} ${url}: ${r.error ?? r.text.slice(0, 500)}`);
  return r.json;
}

const idOf = (location) => /^(?:.*\/)?[A-Za-z]+\/([^/]+)\/_history\/\d+$/.exec(location)?.[1];

const vitalSigns = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                                 code: 'vital-signs' }] }];

// The population: PATIENTS Patients with LAB_PER_PATIENT glucose results each, in
// transactions of 25 patients; then a Device for each of the first DEVICES patients.
async function loadPopulation() {
  for (let first = 0; first < PATIENTS; first += 25) {
    const entry = [];
    for (let i = first; i < Math.min(PATIENTS, first + 25); i++) {
      const full = `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      entry.push({
        fullUrl: full,
        resource: { resourceType: 'Patient', identifier: [{ system: 'urn:sund:soak', value: `p-${i}` }],
                    name: [{ family: `Soak${i}`, given: ['Test'] }],
                    gender: i % 2 ? 'female' : 'male', birthDate: `19${40 + (i % 60)}-0${1 + (i % 9)}-15` },
        request: { method: 'POST', url: 'Patient' },
      });
      for (let k = 0; k < LAB_PER_PATIENT; k++) {
        const day = (i * 7 + k * 73) % 365;
        const date = new Date(Date.UTC(2025, 0, 1 + day, 8 + k)).toISOString();
        entry.push({
          resource: {
            resourceType: 'Observation', status: 'final',
            category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                                    code: 'laboratory' }] }],
            code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose' }] },
            subject: { reference: full }, effectiveDateTime: date,
            valueQuantity: { value: 4 + ((i + k) % 40) / 10, unit: 'mmol/L',
                             system: 'http://unitsofmeasure.org', code: 'mmol/L' },
          },
          request: { method: 'POST', url: 'Observation' },
        });
      }
    }
    const result = await must('POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry });
    for (const e of result.entry) {
      const id = idOf(e.response.location);
      if (e.response.location.includes('Patient/')) patients.push(id);
      else observations.push(id);
    }
  }
  assert.equal(patients.length, PATIENTS);
  const devices = [];
  for (let d = 0; d < DEVICES; d++) {
    devices.push({
      resource: { resourceType: 'Device', identifier: [{ system: 'urn:sund:device', value: `soak-hub-${d}` }],
                  patient: { reference: `Patient/${patients[d]}` } },
      request: { method: 'POST', url: 'Device' },
    });
  }
  await must('POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: devices });
}

// A websocket Subscription to `topic` (docs/iomt.md, "Subscriptions"): created, active once the
// server has taken it from the change feed, bound with a single-use token. Counts the
// notifications' focus references, checks that event numbers have no gaps, and notes any close.
async function subscribe(topic) {
  const created = await must('POST', '/fhir/Subscription', {
    resourceType: 'Subscription', status: 'requested', reason: 'soak test', criteria: topic,
    channel: { type: 'websocket', payload: 'application/fhir+json',
               _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content',
                                         valueCode: 'id-only' }] } },
  }, 201);
  let status = 'requested';
  for (let i = 0; i < 100 && status === 'requested'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await must('GET', `/fhir/Subscription/${created.id}`)).status;
  }
  assert.equal(status, 'active', `Subscription for ${topic} not active`);
  const binding = await must('GET', `/fhir/Subscription/${created.id}/$get-ws-binding-token`);
  const param = (n) => binding.parameter.find((p) => p.name === n);
  const s = { topic, notifications: 0, lastEvent: 0, gaps: [], closed: null, errors: [], ws: null };
  s.ws = new WebSocket(param('websocket-url').valueUrl);
  await new Promise((resolve, reject) => {
    s.ws.once('open', () => s.ws.send(`bind-with-token ${param('token').valueString}`));
    s.ws.on('message', (data) => {
      let bundle;
      try { bundle = JSON.parse(String(data)); } catch { s.errors.push(`not JSON: ${String(data).slice(0, 200)}`); return; }
      const params = bundle.entry?.[0]?.resource?.parameter ?? [];
      const type = params.find((p) => p.name === 'type')?.valueCode;
      if (type === 'handshake') { resolve(); return; }
      for (const event of params.filter((p) => p.name === 'notification-event')) {
        const number = Number(event.part.find((p) => p.name === 'event-number')?.valueString);
        if (number !== s.lastEvent + 1 && s.gaps.length < 10) s.gaps.push(`${s.lastEvent} -> ${number}`);
        s.lastEvent = number;
        s.notifications++;
      }
    });
    s.ws.on('error', (e) => { s.errors.push(e.message); reject(e); });
    s.ws.on('close', (code, reason) => { s.closed ??= `${code} ${reason}`; reject(new Error(`closed: ${code}`)); });
  });
  sockets.push(s);
  return s;
}

// /proc/PID/status: VmRSS, RssAnon, RssFile in MB.
function memory(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

// Bytes of the data directory's databases (sund.db, audit.db, iomt.db, auth.db), without their
// WAL and shared-memory files.
function dataBytes(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.db')) continue;
    const st = statSync(path.join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sund-soak-'));
  server = await startSund({ dataDir });  // our directory: kept by stop() for `audit verify`
  await loadPopulation();
});

after(async () => {
  for (const s of sockets) s.ws.terminate();
  await server?.stop();
  agent.destroy();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const percentile = (sorted, p) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

// Verifies: REQ-IOMT-035, REQ-CLI-001, REQ-CLI-008, REQ-CLI-009, REQ-CLI-010, REQ-CLI-011
test(`soak: ${SECONDS} s of mixed load from ${WORKERS} workers`, { timeout: (SECONDS + 240) * 1000 }, async () => {
  assert.ok(existsSync(`/proc/${server.pid}/status`), 'needs /proc (Linux) to read the server\'s memory');
  const vital = await subscribe('https://sund.dk/fhir/SubscriptionTopic/vital-signs');
  const news2 = await subscribe('https://sund.dk/fhir/SubscriptionTopic/news2');

  const stats = new Map(MIX.map(([kind]) => [kind, { lat: [], errors: 0 }]));
  const errors = [];
  let expectedVitalSigns = 0;  // vital-signs Observations written by this run (version 1)
  let iomtClock = Date.now() - 15 * 60_000;  // payload times: unique milliseconds, in the past

  // Records a request of `kind`: its latency, and an error when the status is not `expected`
  // or `check(response)` says what is wrong.
  async function call(kind, method, url, { body, headers, expected = 200, check } = {}) {
    const r = await send(method, url, { body, headers });
    const s = stats.get(kind);
    s.lat.push(r.ms);
    let problem = r.status === 0 ? `connection: ${r.error}`
      : r.status !== expected ? `status ${r.status}, expected ${expected}: ${r.text.slice(0, 300)}` : null;
    if (!problem && check) {
      try { problem = check(r); } catch (e) { problem = `unexpected answer (${e.message}): ${r.text.slice(0, 300)}`; }
    }
    if (problem) {
      s.errors++;
      if (errors.length < 20) errors.push(`${kind} ${method} ${url}: ${problem}`);
      return null;
    }
    return r;
  }

  const entries = (r) => r.json.entry ?? [];
  const ops = {
    'read-patient': (rnd) => {
      const id = patients[Math.floor(rnd() * PATIENTS)];
      return call('read-patient', 'GET', `/fhir/Patient/${id}`,
                  { check: (r) => (r.json.id === id ? null : `got ${r.json.id}`) });
    },
    'read-observation': (rnd) => {
      const id = observations[Math.floor(rnd() * observations.length)];
      return call('read-observation', 'GET', `/fhir/Observation/${id}`,
                  { check: (r) => (r.json.id === id ? null : `got ${r.json.id}`) });
    },
    'search-identifier': (rnd) => {
      const i = Math.floor(rnd() * PATIENTS);
      return call('search-identifier', 'GET', `/fhir/Patient?identifier=urn:sund:soak|p-${i}`, {
        check: (r) => (entries(r).length === 1 && entries(r)[0].resource.id === patients[i] ? null
          : `${entries(r).length} matches`),
      });
    },
    'search-include': (rnd) => {
      const id = patients[DEVICES + Math.floor(rnd() * (PATIENTS - DEVICES))];
      return call('search-include', 'GET',
                  `/fhir/Observation?subject=Patient/${id}&_include=Observation:subject&_count=20`, {
        check: (r) => {
          const e = entries(r);
          const ok = e.filter((x) => x.search.mode === 'match').length >= LAB_PER_PATIENT &&
                     e.some((x) => x.search.mode === 'include' && x.resource.id === id);
          return ok ? null : `${e.length} entries without the ${LAB_PER_PATIENT} matches and the patient`;
        },
      });
    },
    'search-date': (rnd) => {
      const month = 1 + Math.floor(rnd() * 12);
      const from = `2025-${String(month).padStart(2, '0')}-01`;
      const to = month === 12 ? '2026-01-01' : `2025-${String(month + 1).padStart(2, '0')}-01`;
      return call('search-date', 'GET',
                  `/fhir/Observation?code=http://loinc.org|2339-0&date=ge${from}&date=lt${to}&_count=50`, {
        check: (r) => (entries(r).length > 0 &&
                       entries(r).every((x) => x.resource.effectiveDateTime >= from && x.resource.effectiveDateTime < to)
          ? null : `${entries(r).length} entries, or one outside ${from}..${to}`),
      });
    },
    'search-paging': async (rnd) => {
      // Three pages of 20 of the population's glucose results (1,000 of them), by the next links.
      const start = Math.floor(rnd() * PATIENTS);
      // The date bound leaves out the transactions' newer glucose results, which would shift
      // the offset pages sorted by date while they are read.
      let url = `/fhir/Observation?code=http://loinc.org|2339-0&date=lt2026-01-01&_count=20` +
                (rnd() < 0.5 ? '' : `&_sort=-date&_offset=${start}`);
      const seen = new Set();
      for (let page = 0; page < 3 && url; page++) {
        const r = await call('search-paging', 'GET', url, {
          check: (x) => {
            const ids = entries(x).map((e) => e.resource.id);
            if (ids.length !== 20) return `${ids.length} entries on page ${page + 1}`;
            if (ids.some((id) => seen.has(id))) return `page ${page + 1} repeats an entry`;
            ids.forEach((id) => seen.add(id));
            return x.json.link?.some((l) => l.relation === 'next') ? null : 'no next link';
          },
        });
        url = r?.json.link.find((l) => l.relation === 'next').url;
      }
    },
    create: async (rnd) => {
      const id = patients[Math.floor(rnd() * PATIENTS)];
      const r = await call('create', 'POST', '/fhir/Observation', {
        expected: 201,
        body: { resourceType: 'Observation', status: 'final', category: vitalSigns,
                code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
                subject: { reference: `Patient/${id}` },
                effectiveDateTime: new Date(Date.now() - 60_000).toISOString(),
                valueQuantity: { value: 55 + Math.floor(rnd() * 40), unit: '/min',
                                 system: 'http://unitsofmeasure.org', code: '/min' } },
        check: (x) => (x.headers.etag === 'W/"1"' && x.json.id ? null : `ETag ${x.headers.etag}`),
      });
      if (r) {
        expectedVitalSigns++;
        observations.push(r.json.id);
      }
    },
    update: async (rnd, worker) => {
      // Only this worker updates its patients, so If-Match never meets another writer's version.
      const mine = patients.filter((_, i) => i % WORKERS === worker);
      const id = mine[Math.floor(rnd() * mine.length)];
      const read = await call('update', 'GET', `/fhir/Patient/${id}`);
      if (!read) return;
      const version = Number(/^W\/"(\d+)"$/.exec(read.headers.etag)?.[1]);
      const patient = { ...read.json, telecom: [{ system: 'phone', value: `+45 ${10000000 + Math.floor(rnd() * 89999999)}` }] };
      delete patient.meta;
      await call('update', 'PUT', `/fhir/Patient/${id}`, {
        body: patient, headers: { 'if-match': `W/"${version}"` },
        check: (x) => (x.headers.etag === `W/"${version + 1}"` ? null : `ETag ${x.headers.etag} after W/"${version}"`),
      });
    },
    transaction: async (rnd, worker, n) => {
      const full = `urn:uuid:${crypto.randomUUID()}`;
      const obs = (category, loinc, value, unit) => ({
        resource: { resourceType: 'Observation', status: 'final',
                    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
                    code: { coding: [{ system: 'http://loinc.org', code: loinc }] }, subject: { reference: full },
                    effectiveDateTime: new Date(Date.now() - 120_000).toISOString(),
                    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit } },
        request: { method: 'POST', url: 'Observation' },
      });
      const r = await call('transaction', 'POST', '/fhir', {
        body: { resourceType: 'Bundle', type: 'transaction', entry: [
          { fullUrl: full, request: { method: 'POST', url: 'Patient' },
            resource: { resourceType: 'Patient', identifier: [{ system: 'urn:sund:soak-tx', value: `w${worker}-${n}` }],
                        name: [{ family: `Transaktion${n}` }] } },
          obs('vital-signs', '9279-1', 12 + Math.floor(rnd() * 8), '/min'),
          obs('laboratory', '2339-0', 5 + Math.floor(rnd() * 30) / 10, 'mmol/L'),
        ] },
        check: (x) => (x.json.type === 'transaction-response' && x.json.entry.length === 3 &&
                       x.json.entry.every((e) => e.response.status.startsWith('201'))
          ? null : 'not three 201 entries'),
      });
      if (r) {
        expectedVitalSigns++;
        for (const e of r.json.entry.slice(1)) observations.push(idOf(e.response.location));
      }
    },
    iomt: async (rnd) => {
      iomtClock = Math.max(iomtClock + 1, Date.now() - 15 * 60_000);
      const m = (code, value, unit) => ({ code: { system: 'mdc', code }, value, unit });
      const r = await call('iomt', 'POST', '/iomt/v1/measurements', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          device: `soak-hub-${Math.floor(rnd() * DEVICES)}`,
          time: new Date(iomtClock).toISOString(),
          battery: 80,
          measurements: [
            m('149530', 60 + Math.floor(rnd() * 30), '/min'),
            m('150456', 94 + Math.floor(rnd() * 6), '%'),
            m('151562', 12 + Math.floor(rnd() * 8), '/min'),
            m('150364', 36.4 + Math.floor(rnd() * 10) / 10, 'Cel'),
            m('150021', 115 + Math.floor(rnd() * 25), 'mm[Hg]'),
            m('150022', 70 + Math.floor(rnd() * 15), 'mm[Hg]'),
          ],
        }),
        check: (x) => (x.json.accepted === 6 && x.json.stored === 5 && x.json.duplicates === 0 &&
                       x.json.refused.length === 0 ? null : 'not 6 accepted, 5 stored'),
      });
      if (r) expectedVitalSigns += r.json.stored;
    },
    everything: (rnd) => {
      const id = patients[Math.floor(rnd() * PATIENTS)];
      return call('everything', 'GET', `/fhir/Patient/${id}/$everything`, {
        check: (r) => (r.json.type === 'searchset' && entries(r)[0]?.resource.id === id ? null : 'not the patient first'),
      });
    },
  };
  const totalWeight = MIX.reduce((a, [, w]) => a + w, 0);

  // Memory, once a second.
  const samples = [];
  const startBytes = dataBytes(dataDir);
  const sample = () => samples.push({ t: performance.now(), ...memory(server.pid), db: dataBytes(dataDir) });
  const began = performance.now();
  sample();
  const sampler = setInterval(sample, 1000);

  const deadline = began + SECONDS * 1000;
  await Promise.all(Array.from({ length: WORKERS }, async (_, worker) => {
    const rnd = generator(SEED * 1000 + worker);
    for (let n = 0; performance.now() < deadline; n++) {
      let pick = rnd() * totalWeight;
      const [kind] = MIX.find(([, w]) => (pick -= w) < 0);
      await ops[kind](rnd, worker, n);
    }
  }));
  const elapsed = (performance.now() - began) / 1000;
  sample();
  clearInterval(sampler);

  // The notifications of the last writes arrive a moment later (the change feed is polled).
  for (let i = 0; i < 300 && vital.notifications < expectedVitalSigns; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }

  // The figures.
  const all = [];
  let requests = 0;
  let failed = 0;
  const perKind = [];
  for (const [kind, s] of stats) {
    requests += s.lat.length;
    failed += s.errors;
    s.lat.forEach((x) => all.push(x));
    const sorted = Float64Array.from(s.lat).sort();
    perKind.push(`  ${kind.padEnd(18)} ${String(sorted.length).padStart(7)} requests, ${s.errors} errors; ms p50 ` +
                 `${fmt(percentile(sorted, 50))} p95 ${fmt(percentile(sorted, 95))} p99 ${fmt(percentile(sorted, 99))} ` +
                 `max ${fmt(sorted[sorted.length - 1] ?? NaN)}`);
  }
  const sorted = Float64Array.from(all).sort();
  const warm = samples.filter((x) => x.t - began <= (SECONDS * 1000) / 3).at(-1);
  const last = samples.at(-1);
  const afterWarm = samples.filter((x) => x.t >= warm.t);
  const peak = Math.max(...samples.map((x) => x.rss));
  const mb = (x) => x.toFixed(0);
  console.log(`soak: ${fmt(elapsed)} s, ${WORKERS} workers: ${requests} requests, ${(requests / elapsed).toFixed(1)}/s, ` +
              `${failed} errors; latency ms p50 ${fmt(percentile(sorted, 50))} p95 ${fmt(percentile(sorted, 95))} ` +
              `p99 ${fmt(percentile(sorted, 99))} max ${fmt(sorted[sorted.length - 1])}; RSS MB ${mb(samples[0].rss)} at start, ` +
              `${mb(warm.rss)} at warm-up end (${mb(warm.t / 1000 - began / 1000)} s), ${mb(last.rss)} at end, peak ${mb(peak)}; ` +
              `heap (RssAnon) ${mb(warm.anon)} -> ${mb(last.anon)}, file-backed ${mb(warm.file)} -> ${mb(last.file)}, ` +
              `databases ${mb(startBytes / 2 ** 20)} -> ${mb(warm.db / 2 ** 20)} -> ${mb(last.db / 2 ** 20)}; ` +
              `notifications: ${vital.notifications} vital-signs (of ${expectedVitalSigns} written), ` +
              `${news2.notifications} NEWS2; websocket closes ${sockets.filter((s) => s.closed).length}`);
  console.log(perKind.join('\n'));
  // The heap after the warm-up, in tenths of the remaining run.
  const tenths = [];
  for (let k = 0; k <= 10; k++) tenths.push(mb(afterWarm[Math.round((k / 10) * (afterWarm.length - 1))].anon));
  console.log(`  heap MB after the warm-up, every tenth of the rest: ${tenths.join(' ')}`);
  if (errors.length) console.log(`first errors:\n  ${errors.join('\n  ')}`);

  // The verdicts.
  assert.equal(failed, 0, `${failed} of ${requests} requests failed:\n${errors.join('\n')}`);
  for (const kind of ['read-patient', 'search-include', 'create', 'update', 'transaction', 'iomt']) {
    assert.ok(stats.get(kind).lat.length > 0, `no ${kind} request in the run`);
  }
  for (const s of sockets) {
    assert.equal(s.closed, null, `the ${s.topic} websocket closed during the run: ${s.closed}`);
    assert.deepEqual(s.errors, [], `websocket errors on ${s.topic}`);
    assert.deepEqual(s.gaps, [], `events missing on ${s.topic} (event numbers jumped)`);
  }
  assert.ok(vital.notifications > 0, 'no vital-signs notification');
  assert.ok(news2.notifications > 0, 'no NEWS2 notification');
  assert.equal(vital.notifications, expectedVitalSigns,
               'vital-signs notifications should be one per vital-signs Observation written');
  const dataGrowth = (last.db - warm.db) / 2 ** 20;
  const heapBound = warm.anon * GROWTH_FRACTION + GROWTH_SLACK_MB + dataGrowth;
  assert.ok(last.anon - warm.anon < heapBound,
            `heap grew ${(last.anon - warm.anon).toFixed(1)} MB after the warm-up (bound ${heapBound.toFixed(1)} MB: ` +
            `${GROWTH_FRACTION * 100} % + ${GROWTH_SLACK_MB} MB + the databases' ${dataGrowth.toFixed(1)} MB)`);
  const rssBound = heapBound + dataGrowth;
  assert.ok(last.rss - warm.rss < rssBound,
            `RSS grew ${(last.rss - warm.rss).toFixed(1)} MB after the warm-up (bound ${rssBound.toFixed(1)} MB: ` +
            'the heap\'s bound plus the databases\' growth once more, the mapped pages)');

  // The server is still up, and its audit log of all this verifies.
  assert.equal((await send('GET', '/fhir/metadata')).status, 200);
  for (const s of sockets) s.ws.close();
  await server.stop();
  const verified = execFileSync(sundBin, ['audit', 'verify', '--data', dataDir]).toString();
  console.log(`  audit verify: ${verified.trim().split('\n').at(-1)}`);
});
