// The monitoring worklist's state, outside the UI: one immutable row object per monitored
// patient (a changed row is a new object, an unchanged one keeps its identity, so the table
// re-renders only changed rows). Changes are batched: listeners hear about them once per
// animation frame, however many notifications arrived.
import { humanName } from '../components/ui';
import { type Bundle, get, nextLink, type Resource, type RequestOptions, searchAll } from '../fhir';
import { type Alert, NEWS2_TOKEN, news2Value, subjectId, toAlert, toNews2, type News2 } from './model';

export interface Row {
  id: string;
  name: string;
  news2?: News2;
  alerts: Alert[]; // active Flags
  unack: number; // in-progress alert Communications
}

export type Change = { kind: 'news2' | 'alert'; row: Row; previous?: Row };

const NEWS2_ELEMENTS = 'subject,effectiveDateTime,issued,valueInteger,interpretation,component,status,code';

const collator = new Intl.Collator(undefined, { numeric: true });

export function compareRows(a: Row, b: Row): number {
  const ua = a.unack > 0 ? 1 : 0;
  const ub = b.unack > 0 ? 1 : 0;
  if (ua !== ub) return ub - ua;
  const na = news2Value(a.news2);
  const nb = news2Value(b.news2);
  if (na !== nb) return nb - na;
  return collator.compare(a.name, b.name) || collator.compare(a.id, b.id);
}

function isoDay(msAgo: number) {
  return new Date(Date.now() - msAgo).toISOString().slice(0, 10);
}

export class WorklistStore {
  rows = new Map<string, Row>();
  sorted: Row[] = [];
  private listeners = new Set<(changes: Change[]) => void>();
  private pending: Change[] = [];
  private frame = 0;

  constructor(private readonly opts: RequestOptions) {}

  subscribe(f: (changes: Change[]) => void) {
    this.listeners.add(f);
    return () => { this.listeners.delete(f); };
  }

  private schedule(change?: Change) {
    if (change) this.pending.push(change);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.sorted = [...this.rows.values()].sort(compareRows);
      const changes = this.pending;
      this.pending = [];
      for (const f of this.listeners) f(changes);
    });
  }

  dispose() {
    cancelAnimationFrame(this.frame);
    this.listeners.clear();
  }

  /** The monitored patients, their newest NEWS2 and their alerts. */
  async load(): Promise<void> {
    const o = this.opts;
    const uses = await searchAll(
      'DeviceUseStatement?status=active&_include=DeviceUseStatement:subject&_count=1000', o);
    const patients = new Map(uses.included.filter((r) => r.resourceType === 'Patient').map((p) => [p.id!, p]));
    const rows = new Map<string, Row>();
    for (const u of uses.matches) {
      if (u.status !== 'active') continue; // the server does not search DeviceUseStatement.status
      const id = subjectId(u as { subject?: { reference?: string } });
      if (!id || rows.has(id)) continue;
      const p = patients.get(id);
      rows.set(id, { id, name: (p && humanName(p.name)) || id, alerts: [], unack: 0 });
    }
    const [scores, flags, comms] = await Promise.all([
      this.newestScores(new Set(rows.keys())),
      searchAll('Flag?status=active&_count=1000', o),
      searchAll('Communication?status=in-progress&category=alert&_count=1000', o),
    ]);
    for (const n of scores.values()) {
      const r = rows.get(n.subject);
      if (r) r.news2 = n;
    }
    for (const f of flags.matches) {
      const a = toAlert(f);
      if (a?.active) rows.get(a.subject)?.alerts.push(a);
    }
    for (const c of comms.matches) {
      if (c.status !== 'in-progress') continue;
      const r = rows.get(subjectId(c as { subject?: { reference?: string } }));
      if (r) r.unack++;
    }
    this.rows = rows;
    this.schedule();
  }

  /**
   * The newest NEWS2 of each of `wanted`, from a search newest first over the last days,
   * stopping once every wanted patient has one.
   */
  private async newestScores(wanted: Set<string>): Promise<Map<string, News2>> {
    const found = new Map<string, News2>();
    let url: string | undefined = `Observation?code=${encodeURIComponent(NEWS2_TOKEN)}&date=ge${isoDay(7 * 864e5)}`
      + `&_sort=-date&_count=1000&_elements=${NEWS2_ELEMENTS}`;
    for (let page = 0; url && page < 20 && found.size < wanted.size; page++) {
      const b: Bundle = await get<Bundle>(url, this.opts);
      for (const e of b.entry ?? []) {
        if (e.search?.mode === 'outcome' || !e.resource) continue;
        const n = toNews2(e.resource);
        if (n && wanted.has(n.subject) && !found.has(n.subject)) found.set(n.subject, n);
      }
      url = nextLink(b);
    }
    return found;
  }

  /** A NEWS2 Observation arrived (a notification's focus). */
  applyNews2(o: Resource) {
    const n = toNews2(o);
    if (!n) return;
    const old = this.rows.get(n.subject);
    if (!old || (old.news2 && old.news2.t > n.t)) return;
    const row = { ...old, news2: n };
    this.rows.set(n.subject, row);
    this.schedule({ kind: 'news2', row, previous: old });
  }

  /** A Flag arrived or changed; `unack` is the patient's count of open alert Communications. */
  applyAlert(f: Resource, unack?: number) {
    const a = toAlert(f);
    if (!a) return;
    const old = this.rows.get(a.subject);
    if (!old) return;
    const others = old.alerts.filter((x) => x.id !== a.id);
    const row: Row = { ...old, alerts: a.active ? [...others, a] : others, unack: unack ?? old.unack };
    this.rows.set(a.subject, row);
    this.schedule({ kind: 'alert', row, previous: old });
  }

  /** Counts a patient's open alert Communications again. */
  async countUnacknowledged(patient: string): Promise<number> {
    const r = await searchAll(
      `Communication?subject=${encodeURIComponent(`Patient/${patient}`)}&status=in-progress&category=alert&_count=1000`,
      this.opts);
    return r.matches.filter((c) => c.status === 'in-progress').length;
  }

  /** Reads a patient's newest NEWS2 again (an alert was raised: a new score came first). */
  async refreshNews2(patient: string) {
    const b = await get<Bundle>(`Observation?patient=${encodeURIComponent(patient)}`
      + `&code=${encodeURIComponent(NEWS2_TOKEN)}&_sort=-date&_count=1&_elements=${NEWS2_ELEMENTS}`, this.opts);
    const o = b.entry?.find((e) => e.search?.mode !== 'outcome')?.resource;
    if (o) this.applyNews2(o);
  }

  /** The newest scores since `since` (ms), for when notifications may have been missed. */
  async catchUp(since: number) {
    const from = new Date(since - 60_000).toISOString();
    const r = await searchAll(`Observation?code=${encodeURIComponent(NEWS2_TOKEN)}`
      + `&_lastUpdated=ge${encodeURIComponent(from)}&_count=1000&_elements=${NEWS2_ELEMENTS}`, this.opts, 20);
    for (const o of r.matches) this.applyNews2(o);
    const flags = await searchAll(`Flag?_lastUpdated=ge${encodeURIComponent(from)}&_count=1000`, this.opts, 20);
    for (const f of flags.matches) {
      const a = toAlert(f);
      if (a && this.rows.has(a.subject)) this.applyAlert(f, await this.countUnacknowledged(a.subject));
    }
  }
}
