// The operator portal (#/operator): health (/healthz, /readyz), figures from /metrics with
// rates between two scrapes, the audit log's signed checkpoints (/audit/checkpoints, public),
// and, signed in as an administrator, the IoMT gateway's rejected messages
// (/iomt/v1/rejected). Refreshes every 10 seconds.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getSession, isExpired, type Session } from '../auth';
import { SignInButton } from '../components/SignIn';
import { ErrorMessage, TableRegion } from '../components/ui';
import { errorMessage, HttpError, UNAUTHORIZED_EVENT } from '../fhir';
import { fmtBytes, fmtDateTime, fmtNumber, s, useLang } from '../i18n';
import { parseMetrics, rate, type Scrape, value } from './metrics';

const REFRESH_MS = 10_000;

interface Health { healthz: boolean; readyz: boolean }
interface Checkpoint { size?: number; time?: number; kid?: string }
interface Checkpoints { size?: number; checkpoints?: Checkpoint[] }
interface Rejected {
  id: string | number;
  received?: string;
  device?: string;
  index?: number;
  reason?: string;
  detail?: string;
  payload?: unknown;
}

async function ok(path: string): Promise<boolean> {
  try {
    return (await fetch(path, { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}

async function json<T>(path: string, token?: string): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, cache: 'no-store' });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) {
    if (res.status === 401 && token) window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT));
    throw new HttpError(res.status, errorMessage(res.status, body), body);
  }
  return body as T;
}

/** Checkpoint times: microseconds since the epoch (or milliseconds, or seconds, or ISO text). */
function checkpointTime(v: unknown): number | undefined {
  if (typeof v === 'string') return Date.parse(v);
  if (typeof v !== 'number') return undefined;
  if (v > 1e14) return v / 1000;
  if (v > 1e11) return v;
  return v * 1000;
}

function Tile({ label, figure, sub }: { label: string; figure: string; sub?: string }) {
  return (
    <li class="tile">
      <span class="label">{label}</span>
      <span class="figure">{figure}</span>
      {sub && <span class="label">{sub}</span>}
    </li>
  );
}

function MetricsView({ prev, cur }: { prev?: Scrape; cur: Scrape }) {
  const t = s();
  const num = (v: number | undefined) => (v === undefined ? t.notReported : fmtNumber(v, 0));
  const per = (v: number | undefined) => (v === undefined ? undefined : t.perSecond(fmtNumber(v, 2)));
  const version = cur.samples.find((x) => x.name === 'sund_build_info')?.labels.version;
  const storage = value(cur.samples, 'sund_storage_bytes');
  const counters: [string, string, Record<string, string>?][] = [
    [t.requests, 'sund_http_requests_total'],
    [t.errors5xx, 'sund_http_errors_total'],
    [t.iomtPayloads, 'sund_iomt_payloads_total'],
    [t.iomtRejectedPayloads, 'sund_iomt_rejected_payloads_total'],
    [t.iomtFiled, 'sund_iomt_measurements_total', { outcome: 'filed' }],
    [t.iomtRefused, 'sund_iomt_measurements_total', { outcome: 'refused' }],
  ];
  const resources = cur.samples.filter((x) => x.name === 'sund_resources')
    .sort((a, b) => b.value - a.value);
  return (
    <>
      <ul class="tiles">
        <Tile label={t.version} figure={version ?? t.notReported} />
        <Tile label={t.storage} figure={storage === undefined ? t.notReported : fmtBytes(storage)} />
        {counters.map(([label, name, labels]) => (
          <Tile key={label} label={label} figure={num(value(cur.samples, name, labels))}
            sub={per(rate(prev, cur, name, labels))} />
        ))}
      </ul>
      {resources.length > 0 && (
        <TableRegion label={t.resources}>
          <table>
            <caption>{t.resources}</caption>
            <thead>
              <tr><th scope="col">{t.resourceType}</th><th scope="col" class="num">{t.count}</th><th scope="col" class="num">{t.rate}</th></tr>
            </thead>
            <tbody>
              {resources.map((r) => (
                <tr key={r.labels.type}>
                  <th scope="row">{r.labels.type}</th>
                  <td class="num">{fmtNumber(r.value, 0)}</td>
                  <td class="num">{per(rate(prev, cur, 'sund_resources', { type: r.labels.type ?? '' })) ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
    </>
  );
}

function RejectedView({ session, round }: { session: Session | null; round: number }) {
  const t = s();
  const [rows, setRows] = useState<Rejected[] | null>(null);
  const [error, setError] = useState<unknown>();
  const usable = session && !isExpired(session);
  useEffect(() => {
    if (!usable) return;
    json<{ rejected?: Rejected[] }>('/iomt/v1/rejected?_count=50', session.accessToken)
      .then((b) => { setRows(b.rejected ?? []); setError(undefined); }, setError);
  }, [usable, round]);
  return (
    <section aria-labelledby="rejected-h">
      <h2 id="rejected-h">{t.rejected}</h2>
      {!usable ? (
        <>
          <p>{t.rejSignIn}</p>
          <SignInButton portal="operator" />
        </>
      ) : (
        <>
          <ErrorMessage error={error} />
          {rows && rows.length === 0 && <p>{t.rejectedNone}</p>}
          {rows && rows.length > 0 && (
            <TableRegion label={t.rejected}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t.rejId}</th>
                    <th scope="col">{t.rejReceived}</th>
                    <th scope="col">{t.rejDevice}</th>
                    <th scope="col">{t.rejReason}</th>
                    <th scope="col">{t.rejDetail}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.id}>
                      <th scope="row">{r.id}</th>
                      <td>{fmtDateTime(r.received)}</td>
                      <td>{r.device ?? ''}</td>
                      <td>{r.reason ?? ''}{r.index !== undefined && r.index >= 0 ? ` (#${r.index})` : ''}</td>
                      <td>
                        {r.detail ?? ''}
                        {r.payload !== undefined && (
                          <details>
                            <summary>{t.rejPayload}<span class="visually-hidden"> {r.id}</span></summary>
                            <pre><code>{typeof r.payload === 'string' ? r.payload : JSON.stringify(r.payload, null, 2)}</code></pre>
                          </details>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
          )}
        </>
      )}
    </section>
  );
}

export default function Operator() {
  useLang();
  const t = s();
  const session = getSession('operator');
  const [health, setHealth] = useState<Health | null>(null);
  const [scrapes, setScrapes] = useState<{ prev?: Scrape; cur?: Scrape }>({});
  const [checkpoints, setCheckpoints] = useState<Checkpoints | null>(null);
  const [errors, setErrors] = useState<{ metrics?: unknown; checkpoints?: unknown }>({});
  const [updated, setUpdated] = useState<number | null>(null);
  const [round, setRound] = useState(0);
  const last = useRef<Scrape | undefined>();

  useEffect(() => {
    let live = true;
    const refresh = async () => {
      const [healthz, readyz] = await Promise.all([ok('/healthz'), ok('/readyz')]);
      if (!live) return;
      setHealth({ healthz, readyz });
      const errs: { metrics?: unknown; checkpoints?: unknown } = {};
      try {
        const res = await fetch('/metrics', { cache: 'no-store' });
        if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
        const cur: Scrape = { at: Date.now(), samples: parseMetrics(await res.text()) };
        const prev = last.current;
        last.current = cur;
        if (live) setScrapes({ prev, cur });
      } catch (e) {
        errs.metrics = e;
      }
      try {
        const cp = await json<Checkpoints>('/audit/checkpoints');
        if (live) setCheckpoints(cp);
      } catch (e) {
        errs.checkpoints = e;
      }
      if (!live) return;
      setErrors(errs);
      setUpdated(Date.now());
      setRound((r) => r + 1);
    };
    void refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);

  const list = checkpoints?.checkpoints ?? [];
  const newest = list.reduce<Checkpoint | undefined>((a, b) => (!a || (b.size ?? 0) >= (a.size ?? 0) ? b : a), undefined);
  const state = (good: boolean | undefined) => (
    good === undefined ? '' : <span class={good ? 'state-ok' : 'state-bad'}>{good ? t.ok : t.notOk}</span>
  );
  return (
    <>
      <h1>{t.operatorTitle}</h1>
      <p class="status" aria-live="off">{updated ? t.updatedAt(fmtDateTime(updated)) : t.loading}</p>
      <section aria-labelledby="health-h">
        <h2 id="health-h">{t.health}</h2>
        <dl class="facts">
          <dt>{t.healthz}</dt><dd data-health="healthz">{state(health?.healthz)}</dd>
          <dt>{t.readyz}</dt><dd data-health="readyz">{state(health?.readyz)}</dd>
        </dl>
      </section>
      <section aria-labelledby="metrics-h">
        <h2 id="metrics-h">{t.metric}</h2>
        <ErrorMessage error={errors.metrics} />
        {scrapes.cur && <MetricsView prev={scrapes.prev} cur={scrapes.cur} />}
      </section>
      <section aria-labelledby="cp-h">
        <h2 id="cp-h">{t.checkpoints}</h2>
        <ErrorMessage error={errors.checkpoints} />
        {checkpoints && (list.length === 0 ? <p>{t.cpNone}</p> : (
          <dl class="facts">
            <dt>{t.cpCount}</dt><dd>{fmtNumber(list.length, 0)}</dd>
            <dt>{t.cpSize}</dt><dd>{fmtNumber(newest?.size ?? checkpoints.size ?? 0, 0)}</dd>
            <dt>{t.cpTime}</dt><dd>{fmtDateTime(checkpointTime(newest?.time))}</dd>
          </dl>
        ))}
      </section>
      <RejectedView session={session} round={round} />
    </>
  );
}
