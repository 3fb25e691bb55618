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

// The checks: 3-5 nodes, both splits; the federated AUC within 0.01 of the pooled fit's,
// which scikit-learn's LogisticRegression (Debian's python3-sklearn) confirms on the same rows,
// and better than the nodes training alone.
const python = process.env.PYTHON || '/usr/bin/python3';
const cases = [
  { table: 'pima_diabetes.csv', task: 'logistic.json', nodes: '3' },
  { table: 'colon.csv', task: 'colon-logistic.json', nodes: '5' },
];
for (const c of cases) {
  for (const split of ['iid', 'label-skew:0.5']) {
    test(`${c.table}, ${c.nodes} nodes, ${split}: federated logistic regression within 0.01 AUC of pooled and of scikit-learn`, { skip }, () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-fl-e2e-'));
      const r = sund('fl', 'simulate', '--csv', path.join(data, 'tabular', c.table),
        '--task', path.join(root, 'examples/fl', c.task), '--nodes', c.nodes, '--split', split,
        '--out', out, '--json');
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      for (const key of ['federated_auc', 'pooled_auc', 'local_auc_mean', 'rounds', 'bytes_per_node']) {
        assert.ok(key in j, key);
      }
      assert.equal(j.nodes_failed, 0);
      assert.equal(j.secure_aggregation, true);
      assert.ok(Math.abs(j.federated_auc - j.pooled_auc) <= 0.01, JSON.stringify(j));
      assert.ok(j.federated_auc > j.local_auc_mean, JSON.stringify(j));
      const sk = spawnSync(python, [path.join(root, 'bench/fl_sklearn.py'), out], { encoding: 'utf8' });
      assert.equal(sk.status, 0, `scikit-learn (python3-sklearn): ${sk.stderr}`);
      const s = JSON.parse(sk.stdout);
      assert.ok(Math.abs(s.sklearn_auc - j.pooled_auc) <= 0.01, `${sk.stdout} ${r.stdout}`);
      assert.ok(Math.abs(j.federated_auc - s.sklearn_auc) <= 0.01, `${sk.stdout} ${r.stdout}`);
      // The results a researcher keeps: the model with per-node metrics, the log, the report.
      const model = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
      assert.equal(model.nodes.length, Number(c.nodes));
      for (const n of model.nodes) assert.ok(n.rows >= 20 && 'auc' in n.metrics, JSON.stringify(n));
      const rounds = fs.readFileSync(path.join(out, 'rounds.jsonl'), 'utf8').trim().split('\n');
      assert.equal(rounds.length, j.rounds);
      assert.ok(JSON.parse(rounds.at(-1)).loss < JSON.parse(rounds[0]).loss);
      assert.match(fs.readFileSync(path.join(out, 'report.html'), 'utf8'), /<svg/);
      fs.rmSync(out, { recursive: true, force: true });
    });
  }
}

for (const split of ['iid', 'label-skew:0.5']) {
  test(`colon recurrence, 5 nodes, ${split}: exact federated Cox within 1e-3 of the pooled fit`, { skip }, () => {
    const r = sund('fl', 'simulate', '--csv', path.join(data, 'tabular/colon.csv'),
      '--task', path.join(root, 'examples/fl/cox.json'), '--nodes', '5', '--split', split, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(j.metric, 'c_index');
    assert.equal(j.nodes_failed, 0);
    assert.ok(j.max_coef_diff <= 1e-3, JSON.stringify(j));
    assert.ok(Math.abs(j.federated_auc - j.pooled_auc) <= 1e-6, JSON.stringify(j));
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
