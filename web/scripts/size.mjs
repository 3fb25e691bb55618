// Prints the gzipped size of every file of a built portal (default: dist) and the total;
// exits 1 when the total is over the budget (300 KB). Precompressed copies (*.gz, which the
// server's build script writes beside each file) are not counted twice. Usage: npm run size -- DIR
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 300 * 1024;
const dir = path.resolve(process.argv[2] ?? 'dist');

function files(d) {
  return readdirSync(d).flatMap((n) => {
    const p = path.join(d, n);
    if (statSync(p).isDirectory()) return files(p);
    return n.endsWith('.gz') ? [] : [p];
  });
}

let total = 0;
const rows = files(dir).map((f) => {
  const raw = readFileSync(f);
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  return [path.relative(dir, f), raw.length, gz];
}).sort((a, b) => b[2] - a[2]);
for (const [name, raw, gz] of rows) {
  console.log(`${(gz / 1024).toFixed(1).padStart(8)} KB gz ${(raw / 1024).toFixed(1).padStart(8)} KB  ${name}`);
}
const verdict = total <= BUDGET ? 'within' : 'OVER';
console.log(`total ${(total / 1024).toFixed(1)} KB gzipped (${rows.length} files), ${verdict} the budget of ${BUDGET / 1024} KB`);
process.exit(total <= BUDGET ? 0 : 1);
