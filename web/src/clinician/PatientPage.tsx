// A monitored patient (#/clinician/patient/ID): vital-sign charts and the NEWS2 history for a
// chosen period, and the patient's alerts with "acknowledge" (the Communication completed with
// `received`) and "resolve" (the Flag inactive).
//
// Break-the-glass: a patient who blocked this clinician answers 404 (or 403). The page then
// offers emergency access with a required reason; from then on, for the rest of the visit (the
// tab's session), every request about this patient carries X-Purpose-Of-Use: ETREAT and
// X-Break-Glass-Reason, and a banner says that the access is logged and shown to the patient.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Session } from '../auth';
import { announce } from '../components/announce';
import { Chart, type Point, type SeriesData } from '../components/Chart';
import { ErrorMessage, humanName, Status, TableRegion } from '../components/ui';
import { type CodeableConcept, get, HttpError, type Quantity, type Resource, searchAll, update } from '../fhir';
import { fmtDate, fmtDateTime, s, useLang } from '../i18n';
import { href } from '../route';
import { alertLevelText, isAbout, levelClass, NEWS2_TOKEN, toAlert, toNews2 } from './model';

const LOINC = 'http://loinc.org';
const VITALS = {
  pulse: ['8867-4'],
  spo2: ['59408-5', '2708-6'],
  resp: ['9279-1'],
  temp: ['8310-5'],
  bp: ['85354-9'],
} as const;
type Vital = keyof typeof VITALS;
const UNITS: Record<Vital, string> = { pulse: '/min', spo2: '%', resp: '/min', temp: '°C', bp: 'mmHg' };
const SYSTOLIC = '8480-6';
const DIASTOLIC = '8462-4';

const PERIODS = { day: 864e5, week: 7 * 864e5, month: 31 * 864e5, all: Infinity } as const;
type PeriodKey = keyof typeof PERIODS;

const BTG_KEY = (id: string) => `sund.btg.${id}`;

/** A header value as UTF-8 bytes (fetch sends each character below 256 as one byte). */
function utf8Header(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 500);
  return String.fromCharCode(...new TextEncoder().encode(clean));
}

export function breakGlassHeaders(reason: string | null): Record<string, string> {
  return reason ? { 'X-Purpose-Of-Use': 'ETREAT', 'X-Break-Glass-Reason': utf8Header(reason) } : {};
}

interface Obs extends Resource {
  code?: CodeableConcept;
  effectiveDateTime?: string;
  effectiveInstant?: string;
  issued?: string;
  valueQuantity?: Quantity;
  component?: { code?: CodeableConcept; valueQuantity?: Quantity }[];
}

const loincOf = (cc: CodeableConcept | undefined) => cc?.coding?.filter((c) => c.system === LOINC).map((c) => c.code ?? '') ?? [];

function vitalSeries(observations: Obs[]): Record<Vital, SeriesData[]> {
  const t = s();
  const points: Record<string, Point[]> = { pulse: [], spo2: [], resp: [], temp: [], sys: [], dia: [] };
  for (const o of observations) {
    const time = Date.parse(o.effectiveDateTime ?? o.effectiveInstant ?? o.issued ?? '');
    if (Number.isNaN(time)) continue;
    const codes = loincOf(o.code);
    const v = o.valueQuantity?.value;
    for (const k of ['pulse', 'spo2', 'resp', 'temp'] as const) {
      if (typeof v === 'number' && codes.some((c) => (VITALS[k] as readonly string[]).includes(c))) {
        // SpO2 stored as a fraction by some devices: show per cent.
        points[k]!.push({ t: time, v: k === 'spo2' && v <= 1 ? v * 100 : v });
      }
    }
    if (codes.includes('85354-9')) {
      for (const c of o.component ?? []) {
        const cv = c.valueQuantity?.value;
        if (typeof cv !== 'number') continue;
        const cc = loincOf(c.code);
        if (cc.includes(SYSTOLIC)) points.sys!.push({ t: time, v: cv });
        if (cc.includes(DIASTOLIC)) points.dia!.push({ t: time, v: cv });
      }
    }
  }
  for (const list of Object.values(points)) list.sort((a, b) => a.t - b.t);
  const one = (k: Vital, list: Point[]) => [{ label: t.vitalNames[k], unit: UNITS[k], points: list }];
  return {
    pulse: one('pulse', points.pulse!),
    spo2: one('spo2', points.spo2!),
    resp: one('resp', points.resp!),
    temp: one('temp', points.temp!),
    bp: [
      { label: t.vitalNames.systolic, unit: UNITS.bp, points: points.sys! },
      { label: t.vitalNames.diastolic, unit: UNITS.bp, points: points.dia! },
    ],
  };
}

interface Data { vitals: Obs[]; news2: Resource[]; flags: Resource[]; comms: Resource[] }

async function loadData(id: string, since: number, opts: { token: string; headers: Record<string, string> }): Promise<Data> {
  const p = encodeURIComponent(id);
  const date = Number.isFinite(since) ? `&date=ge${encodeURIComponent(new Date(since).toISOString())}` : '';
  const codes = Object.values(VITALS).flat().map((c) => `${LOINC}|${c}`).join(',');
  const [vitals, news2, flags, comms] = await Promise.all([
    searchAll<Obs>(`Observation?patient=${p}&code=${encodeURIComponent(codes)}${date}&_count=1000`, opts),
    searchAll(`Observation?patient=${p}&code=${encodeURIComponent(NEWS2_TOKEN)}${date}&_count=1000`, opts),
    searchAll(`Flag?patient=${p}&_count=1000`, opts),
    searchAll(`Communication?subject=${encodeURIComponent(`Patient/${id}`)}&category=alert&_count=1000`, opts),
  ]);
  return { vitals: vitals.matches, news2: news2.matches, flags: flags.matches, comms: comms.matches };
}

function EmergencyAccess({ onStart }: { onStart: (reason: string) => void }) {
  const t = s();
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState(false);
  return (
    <section class="warning" aria-labelledby="btg-h">
      <h2 id="btg-h">{t.emergencyTitle}</h2>
      <p>{t.emergencyIntro}</p>
      <form noValidate onSubmit={(e) => {
        e.preventDefault();
        if (!reason.trim()) {
          setMissing(true);
          document.getElementById('btg-reason')?.focus();
          return;
        }
        onStart(reason.trim());
      }}>
        <div class="field">
          <label for="btg-reason">{t.emergencyReason}</label>
          <textarea id="btg-reason" required aria-required="true" aria-invalid={missing ? 'true' : undefined}
            aria-describedby={missing ? 'btg-missing' : undefined} value={reason}
            onInput={(e) => { setReason((e.currentTarget as HTMLTextAreaElement).value); setMissing(false); }} />
          {missing && <p id="btg-missing" class="error" role="alert">{t.emergencyReasonMissing}</p>}
        </div>
        <button type="submit" class="danger">{t.emergencyStart}</button>
      </form>
    </section>
  );
}

function Alerts({ data, opts, onChange }: {
  data: Data; opts: { token: string; headers: Record<string, string> }; onChange: (d: Data) => void;
}) {
  const t = s();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const alerts = data.flags.map((f) => ({ flag: f, alert: toAlert(f) }))
    .filter((x): x is { flag: Resource; alert: NonNullable<ReturnType<typeof toAlert>> } => x.alert !== null)
    .sort((a, b) => (b.alert.start ?? '').localeCompare(a.alert.start ?? ''));

  const act = async (key: string, f: () => Promise<Data>, message: string) => {
    setBusy(key);
    setError(undefined);
    try {
      onChange(await f());
      announce(message);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };
  const acknowledge = (comm: Resource) => act(`ack-${comm.id}`, async () => {
    const stored = await update({ ...comm, status: 'completed', received: new Date().toISOString() }, opts);
    return { ...data, comms: data.comms.map((c) => (c.id === stored.id ? stored : c)) };
  }, t.alertAcknowledgedMsg);
  const resolve = (flag: Resource) => act(`res-${flag.id}`, async () => {
    const period = { ...(flag.period as object | undefined), end: new Date().toISOString() };
    const stored = await update({ ...flag, status: 'inactive', period }, opts);
    return { ...data, flags: data.flags.map((f) => (f.id === stored.id ? stored : f)) };
  }, t.alertResolvedMsg);

  return (
    <section aria-labelledby="alerts-h">
      <h2 id="alerts-h">{t.alerts}</h2>
      <ErrorMessage error={error} />
      {alerts.length === 0 ? <p>{t.noAlerts}</p> : (
        <TableRegion label={t.alerts}>
          <table class="alerts">
            <thead>
              <tr>
                <th scope="col">{t.alertRaised}</th>
                <th scope="col">{t.colAlert}</th>
                <th scope="col">{t.alertState}</th>
                <th scope="col">{t.colAction}</th>
              </tr>
            </thead>
            <tbody>
              {alerts.map(({ flag, alert }) => {
                const comms = data.comms.filter((c) => isAbout(c, alert));
                const open = comms.find((c) => c.status === 'in-progress');
                const done = comms.find((c) => c.status === 'completed');
                return (
                  <tr key={alert.id} data-flag={alert.id}>
                    <th scope="row">{fmtDateTime(alert.start)}</th>
                    <td>
                      <span class={levelClass(alert.level)}>{alertLevelText(alert.level)}</span>{' '}
                      {alert.text}
                    </td>
                    <td data-state={open ? 'unacknowledged' : done ? 'acknowledged' : 'none'}>
                      {alert.active ? t.flagActive : t.resolved2}
                      {open && <>, {t.unacknowledged}</>}
                      {!open && done && <>, {t.acknowledged(fmtDateTime(done.received as string | undefined))}</>}
                    </td>
                    <td>
                      {open && (
                        <button type="button" class="primary" disabled={busy !== null} onClick={() => acknowledge(open)}>
                          {t.acknowledge}<span class="visually-hidden">: {alertLevelText(alert.level)} {fmtDateTime(alert.start)}</span>
                        </button>
                      )}{' '}
                      {alert.active && (
                        <button type="button" disabled={busy !== null} onClick={() => resolve(flag)}>
                          {t.resolve}<span class="visually-hidden">: {alertLevelText(alert.level)} {fmtDateTime(alert.start)}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableRegion>
      )}
    </section>
  );
}

export function PatientPage({ id, session }: { id: string; session: Session }) {
  useLang();
  const t = s();
  const [reason, setReason] = useState<string | null>(() => sessionStorage.getItem(BTG_KEY(id)));
  const opts = useMemo(() => ({ token: session.accessToken, headers: breakGlassHeaders(reason) }),
    [session.accessToken, reason]);
  const [patient, setPatient] = useState<Resource | null>(null);
  const [denied, setDenied] = useState(false);
  const [error, setError] = useState<unknown>();
  const [period, setPeriod] = useState<PeriodKey>('week');
  const [data, setData] = useState<Data | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    let live = true;
    setError(undefined);
    setDenied(false);
    get(`Patient/${encodeURIComponent(id)}`, opts).then((p) => { if (live) setPatient(p); }, (e) => {
      if (!live) return;
      setLoading(false);
      if (e instanceof HttpError && (e.status === 404 || e.status === 403) && !reason) setDenied(true);
      else setError(e);
    });
    return () => { live = false; };
  }, [id, opts]);

  useEffect(() => {
    if (!patient) return;
    let live = true;
    setLoading(true);
    const since = period === 'all' ? -Infinity : Date.now() - PERIODS[period];
    loadData(id, since, opts).then((d) => { if (live) { setData(d); setLoading(false); } },
      (e) => { if (live) { setError(e); setLoading(false); } });
    return () => { live = false; };
  }, [patient, period, opts]);

  const startEmergency = (r: string) => {
    sessionStorage.setItem(BTG_KEY(id), r);
    setReason(r);
  };

  const series = useMemo(() => (data ? vitalSeries(data.vitals) : null), [data, t]);
  const news2Series = useMemo<SeriesData[]>(() => {
    const pts = (data?.news2 ?? []).map(toNews2).filter((n) => n !== null)
      .map((n) => ({ t: n!.t, v: n!.score ?? n!.partial })).sort((a, b) => a.t - b.t);
    return [{ label: 'NEWS2', points: pts }];
  }, [data, t]);

  const name = patient ? humanName(patient.name) || id : id;
  return (
    <>
      <p><a href={href('clinician')}>{t.backToWorklist}</a></p>
      <h1>{t.patientTitle(name)}</h1>
      {reason && <p class="banner-emergency" role="alert">{t.emergencyBanner(reason)}</p>}
      {patient && (
        <p>
          {[patient.birthDate ? t.born(fmtDate(patient.birthDate as string)) : '', `id ${id}`].filter(Boolean).join(' · ')}
        </p>
      )}
      {denied && (
        <>
          <p class="error" role="alert">{t.noAccess}</p>
          <EmergencyAccess onStart={startEmergency} />
        </>
      )}
      <ErrorMessage error={error} />
      {patient && (
        <>
          <fieldset>
            <legend>{t.period}</legend>
            <div class="choices-row">
              {(Object.keys(PERIODS) as PeriodKey[]).map((p) => (
                <label class="choice" key={p}>
                  <input type="radio" name="vital-period" value={p} checked={period === p} onChange={() => setPeriod(p)} />
                  {t.periods[p]}
                </label>
              ))}
            </div>
          </fieldset>
          {loading && <Status>{t.loading}</Status>}
          {data && series && (
            <>
              <section aria-labelledby="news2-h">
                <h2 id="news2-h">{t.news2History}</h2>
                <Chart id="news2-chart" title={t.news2History} series={news2Series} yMin={0} yMax={9}
                  thresholds={[{ value: 5, label: '5' }, { value: 7, label: '7' }]}
                  bands={[{ from: 0, label: t.bandLow }, { from: 5, label: t.bandMedium }, { from: 7, label: t.bandHigh }]}
                  thresholdText={t.news2Thresholds} />
              </section>
              <Alerts data={data} opts={opts} onChange={setData} />
              <section aria-labelledby="vitals-h">
                <h2 id="vitals-h">{t.vitals}</h2>
                <div class="charts">
                  {(Object.keys(VITALS) as Vital[]).map((k) => (
                    <Chart key={k} id={`vital-${k}`} title={t.vitalNames[k]} series={series[k]} height={200} />
                  ))}
                </div>
              </section>
            </>
          )}
        </>
      )}
    </>
  );
}
