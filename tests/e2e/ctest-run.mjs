// ctest entry point: `node ctest-run.mjs FILE` runs `node --test FILE` in this folder, or exits
// with 77 (ctest SKIP_RETURN_CODE) and says why when the npm clients are not installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const missing = ['fhir-kit-client', 'fhirclient', 'jose', 'playwright-core']
  .filter((p) => !existsSync(path.join(here, 'node_modules', p, 'package.json')));
if (missing.length > 0) {
  console.log(`SKIPPED: ${missing.join(', ')} not installed in ${here}/node_modules; ` +
              'run scripts/install-deps.sh (or npm ci in tests/e2e)');
  process.exit(77);
}
const files = process.argv.slice(2);
const r = spawnSync(process.execPath, ['--test', ...files], { cwd: here, stdio: 'inherit' });
process.exit(r.status ?? 1);
