// Durability: every write that sund acknowledged survives a killed process (SIGKILL in the
// middle of a stream of writes), as docs/storage.md states for the default --sync normal; the
// database opens again and serves every acknowledged version. And the audit log: with
// authorization on, every request answered 2xx before SIGKILL has its record after a restart,
// and `sund audit verify` passes (src/audit/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { sundBin } from './lib/sund.mjs';

// `secure`: with authorization, consent and the audit log, as in production; otherwise
// --insecure-dev keeps the writers simple where only the store's durability is under test.
function serve(dataDir, secure = false) {
  const child = spawn(sundBin, ['serve', '--data', dataDir, '--port', '0',
                                ...(secure ? [] : ['--insecure-dev'])],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
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
