// `sund audit verify` as an operator runs it on a data directory (src/audit/README.md): its
// verdict and exit status for an intact log (0), for a log with a finding (3: a record changed in
// audit.db, checkpoints the log's key did not sign), and for a log it cannot check (1: no audit
// log, its signing key or its salt missing; an error on stderr and no verdict). The log is made
// once by a real `sund serve` (authorization and audit on) answering a create and a read; each
// test works on its own copy of the log's files.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startSund, sundBin } from './lib/sund.mjs';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-audit-cli-'));
const logDir = path.join(root, 'log');
let copies = 0;

function verify(dir) {
  const r = spawnSync(sundBin, ['audit', 'verify', '--data', dir], { encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
const show = (r) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

// A fresh directory holding a copy of the log's files (audit.db, its WAL if any, the key, the
// salt), and nothing of the FHIR store.
function copyOfLog() {
  const dir = path.join(root, `copy-${++copies}`);
  fs.mkdirSync(dir);
  for (const name of fs.readdirSync(logDir)) {
    const from = path.join(logDir, name);
    if (name.startsWith('audit') && fs.statSync(from).isFile()) {
      fs.copyFileSync(from, path.join(dir, name));
    }
  }
  return dir;
}

const intactLine = /^audit log intact: (\d+) records, (\d+) checkpoints \(signed up to (\d+)\)$/m;

function hasSqlite3() {
  try {
    execFileSync('sh', ['-c', 'command -v sqlite3'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  fs.mkdirSync(logDir);
  const server = await startSund({ dataDir: logDir });
  try {
    const auth = { authorization: `Bearer ${server.token}` };
    const created = await fetch(`${server.fhirBase}/Patient`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Testesen', given: ['Revision'] }] }),
    });
    const body = await created.text();
    assert.equal(created.status, 201, body);
    const { id } = JSON.parse(body);
    const read = await fetch(`${server.fhirBase}/Patient/${id}`, { headers: auth });
    assert.equal(read.status, 200);
    await read.arrayBuffer();
  } finally {
    await server.stop();  // SIGTERM: the log signs its last checkpoint as it closes
  }
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

// Verifies: REQ-CLI-016
test('an intact log: exit 0 and a line with its records and checkpoints', () => {
  const r = verify(copyOfLog());
  assert.equal(r.code, 0, show(r));
  const m = intactLine.exec(r.stdout);
  assert.ok(m, show(r));
  assert.ok(Number(m[1]) >= 2, `records: ${m[1]}`);  // at least the create and the read
  assert.ok(Number(m[2]) >= 1, `checkpoints: ${m[2]}`);
  assert.equal(Number(m[3]), Number(m[1]), 'the last checkpoint covers every record');
});

// A read answered 200 rewritten in audit.db as refused (403): the verdict names the record.
// Verifies: REQ-CLI-016, REQ-AUD-025
test('a modified record: exit 3 and "modified" at that record', { skip: hasSqlite3() ? false : 'no sqlite3 CLI' }, () => {
  const dir = copyOfLog();
  const db = path.join(dir, 'audit.db');
  const seq = execFileSync('sqlite3', [db,
    `SELECT min(seq) FROM record WHERE CAST(leaf AS TEXT) LIKE '%"outcome":200%';`],
  { encoding: 'utf8' }).trim();
  assert.match(seq, /^\d+$/, 'no record of a read answered 200');
  execFileSync('sqlite3', [db,
    `UPDATE record SET leaf = CAST(replace(CAST(leaf AS TEXT), '"outcome":200', '"outcome":403') AS BLOB) WHERE seq = ${seq};`]);
  const r = verify(dir);
  assert.equal(r.code, 3, show(r));
  assert.match(r.stdout, new RegExp(`^audit log NOT intact: modified at record ${seq}: `, 'm'), show(r));
  assert.doesNotMatch(r.stdout, intactLine);
});

// The log's key replaced by another P-256 key: its checkpoints were not signed by that key.
// Verifies: REQ-CLI-016, REQ-AUD-054
test('checkpoints of another key: exit 3 and "bad checkpoint"', () => {
  const dir = copyOfLog();
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  fs.writeFileSync(path.join(dir, 'audit-key.pem'),
    privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const r = verify(dir);
  assert.equal(r.code, 3, show(r));
  assert.match(r.stdout, /^audit log NOT intact: bad checkpoint at record \d+: .*not the log's/m, show(r));
});

// Nothing to check against: an error naming what is missing, never a verdict.
// Verifies: REQ-CLI-016
test('no audit log, no signing key or no salt: exit 1, NotFound on stderr, no verdict', () => {
  const cases = [
    ['no audit log', () => path.join(root, `empty-${++copies}`), /^sund: NotFound: no audit log in /m],
    ['no signing key', () => {
      const dir = copyOfLog();
      fs.rmSync(path.join(dir, 'audit-key.pem'));
      return dir;
    }, /^sund: NotFound: .*audit-key\.pem/m],
    ['no salt', () => {
      const dir = copyOfLog();
      fs.rmSync(path.join(dir, 'audit-salt'));
      return dir;
    }, /^sund: NotFound: .*audit-salt/m],
  ];
  for (const [name, make, message] of cases) {
    const dir = make();
    fs.mkdirSync(dir, { recursive: true });
    const r = verify(dir);
    assert.equal(r.code, 1, `${name}: ${show(r)}`);
    assert.match(r.stderr, message, `${name}: ${show(r)}`);
    assert.doesNotMatch(r.stdout, /intact/, `${name}: ${show(r)}`);
  }
});
