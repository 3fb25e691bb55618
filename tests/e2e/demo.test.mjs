// End-to-end test of `sund demo` (issue #10): from an empty data directory it loads a
// population, creates the demo accounts, starts its own Mosquitto and the simulated citizens, and
// prints where to open it. The test runs it on a small population (the two information bundles
// and one patient, through a folder of links) and checks what a newcomer would do first: open
// the printed portal URL, sign in with a printed login, see the home-monitoring data arrive
// over MQTT (Observations, NEWS2 scores).
//
// Skipped, with the reason, when the Synthea data or Debian's mosquitto is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { rawFetch, sundBin, syntheaFiles } from './lib/sund.mjs';

const MOSQUITTO = process.env.SUND_MOSQUITTO || '/usr/sbin/mosquitto';
const synthea = syntheaFiles(1);
const skipReason = !existsSync(MOSQUITTO)
  ? `${MOSQUITTO} is not installed (scripts/install-deps.sh installs mosquitto)`
  : synthea.reason;

describe('sund demo', { skip: skipReason }, () => {
  let dir;
  let child;
  let exited;
  const lines = [];
  let origin;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sund-demo-'));
    const population = path.join(dir, 'population');
    mkdirSync(population);
    for (const f of synthea.files) symlinkSync(f, path.join(population, path.basename(f)));
    child = spawn(sundBin, ['demo', '--data', path.join(dir, 'data'), '--port', '0',
                            '--population', population],
                  { stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((resolve) => child.once('exit', resolve));
    let stderr = '';
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    origin = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "sund listening" in 60 s: ${stderr}`)),
                               60_000);
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        const m = /^sund listening on (http:\/\/\S+)$/.exec(line.trim());
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      exited.then((code) => reject(new Error(`sund demo exited (${code}): ${stderr}`)));
    });
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Verifies: REQ-CLI-012, REQ-CLI-013
  test('prints the portals, the logins and a broker, and the portal URL answers', async () => {
    const text = lines.join('\n');
    assert.match(text, new RegExp(`portals\\s+${origin}/app/`));
    for (const user of ['borger', 'sygeplejerske', 'udvikler', 'admin', 'sandkasse']) {
      assert.match(text, new RegExp(`${user} / demo-${user}`), `no login for ${user}`);
    }
    assert.match(text, /MQTT broker\s+mqtt:\/\/127\.0\.0\.1:\d+/);
    const app = await rawFetch(`${origin}/app/`);
    // The portals are built by make into build/web, beside build/bin/sund.
    assert.equal(app.status, 200, 'the printed portal URL does not answer');
    assert.match(app.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const root = await fetch(`${origin}/`, { redirect: 'manual' });
    assert.equal(root.headers.get('location'), '/app/');
  });

  // Verifies: REQ-CLI-012, REQ-CLI-014
  test('the printed token reads, and the simulated devices report over MQTT', async () => {
    const token = /Bearer ([\w.-]+)/.exec(lines.join('\n'))?.[1];
    assert.ok(token, 'no token printed');
    const get = (q) => rawFetch(`${origin}/fhir/${q}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    // The devices measure three simulated days in about a minute; the first scores come fast.
    let news2 = 0;
    for (let i = 0; i < 120 && news2 === 0; i++) {
      const r = await get('Observation?code=http://snomed.info/sct|1104051000000101&_summary=count');
      assert.equal(r.status, 200);
      news2 = r.body.total;
      if (news2 === 0) await new Promise((res) => setTimeout(res, 500));
    }
    assert.ok(news2 > 0, 'no NEWS2 score within a minute');
    const devices = await get('DeviceUseStatement?status=active&_summary=count');
    assert.equal(devices.body.total, 30, 'the demo monitors 30 citizens');
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    const payloads = Number(/^sund_iomt_payloads_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
    assert.ok(payloads > 0, 'the gateway took no payload from the broker');
  });
});
