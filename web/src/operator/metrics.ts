// The Prometheus text format (0.0.4) as `sund serve` writes it at /metrics: one sample per
// line, `name{label="value",...} number`, comments starting with '#'.

export interface Sample { name: string; labels: Record<string, string>; value: number }

export type Scrape = { at: number; samples: Sample[] };

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** The value of one series (matching `labels`), summed when several match; undefined if absent. */
export function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const sm of samples) {
    if (sm.name !== name) continue;
    if (Object.entries(labels).some(([k, v]) => sm.labels[k] !== v)) continue;
    sum = (sum ?? 0) + sm.value;
  }
  return sum;
}

/** Per-second rate of a counter between two scrapes; undefined without both or after a reset. */
export function rate(prev: Scrape | undefined, cur: Scrape, name: string,
  labels: Record<string, string> = {}): number | undefined {
  if (!prev) return undefined;
  const a = value(prev.samples, name, labels);
  const b = value(cur.samples, name, labels);
  const dt = (cur.at - prev.at) / 1000;
  if (a === undefined || b === undefined || dt <= 0 || b < a) return undefined;
  return (b - a) / dt;
}
