// "My access log": the AuditEvents naming the patient (GET /fhir/AuditEvent?patient=...),
// newest first, a page at a time. Emergency access (purpose ETREAT, break-the-glass) is marked
// with words and its reason, not only with colour.
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../auth';
import { useNames } from '../components/names';
import { ErrorMessage, Status, TableRegion } from '../components/ui';
import { type Bundle, type Coding, get, nextLink, type Reference, type Resource } from '../fhir';
import { fmtDateTime, s } from '../i18n';
import { appClientId, appName, isAppGrant, loadConsents } from './Consents';

interface Agent {
  type?: { coding?: Coding[] };
  role?: { text?: string; coding?: Coding[] }[];
  who?: Reference;
  requestor?: boolean;
}

interface AuditEvent extends Resource {
  type?: Coding;
  recorded?: string;
  action?: string;
  subtype?: Coding[];
  outcome?: string;
  outcomeDesc?: string;
  purposeOfEvent?: { coding?: Coding[] }[];
  agent?: Agent[];
  entity?: { what?: Reference; description?: string; role?: Coding; type?: Coding }[];
}

const CLIENT_ID_SYSTEM = 'urn:sund:client-id';

function purposes(e: AuditEvent): string[] {
  return (e.purposeOfEvent ?? []).flatMap((p) => (p.coding ?? []).map((c) => c.code ?? '')).filter(Boolean);
}

export function emergencyReason(e: AuditEvent): string | null {
  const described = (e.entity ?? []).map((x) => x.description ?? '').find((d) => /^emergency:/i.test(d));
  if (described !== undefined) return described.replace(/^emergency:\s*/i, '');
  return purposes(e).includes('ETREAT') ? '' : null;
}

function LogRow({ e, names, apps, patient }: {
  e: AuditEvent; names: Map<string, string>; apps: Map<string, string>; patient: string;
}) {
  const t = s();
  const who = e.agent?.find((a) => a.requestor) ?? e.agent?.[0];
  const ref = who?.who?.reference;
  const self = ref === `Patient/${patient}`;
  const whoText = self ? t.roles.patient
    : (ref && names.get(ref)) ?? who?.who?.display ?? who?.who?.identifier?.value ?? ref ?? t.unknown;
  const roleText = who?.role?.[0]?.text;
  const client = e.agent?.find((a) => a.who?.identifier?.system === CLIENT_ID_SYSTEM)?.who?.identifier?.value;
  const clientName = client && client !== 'sund-portal' && client !== 'sund-cli' ? apps.get(client) ?? client : undefined;
  const emergency = emergencyReason(e);
  const resources = (e.entity ?? [])
    .map((x) => x.what?.reference?.replace(/\/_history\/.*$/, ''))
    .filter((r): r is string => !!r && r !== `Patient/${patient}`);
  const sub = e.subtype?.[0];
  const rest = e.type?.code === 'rest';
  const what = rest
    ? (sub?.code?.startsWith('search') ? t.actions.search : t.actions[e.action ?? ''] ?? e.action)
    : [e.type?.display, sub?.display ?? sub?.code].filter(Boolean).join(': ');
  const notes = (e.entity ?? []).map((x) => x.description ?? '').filter((d) => d && !/^emergency:/i.test(d));
  const ok = e.outcome === '0';
  return (
    <tr class={emergency !== null ? 'emergency' : undefined}>
      <th scope="row">{fmtDateTime(e.recorded)}</th>
      <td>
        {whoText}
        {roleText && !self && <> ({t.roles[roleText] ?? roleText})</>}
        {clientName && <><br />{t.logViaApp(clientName)}</>}
      </td>
      <td>
        {what}
        {notes.length > 0 && <><br /><span class="hint">{notes.join('; ')}</span></>}
        {resources.length > 0 && <><br /><span class="hint">{resources.slice(0, 3).join(', ')}{resources.length > 3 ? ' …' : ''}</span></>}
      </td>
      <td>
        {emergency !== null && (
          <>
            <span class="tag tag-emergency">{t.logEmergency}</span><br />
            {emergency && <>{t.logEmergencyReason(emergency)}<br /></>}
          </>
        )}
        {purposes(e).map((p) => t.purposes[p] ?? p).join(', ')}
      </td>
      <td>{ok ? t.outcomeOk : `${t.outcomeFailed}${e.outcomeDesc ? ` (${e.outcomeDesc})` : ''}`}</td>
    </tr>
  );
}

export function AccessLog({ session }: { session: Session }) {
  const t = s();
  const patient = session.patient ?? '';
  const token = session.accessToken;
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [apps, setApps] = useState(new Map<string, string>());

  const load = async (url: string, append: boolean) => {
    setLoading(true);
    setError(undefined);
    try {
      const b = await get<Bundle<AuditEvent>>(url, { token });
      const page = (b.entry ?? []).map((x) => x.resource).filter((r): r is AuditEvent => r?.resourceType === 'AuditEvent');
      setEvents((old) => (append ? [...old, ...page] : page));
      setNext(nextLink(b));
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load(`AuditEvent?patient=${encodeURIComponent(`Patient/${patient}`)}&_count=50`, false);
    loadConsents(patient, token).then((cs) => {
      const m = new Map<string, string>();
      for (const c of cs) {
        const id = appClientId(c);
        if (isAppGrant(c) && id) m.set(id, appName(c));
      }
      setApps(m);
    }, () => undefined);
  }, [patient, token]);

  const refs = events.flatMap((e) => (e.agent ?? []).map((a) => a.who?.reference ?? '')).filter(Boolean);
  const names = useNames(refs, token);

  return (
    <section aria-labelledby="log-h">
      <h2 id="log-h">{t.citizenViews.log}</h2>
      <p>{t.logIntro}</p>
      <ErrorMessage error={error} />
      {events.length === 0 && !loading && !error && <p>{t.logEmpty}</p>}
      {events.length > 0 && (
        <TableRegion label={t.citizenViews.log}>
          <table class="log">
            <caption class="visually-hidden">{t.citizenViews.log}</caption>
            <thead>
              <tr>
                <th scope="col">{t.logWhen}</th>
                <th scope="col">{t.logWho}</th>
                <th scope="col">{t.logWhat}</th>
                <th scope="col">{t.logWhy}</th>
                <th scope="col">{t.logOutcome}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => <LogRow key={e.id} e={e} names={names} apps={apps} patient={patient} />)}
            </tbody>
          </table>
        </TableRegion>
      )}
      {loading && <Status>{t.loading}</Status>}
      {next && !loading && <button type="button" onClick={() => load(next, true)}>{t.logOlder}</button>}
    </section>
  );
}
