// The monitoring worklist: every patient with an active DeviceUseStatement, their newest NEWS2
// and their alerts, unacknowledged alerts first, then by NEWS2, then by name. Live: the alert
// and NEWS2 topics' notifications update single rows (one render per animation frame; rows
// that did not change are not re-rendered), and a patient rising to the top or a new alert is
// announced politely.
import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { fhirUserRef, type Session } from '../auth';
import { announce } from '../components/announce';
import { ErrorMessage, Status, TableRegion } from '../components/ui';
import { get, refOf, type Resource } from '../fhir';
import { fmtShort, type Lang, s, useLang } from '../i18n';
import { go, href } from '../route';
import { ALERT_TOPIC, LiveFeed, type LiveState, NEWS2_TOPIC } from './live';
import { alertLevelText, levelClass, levelRank, NEWS2_CODE, news2Text } from './model';
import { type Change, type Row, WorklistStore } from './store';

const POLL_MS = 30_000;
// Long worklists render only the rows near the viewport (and spacers for the rest), so a live
// update lays out a few dozen rows instead of all of them (bench/portals.mjs: with 1,000 rows,
// layout was most of the page's work). Short ones render every row.
const WINDOW_FROM_ROWS = 150;
const OVERSCAN_ROWS = 20;

interface Range { first: number; last: number }

/** The rows of `count` that are near the viewport, for a table body whose rows are `rowPx` high. */
function useVisibleRange(body: { current: HTMLElement | null }, count: number, rowPx: number): Range {
  const [range, setRange] = useState<Range>({ first: 0, last: Math.min(count, 60) });
  useEffect(() => {
    if (count < WINDOW_FROM_ROWS) return;
    let frame = 0;
    const update = () => {
      frame = 0;
      const el = body.current;
      if (!el) return;
      const top = el.getBoundingClientRect().top;  // of the first row, in the viewport
      const first = Math.max(0, Math.floor(-top / rowPx) - OVERSCAN_ROWS);
      const last = Math.min(count, Math.ceil((window.innerHeight - top) / rowPx) + OVERSCAN_ROWS);
      setRange((r) => (r.first === first && r.last === last ? r : { first, last }));
    };
    const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
    update();
    window.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule, { passive: true });
    return () => {
      cancelAnimationFrame(frame);
      window.removeEventListener('scroll', schedule);
      window.removeEventListener('resize', schedule);
    };
  }, [body, count, rowPx]);
  return count < WINDOW_FROM_ROWS ? { first: 0, last: count } : range;
}

function topAlert(row: Row) {
  let best = row.alerts[0];
  for (const a of row.alerts) if (levelRank(a.level) > levelRank(best!.level)) best = a;
  return best;
}

class RowView extends Component<{ row: Row; lang: Lang; index: number }> {
  override shouldComponentUpdate(next: { row: Row; lang: Lang; index: number }) {
    return next.row !== this.props.row || next.lang !== this.props.lang ||
      next.index !== this.props.index;
  }

  override render() {
    const { row, index } = this.props;
    const t = s();
    const alert = topAlert(row);
    const band = row.news2?.band;
    return (
      <tr class={row.unack > 0 ? 'unack' : undefined} data-patient={row.id} aria-rowindex={index + 2}>
        <th scope="row">{row.name}</th>
        <td class="num" data-news2={row.news2?.score ?? row.news2?.partial ?? ''}>
          {band ? <span class={`tag tag-${band}`}>{news2Text(row.news2)}</span> : news2Text(row.news2)}
        </td>
        <td>{row.news2 ? fmtShort(row.news2.t) : ''}</td>
        <td data-alert={alert ? (row.unack > 0 ? 'unacknowledged' : 'acknowledged') : 'none'}>
          {alert ? (
            <>
              <span class={levelClass(alert.level)}>{alertLevelText(alert.level)}</span>
              {' '}{row.unack > 0 ? t.unacknowledged : t.acknowledgedAlert}
            </>
          ) : t.noAlert}
        </td>
        <td>
          <a href={href('clinician', 'patient', row.id)}>
            {t.open}<span class="visually-hidden"> {row.name}</span>
          </a>
        </td>
      </tr>
    );
  }
}

function OpenById() {
  const t = s();
  const [id, setId] = useState('');
  return (
    <form class="inline" aria-labelledby="open-by-id-h"
      onSubmit={(e) => { e.preventDefault(); if (id.trim()) go('clinician', 'patient', id.trim()); }}>
      <h2 id="open-by-id-h" class="visually-hidden">{t.openById}</h2>
      <div class="field">
        <label for="open-id">{t.openById}</label>
        <input id="open-id" type="text" value={id} autoComplete="off" spellcheck={false}
          onInput={(e) => setId((e.currentTarget as HTMLInputElement).value)} />
      </div>
      <button type="submit">{t.openButton}</button>
    </form>
  );
}

function describe(changes: Change[], before: string | undefined, sorted: Row[]): string | null {
  const t = s();
  for (const c of changes) {
    if (c.kind !== 'alert' || !c.previous) continue;
    const known = new Set(c.previous.alerts.map((a) => a.id));
    const fresh = c.row.alerts.find((a) => !known.has(a.id));
    if (fresh) return t.announceAlert(c.row.name, alertLevelText(fresh.level));
  }
  const top = sorted[0];
  if (top && before !== undefined && top.id !== before && changes.some((c) => c.row.id === top.id)) {
    return t.announceTop(top.name, news2Text(top.news2));
  }
  return null;
}

export function Worklist({ session }: { session: Session }) {
  const lang = useLang();
  const t = s();
  const token = session.accessToken;
  const store = useMemo(() => new WorklistStore({ token }), [token]);
  const [rows, setRows] = useState<Row[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [live, setLive] = useState<LiveState>('connecting');
  const body = useRef<HTMLTableSectionElement>(null);
  const [rowPx, setRowPx] = useState(40);
  const range = useVisibleRange(body, rows.length, rowPx);
  useEffect(() => {
    const first = body.current?.querySelector('tr[data-patient]') as HTMLElement | null;
    if (first && first.offsetHeight > 0 && first.offsetHeight !== rowPx) setRowPx(first.offsetHeight);
  });

  useEffect(() => {
    let top: string | undefined;
    let loaded = false;
    const unsubscribe = store.subscribe((changes) => {
      setRows(store.sorted);
      const message = loaded ? describe(changes, top, store.sorted) : null;
      if (message) announce(message);
      top = store.sorted[0]?.id;
      loaded = true;
    });
    const opts = { token };
    const onFocus = async (ref: string) => {
      const local = refOf(ref);
      if (!local) return;
      try {
        const r = await get<Resource>(local, opts);
        if (r.resourceType === 'Flag') {
          const patient = refOf((r.subject as { reference?: string } | undefined)?.reference)?.split('/')[1];
          if (!patient) return;
          const [unack] = await Promise.all([store.countUnacknowledged(patient), store.refreshNews2(patient)]);
          store.applyAlert(r, unack);
        } else if (r.resourceType === 'Observation'
          && ((r.code as { coding?: { code?: string }[] } | undefined)?.coding ?? []).some((c) => c.code === NEWS2_CODE)) {
          store.applyNews2(r);
        }
      } catch { /* gone or not visible: nothing to show */ }
    };
    let caughtUp = Date.now();
    const catchUp = () => {
      const since = caughtUp;
      caughtUp = Date.now();
      store.catchUp(since).catch(() => undefined);
    };
    const feed = new LiveFeed([ALERT_TOPIC, NEWS2_TOPIC], opts, fhirUserRef(session.fhirUser) ?? 'user',
      (ref) => { void onFocus(ref); },
      (state, reconnected) => {
        setLive(state);
        if (reconnected) catchUp();
      });
    caughtUp = Date.now();
    store.load().then(() => {
      setLoading(false);
      feed.start();
    }, (e) => {
      setLoading(false);
      setError(e);
    });
    // Events missed while the socket was down or dropped by a full queue: scores and flags
    // written since the last look.
    const poll = setInterval(catchUp, POLL_MS);
    return () => {
      clearInterval(poll);
      feed.stop();
      unsubscribe();
      store.dispose();
    };
  }, [store]);

  return (
    <>
      <h1>{t.clinicianTitle}</h1>
      <OpenById />
      <section aria-labelledby="worklist-h">
        <h2 id="worklist-h">{t.worklist}</h2>
        <p class="live-state" role="status">{t.live[live]}</p>
        {loading && <Status>{t.loading}</Status>}
        <ErrorMessage error={error} />
        {!loading && !error && (
          <TableRegion label={t.worklist}>
            <table class="worklist" aria-describedby="worklist-count" aria-rowcount={rows.length + 1}>
              <caption>
                {t.worklist} <span id="worklist-count">({t.worklistCount(rows.length)})</span>
              </caption>
              <thead>
                <tr aria-rowindex={1}>
                  <th scope="col">{t.colPatient}</th>
                  <th scope="col" class="num">{t.colNews2}</th>
                  <th scope="col">{t.colLast}</th>
                  <th scope="col">{t.colAlert}</th>
                  <th scope="col">{t.colAction}</th>
                </tr>
              </thead>
              <tbody ref={body}>
                {range.first > 0 && (
                  <tr class="spacer" aria-hidden="true">
                    <td colSpan={5} style={{ height: `${range.first * rowPx}px` }} />
                  </tr>
                )}
                {rows.slice(range.first, range.last).map((r, i) => (
                  <RowView key={r.id} row={r} lang={lang} index={range.first + i} />
                ))}
                {range.last < rows.length && (
                  <tr class="spacer" aria-hidden="true">
                    <td colSpan={5} style={{ height: `${(rows.length - range.last) * rowPx}px` }} />
                  </tr>
                )}
              </tbody>
            </table>
          </TableRegion>
        )}
      </section>
    </>
  );
}
