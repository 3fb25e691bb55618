// Test helper: runs a private `sund serve` for one test file.
//
// startSund() makes a fresh data directory, optionally loads Bundles into it with `sund import`,
// starts `sund serve --data DIR --port 0` and resolves once the server has printed its
// "sund listening on http://HOST:PORT" line (no sleeping or polling). stop() ends the server
// with SIGTERM (SIGKILL if it has not exited after a grace period) and removes the directory.
//
// The binary comes from $SUND_BIN (ctest sets it to the built target), default
// ../../build/bin/sund relative to this folder. Synthea test data comes from
// $SUND_TEST_DATA/synthea; syntheaFiles() says why it is unavailable instead of guessing a path.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const sundBin = process.env.SUND_BIN
  ? path.resolve(process.env.SUND_BIN)
  : path.resolve(here, '../../../build/bin/sund');

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

// Servers still running: killed when this process ends without calling stop() (an uncaught
// error, or a runner interrupting the file), so no `sund serve` outlives its test file.
const running = new Map();  // child process -> its data directory
function killAll() {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  running.clear();
}
process.on('exit', killAll);
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + number);
  });
}

function requireBinary() {
  if (!existsSync(sundBin)) {
    throw new Error(`sund binary not found at ${sundBin}: build it (make build) or set SUND_BIN`);
  }
}

function run(bin, args) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${path.basename(bin)} ${args[0]} failed (${err.code ?? err.signal}): ` +
                         `${stderr || stdout}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

// The Synthea bundles the tests load: the organization and practitioner bundles that patient
// bundles reference conditionally, plus the `patients` smallest patient bundles (by file size, so
// the run stays fast; names break ties so the choice is stable). Returns { files } or { reason }.
export function syntheaFiles(patients = 3) {
  const root = process.env.SUND_TEST_DATA;
  if (!root) return { reason: 'SUND_TEST_DATA is not set (it names the shared test data folder)' };
  const dir = path.join(root, 'synthea');
  if (!existsSync(dir)) return { reason: `no Synthea data at ${dir}` };
  const names = readdirSync(dir).filter((n) => /\.json(\.bz2|\.gz)?$/.test(n)).sort();
  const infra = ['0-hospitalInformation', '0-practitionerInformation']
    .map((prefix) => names.find((n) => n.startsWith(prefix)));
  if (infra.some((n) => n === undefined)) {
    return { reason: `${dir} lacks the hospital/practitioner information bundles` };
  }
  const people = names
    .filter((n) => !n.startsWith('0-'))
    .map((n) => ({ n, size: statSync(path.join(dir, n)).size }))
    .sort((a, b) => a.size - b.size || a.n.localeCompare(b.n))
    .slice(0, patients)
    .map((x) => x.n);
  if (people.length < patients) return { reason: `${dir} has fewer than ${patients} patient bundles` };
  return { files: [...infra, ...people].map((n) => path.join(dir, n)) };
}

// The store of the servers startSund makes: the embedded one, or, with
// SUND_E2E_BACKEND=postgres (ctest's "pg.e2e." runs), a fresh database per server in the
// PostgreSQL of SUND_TEST_PG, dropped when the server stops. Returns { args, drop }.
let databases = 0;
function makeStore() {
  if (process.env.SUND_E2E_BACKEND !== 'postgres') return { args: [], drop: () => {} };
  const url = process.env.SUND_TEST_PG;
  if (!url) throw new Error('SUND_E2E_BACKEND=postgres needs SUND_TEST_PG (scripts/run-tests.sh sets it)');
  databases += 1;
  const name = `e2e_${process.pid}_${databases}`;
  execFileSync('psql', ['-qX', url, '-c', `CREATE DATABASE ${name}`]);
  return {
    args: ['--db', url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`)],
    drop: () => {
      try {
        execFileSync('psql', ['-qX', url, '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
      } catch { /* the server is gone with the test run */ }
    },
  };
}

// Starts a server. options.importFiles: Bundles loaded with `sund import` before it starts.
// Resolves to { baseUrl, fhirBase, port, pid, dataDir, token, mint(args), stop() }: `token` is a
// system/*.cruds access token minted offline with `sund token` (authorization is on, as in
// production); mint(['--patient', id]) mints others.
// `env`: more environment for `sund serve` (SUND_MQTT for the MQTT gateway).
// `dataDir`: serve this existing directory (left in place by stop()); `args`: more flags for
// `sund serve` (--db URL, --insecure-dev ...).
export async function startSund({ importFiles = [], env = {}, dataDir: given, args = [] } = {}) {
  requireBinary();
  const dataDir = given ?? mkdtempSync(path.join(tmpdir(), 'sund-e2e-'));
  // A caller that names its store (--db in args) keeps it; otherwise the run's backend decides.
  const store = args.includes('--db') ? { args: [], drop: () => {} } : makeStore();
  args = [...store.args, ...args];
  const cleanup = () => {
    store.drop();
    if (!given) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (importFiles.length > 0) {
      await run(sundBin, ['import', '--data', dataDir, ...store.args, '--no-progress',
                          ...importFiles]);
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  const child = spawn(sundBin, ['serve', '--data', dataDir, '--port', '0', '--host', '127.0.0.1',
                                ...args],
                      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  running.set(child, dataDir);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-8192); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    running.delete(child);
    resolve({ code, signal });
  }));

  let baseUrl;
  try {
    baseUrl = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `sund did not report "sund listening on" within ${READY_TIMEOUT_MS} ms; stderr:\n${stderr}`)),
        READY_TIMEOUT_MS);
      const lines = readline.createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const m = /^sund listening on (https?:\/\/\S+)$/.exec(line.trim());
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('error', (e) => { clearTimeout(timer); reject(e); });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`sund exited before listening (code ${code}, signal ${signal}); stderr:\n${stderr}`));
      });
    });
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    cleanup();
    throw e;
  }

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(grace);
    }
    cleanup();
  }

  const fhirBase = `${baseUrl}/fhir`;
  const mint = async (args) => (await run(sundBin, ['token', '--data', dataDir, '--aud', fhirBase,
                                                    ...args])).stdout.trim();
  let token;
  try {
    token = await mint(['--system']);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    baseUrl,
    fhirBase,
    port: Number(new URL(baseUrl).port),
    pid: child.pid,
    dataDir,
    token,
    mint,
    stderr: () => stderr,
    stop,
  };
}

// A plain fetch against the server, for the few checks where a client library hides the HTTP
// details the test is about (status codes, headers). Returns { status, headers, body }.
export async function rawFetch(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body = text;
  try { body = text ? JSON.parse(text) : undefined; } catch { /* not JSON: keep the text */ }
  return { status: res.status, headers: res.headers, body };
}
