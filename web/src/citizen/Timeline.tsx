// "My data": a chart of one kind of measurement over a period, then the timeline of
// conditions, prescriptions and days with measurements, newest first, shown in portions.
// The section gets data-ready="true" once the data is rendered (a stable hook for benchmarks).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Chart, type SeriesData } from '../components/Chart';
import { ErrorMessage, Status, useAsync } from '../components/ui';
import { fmtDate, fmtNumber, s } from '../i18n';
import { loadRecord, type Measurement, type PatientRecord } from './data';

export type PeriodKey = 'month' | 'year' | 'all';
const PERIOD_MS: Record<PeriodKey, number> = { month: 31 * 864e5, year: 366 * 864e5, all: Infinity };

interface Kind { key: string; label: string; count: number; components: boolean }

/** The kinds of measurement that have numbers, most frequent first. */
function kindsOf(ms: Measurement[]): Kind[] {
  const map = new Map<string, Kind>();
  for (const m of ms) {
    if (m.value === undefined && !m.components) continue;
    const k = map.get(m.key) ?? { key: m.key, label: m.label, count: 0, components: false };
    k.count++;
    if (m.components) k.components = true;
    map.set(m.key, k);
  }
  return [...map.values()].sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

export function seriesOf(ms: Measurement[], key: string, since: number): SeriesData[] {
  const byLabel = new Map<string, SeriesData>();
  for (const m of ms) {
    if (m.key !== key || m.t < since) continue;
    const parts = m.components ?? (m.value !== undefined ? [{ key: m.key, label: m.label, value: m.value, unit: m.unit }] : []);
    for (const c of parts) {
      let sr = byLabel.get(c.key);
      if (!sr) {
        sr = { label: c.label, unit: c.unit, points: [] };
        byLabel.set(c.key, sr);
      }
      sr.points.push({ t: m.t, v: c.value });
    }
  }
  return [...byLabel.values()];
}

type Item =
  | { kind: 'condition' | 'medication'; t: number; text: string; detail?: string }
  | { kind: 'measurement'; t: number; day: string; list: Measurement[] };

function itemsOf(rec: PatientRecord): Item[] {
  const days = new Map<string, Measurement[]>();
  for (const m of rec.measurements) {
    const d = new Date(m.t);
    const day = `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
    const list = days.get(day);
    if (list) list.push(m); else days.set(day, [m]);
  }
  const items: Item[] = rec.events.map((e) => ({ ...e }));
  for (const [day, list] of days) items.push({ kind: 'measurement', t: list[0]!.t, day, list });
  return items.sort((a, b) => b.t - a.t);
}

function valueText(m: Measurement): string {
  if (m.components) return m.components.map((c) => fmtNumber(c.value)).join('/') + (m.components[0]?.unit ? ` ${m.components[0].unit}` : '');
  if (m.value !== undefined) return `${fmtNumber(m.value)}${m.unit ? ` ${m.unit}` : ''}`;
  return m.text ?? '';
}

function TimelineList({ rec }: { rec: PatientRecord }) {
  const t = s();
  const [filter, setFilter] = useState<'all' | Item['kind']>('all');
  const [shown, setShown] = useState(40);
  const all = useMemo(() => itemsOf(rec), [rec]);
  const items = filter === 'all' ? all : all.filter((i) => i.kind === filter);
  const visible = items.slice(0, shown);
  const years: { year: number; items: Item[] }[] = [];
  for (const item of visible) {
    const year = new Date(item.t).getFullYear();
    const last = years[years.length - 1];
    if (last && last.year === year) last.items.push(item); else years.push({ year, items: [item] });
  }
  return (
    <section aria-labelledby="timeline-h">
      <h2 id="timeline-h">{t.timeline}</h2>
      <p>{t.timelineCounts(rec.counts.conditions, rec.counts.medications, rec.counts.observations)}</p>
      <div class="inline">
        <div class="field">
          <label for="tl-filter">{t.timelineFilter}</label>
          <select id="tl-filter" value={filter}
            onChange={(e) => { setFilter((e.currentTarget as HTMLSelectElement).value as typeof filter); setShown(40); }}>
            {(['all', 'condition', 'medication', 'measurement'] as const).map((k) => (
              <option key={k} value={k}>{t.timelineKinds[k]}</option>
            ))}
          </select>
        </div>
      </div>
      {items.length === 0 ? <p>{t.noData}</p> : (
        <>
          {years.map((y) => (
            <div key={y.year}>
              <h3 class="year">{y.year}</h3>
              <ul class="timeline">
                {y.items.map((item, i) => (
                  <li key={`${item.kind}-${item.t}-${i}`}>
                    <span class="when">{fmtDate(item.t)}</span>
                    {item.kind === 'measurement' ? (
                      <>
                        <span class="kind">{t.kindMeasurement}</span>
                        {t.measurementsOnDay(item.list.length)}:{' '}
                        {item.list.slice(0, 4).map((m) => `${m.label} ${valueText(m)}`).join('; ')}
                        {item.list.length > 4 ? ' …' : ''}
                      </>
                    ) : (
                      <>
                        <span class="kind">{item.kind === 'condition' ? t.kindCondition : t.kindMedication}</span>
                        {item.text}{item.detail ? ` (${item.detail})` : ''}
                      </>
                    )}
                  </li>
                ))}
              </ul>
            </div>
          ))}
          <p class="status" aria-live="polite">{t.shownOf(visible.length, items.length)}</p>
          {visible.length < items.length && (
            <button type="button" onClick={() => setShown(shown + 100)}>{t.showMore}</button>
          )}
        </>
      )}
    </section>
  );
}

function MeasurementChart({ rec }: { rec: PatientRecord }) {
  const t = s();
  const kinds = useMemo(() => kindsOf(rec.measurements), [rec]);
  const [key, setKey] = useState(() => kinds.find((k) => k.components)?.key ?? kinds[0]?.key ?? '');
  const [period, setPeriod] = useState<PeriodKey>('all');
  const since = period === 'all' ? -Infinity : Date.now() - PERIOD_MS[period];
  const series = useMemo(() => seriesOf(rec.measurements, key, since), [rec, key, since]);
  const kind = kinds.find((k) => k.key === key);
  if (kinds.length === 0) return <p>{t.noMeasurements}</p>;
  return (
    <section aria-labelledby="chart-h">
      <h2 id="chart-h">{t.measurements}</h2>
      <div class="inline">
        <div class="field">
          <label for="m-kind">{t.measurementType}</label>
          <select id="m-kind" value={key} onChange={(e) => setKey((e.currentTarget as HTMLSelectElement).value)}>
            {kinds.map((k) => <option key={k.key} value={k.key}>{k.label} ({k.count})</option>)}
          </select>
        </div>
        <fieldset>
          <legend>{t.period}</legend>
          <div class="choices-row">
            {(['month', 'year', 'all'] as const).map((p) => (
              <label class="choice" key={p}>
                <input type="radio" name="period" value={p} checked={period === p}
                  onChange={() => setPeriod(p)} />
                {t.periods[p]}
              </label>
            ))}
          </div>
        </fieldset>
      </div>
      <Chart id="citizen-chart" title={kind?.label ?? ''} series={series} />
    </section>
  );
}

export function Timeline({ patient, token }: { patient: string; token: string }) {
  const started = useRef(performance.now());
  const { data, error, loading } = useAsync(() => loadRecord(patient, token), [patient, token]);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!data || !box.current) return;
    const el = box.current;
    const frame = requestAnimationFrame(() => {
      el.dataset.ready = 'true';
      el.dataset.renderMs = String(Math.round(performance.now() - started.current));
      performance.mark('sund-timeline-ready');
    });
    return () => cancelAnimationFrame(frame);
  }, [data]);
  return (
    <div id="timeline" ref={box}>
      {loading && <Status>{s().loading}</Status>}
      <ErrorMessage error={error} />
      {data && (
        <>
          <MeasurementChart rec={data} />
          <TimelineList rec={data} />
        </>
      )}
    </div>
  );
}
