// `sund fl` as a research network's first try uses it (docs/fl.md): `sund fl simulate` runs a
// coordinator and nodes as separate processes on loopback, over mutual TLS with secure
// aggregation, on a table split evenly and label-skewed (Dirichlet 0.5), and reports the
// held-out AUC of the federated model next to the pooled fit and the nodes training alone.
// Also `sund fl certs` (the allow-list and foreign authorities: src/fl/transport_test.cc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sundBin, syntheaFiles } from './lib/sund.mjs';

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
    // Verifies: REQ-FL-071
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
  // Verifies: REQ-FL-072
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

// Runs a process to its end; resolves with its exit code and output.
function run(args) {
  return new Promise((resolve) => {
    const p = spawn(sundBin, args);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// `sund stats --coordinator` with one `sund fl node` process per site; returns the released JSON
// and the nodes' outputs.
async function federatedStats(query, sites) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-stats-e2e-'));
  const names = sites.map((_, i) => `site-${i + 1}`);
  assert.equal(sund('fl', 'certs', '--out', path.join(dir, 'pki'), '--nodes', names.join(',')).code, 0);
  const port = 17000 + Math.floor(Math.random() * 20000);
  const coordinator = run(['stats', '--query', query, '--coordinator', `127.0.0.1:${port}`,
    '--certs', path.join(dir, 'pki'), '--allow', names.join(','), '--timeout', '60']);
  const nodes = sites.map((site, i) => run(['fl', 'node', '--coordinator', `127.0.0.1:${port}`,
    '--certs', path.join(dir, 'pki'), '--name', names[i], ...site]));
  const [c, ...n] = await Promise.all([coordinator, ...nodes]);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(c.code, 0, c.stderr);
  for (const r of n) assert.equal(r.code, 0, r.stderr);
  return { released: JSON.parse(c.stdout.trim().split('\n').pop()), nodes: n };
}

// Verifies: REQ-FL-037, REQ-FL-040
test('sund stats over 3 nodes with secure aggregation equals the pooled figures (colon)', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-stats-parts-'));
  const lines = fs.readFileSync(path.join(data, 'tabular/colon.csv'), 'utf8').trim().split('\n');
  const parts = [0, 1, 2].map((i) => {
    const file = path.join(dir, `part-${i}.csv`);
    fs.writeFileSync(file, [lines[0], ...lines.slice(1).filter((_, r) => r % 3 === i)].join('\n') + '\n');
    return ['--csv', file];
  });
  const query = path.join(root, 'examples/fl/stats-colon.json');
  const { released, nodes } = await federatedStats(query, parts);
  assert.equal(released.nodes, 3);
  delete released.nodes;
  const pooled = sund('stats', '--query', query, '--csv', path.join(data, 'tabular/colon.csv'));
  assert.equal(pooled.code, 0, pooled.stderr);
  assert.deepEqual(released, JSON.parse(pooled.stdout));
  assert.equal(released.results.patients.count, 929);
  for (const r of nodes) assert.match(r.stdout, /the statistics 'colon-overview' are released/);
  fs.rmSync(dir, { recursive: true, force: true });
});

// Verifies: REQ-FL-039, REQ-FL-073
test('sund stats over FHIR sites: each node reads its research cohort (--data --cohort)', { skip }, async (t) => {
  const bundles = syntheaFiles(60);
  if (bundles.reason) return t.skip(bundles.reason);
  const infra = bundles.files.slice(0, 2);
  const people = bundles.files.slice(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-stats-fhir-'));
  const cohort = path.join(root, 'examples/synth/cohort.json');
  const sites = [0, 1, 2].map((i) => {
    const site = path.join(dir, `site-${i}`);
    const files = [...infra, ...people.filter((_, k) => k % 3 === i)];
    const load = spawnSync(sundBin, ['import', '--data', site, '--no-progress', ...files], { encoding: 'utf8' });
    assert.equal(load.status, 0, load.stderr);
    return ['--data', site, '--cohort', cohort];
  });
  const query = path.join(dir, 'query.json');
  fs.writeFileSync(query, JSON.stringify({ id: 'cohort-overview', queries: [
    { name: 'patients', type: 'count' },
    { name: 'sex_by_diabetes', type: 'table', rows: 'sex', columns: 'diabetes' }] }));
  const { released, nodes } = await federatedStats(query, sites);
  // Each node extracted its consented cohort; the released count is their sum.
  const extracted = nodes.map((r) => Number(/extracted (\d+) patients/.exec(r.stdout)[1]));
  const total = extracted.reduce((a, b) => a + b, 0);
  assert.ok(extracted.every((n) => n > 0), JSON.stringify(extracted));
  assert.equal(released.results.patients.count, total);
  const cells = released.results.sex_by_diabetes.cells;
  const shown = cells.filter((c) => !c.suppressed).reduce((a, c) => a + c.count, 0);
  assert.ok(shown <= total);
  for (const c of cells) assert.ok(c.suppressed ? c.count === null : c.count >= 5, JSON.stringify(c));
  fs.rmSync(dir, { recursive: true, force: true });
});

// A federation's files in `dir` for the real-process tests: the encoding that a simulation on
// pima fitted (encoding.json), pima's rows split over `sites` (SITE.csv; `rewrite(site, lines)`
// may change a site's lines), the logistic example task with `task` merged in (task.json), and
// the sites' certificates (pki/). Returns pima's lines and a port for the coordinator.
function federation(dir, sites, task, rewrite = (_site, lines) => lines) {
  const pima = path.join(data, 'tabular/pima_diabetes.csv');
  const example = path.join(root, 'examples/fl/logistic.json');
  const sim = sund('fl', 'simulate', '--csv', pima, '--task', example, '--nodes', '3', '--out',
    path.join(dir, 'sim'), '--json');
  assert.equal(sim.code, 0, sim.stderr);
  fs.writeFileSync(path.join(dir, 'encoding.json'),
    JSON.stringify(JSON.parse(fs.readFileSync(path.join(dir, 'sim/model.json'), 'utf8')).encoding));
  const lines = fs.readFileSync(pima, 'utf8').trim().split('\n');
  sites.forEach((n, i) => fs.writeFileSync(path.join(dir, `${n}.csv`),
    rewrite(n, [lines[0], ...lines.slice(1).filter((_, r) => r % sites.length === i)]).join('\n') + '\n'));
  fs.writeFileSync(path.join(dir, 'task.json'),
    JSON.stringify({ ...JSON.parse(fs.readFileSync(example, 'utf8')), ...task }));
  assert.equal(sund('fl', 'certs', '--out', path.join(dir, 'pki'), '--nodes', sites.join(',')).code, 0);
  return { lines, port: 17000 + Math.floor(Math.random() * 20000) };
}

// Robustness with real processes: a node killed (SIGKILL) mid-training leaves the rounds to the
// others; the coordinator killed and started again resumes from its checkpoint, and the nodes
// join it again.
// Verifies: REQ-FL-034, REQ-FL-035
test('a node killed mid-training, a coordinator killed and restarted: training completes', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-fl-robust-'));
  const names = ['site-1', 'site-2', 'site-3', 'site-4'];
  const { port } = federation(dir, names, { rounds: 150, round_timeout_s: 2, min_clients: 3 });
  const out = path.join(dir, 'out');
  const coordinatorArgs = ['fl', 'coordinator', '--task', path.join(dir, 'task.json'), '--listen',
    `127.0.0.1:${port}`, '--certs', path.join(dir, 'pki'), '--allow', names.join(','),
    '--encoding', path.join(dir, 'encoding.json'), '--out', out, '--join-timeout', '60'];
  // Resolves once the coordinator's log shows round `n`.
  const roundSeen = (proc, n) => new Promise((resolve) => {
    let text = '';
    proc.stderr.on('data', (d) => {
      text += d;
      if (new RegExp(`^round ${n}:`, 'm').test(text)) resolve();
    });
  });
  const nodes = names.map((n) => {
    const p = spawn(sundBin, ['fl', 'node', '--coordinator', `127.0.0.1:${port}`, '--certs',
      path.join(dir, 'pki'), '--name', n, '--csv', path.join(dir, `${n}.csv`)]);
    p.said = '';
    p.stderr.on('data', (d) => { p.said += d; });
    p.done = new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
    return p;
  });
  let coordinator = spawn(sundBin, coordinatorArgs);
  await roundSeen(coordinator, 5);
  nodes[3].kill('SIGKILL');
  await roundSeen(coordinator, 20);
  coordinator.kill('SIGKILL');
  await new Promise((resolve) => coordinator.on('close', resolve));
  const before = fs.readFileSync(path.join(out, 'rounds.jsonl'), 'utf8').trim().split('\n').map(JSON.parse);
  coordinator = spawn(sundBin, coordinatorArgs);
  let said = '';
  coordinator.stderr.on('data', (d) => { said += d; });
  const exit = await new Promise((resolve) => coordinator.on('close', resolve));
  const results = await Promise.all(nodes.map((p) => p.done));
  assert.equal(exit, 0, said.split('\n').slice(-5).join('\n') + nodes.map((p) => p.said).join('\n'));
  assert.equal(results[3].signal, 'SIGKILL');
  for (const r of results.slice(0, 3)) assert.equal(r.code, 0, JSON.stringify(r));
  const log = fs.readFileSync(path.join(out, 'rounds.jsonl'), 'utf8').trim().split('\n').map(JSON.parse);
  // A round without the killed node still completed, with the other three.
  assert.ok(log.some((r) => r.dropped >= 1 && r.contributed === 3), JSON.stringify(log.slice(0, 10)));
  // The restarted coordinator went on from its checkpoint, not from round 1.
  const resumedAt = log[before.length].round;
  assert.ok(resumedAt > 1 && resumedAt <= before.at(-1).round + 1, `resumed at ${resumedAt}`);
  const model = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  assert.equal(model.rounds, 150);
  assert.ok(model.overall.auc_weighted_mean > 0.75, JSON.stringify(model.overall));
  fs.rmSync(dir, { recursive: true, force: true });
});

// The coordinator's admission check with real processes: a site with fewer rows than the task's
// min_samples is refused when it joins, and the node stops with the coordinator's reason.
// Verifies: REQ-FL-078
test('a node with fewer rows than min_samples is refused, and told why', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-fl-admit-'));
  const { lines, port } = federation(dir, ['site-1'], { min_samples: 50, min_clients: 3 });
  fs.writeFileSync(path.join(dir, 'small.csv'), lines.slice(0, 11).join('\n') + '\n');  // 10 rows
  const coordinator = spawn(sundBin, ['fl', 'coordinator', '--task', path.join(dir, 'task.json'),
    '--listen', `127.0.0.1:${port}`, '--certs', path.join(dir, 'pki'), '--allow', 'site-1',
    '--encoding', path.join(dir, 'encoding.json'), '--out', path.join(dir, 'out'), '--join-timeout', '60']);
  const coordinatorClosed = new Promise((resolve) => coordinator.on('close', resolve));
  try {
    const node = spawn(sundBin, ['fl', 'node', '--coordinator', `127.0.0.1:${port}`, '--certs',
      path.join(dir, 'pki'), '--name', 'site-1', '--csv', path.join(dir, 'small.csv')]);
    let said = '';
    node.stderr.on('data', (d) => { said += d; });
    const code = await new Promise((resolve) => node.on('close', resolve));
    assert.equal(code, 1, said);
    assert.match(said, /the coordinator refused: fewer rows than the task's min_samples \(50\)/);
  } finally {
    coordinator.kill('SIGKILL');
    await coordinatorClosed;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A node has no encoding of its own: `sund fl node` encodes its rows with the encoding the
// coordinator sends, so its fingerprint is the coordinator's whatever the layout of its table. A
// site whose columns come in reverse order, after a column of its own, joins and trains.
// Verifies: REQ-FL-080
test("a node encodes with the coordinator's encoding: another column layout joins and trains", { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-fl-encoding-'));
  const names = ['site-1', 'site-2', 'site-3'];
  // Site 3: its columns reversed after one of its own. The file has no commas inside quotes, so
  // a split on ',' gives the cells.
  const { port } = federation(dir, names, { rounds: 3, min_clients: 3 }, (site, rows) =>
    site !== 'site-3' ? rows
      : rows.map((l, r) => [r === 0 ? '"site_note"' : '"local"', ...l.split(',').reverse()].join(',')));
  const out = path.join(dir, 'out');
  const coordinator = spawn(sundBin, ['fl', 'coordinator', '--task', path.join(dir, 'task.json'),
    '--listen', `127.0.0.1:${port}`, '--certs', path.join(dir, 'pki'), '--allow', names.join(','),
    '--encoding', path.join(dir, 'encoding.json'), '--out', out, '--join-timeout', '60']);
  let coordinatorSaid = '';
  coordinator.stderr.on('data', (d) => { coordinatorSaid += d; });
  const coordinatorClosed = new Promise((resolve) => coordinator.on('close', resolve));
  try {
    const nodes = names.map((n) => {
      const p = spawn(sundBin, ['fl', 'node', '--coordinator', `127.0.0.1:${port}`, '--certs',
        path.join(dir, 'pki'), '--name', n, '--csv', path.join(dir, `${n}.csv`)]);
      p.said = '';
      p.stdout.on('data', (d) => { p.said += d; });
      p.stderr.on('data', (d) => { p.said += d; });
      p.done = new Promise((resolve) => p.on('close', resolve));
      return p;
    });
    const codes = await Promise.all(nodes.map((p) => p.done));
    codes.forEach((code, i) => assert.equal(code, 0, `${names[i]}: ${nodes[i].said}`));
    assert.match(nodes[2].said, /node site-3: \d+ rows; the task is done/);
    assert.doesNotMatch(nodes[2].said, /refused/);
    assert.equal(await coordinatorClosed, 0, coordinatorSaid.split('\n').slice(-5).join('\n'));
    const model = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
    assert.equal(model.rounds, 3);
    const site3 = model.nodes.find((m) => m.node === 'site-3');
    assert.ok(site3 && site3.rows > 0, JSON.stringify(model.nodes));
  } finally {
    coordinator.kill('SIGKILL');
    await coordinatorClosed;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Verifies: REQ-FL-027
test('certificates: a pilot CA, private keys, never overwritten', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sund-fl-e2e-'));
  const pki = path.join(dir, 'pki');
  const made = sund('fl', 'certs', '--out', pki, '--nodes', 'site-a,site-b');
  assert.equal(made.code, 0, made.stderr);
  assert.equal(fs.statSync(path.join(pki, 'site-a.key')).mode & 0o077, 0);
  assert.equal(sund('fl', 'certs', '--out', pki, '--nodes', 'site-a').code, 1);  // never overwrites
  fs.rmSync(dir, { recursive: true, force: true });
});
