// `sund synth` as a data team uses it, through the command line (docs/synth.md): the issue's
// fidelity target on adult.csv at epsilon 1, reproducible generation, evaluation with a holdout
// and the HTML report, bad input that gets a clear error, and synthetic FHIR patients: a cohort
// extracted offline and through a running server, the server's asynchronous $synthesize for a
// researcher's token, Bundles loaded into a second server that answers searches over them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { rawFetch, startSund, sundBin, syntheaFiles } from './lib/sund.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const data = process.env.SUND_TEST_DATA;
const tabular = data && path.join(data, 'tabular');
const skip = data ? false : 'SUND_TEST_DATA is not set (../shared/data)';
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sund-synth-e2e-'));

function synth(...args) {
  const r = spawnSync(sundBin, ['synth', ...args], { encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
function ok(...args) {
  const r = synth(...args);
  assert.equal(r.code, 0, `sund synth ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

// Verifies: REQ-SYNTH-012, REQ-SYNTH-014, REQ-SYNTH-023, REQ-SYNTH-032
test('adult.csv at epsilon 1: average 2-way TVD <= 0.060, privacy recorded', { skip }, () => {
  const out = tmp();
  const model = path.join(out, 'adult.model.json');
  ok('fit', '--csv', path.join(tabular, 'adult.csv'), '--schema', path.join(tabular, 'adult-domain.json'),
    '--epsilon', '1', '--delta', '1e-6', '--seed', '7', '--out', model);
  const m = JSON.parse(fs.readFileSync(model, 'utf8'));
  assert.equal(m.method, 'mst');
  assert.equal(m.privacy.differentially_private, true);
  assert.ok(m.privacy.rho_spent <= m.privacy.rho_budget * (1 + 1e-9));
  assert.ok(m.privacy.epsilon_spent <= 1 + 1e-9);
  assert.deepEqual(m.privacy.steps.map((s) => s.step),
    ['1-way marginals', 'tree selection', '2-way marginals']);
  const rows = path.join(out, 'synthetic.csv');
  ok('generate', '--model', model, '--rows', '48842', '--seed', '7', '--out', rows);
  const r = JSON.parse(ok('evaluate', '--real', path.join(tabular, 'adult.csv'), '--synthetic', rows, '--json'));
  for (const key of ['tvd1', 'tvd2', 'corr_diff', 'tstr_auc', 'trtr_auc', 'dcr_share', 'mia_auc']) {
    assert.ok(key in r, key);
  }
  assert.ok(r.tvd2 <= 0.060, `tvd2 ${r.tvd2}`);
  assert.equal(r.tstr_auc, null);  // no holdout, no target
  assert.equal(r.mia_auc, null);
  // The same model and seed give the same rows; another seed other rows.
  const again = path.join(out, 'again.csv');
  ok('generate', '--model', model, '--rows', '1000', '--seed', '7', '--out', again);
  const first = fs.readFileSync(rows, 'utf8').split('\n').slice(0, 1001).join('\n');
  assert.equal(fs.readFileSync(again, 'utf8').trimEnd(), first.trimEnd());
  ok('generate', '--model', model, '--rows', '1000', '--seed', '8', '--out', again);
  assert.notEqual(fs.readFileSync(again, 'utf8').trimEnd(), first.trimEnd());
  fs.rmSync(out, { recursive: true, force: true });
});

// Verifies: REQ-SYNTH-028, REQ-SYNTH-033
test('evaluation with a holdout and a target: TSTR against TRTR, privacy figures, a report', { skip }, () => {
  const out = tmp();
  const [header, ...lines] = fs.readFileSync(path.join(tabular, 'pima_diabetes.csv'), 'utf8').trim().split('\n');
  const train = path.join(out, 'train.csv');
  const holdout = path.join(out, 'holdout.csv');
  fs.writeFileSync(train, [header, ...lines.filter((_, i) => i % 10 < 7)].join('\n') + '\n');
  fs.writeFileSync(holdout, [header, ...lines.filter((_, i) => i % 10 >= 7)].join('\n') + '\n');
  const schema = path.join(out, 'schema.json');
  ok('schema', '--csv', path.join(tabular, 'pima_diabetes.csv'), '--out', schema);
  const model = path.join(out, 'm.json');
  ok('fit', '--csv', train, '--schema', schema, '--epsilon', '3', '--seed', '1', '--out', model);
  const rows = path.join(out, 's.csv');
  ok('generate', '--model', model, '--rows', '537', '--out', rows);
  const report = path.join(out, 'report.html');
  const r = JSON.parse(ok('evaluate', '--real', train, '--holdout', holdout, '--synthetic', rows,
    '--target', 'diabetes', '--positive', 'pos', '--report', report, '--json'));
  assert.ok(r.trtr_auc > 0.75, `trtr ${r.trtr_auc}`);
  assert.ok(r.tstr_auc > 0.6, `tstr ${r.tstr_auc}`);  // the synthetic rows carry the signal
  assert.ok(r.mia_auc < 0.6, `mia ${r.mia_auc}`);
  assert.ok(r.dcr_share > 0.3 && r.dcr_share < 0.7, `dcr ${r.dcr_share}`);
  const html = fs.readFileSync(report, 'utf8');
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /(src|href)="https?:|<script/);
  fs.rmSync(out, { recursive: true, force: true });
});

// Verifies: REQ-SYNTH-003, REQ-SYNTH-007, REQ-SYNTH-022, REQ-SYNTH-066
test('bad input gets a clear error, never a crash', () => {
  const out = tmp();
  const file = (name, bytes) => {
    const p = path.join(out, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  let tenThousand = 'id,x\n';
  for (let i = 0; i < 10000; i++) tenThousand += `p${i},${i % 7}\n`;
  const cases = [
    [file('empty.csv', ''), /empty/],
    [file('ragged.csv', 'a,b\n1,2\n3\n'), /line 3/],
    [file('missing.csv', 'a,b\n1,\n2,\n'), /'b' has no values/],
    [file('many.csv', tenThousand), /'id' has more than 1000 distinct values/],
    [file('latin1.csv', Buffer.from('a,b\n1,x\n2,\xe6\n', 'latin1')), /line 3 is not UTF-8/],
  ];
  for (const [csv, message] of cases) {
    const r = synth('fit', '--csv', csv, '--out', path.join(out, 'm.json'));
    assert.equal(r.signal, null, `${csv}: killed by ${r.signal}`);
    assert.equal(r.code, 1, `${csv}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message);
    assert.ok(!fs.existsSync(path.join(out, 'm.json')));
  }
  const damaged = file('damaged.json', '{"format":"sund-synth-model","version":1,"method":"mst"');
  const r = synth('generate', '--model', damaged, '--rows', '5', '--out', path.join(out, 'x.csv'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /model file/);
  fs.rmSync(out, { recursive: true, force: true });
});

// Verifies: REQ-SYNTH-058, REQ-SYNTH-062, REQ-SYNTH-065, REQ-SYNTH-067
test('synthetic FHIR patients: extract a cohort (offline and over HTTP), generate, load, search', async (t) => {
  const bundles = syntheaFiles(40);
  if (bundles.reason) return t.skip(bundles.reason);
  const out = tmp();
  const cohort = path.join(root, 'examples/synth/cohort.json');
  // Offline, from a data directory no server holds.
  const offline = path.join(out, 'data');
  const load = spawnSync(sundBin, ['import', '--data', offline, '--no-progress', ...bundles.files],
    { encoding: 'utf8' });
  assert.equal(load.status, 0, load.stderr);
  const model = path.join(out, 'cohort.model.json');
  const fit = ok('fit', '--data', offline, '--cohort', cohort, '--epsilon', '1', '--seed', '3',
    '--out', model);
  const extracted = Number(/extracted (\d+) patients/.exec(fit)[1]);
  assert.ok(extracted > 5, fit);
  const source = await startSund({ importFiles: bundles.files });
  let target;
  try {
    // Through the running server, with a bearer token: the same table.
    const overHttp = ok('fit', '--url', source.fhirBase, '--token', source.token, '--cohort', cohort,
      '--epsilon', '1', '--seed', '3', '--out', path.join(out, 'http.model.json'));
    assert.equal(Number(/extracted (\d+) patients/.exec(overHttp)[1]), extracted);
    const denied = synth('fit', '--url', source.fhirBase, '--token', 'not-a-token', '--cohort', cohort,
      '--out', path.join(out, 'x.json'));
    assert.equal(denied.code, 1);
    assert.doesNotMatch(denied.stderr, /not-a-token/);

    // The same as an asynchronous operation of the server, for a researcher's token.
    const researcher = await source.mint(['--system', '--scope', 'sund/synth']);
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'cohort', valueString: fs.readFileSync(cohort, 'utf8') },
        { name: 'epsilon', valueDecimal: 1 },
        { name: 'rows', valueInteger: 200 },
        { name: '_outputFormat', valueString: 'application/fhir+json' },
      ],
    };
    const kickOff = (token) => rawFetch(`${source.fhirBase}/$synthesize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, prefer: 'respond-async',
        'content-type': 'application/fhir+json' },
      body: JSON.stringify(params),
    });
    assert.equal((await kickOff(source.token)).status, 403);  // clinical system scopes are not enough
    const started = await kickOff(researcher);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const status = started.headers.get('content-location');
    assert.match(status, /\/synth\/v1\/jobs\//);
    const auth = { headers: { authorization: `Bearer ${researcher}` } };
    let manifest;
    for (let i = 0; i < 300 && !manifest; i++) {
      const r = await rawFetch(status, auth);
      if (r.status === 200) manifest = r.body;
      else {
        assert.equal(r.status, 202, JSON.stringify(r.body));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(manifest, 'the job finished');
    assert.equal(manifest.extraction.extracted, extracted);
    assert.equal(manifest.privacy.epsilon, 1);
    const bundleUrl = manifest.output.find((o) => o.type === 'Bundle').url;
    const bundle = await rawFetch(bundleUrl, auth);
    assert.equal(bundle.status, 200);
    assert.equal(bundle.body.resourceType, 'Bundle');
    assert.equal((await rawFetch(bundleUrl)).status, 401);  // results need the token
    assert.equal((await rawFetch(status, { method: 'DELETE', ...auth })).status, 202);
    assert.equal((await rawFetch(status, auth)).status, 404);

    const fhir = path.join(out, 'fhir');
    ok('generate', '--model', model, '--rows', '1000', '--seed', '5', '--fhir', fhir);
    const files = fs.readdirSync(fhir).map((n) => path.join(fhir, n));
    assert.equal(files.length, 10);
    target = await startSund({ importFiles: files });
    const get = async (query) => {
      const r = await rawFetch(`${target.fhirBase}/${query}`, {
        headers: { authorization: `Bearer ${target.token}`, accept: 'application/fhir+json' },
      });
      assert.equal(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const patients = await get('Patient?_summary=count&_total=accurate');
    assert.equal(patients.total, 1000);
    const tagged = await get('Patient?identifier=urn:sund:synthetic|&_count=1');
    assert.equal(tagged.entry[0].resource.identifier[0].system, 'urn:sund:synthetic');
    const female = await get('Patient?gender=female&_summary=count&_total=accurate');
    assert.ok(female.total > 200 && female.total < 800, `female ${female.total}`);
    // Observations of the cohort's blood pressure, within the spec's public range.
    const bp = await get('Observation?code=http://loinc.org|8480-6&_count=50');
    assert.ok(bp.entry.length > 0);
    for (const e of bp.entry) {
      const v = e.resource.valueQuantity?.value ?? e.resource.component?.[0]?.valueQuantity?.value;
      if (v !== undefined) assert.ok(v >= 0 && v <= 300, `systolic ${v}`);
    }
    const encounters = await get('Encounter?_summary=count&_total=accurate');
    assert.ok(encounters.total > 0);
  } finally {
    await source.stop();
    if (target) await target.stop();
    fs.rmSync(out, { recursive: true, force: true });
  }
});
