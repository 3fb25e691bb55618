// Benchmarks of the web portals (issue #10), in Debian's Chromium driven by playwright-core:
//
//  1. the citizen timeline of the Synthea patient with the most data (the largest bundle):
//     from a reload of the signed-in page to the timeline's data-ready mark, 5 runs;
//  2. the clinician worklist with N monitored patients (default 1,000) while `sund iomt
//     simulate` sends their measurements over HTTP: the page's frame times (requestAnimationFrame
//     deltas) while the live updates arrive, and how many rows changed;
//  3. the built web assets, gzipped (web/scripts/size.mjs).
//
// Usage: node bench/portals.mjs [SHARED_DIR]   (after make build; uses tests/e2e's npm packages)
// Env: PATIENTS (worklist size, 1000), SECONDS (live phase, 30).
import { execFile, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(path.join(root, 'tests/e2e/package.json'));
const { chromium } = require('playwright-core');
process.env.SUND_BIN ??= path.join(root, 'build/bin/sund');
const { startSund, sundBin } = await import('../tests/e2e/lib/sund.mjs');

const shared = process.argv[2] ?? path.resolve(root, '../shared');
const PATIENTS = Number(process.env.PATIENTS ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 30);
const PASSWORD = 'bench-password-1';
const webDir = path.join(root, 'build/web');

function sund(args, input = '') {
  return new Promise((resolve, reject) => {
    const child = execFile(sundBin, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`sund ${args.slice(0, 2).join(' ')}: ${stderr || stdout}`));
      else resolve(stdout);
    });
    child.stdin.end(input);
  });
}

async function fhir(server, pathAndQuery) {
  const r = await fetch(`${server.fhirBase}/${pathAndQuery}`, {
    headers: { authorization: `Bearer ${server.token}`, accept: 'application/fhir+json' },
  });
  if (!r.ok) throw new Error(`${pathAndQuery}: HTTP ${r.status}`);
  return r.json();
}

async function signIn(page, baseUrl, hash, username) {
  await page.goto(`${baseUrl}/app/${hash}`);
  await page.getByRole('button', { name: /^(Log ind|Sign in)$/ }).first().click();
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('button[type=submit]').first().click();
  await page.waitForURL((u) => u.pathname.startsWith('/app/') && !u.search.includes('code='));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

console.log(`# portals benchmark, ${new Date().toISOString()}, commit ` +
            `${(await new Promise((r) => execFile('git', ['-C', root, 'rev-parse', '--short', 'HEAD'],
                                                  (e, o) => r(String(o).trim()))))}`);

// 3. Assets: the build's own budget check (web/scripts/size.mjs), its total line.
const size = await new Promise((resolve, reject) => execFile(
  process.execPath, [path.join(root, 'web/scripts/size.mjs'), webDir],
  (err, stdout) => (err ? reject(err) : resolve(stdout.trim().split('\n').pop()))));
console.log(`assets: ${size}`);

const synthea = path.join(shared, 'data/synthea');
const names = readdirSync(synthea).filter((n) => n.endsWith('.json.bz2'));
const largest = names.filter((n) => !n.startsWith('0-'))
  .sort((a, b) => statSync(path.join(synthea, b)).size - statSync(path.join(synthea, a)).size)[0];
const files = [...names.filter((n) => n.startsWith('0-')), largest].map((n) => path.join(synthea, n));

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
try {
  if (!process.env.SKIP_TIMELINE) {
  // 1. Citizen timeline, the largest patient bundle.
  const server = await startSund({ importFiles: files, args: ['--web-dir', webDir] });
  try {
    const patients = await fhir(server, 'Patient?_count=1');
    const id = patients.entry[0].resource.id;
    const counts = {};
    for (const t of ['Observation', 'Condition', 'MedicationRequest']) {
      counts[t] = (await fhir(server, `${t}?patient=${id}&_summary=count`)).total;
    }
    await sund(['user', 'add', '--data', server.dataDir, '--username', 'citizen', '--role',
                'citizen', '--fhir-user', `Patient/${id}`, '--name', 'Bench', '--password-stdin'],
               `${PASSWORD}\n`);
    const page = await browser.newPage();
    await signIn(page, server.baseUrl, '#/citizen', 'citizen');
    await page.locator('[data-ready="true"]').waitFor({ timeout: 60_000 });
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      await page.reload();
      await page.locator('[data-ready="true"]').waitFor({ timeout: 60_000 });
      times.push(Date.now() - t0);
    }
    console.log(`citizen timeline, ${largest} (${counts.Observation} Observations, ` +
                `${counts.Condition} Conditions, ${counts.MedicationRequest} MedicationRequests): ` +
                `reload to rendered ${times.join(', ')} ms; median ${median(times)} ms`);
    await page.close();
  } finally {
    await server.stop();
  }

  }
  // 2. Worklist with PATIENTS monitored patients and live updates.
  const live = await startSund({ importFiles: files.slice(0, 2), args: ['--web-dir', webDir] });
  try {
    const practitioners = await fhir(live, 'Practitioner?_count=1');
    await sund(['user', 'add', '--data', live.dataDir, '--username', 'nurse', '--role',
                'practitioner', '--fhir-user', `Practitioner/${practitioners.entry[0].resource.id}`,
                '--name', 'Bench nurse', '--password-stdin'], `${PASSWORD}\n`);
    // The citizens and a day of their measurements, before the nurse looks.
    const simulate = (extra) => new Promise((resolve, reject) => {
      const child = spawn(sundBin, ['iomt', 'simulate', '--url', live.baseUrl, '--token', live.token,
                                    '--patients', String(PATIENTS), '--deteriorating',
                                    String(Math.max(1, PATIENTS / 100)), '--seed', '3', ...extra],
                          { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err = (err + d).slice(-2000); });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulate: ${err}`))));
    });
    const t0 = Date.now();
    await simulate(['--rate', '1', '--duration', '20', '--speed', '1080']);
    console.log(`worklist: ${PATIENTS} citizens, six hours of measurements each, sent in ` +
                `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const page = await browser.newPage();
    await signIn(page, live.baseUrl, '#/clinician', 'nurse');
    await page.locator('table tbody tr').nth(Math.min(PATIENTS, 20) - 1).waitFor({ timeout: 120_000 });
    await page.evaluate(() => {
      window.__frames = [];
      let last = performance.now();
      const tick = (t) => {
        window.__frames.push(t - last);
        last = t;
        if (!window.__stopFrames) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      // The page's own work: main-thread tasks over 50 ms. Frames that are late without a long
      // task were late for want of CPU (server, simulator and browser share the machine).
      window.__long = [];
      new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
        .observe({ type: 'longtask' });
      window.__mutations = 0;
      new MutationObserver((m) => { window.__mutations += m.length; })
        .observe(document.querySelector('table tbody'), { subtree: true, childList: true,
                                                            characterData: true });
    });
    // PROFILE=1: a CPU profile of the page during the live phase, self time by function.
    const cdp = process.env.PROFILE ? await page.context().newCDPSession(page) : null;
    const metrics = await page.context().newCDPSession(page);
    await metrics.send('Performance.enable');
    const before = Object.fromEntries((await metrics.send('Performance.getMetrics')).metrics
      .map((m) => [m.name, m.value]));
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
    }
    // Live: about 20 payloads a second (each a new NEWS2 score for its citizen), SECONDS long:
    // 1,000 citizens measuring every 50 minutes, sped up 60 times.
    const rate = (20 * 3600) / (PATIENTS * 60);
    const t1 = Date.now();
    await simulate(['--rate', rate.toFixed(2), '--duration', String(SECONDS), '--speed', '60']);
    const { frames, mutations, longTasks } = await page.evaluate(() => {
      window.__stopFrames = true;
      return { frames: window.__frames.slice(1), mutations: window.__mutations,
               longTasks: window.__long };
    });
    const wall = (Date.now() - t1) / 1000;
    const after = Object.fromEntries((await metrics.send('Performance.getMetrics')).metrics
      .map((m) => [m.name, m.value]));
    const spent = (k) => ((after[k] - before[k]) * 1000).toFixed(0);
    console.log(`worklist live, the page's main thread: script ${spent('ScriptDuration')} ms, ` +
                `style ${spent('RecalcStyleDuration')} ms, layout ${spent('LayoutDuration')} ms, ` +
                `all tasks ${spent('TaskDuration')} ms in ${wall.toFixed(1)} s`);
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      const self = new Map();
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const dt = new Map();
      profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
      for (const [id, us] of dt) {
        const f = byId.get(id).callFrame;
        const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
        self.set(key, (self.get(key) ?? 0) + us);
      }
      [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)
        .forEach(([k, us]) => console.log(`  profile ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`));
    }
    const long = frames.filter((f) => f > 50).length;
    console.log(`worklist live: ${frames.length} frames in ${wall.toFixed(1)} s ` +
                `(${(frames.length / wall).toFixed(1)} fps), frame time p50 ${pct(frames, 0.5).toFixed(1)} ` +
                `p99 ${pct(frames, 0.99).toFixed(1)} max ${Math.max(...frames).toFixed(1)} ms, ` +
                `${long} frames over 50 ms; ${mutations} DOM mutations in the worklist; ` +
                `${longTasks.length} main-thread tasks over 50 ms (longest ` +
                `${Math.max(0, ...longTasks).toFixed(0)} ms, ${longTasks.reduce((a, b) => a + b, 0).toFixed(0)} ms in all)`);
    // The window of rendered rows follows the scrolling: at the end, the last patient's row.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction((n) => [...document.querySelectorAll('tr[aria-rowindex]')]
      .some((r) => Number(r.getAttribute('aria-rowindex')) === n + 1), PATIENTS, { timeout: 5000 });
    const rendered = await page.locator('table.worklist tbody tr[data-patient]').count();
    console.log(`worklist: scrolled to the end, row ${PATIENTS} of ${PATIENTS} shown; ` +
                `${rendered} rows in the DOM`);
    await page.close();
  } finally {
    await live.stop();
  }
} finally {
  await browser.close();
}
