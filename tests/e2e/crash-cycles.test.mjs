// Crash consistency under faults (issue #11), beyond crash.test.mjs's stream of single creates:
//
// 1. Kill cycles: `sund serve` (authorization and the audit log on, as in production) gets
//    SIGKILL at a random moment while concurrent clients post transaction Bundles (a Patient and
//    Observations referencing it through urn:uuid, all with the transaction's tag), update earlier
//    resources with If-Match and delete earlier Observations; then it restarts on the same data
//    directory, and so on for $SUND_CRASH_CYCLES cycles (default 5). After each restart every
//    acknowledged write reads back with its version, deleted resources answer 410, no transaction
//    is partly present (its tag finds all of its resources or none), and the search indexes agree
//    with the reads (identifier, tag, the subject reference through _revinclude, counts). At the
//    end `sund audit verify` passes. Prints "crash cycles: N cycles, T transactions acknowledged,
//    ..., 0 acknowledged writes lost".
// 2. SIGKILL while a bulk $export runs, on a generated population (no Synthea data needed): the
//    acknowledged job's status URL after the restart completes with every resource once, or
//    fails with a reason; a new export completes; the store holds what it held.
// 3. Disk full, simulated with RLIMIT_FSIZE (prlimit): a write that no longer fits must be
//    answered with a 5xx OperationOutcome that holds no patient data, the server staying up
//    (also with SIGXFSZ at its default: sund ignores it); after a restart without the
//    limit every acknowledged write is there and `PRAGMA integrity_check` (the sqlite3 CLI, where
//    installed) says ok.
// 4. A read-only data directory (as root the server runs as `nobody`, since root ignores file
//    permissions): `sund serve` refuses to start, naming the file and why; nothing is changed,
//    and with the permissions back the data is intact. Only the audit log read-only: `sund
//    serve` refuses to start too (it could store no write without its audit record).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, statSync,
         writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { sundBin } from './lib/sund.mjs';

const CYCLES = Number(process.env.SUND_CRASH_CYCLES || 5);
const FULL_CHECK_EVERY = 10;
const SYS = 'urn:test:crash-cycles';
const FHIR_JSON = 'application/fhir+json';

// A seeded PRNG (mulberry32), so that a failing run can be repeated with SUND_CRASH_SEED.
const seed = Number(process.env.SUND_CRASH_SEED || Date.now() % 2 ** 31);
let prngState = seed;
function random() {
  prngState = (prngState + 0x6d2b79f5) | 0;
  let t = prngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];

// Runs `sund ARGS...`; resolves to { code, stdout, stderr }.
function sund(args) {
  return new Promise((resolve) => {
    execFile(sundBin, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// `sund serve` on `dataDir` with authorization on. `wrap`: a command line that runs sund (prlimit,
// setpriv, bash); `extra`: more flags. Resolves once it listens, with a system token for it;
// rejects with its stderr when it exits first.
async function serve(dataDir, { wrap = [], extra = [] } = {}) {
  const argv = [...wrap, sundBin, 'serve', '--data', dataDir, '--port', '0', '--host', '127.0.0.1',
                ...extra];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-65536); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sund did not start: ${stderr}`)), 30_000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^sund listening on (http:\/\/\S+)$/.exec(line.trim());
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`sund exited (code ${code}, signal ${signal}): ${stderr}`),
                           { code, signal, stderr }));
    });
  });
  const base = `${origin}/fhir`;
  const minted = await sund(['token', '--data', dataDir, '--system', '--aud', base]);
  assert.equal(minted.code, 0, minted.stderr);
  const auth = { authorization: `Bearer ${minted.stdout.trim()}` };
  const stop = async (signal = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return { child, exited, base, origin, auth, stop, stderr: () => stderr };
}

async function getJson(server, url, expectStatus = 200) {
  const res = await fetch(url.startsWith('http') ? url : `${server.base}/${url}`,
                          { headers: server.auth, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  assert.equal(res.status, expectStatus, `${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

// Every page of a search: { matches: [resource], included: [resource], total }.
async function searchAll(server, query) {
  const matches = [];
  const included = [];
  let total;
  let next = `${server.base}/${query}${query.includes('?') ? '&' : '?'}_count=500`;
  while (next) {
    const bundle = await getJson(server, next);
    total ??= bundle.total;
    for (const e of bundle.entry ?? []) (e.search?.mode === 'include' ? included : matches).push(e.resource);
    next = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return { matches, included, total };
}

async function count(server, query) {
  return (await getJson(server, `${query}${query.includes('?') ? '&' : '?'}_summary=count`)).total;
}

// Runs `work(item)` on the items, `width` at a time.
async function pool(items, width, work) {
  let i = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (i < items.length) await work(items[i++]);
  }));
}

function integrityCheck(file) {
  try {
    execFileSync('sh', ['-c', 'command -v sqlite3'], { stdio: 'ignore' });
  } catch {
    return null;  // no sqlite3 CLI: the reads after the restart are the check
  }
  return execFileSync('sqlite3', [file, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).trim();
}

// ---------------------------------------------------------------------------------------------
// 1. Kill cycles during transactions, updates and deletes.
//
// The model: `txs` (tag -> { tag, acked, resources: [key] }) and `resources` ("Type/id" ->
// { type, id, tag, version, deleted, marker, pending }). `marker` is what the last acknowledged
// write put into the resource (Patient.name[0].given[0], Observation.valueQuantity.value), so a
// read shows which version's content it got. A write that was sent but not answered when the
// server died is `pending`: after the restart the resource must be in its acknowledged state or
// in the pending write's state, nothing else; whichever it is becomes the model's state. An
// unanswered transaction must be wholly present or wholly absent; if present, it joins the model.
// Nobody writes to a resource with a write outstanding, so the bookkeeping stays exact.

function transactionBundle(tag, observations) {
  const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
  const meta = { tag: [{ system: SYS, code: tag }] };
  const entry = [{
    fullUrl: patientUrl,
    resource: { resourceType: 'Patient', meta, identifier: [{ system: SYS, value: tag }],
                name: [{ family: `Cycle${tag}`, given: ['v1'] }] },
    request: { method: 'POST', url: 'Patient' },
  }];
  for (let j = 0; j < observations; j++) {
    entry.push({
      fullUrl: `urn:uuid:${crypto.randomUUID()}`,
      resource: { resourceType: 'Observation', meta, status: 'final',
                  identifier: [{ system: SYS, value: `${tag}-o${j}` }],
                  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
                  subject: { reference: patientUrl },
                  valueQuantity: { value: 60 + j, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } },
      request: { method: 'POST', url: 'Observation' },
    });
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

function markerOf(resource) {
  return resource.resourceType === 'Patient' ? resource.name?.[0]?.given?.[0]
                                             : String(resource.valueQuantity?.value);
}

describe('kill -9 cycles during transactions, updates and deletes', () => {
  // Verifies: REQ-API-080, REQ-API-081
  test(`${CYCLES} cycles: every acknowledged write survives, no partial transaction, indexes agree, the audit log verifies`,
       { timeout: 120_000 + CYCLES * 30_000 }, async (t) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sund-crash-cycles-'));
    const txs = new Map();
    const resources = new Map();
    const stats = { acked: 0, updates: 0, deletes: 0, unackedPresent: 0, unackedAbsent: 0,
                    pendingApplied: 0, pendingNotApplied: 0, lost: 0, reads: 0 };
    let txCounter = 0;
    let cycleNow = 0;  // the cycle whose writes the next check reads in full

    // After a restart: resolve the unanswered writes, then check the model against reads and
    // searches. A full check reads every resource and compares the searches' ids with the model;
    // it runs after every FULL_CHECK_EVERY-th kill and at the end. The others (which keep long
    // runs linear) read what the last cycle wrote plus a random sample, and compare counts.
    const check = async (server, label, full) => {
      // Unanswered transactions: all or nothing.
      for (const tx of txs.values()) {
        if (tx.acked) continue;
        const [patients, observations] = await Promise.all([
          count(server, `Patient?_tag=${SYS}|${tx.tag}`),
          count(server, `Observation?_tag=${SYS}|${tx.tag}`)]);
        if (patients === 0 && observations === 0) {
          txs.delete(tx.tag);
          stats.unackedAbsent++;
          continue;
        }
        assert.deepEqual([patients, observations], [1, tx.observations],
                         `${label}: unanswered transaction ${tx.tag} is partly present`);
        // Present as a whole: it joins the model with the ids that the searches give.
        const found = await searchAll(server, `Patient?_tag=${SYS}|${tx.tag}&_revinclude=Observation:subject`);
        tx.acked = true;
        tx.resources = [];
        for (const r of [...found.matches, ...found.included]) {
          const key = `${r.resourceType}/${r.id}`;
          tx.resources.push(key);
          resources.set(key, { type: r.resourceType, id: r.id, tag: tx.tag, version: r.meta.versionId,
                               deleted: false, marker: markerOf(r), touched: cycleNow });
        }
        stats.unackedPresent++;
      }
      // Every resource reads back as acknowledged (or as its unanswered write left it).
      const toRead = full ? [...resources.values()]
        : [...resources.values()].filter((r) => r.pending || r.touched === cycleNow || random() < 300 / resources.size);
      stats.reads += toRead.length;
      await pool(toRead, 6, async (r) => {
        const res = await fetch(`${server.base}/${r.type}/${r.id}`,
                                { headers: server.auth, signal: AbortSignal.timeout(60_000) });
        const body = await res.text();
        const got = res.status === 410 ? { deleted: true }
          : res.status === 200 ? (() => { const j = JSON.parse(body);
                                          return { deleted: false, version: j.meta.versionId, marker: markerOf(j) }; })()
          : assert.fail(`${label}: ${r.type}/${r.id} answered ${res.status}: ${body.slice(0, 200)}`);
        const matches = (s) => s.deleted ? got.deleted : (!got.deleted && got.version === s.version && got.marker === s.marker);
        if (r.pending) {
          if (matches(r.pending)) {
            Object.assign(r, r.pending);
            stats.pendingApplied++;
          } else {
            stats.pendingNotApplied++;
          }
          delete r.pending;
        }
        if (!matches(r)) {
          stats.lost++;
          assert.fail(`${label}: ${r.type}/${r.id}: acknowledged ${JSON.stringify({ version: r.version, deleted: r.deleted, marker: r.marker })}, ` +
                      `read ${res.status} ${JSON.stringify(got)}`);
        }
      });
      // The indexes agree with the reads: the tag finds exactly the live resources of the model;
      // the identifier finds each live Patient once; the subject reference (_revinclude, through
      // the reference index) finds exactly each Patient's live Observations; counts equal.
      const live = (type) => [...resources.values()].filter((r) => r.type === type && !r.deleted);
      const ids = (list) => list.map((r) => r.id).sort();
      assert.equal(await count(server, `Patient?identifier=${SYS}|`), live('Patient').length, `${label}: Patient count`);
      assert.equal(await count(server, `Observation?_tag=${SYS}|`), live('Observation').length, `${label}: Observation count`);
      if (!full) return;
      const byTag = await Promise.all(['Patient', 'Observation'].map((type) => searchAll(server, `${type}?_tag=${SYS}|`)));
      assert.deepEqual(ids(byTag[0].matches), ids(live('Patient')), `${label}: Patient?_tag differs from the reads`);
      assert.deepEqual(ids(byTag[1].matches), ids(live('Observation')), `${label}: Observation?_tag differs from the reads`);
      const byIdentifier = await searchAll(server, `Patient?identifier=${SYS}|&_revinclude=Observation:subject`);
      assert.deepEqual(ids(byIdentifier.matches), ids(live('Patient')), `${label}: Patient?identifier differs`);
      assert.deepEqual(ids(byIdentifier.included), ids(live('Observation')),
                       `${label}: Observations found through their subject differ from the reads`);
      const owner = new Map(live('Patient').map((p) => [`Patient/${p.id}`, p.tag]));
      for (const o of byIdentifier.included) {
        assert.equal(owner.get(o.subject.reference), resources.get(`Observation/${o.id}`).tag,
                     `${label}: Observation/${o.id} refers to another transaction's Patient`);
      }
    };

    // One client: transactions, updates and deletes until a request fails (the server died).
    const client = async (server, state) => {
      const request = async (url, init) => {
        const res = await fetch(`${server.base}/${url}`, {
          ...init, headers: { ...server.auth, 'content-type': FHIR_JSON, ...init.headers } });
        const text = await res.text();  // a body cut off by the kill throws here: unanswered
        return { status: res.status, body: text ? JSON.parse(text) : undefined };
      };
      while (!state.killed) {
        const choice = random();
        const idle = [...resources.values()].filter((r) => !r.deleted && !r.pending && !r.busy);
        if (choice < 0.6 || idle.length === 0) {
          const tag = `c${state.cycle}-t${txCounter++}`;
          const observations = 2 + Math.floor(random() * 4);
          const tx = { tag, acked: false, observations, resources: [] };
          txs.set(tag, tx);
          let res;
          try {
            res = await request('', { method: 'POST', body: JSON.stringify(transactionBundle(tag, observations)) });
          } catch {
            return;  // unanswered: resolved after the restart
          }
          assert.equal(res.status, 200, `transaction ${tag}: ${JSON.stringify(res.body).slice(0, 300)}`);
          assert.equal(res.body.entry.length, observations + 1);
          for (const [i, e] of res.body.entry.entries()) {
            const [type, id, , version] = e.response.location.split('/');
            const key = `${type}/${id}`;
            tx.resources.push(key);
            resources.set(key, { type, id, tag, version, deleted: false, touched: state.cycle,
                                 marker: type === 'Patient' ? 'v1' : String(60 + i - 1) });
          }
          tx.acked = true;
          stats.acked++;
          continue;
        }
        const r = pick(idle);
        r.busy = true;
        r.touched = state.cycle;
        try {
          if (r.type === 'Observation' && choice > 0.85) {
            r.pending = { deleted: true };
            const res = await request(`${r.type}/${r.id}`, { method: 'DELETE' });
            assert.ok(res.status === 200 || res.status === 204, `delete ${r.type}/${r.id}: ${res.status}`);
            Object.assign(r, r.pending);
            stats.deletes++;
          } else {
            const current = await request(`${r.type}/${r.id}`, { method: 'GET' });
            assert.equal(current.status, 200, `read ${r.type}/${r.id}`);
            const next = current.body;
            const marker = `u${state.cycle}-${Math.floor(random() * 1e6)}`;
            if (r.type === 'Patient') next.name[0].given = [marker];
            else next.valueQuantity.value = Number(`${state.cycle + 1}${Math.floor(random() * 1e6)}`);
            const pendingMarker = markerOf(next);
            r.pending = { version: String(Number(r.version) + 1), marker: pendingMarker };
            const res = await request(`${r.type}/${r.id}`, {
              method: 'PUT', headers: { 'if-match': `W/"${r.version}"` }, body: JSON.stringify(next) });
            assert.equal(res.status, 200, `update ${r.type}/${r.id}: ${JSON.stringify(res.body).slice(0, 300)}`);
            assert.equal(res.body.meta.versionId, r.pending.version);
            Object.assign(r, r.pending);
            stats.updates++;
          }
          delete r.pending;
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          return;  // unanswered: r.pending is resolved after the restart
        } finally {
          delete r.busy;
        }
      }
    };

    const started = Date.now();
    let killedRunning = 0;
    try {
      for (let cycle = 0; cycle <= CYCLES; cycle++) {
        const server = await serve(dataDir);
        if (cycle > 0) await check(server, `after kill ${cycle}`, cycle === CYCLES || cycle % FULL_CHECK_EVERY === 0);
        cycleNow = cycle;
        if (cycle === CYCLES) {
          await server.stop();
          break;
        }
        // Four clients; SIGKILL after a random 0.3 to 1.5 s, while they are in flight.
        const state = { cycle, killed: false };
        const clients = Promise.all(Array.from({ length: 4 }, () => client(server, state)));
        const delay = 300 + Math.floor(random() * 1200);
        await new Promise((r) => setTimeout(r, delay));
        state.killed = true;
        server.child.kill('SIGKILL');
        const { signal } = await server.exited;
        assert.equal(signal, 'SIGKILL', `the server exited before the kill: ${server.stderr()}`);
        killedRunning++;
        await clients;
      }
      const verified = await sund(['audit', 'verify', '--data', dataDir]);
      assert.equal(verified.code, 0, `audit verify: ${verified.stdout}${verified.stderr}`);
      assert.match(verified.stdout, /intact/);
      const integrity = integrityCheck(path.join(dataDir, 'sund.db'));
      if (integrity !== null) assert.equal(integrity, 'ok');
      const summary = `crash cycles: ${killedRunning} kill -9 cycles (seed ${seed}), ${stats.acked} transactions ` +
        `acknowledged (${[...resources.values()].length} resources), ${stats.updates} updates and ${stats.deletes} deletes ` +
        `acknowledged; unanswered at the kill: ${stats.unackedPresent} transactions committed whole, ` +
        `${stats.unackedAbsent} absent whole, ${stats.pendingApplied} updates/deletes applied, ` +
        `${stats.pendingNotApplied} not; ${stats.lost} acknowledged writes lost (${stats.reads} reads checked); ` +
        `${verified.stdout.trim()}; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`;
      t.diagnostic(summary);
      console.log(summary);
      assert.equal(stats.lost, 0);
      assert.ok(stats.acked > 0, 'no transaction was acknowledged');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2. SIGKILL during a bulk export.

describe('kill -9 during a bulk $export', () => {
  // Verifies: REQ-API-086, REQ-API-092, REQ-API-093
  test('the acknowledged job completes or fails with a reason after the restart; a new export completes',
       { timeout: 120_000 }, async (t) => {
    const work = mkdtempSync(path.join(tmpdir(), 'sund-crash-export-'));
    const dataDir = path.join(work, 'data');
    try {
      // The population: 200 Patients with 50 Observations each, loaded with `sund import`.
      const lines = [];
      for (let p = 0; p < 200; p++) {
        lines.push(JSON.stringify({ resourceType: 'Patient', id: `xp-${p}`, identifier: [{ system: SYS, value: `xp-${p}` }] }));
        for (let o = 0; o < 50; o++) {
          lines.push(JSON.stringify({ resourceType: 'Observation', id: `xo-${p}-${o}`, status: 'final',
                                      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
                                      subject: { reference: `Patient/xp-${p}` },
                                      valueQuantity: { value: o, unit: '/min' } }));
        }
      }
      const ndjson = path.join(work, 'population.ndjson');
      writeFileSync(ndjson, `${lines.join('\n')}\n`);
      const imported = await sund(['import', '--data', dataDir, '--no-progress', ndjson]);
      assert.equal(imported.code, 0, imported.stderr);
      const expected = { Patient: 200, Observation: 10_000 };

      // Files of 500 resources, so the job has many pages and files to be killed in. The kill
      // comes at a random moment in the first 400 ms after the kick-off was acknowledged (the
      // export takes about that long here): the checks hold wherever it lands.
      const extra = ['--export-file-resources', '500'];
      let server = await serve(dataDir, { extra });
      const kick = await fetch(`${server.base}/$export`, {
        headers: { ...server.auth, prefer: 'respond-async', accept: FHIR_JSON } });
      assert.equal(kick.status, 202, await kick.text());
      const statusPath = new URL(kick.headers.get('content-location')).pathname;
      await new Promise((r) => setTimeout(r, Math.floor(random() * 400)));
      const before = await fetch(`${server.origin}${statusPath}`, { headers: server.auth });
      const progress = before.status === 202 ? before.headers.get('x-progress') : `status ${before.status}`;
      await before.arrayBuffer();
      server.child.kill('SIGKILL');
      assert.equal((await server.exited).signal, 'SIGKILL');
      t.diagnostic(`killed at: ${progress}`);

      server = await serve(dataDir, { extra });
      try {
        // The store is intact.
        for (const [type, n] of Object.entries(expected)) assert.equal(await count(server, type), n, type);
        // The old job: still known (its kick-off was acknowledged), finished or failed with a
        // reason after the restart; never a 404 or a bare 500.
        const poll = async (url) => {
          for (;;) {
            const res = await fetch(url, { headers: server.auth });
            const text = await res.text();
            if (res.status !== 202) return { status: res.status, body: text ? JSON.parse(text) : undefined };
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        const checkManifest = async (manifest, label) => {
          assert.deepEqual(manifest.error, [], label);
          const seen = new Map();
          for (const o of manifest.output) {
            const res = await fetch(o.url, { headers: server.auth });
            assert.equal(res.status, 200, `${label}: ${o.url}`);
            const ids = (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l).id);
            assert.equal(ids.length, o.count, `${label}: ${o.url} holds ${ids.length}, the manifest says ${o.count}`);
            assert.ok(o.count <= 500, `${label}: ${o.url} has ${o.count} resources`);
            if (!seen.has(o.type)) seen.set(o.type, new Set());
            for (const id of ids) {
              assert.ok(!seen.get(o.type).has(id), `${label}: ${o.type}/${id} exported twice`);
              seen.get(o.type).add(id);
            }
          }
          for (const [type, n] of Object.entries(expected)) assert.equal(seen.get(type)?.size ?? 0, n, `${label}: ${type}`);
        };
        const old = await poll(`${server.origin}${statusPath}`);
        if (old.status === 500) {
          const why = old.body?.issue?.[0]?.diagnostics ?? '';
          assert.match(why, /the export failed: \S+/, JSON.stringify(old.body));
          t.diagnostic(`the killed job failed: ${why}`);
        } else {
          assert.equal(old.status, 200, `the killed job's status URL: ${old.status} ${JSON.stringify(old.body)}`);
          await checkManifest(old.body, 'the killed job');
          t.diagnostic(/resuming after a restart/.test(server.stderr()) ? 'the killed job resumed and completed'
                                                                          : 'the killed job had completed before the kill');
        }
        // A new export completes with everything once.
        const again = await fetch(`${server.base}/$export`, {
          headers: { ...server.auth, prefer: 'respond-async', accept: FHIR_JSON } });
        assert.equal(again.status, 202, await again.text());
        const done = await poll(again.headers.get('content-location'));
        assert.equal(done.status, 200, JSON.stringify(done.body));
        await checkManifest(done.body, 'the new job');
      } finally {
        await server.stop();
      }
      const verified = await sund(['audit', 'verify', '--data', dataDir]);
      assert.equal(verified.code, 0, `audit verify: ${verified.stdout}${verified.stderr}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Disk full, simulated with RLIMIT_FSIZE: no file of the process may grow past the limit. A
// write past it fails with EFBIG when SIGXFSZ is ignored (as a real full disk fails with ENOSPC);
// with the default disposition the kernel sends SIGXFSZ, which ends the process.

const FSIZE_LIMIT = 4_000_000;  // bytes: the WAL of the store reaches it after ~150 writes below
const SECRET = 'Hemmeligsen';  // in every Patient written: must never appear in an error

// Writes Patients of ~20 KB under the limit until one is refused or the server dies. Returns
// { acked: [{ id, version }], refused: { status, body } | null, exit: { code, signal } | null,
// stderr }. Then restarts without the limit and checks every acknowledged write.
async function fillTheDisk(t, wrapShell) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sund-disk-full-'));
  try {
    const server = await serve(dataDir, { wrap: ['bash', '-c', `${wrapShell} exec prlimit --fsize=${FSIZE_LIMIT} "$@"`, 'bash'] });
    const acked = [];
    let refused = null;
    let exit = null;
    const filler = 'x'.repeat(20_000);
    for (let i = 0; i < 1000 && !refused && !exit; i++) {
      let res;
      try {
        res = await fetch(`${server.base}/Patient`, {
          method: 'POST', signal: AbortSignal.timeout(30_000),
          headers: { ...server.auth, 'content-type': FHIR_JSON },
          body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `${SECRET}${i}` }],
                                 text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${filler}</div>` } }),
        });
      } catch (e) {
        if (e.name === 'TimeoutError') assert.fail('a write under a full disk hung for 30 s');
        exit = await server.exited;  // the connection died with the process
        break;
      }
      const text = await res.text();
      if (res.status === 201) {
        const body = JSON.parse(text);
        acked.push({ id: body.id, version: body.meta.versionId, family: `${SECRET}${i}` });
      } else {
        refused = { status: res.status, body: text, contentType: res.headers.get('content-type') };
      }
    }
    let readsAfter = null;
    if (refused && acked.length > 0) {
      // Still up: a read answers.
      const res = await fetch(`${server.base}/Patient/${acked[0].id}`, { headers: server.auth });
      readsAfter = res.status;
      await res.arrayBuffer();
    }
    const stderr = server.stderr();
    await server.stop('SIGKILL');
    t.diagnostic(`${acked.length} writes acknowledged under a limit of ${FSIZE_LIMIT} bytes; then ` +
                 (refused ? `HTTP ${refused.status}: ${refused.body.slice(0, 200)}`
                          : `the server died (code ${exit?.code}, signal ${exit?.signal})`));

    // Without the limit: every acknowledged write reads back, the count agrees, the store and
    // the audit log are intact.
    const again = await serve(dataDir);
    try {
      for (const a of acked) {
        const p = await getJson(again, `Patient/${a.id}`);
        assert.equal(p.meta.versionId, a.version);
        assert.equal(p.name[0].family, a.family);
      }
      // At most the one write in flight when the limit was hit may be there besides them.
      const stored = await count(again, 'Patient');
      assert.ok(stored === acked.length || stored === acked.length + 1, `${stored} Patients, ${acked.length} acknowledged`);
      if (stored > acked.length) t.diagnostic('the refused (or unanswered) write is stored nonetheless');
      // And the store takes writes again.
      const res = await fetch(`${again.base}/Patient`, {
        method: 'POST', headers: { ...again.auth, 'content-type': FHIR_JSON },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'AfterTheDiskFull' }] }) });
      assert.equal(res.status, 201);
    } finally {
      await again.stop();
    }
    for (const db of ['sund.db', 'audit.db']) {
      const integrity = integrityCheck(path.join(dataDir, db));
      if (integrity !== null) assert.equal(integrity, 'ok', `${db}: ${integrity}`);
    }
    const verified = await sund(['audit', 'verify', '--data', dataDir]);
    assert.equal(verified.code, 0, `audit verify: ${verified.stdout}${verified.stderr}`);
    assert.ok(acked.length > 0, 'nothing fitted under the limit');
    return { acked, refused, exit, readsAfter, stderr };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('disk full (RLIMIT_FSIZE)', () => {
  // Verifies: REQ-API-049, REQ-API-080
  test('a write that does not fit: 5xx OperationOutcome without patient data, reads go on; after a restart every acknowledged write is there',
       { timeout: 120_000 }, async (t) => {
    // SIGXFSZ ignored, so the write fails the way it does on a full disk.
    const { refused, exit, readsAfter, stderr } = await fillTheDisk(t, "trap '' XFSZ;");
    assert.equal(exit, null, `the server died: ${JSON.stringify(exit)}\n${stderr}`);
    assert.ok(refused, 'no write was refused under the limit');
    assert.ok(refused.status >= 500 && refused.status < 600, `HTTP ${refused.status}`);
    const outcome = JSON.parse(refused.body);
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.ok(outcome.issue?.[0]?.diagnostics, refused.body);
    assert.ok(!refused.body.includes(SECRET), `patient data in the error: ${refused.body}`);
    assert.equal(readsAfter, 200, 'reads go on after a write was refused');
  });

  // Verifies: REQ-API-080
  test('the same with SIGXFSZ at its default: acknowledged writes survive (the process may die)',
       { timeout: 120_000 }, async (t) => {
    const result = await fillTheDisk(t, '');
    diskFullDefault = result;
  });

  // A write past RLIMIT_FSIZE (an operator's `ulimit -f`, systemd's LimitFSIZE=) would kill the
  // process with SIGXFSZ; sund ignores the signal, so the write fails and is answered.
  // Verifies: REQ-API-049
  test('with SIGXFSZ at its default the server answers 5xx and stays up', () => {
    assert.ok(diskFullDefault, 'the previous test did not run');
    assert.equal(diskFullDefault.exit, null, `the server died: ${JSON.stringify(diskFullDefault.exit)}`);
    assert.ok(diskFullDefault.refused?.status >= 500);
  });
});
let diskFullDefault = null;

// ---------------------------------------------------------------------------------------------
// 4. A read-only data directory. Root ignores file permissions, so as root the server runs as
// `nobody` on a directory that `nobody` owns and cannot write; otherwise plain chmod.

const asRoot = process.getuid?.() === 0;
let nobody = null;
if (asRoot) {
  try {
    nobody = { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })),
               gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) };
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  } catch {
    nobody = null;
  }
}
const readOnlySkip = asRoot && !nobody ? 'running as root without a `nobody` user or setpriv' : false;

function walk(dir, fn) {
  fn(dir);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, fn); else fn(p);
  }
}

// Makes `dir` (and everything in it) read-only for the server; returns { wrap, restore }.
function makeReadOnly(dir, which = () => true) {
  const modes = new Map();
  walk(dir, (p) => {
    const s = statSync(p);
    modes.set(p, { mode: s.mode & 0o7777, uid: s.uid, gid: s.gid });
    if (nobody) chownSync(p, nobody.uid, nobody.gid);
    if (which(p)) chmodSync(p, statSync(p).mode & ~0o222);
  });
  return {
    wrap: nobody ? ['setpriv', `--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, '--clear-groups'] : [],
    restore: () => {
      for (const [p, { mode, uid, gid }] of modes) {
        if (nobody) chownSync(p, uid, gid);
        chmodSync(p, mode);
      }
    },
  };
}

// A snapshot of the directory: every file's size and modification time.
function listing(dir) {
  const out = {};
  walk(dir, (p) => { const s = statSync(p); if (!s.isDirectory()) out[path.relative(dir, p)] = `${s.size}@${s.mtimeMs}`; });
  return out;
}

describe('a read-only data directory', { skip: readOnlySkip }, () => {
  // One data directory with acknowledged writes, made under a parent that `nobody` may enter.
  let parent;
  let dataDir;
  const acked = [];
  let readOnlyStart = null;

  const writeSome = async () => {
    parent = mkdtempSync(path.join(tmpdir(), 'sund-read-only-'));
    chmodSync(parent, 0o755);
    dataDir = path.join(parent, 'data');
    const server = await serve(dataDir);
    try {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${server.base}/Patient`, {
          method: 'POST', headers: { ...server.auth, 'content-type': FHIR_JSON },
          body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `${SECRET}ro${i}` }] }) });
        assert.equal(res.status, 201);
        const body = await res.json();
        acked.push({ id: body.id, version: body.meta.versionId });
      }
    } finally {
      await server.stop();
    }
  };
  const checkIntact = async (stored = acked.length) => {
    const server = await serve(dataDir);
    try {
      for (const a of acked) assert.equal((await getJson(server, `Patient/${a.id}`)).meta.versionId, a.version);
      assert.equal(await count(server, 'Patient'), stored);
    } finally {
      await server.stop();
    }
    const integrity = integrityCheck(path.join(dataDir, 'sund.db'));
    if (integrity !== null) assert.equal(integrity, 'ok');
    const verified = await sund(['audit', 'verify', '--data', dataDir]);
    assert.equal(verified.code, 0, `audit verify: ${verified.stdout}${verified.stderr}`);
  };

  // Verifies: REQ-CLI-015
  test('sund serve refuses to start, naming the problem; nothing changes; with write access back all is there',
       { timeout: 90_000 }, async (t) => {
    try {
      await writeSome();
      const ro = makeReadOnly(dataDir);
      const beforeListing = listing(dataDir);
      try {
        const outcome = await serve(dataDir, { wrap: ro.wrap }).then(
          async (server) => { await server.stop(); return { served: true }; },
          (e) => ({ served: false, code: e.code, signal: e.signal, stderr: e.stderr ?? e.message }));
        readOnlyStart = outcome;
        t.diagnostic(`read-only data directory: ${outcome.served ? 'served' : `exit ${outcome.code}: ${outcome.stderr.trim()}`}`);
        assert.equal(outcome.served, false, 'sund serve started on a read-only data directory');
        assert.equal(outcome.signal, null, 'it exits, not crashes');
        assert.notEqual(outcome.code, 0);
        // The message names the directory (or a file in it).
        assert.ok(outcome.stderr.includes(dataDir), outcome.stderr);
        assert.deepEqual(listing(dataDir), beforeListing, 'the read-only directory was changed');
      } finally {
        ro.restore();
      }
      await checkIntact();
    } finally {
      if (parent) rmSync(parent, { recursive: true, force: true });
    }
  });

  // Verifies: REQ-CLI-015
  test('the message says why (permission denied / read-only)', () => {
    assert.ok(readOnlyStart, 'the previous test did not run');
    // (The directory's name, which says read-only, left out.)
    assert.match(readOnlyStart.stderr.replaceAll(dataDir, 'DIR'), /permission denied|read-only|not writable/i);
  });

  // Only the audit log read-only (a permission gone wrong): every write would be stored without
  // its audit record (the store commits before the record is appended), so `sund serve` refuses
  // to start, naming the audit database, and changes nothing. (An audit log that fails while
  // the server runs is answered 503, fail-closed; docs/security.md names what that leaves.)
  // Verifies: REQ-CLI-015
  test('only the audit log read-only: sund serve refuses to start, naming it; the data is intact',
       { timeout: 90_000 }, async (t) => {
    acked.length = 0;
    try {
      await writeSome();
      const ro = makeReadOnly(dataDir, (p) => path.basename(p).startsWith('audit.db'));
      const beforeListing = listing(dataDir);
      try {
        const outcome = await serve(dataDir, { wrap: ro.wrap }).then(
          async (server) => { await server.stop(); return { served: true }; },
          (e) => ({ served: false, code: e.code, signal: e.signal, stderr: e.stderr ?? e.message }));
        t.diagnostic(`read-only audit log: ${outcome.served ? 'served' : `exit ${outcome.code}: ${outcome.stderr.trim()}`}`);
        assert.equal(outcome.served, false, 'sund serve started with a read-only audit log');
        assert.equal(outcome.signal, null, 'it exits, not crashes');
        assert.match(outcome.stderr, /audit\.db/);
        assert.match(outcome.stderr, /write access|read-only|permission denied/i);
        // (The store was opened before the audit log, so sund.db's time may change; its
        // content is checked below.)
        const audit = (l) => Object.fromEntries(Object.entries(l).filter(([k]) => k.startsWith('audit')));
        assert.deepEqual(audit(listing(dataDir)), audit(beforeListing), 'the audit log was changed');
      } finally {
        ro.restore();
      }
      await checkIntact();
    } finally {
      if (parent) rmSync(parent, { recursive: true, force: true });
    }
  });
});
