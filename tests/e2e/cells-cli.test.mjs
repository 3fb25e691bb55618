// `sund cells` as a lab uses it, through the command line (docs/cells.md): the ExampleHuman
// pipeline with a plate map and the HTML report, the accuracy check on the held-out
// DSB2018 images (--json for scripts), shards merged, the installed models checked against
// their own test tensors, and a folder with bad files that fail alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sundBin } from './lib/sund.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const data = process.env.SUND_TEST_DATA;
const human = data && path.join(data, 'cellprofiler-examplehuman');
const dsb = data && path.join(data, 'nuclei-dsb2018');
const pattern = '^(?P<Plate>.*)_(?P<Well>[A-P][0-9]{2})f(?P<Site>[0-9]{2})d(?P<Channel>[0-9])';
const skip = data ? false : 'SUND_TEST_DATA is not set (../shared/data)';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sund-cells-e2e-'));
const sund = (...args) => execFileSync(sundBin, ['cells', ...args], { encoding: 'utf8' });
const readCsv = (file) => {
  const [header, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
};

// Verifies: REQ-CELLS-008, REQ-CELLS-025, REQ-CELLS-041, REQ-CELLS-046, REQ-CELLS-079
// Verifies: REQ-CELLS-081
test('ExampleHuman: counts as CellProfiler, plate statistics and a self-contained report', { skip }, () => {
  const out = tmp();
  const map = path.join(out, 'plate-map.csv');
  fs.writeFileSync(map, 'well,compound,concentration,unit,role\nD03,DMSO,,,negative\n');
  const stdout = sund('analyze', '--images', human, '--pattern', pattern,
    '--channels', '0=DNA,1=PH3,2=cellbody', '--pipeline', path.join(root, 'examples/cells/examplehuman.json'),
    '--out', path.join(out, 'results'), '--plate-map', map);
  assert.match(stdout, /analyzed 1 image sets/);
  const [image] = readCsv(path.join(out, 'results/Image.csv'));
  assert.equal(image.Count_Nuclei, '289');
  assert.equal(image.Count_PH3, '22');
  assert.equal(image.Metadata_Well, 'D03');
  assert.equal(readCsv(path.join(out, 'results/Nuclei.csv')).length, 289);
  const wells = readCsv(path.join(out, 'results/Wells.csv'));
  assert.equal(wells[0].well, 'D03');
  assert.equal(Number(wells[0].mean), 289);
  const report = fs.readFileSync(path.join(out, 'results/report.html'), 'utf8');
  assert.match(report, /<svg/);
  assert.doesNotMatch(report, /(src|href)="https?:/);
  // The pipeline as run is written next to the results and runs again unchanged.
  const again = sund('analyze', '--images', human, '--pattern', pattern,
    '--channels', '0=DNA,1=PH3,2=cellbody', '--pipeline', path.join(out, 'results/pipeline.json'),
    '--out', path.join(out, 'again'), '--no-overlays');
  assert.match(again, /Nuclei +289 objects/);
  fs.rmSync(out, { recursive: true, force: true });
});

// Verifies: REQ-CELLS-050, REQ-CELLS-051
test('held-out DSB2018 fluorescence images: the classical pipeline reaches AP@0.5 0.72', { skip }, () => {
  const json = sund('eval', '--images', path.join(dsb, 'images'), '--labels', path.join(dsb, 'labels'),
    '--split', path.join(root, 'examples/cells/dsb2018-split.csv'), '--set', 'test', '--json');
  const r = JSON.parse(json);
  for (const key of ['images', 'ap50', 'ap', 'f1', 'count_error']) assert.ok(key in r, key);
  assert.equal(r.images, 80);
  assert.ok(r.ap50 >= 0.72, `ap50 ${r.ap50}`);
  assert.ok(r.ap < r.ap50);
  assert.ok(r.f1 > r.ap50);
});

// Verifies: REQ-CELLS-052
test('held-out DSB2018 fluorescence images: the shipped trained model reaches AP@0.5 0.80', { skip }, () => {
  const r = JSON.parse(sund('eval', '--images', path.join(dsb, 'images'), '--labels', path.join(dsb, 'labels'),
    '--split', path.join(root, 'examples/cells/dsb2018-split.csv'), '--set', 'test', '--model', 'default', '--json'));
  assert.equal(r.images, 80);
  assert.ok(r.ap50 >= 0.80, `ap50 ${r.ap50}`);
});

// Verifies: REQ-CELLS-047
test('shards of a run merge into the same tables', { skip }, () => {
  const out = tmp();
  const imgs = path.join(out, 'imgs');
  fs.mkdirSync(imgs);
  const ids = fs.readFileSync(path.join(root, 'examples/cells/dsb2018-split.csv'), 'utf8')
    .split('\n').filter((l) => l.endsWith(',val')).slice(0, 9).map((l) => l.split(',')[0]);
  for (const id of ids) fs.symlinkSync(path.join(dsb, 'images', `${id}.png`), path.join(imgs, `${id}.png`));
  sund('analyze', '--images', imgs, '--out', path.join(out, 'whole'), '--no-overlays');
  for (const k of [1, 2, 3]) {
    sund('analyze', '--images', imgs, '--out', path.join(out, `part${k}`), '--shard', `${k}/3`, '--no-overlays');
  }
  sund('merge', path.join(out, 'part2'), path.join(out, 'part1'), path.join(out, 'part3'),
    '--out', path.join(out, 'merged'));
  const strip = (rows) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('ExecutionTime_'))));
  for (const f of ['Image.csv', 'Nuclei.csv']) {
    assert.deepEqual(strip(readCsv(path.join(out, 'merged', f))), strip(readCsv(path.join(out, 'whole', f))), f);
  }
  fs.rmSync(out, { recursive: true, force: true });
});

// Verifies: REQ-CELLS-054
test('installed models reproduce their test tensors', { skip }, () => {
  const stdout = sund('models', 'test');
  assert.match(stdout, /0 failed/);
  assert.match(stdout, /ok +unet2d-nuclei-broad/);
  assert.match(stdout, /ok +nuclei-default/);
});

// Verifies: REQ-CELLS-003, REQ-CELLS-011, REQ-CELLS-042, REQ-CELLS-043, REQ-CELLS-044
test('bad files fail alone with a reason; the run goes on', { skip }, () => {
  const out = tmp();
  const imgs = path.join(out, 'imgs');
  fs.mkdirSync(imgs);
  fs.writeFileSync(path.join(imgs, 'empty.tif'), '');
  fs.writeFileSync(path.join(imgs, 'text.png'), 'not an image');
  fs.symlinkSync(path.join(human, 'AS_09125_050116030001_D03f00d0.tif'), path.join(imgs, 'good.tif'));
  const r = spawnSync(sundBin, ['cells', 'analyze', '--images', imgs, '--out', path.join(out, 'r')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /analyzed 3 image sets .* 2 failed/);
  assert.match(r.stdout, /empty\.tif: empty file/);
  assert.match(r.stdout, /text\.png: not a readable image/);
  assert.equal(readCsv(path.join(out, 'r/failures.csv')).length, 2);
  assert.equal(readCsv(path.join(out, 'r/Image.csv')).length, 1);
  // Nothing readable at all: the tables are still valid and the command says so.
  fs.rmSync(path.join(imgs, 'good.tif'));
  const none = spawnSync(sundBin, ['cells', 'analyze', '--images', imgs, '--out', path.join(out, 'r0')], { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /every image set failed/);
  assert.equal(readCsv(path.join(out, 'r0/failures.csv')).length, 2);
  // A pipeline with a misspelt parameter is refused before anything runs.
  fs.writeFileSync(path.join(out, 'p.json'), JSON.stringify({ sund_cells_pipeline: 1,
    steps: [{ module: 'IdentifyPrimaryObjects', name: 'Nuclei', image: 'DNA', diamter: [8, 80] }] }));
  const bad = spawnSync(sundBin, ['cells', 'analyze', '--images', imgs, '--out', path.join(out, 'r2'),
    '--pipeline', path.join(out, 'p.json')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown parameter 'diamter'/);
  fs.rmSync(out, { recursive: true, force: true });
});
