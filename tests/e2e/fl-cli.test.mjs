// `sund fl` as a research network's first try uses it (docs/fl.md): `sund fl simulate` runs a
// coordinator and nodes as separate processes on loopback, over mutual TLS with secure
// aggregation, on a table split evenly and label-skewed (Dirichlet 0.5), and reports the
// held-out AUC of the federated model next to the pooled fit and the nodes training alone.
// Also `sund fl certs` (the allow-list and foreign authorities: src/fl/transport_test.cc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sundBin } from './lib/sund.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const data = process.env.SUND_TEST_DATA;
const skip = data ? false : 'SUND_TEST_DATA is not set (../shared/data)';

function sund(...args) {
  const r = spawnSync(sundBin, args, { encoding: 'utf8', timeout: 300000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const split of ['iid', 'label-skew:0.5']) {
  test(`pima, 3 nodes, ${split}: federated logistic regression within 0.01 AUC of pooled`, { skip }, () => {
    const r = sund('fl', 'simulate', '--csv', path.join(data, 'tabular/pima_diabetes.csv'),
      '--task', path.join(root, 'examples/fl/logistic.json'), '--nodes', '3', '--split', split, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    for (const key of ['federated_auc', 'pooled_auc', 'local_auc_mean', 'rounds', 'bytes_per_node']) {
      assert.ok(key in j, key);
    }
    assert.equal(j.nodes_failed, 0);
    assert.equal(j.secure_aggregation, true);
    assert.ok(Math.abs(j.federated_auc - j.pooled_auc) <= 0.01, JSON.stringify(j));
    assert.ok(j.federated_auc > j.local_auc_mean, JSON.stringify(j));
  });
}

test('certificates: a pilot CA, private keys, never overwritten', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-fl-e2e-'));
  const pki = path.join(dir, 'pki');
  const made = sund('fl', 'certs', '--out', pki, '--nodes', 'site-a,site-b');
  assert.equal(made.code, 0, made.stderr);
  assert.equal(fs.statSync(path.join(pki, 'site-a.key')).mode & 0o077, 0);
  assert.equal(sund('fl', 'certs', '--out', pki, '--nodes', 'site-a').code, 1);  // never overwrites
  fs.rmSync(dir, { recursive: true, force: true });
});
