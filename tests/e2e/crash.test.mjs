// Durability: every write that sund acknowledged survives a killed process (SIGKILL in the
// middle of a stream of writes), as docs/storage.md states for the default --sync normal; the
// database opens again and serves every acknowledged version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { sundBin } from './lib/sund.mjs';

function serve(dataDir) {
  // Durability, not authorization, is under test here: --insecure-dev keeps the writers simple.
  const child = spawn(sundBin, ['serve', '--data', dataDir, '--port', '0', '--insecure-dev'],
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
