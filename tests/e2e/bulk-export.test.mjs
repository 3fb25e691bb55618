// End-to-end test of FHIR Bulk Data $export (docs/bulk-data.md) with nothing but HTTP and the
// `sund` binary, on the Synthea population ($SUND_TEST_DATA/synthea, 92,114 resources):
//
// 1. Round trip: `sund import` the population, `$export` it with a system/ token (Prefer:
//    respond-async, polling the status URL), download every NDJSON file, `sund import` the files
//    into a second, fresh data directory, and compare the two servers resource by resource (every
//    type, every id, the content without meta.versionId/lastUpdated), read through searches.
// 2. Crash: SIGKILL the server while an export is in the middle of its Observations, restart it
//    on the same data directory, and check that the job completes (or fails with a reason): no id
//    twice in its files, and the counts equal the population's.
//
// Prints the export's throughput (resources/s) as a test diagnostic. Skips, saying why, without
// the Synthea data.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { sundBin, syntheaFiles } from './lib/sund.mjs';

const synthea = syntheaFiles(120);
const skip = synthea.reason ? `Synthea data unavailable: ${synthea.reason}` : false;

// Runs `sund ARGS...`; resolves to { code, stdout, stderr }.
function sund(args) {
  return new Promise((resolve) => {
    execFile(sundBin, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// `sund serve` on `dataDir` (authorization on, as in production). Resolves once it listens.
async function serve(dataDir, extra = []) {
  const child = spawn(sundBin, ['serve', '--data', dataDir, '--port', '0', '--host', '127.0.0.1',
                                ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    exited.then(() => { clearTimeout(timer); reject(new Error(`sund exited: ${stderr}`)); });
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

async function importInto(dataDir, files) {
  const started = Date.now();
  const r = await sund(['import', '--data', dataDir, '--no-progress', ...files]);
  assert.equal(r.code, 0, `sund import failed: ${r.stderr}${r.stdout}`);
  return { seconds: (Date.now() - started) / 1000, summary: r.stdout.trim() };
}

// Current resources per type, from /metrics.
async function population(server) {
  const text = await (await fetch(`${server.origin}/metrics`)).text();
  const counts = new Map();
  for (const m of text.matchAll(/^sund_resources\{type="([A-Za-z]+)"\} (\d+)$/gm)) {
    counts.set(m[1], Number(m[2]));
  }
  return counts;
}

async function kickOff(server, query = '') {
  const res = await fetch(`${server.base}/$export${query}`, {
    headers: { ...server.auth, prefer: 'respond-async', accept: 'application/fhir+json' },
  });
  const body = await res.text();
  assert.equal(res.status, 202, body);
  const location = res.headers.get('content-location');
  assert.match(location, /\/fhir\/\$export-status\/[A-Za-z0-9_-]+$/);
  return location;
}

// Polls until the job is done: { status, body, headers }. `onProgress(xProgress)` may return
// true to stop polling (and return null).
async function poll(server, statusUrl, onProgress = () => false, intervalMs = 100) {
  for (;;) {
    const res = await fetch(statusUrl, { headers: server.auth });
    if (res.status !== 202) {
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    }
    await res.arrayBuffer();
    if (onProgress(res.headers.get('x-progress') ?? '')) return null;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Downloads every file of a manifest into `dir`; returns the file paths.
async function download(server, manifest, dir) {
  mkdirSync(dir, { recursive: true });
  const files = [];
  for (const o of manifest.output) {
    const res = await fetch(o.url, { headers: { ...server.auth, accept: 'application/fhir+ndjson' } });
    assert.equal(res.status, 200, `${o.url}: ${res.status}`);
    assert.equal(res.headers.get('content-type'), 'application/fhir+ndjson');
    const file = path.join(dir, o.url.slice(o.url.lastIndexOf('/') + 1));
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    files.push({ file, type: o.type, count: o.count });
  }
  return files;
}

// Reads NDJSON files line by line: per type, the ids and how often each came.
async function idsOf(files) {
  const byType = new Map();
  for (const { file, type, count } of files) {
    let lines = 0;
    const rl = readline.createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    for await (const line of rl) {
      if (line === '') continue;
      const r = JSON.parse(line);
      assert.equal(r.resourceType, type, `${file} holds a ${r.resourceType}`);
      if (!byType.has(type)) byType.set(type, new Map());
      const ids = byType.get(type);
      ids.set(r.id, (ids.get(r.id) ?? 0) + 1);
      lines++;
    }
    assert.equal(lines, count, `${file}: ${lines} lines, the manifest says ${count}`);
  }
  return byType;
}

// Every resource of `type` through searches (keyset pages), as id -> JSON without
// meta.versionId and meta.lastUpdated.
async function allOfType(server, type) {
  const out = new Map();
  let next = `${server.base}/${type}?_count=1000`;
  while (next) {
    const res = await fetch(next, { headers: server.auth });
    assert.equal(res.status, 200, `${next}: ${res.status}`);
    const bundle = await res.json();
    for (const e of bundle.entry ?? []) {
      if (e.search?.mode !== 'match') continue;
      const r = e.resource;
      if (r.meta) {
        delete r.meta.versionId;
        delete r.meta.lastUpdated;
        if (Object.keys(r.meta).length === 0) delete r.meta;
      }
      assert.ok(!out.has(r.id), `${type}/${r.id} twice in the search`);
      out.set(r.id, JSON.stringify(r));
    }
    next = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return out;
}

describe('bulk $export on the Synthea population', { skip }, () => {
  const work = mkdtempSync(path.join(tmpdir(), 'sund-bulk-e2e-'));
  const dataA = path.join(work, 'a');
  const dataB = path.join(work, 'b');
  let a;
  let populationA;

  before(async () => {
    const imported = await importInto(dataA, synthea.files);
    console.log(`# import of the Synthea bundles: ${imported.seconds.toFixed(1)} s (${imported.summary})`);
    a = await serve(dataA, ['--export-file-resources', '10000']);
    populationA = await population(a);
  });

  after(async () => {
    await a?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  // Verifies: REQ-API-085, REQ-API-086, REQ-API-098
  test('export, download, import elsewhere: the same resources', async (t) => {
    const total = [...populationA.values()].reduce((x, y) => x + y, 0);
    assert.ok(total >= 90_000, `the population has ${total} resources`);
    const started = Date.now();
    const statusUrl = await kickOff(a);
    let progressSeen = '';
    const done = await poll(a, statusUrl, (p) => { progressSeen ||= p; return false; }, 50);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.headers.get('content-type'), 'application/json');
    const manifest = done.body;
    assert.ok(!Number.isNaN(Date.parse(manifest.transactionTime)), manifest.transactionTime);
    assert.equal(manifest.requiresAccessToken, true);
    assert.ok(manifest.request.endsWith('/fhir/$export'), manifest.request);
    assert.deepEqual(manifest.error, []);
    const exported = manifest.output.reduce((n, o) => n + o.count, 0);
    t.diagnostic(`export: ${exported} resources in ${seconds.toFixed(2)} s ` +
                 `(${Math.round(exported / seconds)} resources/s, polled every 50 ms; ` +
                 `${manifest.output.length} files); first X-Progress: "${progressSeen}"`);
    // The server's own measure of the job (queued to completed), without the polling interval.
    const own = /bulk export \S+: completed, (\d+) resources in ([\d.]+) s/.exec(a.stderr());
    if (own) {
      t.diagnostic(`the server's log: ${own[1]} resources in ${own[2]} s ` +
                   `(${Math.round(Number(own[1]) / Number(own[2]))} resources/s)`);
    }
    console.log(`# export throughput: ${Math.round(exported / seconds)} resources/s ` +
                `(${exported} resources, ${seconds.toFixed(2)} s wall time from kick-off to manifest)`);

    const files = await download(a, manifest, path.join(work, 'export'));
    const ids = await idsOf(files);
    // Every current resource, once, in a file of its type.
    for (const [type, n] of populationA) {
      const got = ids.get(type);
      assert.equal(got?.size ?? 0, n, `${type}: ${got?.size ?? 0} exported of ${n}`);
      for (const [id, times] of got ?? []) assert.equal(times, 1, `${type}/${id} ${times} times`);
    }
    assert.equal(exported, total);

    // Round trip: the files into a fresh data directory.
    const imported = await importInto(dataB, [path.join(work, 'export')]);
    t.diagnostic(`import of the NDJSON files: ${imported.seconds.toFixed(1)} s (${imported.summary})`);
    const b = await serve(dataB);
    try {
      const populationB = await population(b);
      assert.deepEqual(Object.fromEntries([...populationB].sort()),
                       Object.fromEntries([...populationA].sort()));
      for (const type of populationA.keys()) {
        const [left, right] = await Promise.all([allOfType(a, type), allOfType(b, type)]);
        assert.equal(right.size, left.size, type);
        let differ = 0;
        for (const [id, json] of left) {
          if (right.get(id) !== json) {
            differ++;
            if (differ <= 3) {
              assert.fail(`${type}/${id} differs after the round trip:\n${json.slice(0, 400)}\n` +
                          `${(right.get(id) ?? '(missing)').slice(0, 400)}`);
            }
          }
        }
      }
    } finally {
      await b.stop();
    }
  });

  // Verifies: REQ-API-092, REQ-API-093
  test('SIGKILL during an export: after the restart the job completes, nothing twice', async (t) => {
    // Kill while the Observations (the largest type, late in the order) are being written.
    let statusPath;
    let killedAt = '';
    for (let attempt = 0; attempt < 3 && !killedAt; attempt++) {
      const statusUrl = await kickOff(a);
      statusPath = new URL(statusUrl).pathname;
      const finished = await poll(a, statusUrl, (p) => {
        const m = /^Observation: ([\d,]+) of/.exec(p);
        if (m && Number(m[1].replaceAll(',', '')) > 0) {
          a.child.kill('SIGKILL');
          killedAt = p;
          return true;
        }
        return false;
      }, 10);
      if (finished) t.diagnostic(`attempt ${attempt + 1}: the export finished before the kill`);
    }
    assert.ok(killedAt, 'could not kill the server while it exported Observations');
    const { signal } = await a.exited;
    assert.equal(signal, 'SIGKILL');
    t.diagnostic(`killed at X-Progress "${killedAt}"`);

    a = await serve(dataA, ['--export-file-resources', '10000']);
    const done = await poll(a, `${a.origin}${statusPath}`);
    if (done.status === 500) {
      // Allowed, if it says why.
      const why = done.body?.issue?.[0]?.diagnostics ?? '';
      assert.match(why, /the export failed: \S+/, JSON.stringify(done.body));
      t.diagnostic(`the resumed job failed: ${why}`);
      return;
    }
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.match(a.stderr(), /resuming after a restart/);
    const files = await download(a, done.body, path.join(work, 'after-kill'));
    const ids = await idsOf(files);
    for (const [type, n] of populationA) {
      const got = ids.get(type);
      assert.equal(got?.size ?? 0, n, `${type}: ${got?.size ?? 0} exported of ${n}`);
      for (const [id, times] of got ?? []) assert.equal(times, 1, `${type}/${id} ${times} times`);
    }
    const observationFiles = files.filter((f) => f.type === 'Observation');
    assert.ok(observationFiles.length >= 4, 'files of at most 10,000 resources');
    for (const f of files) assert.ok(f.count <= 10_000, `${f.file}: ${f.count}`);
  });
});
