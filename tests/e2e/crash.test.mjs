// Durability: every write that sund acknowledged survives a killed process (SIGKILL in the
// middle of a stream of writes), as docs/storage.md states for the default --sync normal; the
// database opens again and serves every acknowledged version. And the audit log: with
// authorization on, every request answered 2xx before SIGKILL has its record after a restart,
// and `sund audit verify` passes (src/audit/README.md). And MQTT ingestion: sund killed while
// simulated devices publish through Mosquitto stores every measurement exactly once after the
// restart (docs/iomt.md, "At least once, stored once").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { sundBin } from './lib/sund.mjs';

// `secure`: with authorization, consent and the audit log, as in production; otherwise
// --insecure-dev keeps the writers simple where only the store's durability is under test.
// `env`: more environment (SUND_MQTT for the MQTT gateway).
function serve(dataDir, secure = false, env = {}) {
  const child = spawn(sundBin, ['serve', '--data', dataDir, '--port', '0',
                                ...(secure ? [] : ['--insecure-dev'])],
                      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sund did not start')), 20000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^sund listening on (http:\/\/\S+)$/.exec(line.trim());
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    exited.then(() => { clearTimeout(timer); reject(new Error('sund exited before listening')); });
  });
  return { child, exited, ready };
}

// Verifies: REQ-API-080
test('acknowledged writes survive SIGKILL during a stream of writes', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sund-crash-'));
  try {
    const first = serve(dataDir);
    const base = `${await first.ready}/fhir`;
    const acknowledged = [];
    let killed = false;
    // Eight writers in parallel; the process is killed after 150 acknowledged writes, while the
    // others are in flight.
    const writer = async (w) => {
      for (let i = 0; !killed; i++) {
        let res;
        try {
          res = await fetch(`${base}/Patient`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/fhir+json' },
            body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:test:crash', value: `${w}-${i}` }],
                                   name: [{ family: `Crashtest${w}`, given: [`N${i}`] }] }),
          });
        } catch {
          return;  // the connection died with the process
        }
        if (res.status !== 201) return;
        const body = await res.json();
        acknowledged.push({ id: body.id, version: body.meta.versionId, family: `Crashtest${w}` });
        if (acknowledged.length >= 150 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    const { signal } = await first.exited;
    assert.equal(signal, 'SIGKILL');
    assert.ok(acknowledged.length >= 150);

    const second = serve(dataDir);
    const base2 = `${await second.ready}/fhir`;
    try {
      for (const a of acknowledged) {
        const res = await fetch(`${base2}/Patient/${a.id}`);
        assert.equal(res.status, 200, `acknowledged Patient/${a.id} is missing after the crash`);
        const p = await res.json();
        assert.equal(p.meta.versionId, a.version);
        assert.equal(p.name[0].family, a.family);
      }
      // Search indexes are as durable as the resources.
      const count = await (await fetch(`${base2}/Patient?identifier=urn:test:crash|&_summary=count`)).json();
      assert.ok(count.total >= acknowledged.length);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// Runs `sund ARGS...`; resolves to { code, stdout, stderr }.
function sund(args) {
  return new Promise((resolve) => {
    execFile(sundBin, args, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// Verifies: REQ-API-082
test('every audited request answered 2xx survives SIGKILL in the log, which verifies', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sund-audit-crash-'));
  try {
    const first = serve(dataDir, true);
    const origin = await first.ready;
    const base = `${origin}/fhir`;
    const minted = await sund(['token', '--data', dataDir, '--system', '--aud', base]);
    assert.equal(minted.code, 0, minted.stderr);
    const auth = { authorization: `Bearer ${minted.stdout.trim()}` };
    // Eight clients, each creating a Patient and reading it back, with its own request ids.
    // The process is killed after 200 requests were answered 2xx, others in flight.
    const answered = [];  // { patient, requestId }
    let killed = false;
    const client = async (c) => {
      for (let i = 0; !killed; i++) {
        const requestId = `crash-${c}-${i}`;
        let res;
        try {
          res = await fetch(`${base}/Patient`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/fhir+json',
                       'x-request-id': `${requestId}-w` },
            body: JSON.stringify({ resourceType: 'Patient',
                                   name: [{ family: `Auditcrash${c}`, given: [`N${i}`] }] }),
          });
          if (res.status !== 201) return;
          const { id } = await res.json();
          answered.push({ patient: id, requestId: `${requestId}-w` });
          res = await fetch(`${base}/Patient/${id}`,
                            { headers: { ...auth, 'x-request-id': `${requestId}-r` } });
          if (res.status !== 200) return;
          await res.arrayBuffer();
          answered.push({ patient: id, requestId: `${requestId}-r` });
        } catch {
          return;  // the connection died with the process
        }
        if (answered.length >= 200 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, c) => client(c)));
    const { signal } = await first.exited;
    assert.equal(signal, 'SIGKILL');
    assert.ok(answered.length >= 200, `only ${answered.length} requests were answered`);

    // Restart (the log recovers its tree), then look up each answered request's record.
    const second = serve(dataDir, true);
    const base2 = `${await second.ready}/fhir`;
    try {
      const auditor = await sund(['token', '--data', dataDir, '--system', '--aud', base2]);
      assert.equal(auditor.code, 0, auditor.stderr);
      const headers = { authorization: `Bearer ${auditor.stdout.trim()}` };
      const byPatient = new Map();
      for (const a of answered) {
        if (!byPatient.has(a.patient)) byPatient.set(a.patient, []);
        byPatient.get(a.patient).push(a.requestId);
      }
      for (const [patient, ids] of byPatient) {
        const res = await fetch(`${base2}/AuditEvent?patient=Patient/${patient}&_count=100`,
                                { headers });
        assert.equal(res.status, 200);
        const text = await res.text();
        for (const id of ids) {
          assert.ok(text.includes(`"${id}"`), `request ${id} was answered 2xx but has no record`);
        }
      }
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const verified = await sund(['audit', 'verify', '--data', dataDir]);
    assert.equal(verified.code, 0, `audit verify: ${verified.stdout}${verified.stderr}`);
    assert.match(verified.stdout, /intact/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// A free port on loopback (closed again for the broker to bind).
function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Verifies: REQ-IOMT-048
test('MQTT measurements published while sund is killed are stored exactly once', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sund-mqtt-crash-'));
  const dataDir = path.join(dir, 'data');
  let broker;
  try {
    const port = await freePort();
    const config = await sund(['iomt', 'broker-config', '--dir', path.join(dir, 'broker'),
                               '--port', String(port), '--simulator']);
    assert.equal(config.code, 0, config.stderr);
    const [gatewayUrl, simulatorUrl] = config.stdout.trim().split('\n');
    broker = spawn(process.env.SUND_MOSQUITTO || '/usr/sbin/mosquitto',
                   ['-c', path.join(dir, 'broker', 'mosquitto.conf')], { stdio: 'ignore' });
    const env = { SUND_MQTT: gatewayUrl };
    const first = serve(dataDir, true, env);
    const origin = await first.ready;
    const minted = await sund(['token', '--data', dataDir, '--system', '--aud', `${origin}/fhir`]);
    assert.equal(minted.code, 0, minted.stderr);
    // 20 citizens, a round a minute each for a simulated hour in 6 s: 1,200 payloads.
    const simulation = new Promise((resolve) => {
      execFile(sundBin, ['iomt', 'simulate', '--url', origin, '--mqtt', simulatorUrl,
                         '--patients', '20', '--rate', '60', '--speed', '600', '--duration', '6',
                         '--seed', '3', '--token', minted.stdout.trim()],
               (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
    });
    await new Promise((r) => setTimeout(r, 2500));
    first.child.kill('SIGKILL');
    await first.exited;
    const second = serve(dataDir, true, env);
    const base = `${await second.ready}/fhir`;
    const done = await simulation;
    assert.equal(done.code, 0, done.stderr);
    const m = /simulate: (\d+) payloads, (\d+) measurements/.exec(done.stdout);
    assert.ok(m, done.stdout);
    // Blood pressure is one Observation for two measurements: one per payload.
    const expected = Number(m[2]) - Number(m[1]);
    const reminted = await sund(['token', '--data', dataDir, '--system', '--aud', base]);
    const auth = { authorization: `Bearer ${reminted.stdout.trim()}` };
    let stored = -1;
    for (let i = 0; i < 150 && stored !== expected; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${base}/Observation?identifier=urn:sund:iomt%7C&_summary=count`,
                              { headers: auth });
      stored = (await res.json()).total;
    }
    assert.equal(stored, expected, 'every published measurement stored exactly once');
    const rejected = await sund(['iomt', 'rejected', '--data', dataDir]);
    assert.match(rejected.stdout, /0 shown of 0 refused/);
    second.child.kill('SIGTERM');
    await second.exited;
    const verified = await sund(['audit', 'verify', '--data', dataDir]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  } finally {
    broker?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
