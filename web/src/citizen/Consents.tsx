// "My consents" and "My apps": the patient's Consent resources. App grants are the Consents
// with an urn:sund:app-grant identifier (docs/auth.md, "App grants as Consents"); the others
// are the patient's own choices. Withdrawing is a PUT with status inactive (If-Match on the
// version read), which for an app revokes its tokens at once.
import type { FunctionComponent } from 'preact';
import { useState } from 'preact/hooks';
import { PORTAL_CLIENT_ID, type Session } from '../auth';
import { announce } from '../components/announce';
import { useNames } from '../components/names';
import { conceptText, ErrorMessage, referenceText, Status, useAsync } from '../components/ui';
import { type CodeableConcept, type Coding, type Period, type Reference, type Resource, searchAll, update } from '../fhir';
import { fmtDate, fmtDateTime, s } from '../i18n';

export const APP_GRANT_SYSTEM = 'urn:sund:app-grant';
const CLIENT_ID_SYSTEM = 'urn:sund:client-id';

interface Provision {
  type?: 'permit' | 'deny';
  period?: Period;
  actor?: { role?: CodeableConcept; reference?: Reference }[];
  action?: CodeableConcept[];
  purpose?: Coding[];
  class?: Coding[];
  code?: CodeableConcept[];
  data?: { meaning?: string; reference?: Reference }[];
  provision?: Provision[];
}

export interface Consent extends Resource {
  status?: string;
  identifier?: { system?: string; value?: string }[];
  dateTime?: string;
  period?: Period;
  provision?: Provision;
}

export const isAppGrant = (c: Consent) => (c.identifier ?? []).some((i) => i.system === APP_GRANT_SYSTEM);

export function appClientId(c: Consent): string | undefined {
  const ref = c.provision?.actor?.find((a) => a.reference?.identifier?.system === CLIENT_ID_SYSTEM)?.reference;
  return ref?.identifier?.value;
}

export const appName = (c: Consent) =>
  c.provision?.actor?.find((a) => a.reference?.identifier?.system === CLIENT_ID_SYSTEM)?.reference?.display
  ?? appClientId(c) ?? '';

export async function loadConsents(patient: string, token: string): Promise<Consent[]> {
  const r = await searchAll<Consent>(`Consent?patient=${encodeURIComponent(`Patient/${patient}`)}&_count=1000`, { token });
  return r.matches;
}

const codingText = (c: Coding) => s().purposes[c.code ?? ''] ?? c.display ?? c.code ?? '';

function periodText(p: Period | undefined): string {
  if (!p || (!p.start && !p.end)) return s().consentNoEnd;
  return s().fromTo(p.start ? fmtDate(p.start) : '', p.end ? fmtDate(p.end) : s().consentNoEnd);
}

function ProvisionFacts({ p, names }: { p: Provision; names: Map<string, string> }) {
  const t = s();
  const who = (p.actor ?? []).map((a) => {
    const ref = a.reference?.reference;
    return (ref && names.get(ref)) ?? referenceText(a.reference);
  });
  const what = [
    ...(p.class ?? []).map((c) => c.display ?? c.code ?? ''),
    ...(p.code ?? []).map(conceptText),
    ...(p.data ?? []).map((d) => referenceText(d.reference)),
  ].filter(Boolean);
  const purpose = (p.purpose ?? []).map(codingText);
  return (
    <>
      <dl class="facts">
        <dt>{t.consentWho}</dt><dd>{who.length ? who.join(', ') : t.consentEveryone}</dd>
        <dt>{t.consentWhat}</dt><dd>{what.length ? what.join(', ') : t.consentAllData}</dd>
        <dt>{t.consentPurpose}</dt><dd>{purpose.length ? purpose.join(', ') : t.consentAnyPurpose}</dd>
        {p.period && <><dt>{t.consentUntil}</dt><dd>{periodText(p.period)}</dd></>}
      </dl>
      {(p.provision ?? []).length > 0 && (
        <ul>
          {p.provision!.map((n, i) => (
            <li key={i}>
              <strong>{t.consentDecision[n.type ?? (p.type === 'permit' ? 'deny' : 'permit')]}</strong>
              <ProvisionFacts p={n} names={names} />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function refsIn(p: Provision | undefined, out: string[] = []): string[] {
  for (const a of p?.actor ?? []) if (a.reference?.reference) out.push(a.reference.reference);
  for (const n of p?.provision ?? []) refsIn(n, out);
  return out;
}

function ConsentItem({ consent, token, onChange }: ItemProps) {
  const t = s();
  const names = useNames(refsIn(consent.provision), token);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const end = consent.provision?.period?.end ?? consent.period?.end;
  const [newEnd, setNewEnd] = useState(end?.slice(0, 10) ?? '');
  const id = consent.id ?? '';
  const active = consent.status === 'active';

  const save = async (changed: Consent, message: string) => {
    setBusy(true);
    setError(undefined);
    try {
      const stored = await update(changed, { token });
      onChange(stored);
      announce(message);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  const withdraw = () => save({ ...consent, status: 'inactive' }, t.withdrawn);
  const saveEnd = () => {
    const { end: _old, ...keep } = consent.provision?.period ?? {};
    const provision = { ...consent.provision, period: newEnd ? { ...keep, end: newEnd } : keep };
    void save({ ...consent, provision }, t.endSaved);
  };
  const decision = consent.provision?.type;
  return (
    <li>
      <h3>
        {decision ? t.consentDecision[decision] : ''} · {t.statusNames[consent.status ?? ''] ?? consent.status}
      </h3>
      {consent.provision && <ProvisionFacts p={consent.provision} names={names} />}
      {!consent.provision?.period && consent.period && <p>{t.consentUntil}: {periodText(consent.period)}</p>}
      {consent.dateTime && <p class="hint">{fmtDateTime(consent.dateTime)}</p>}
      {active && (
        <div class="inline">
          <div class="field">
            <label for={`end-${id}`}>{t.changeEnd}</label>
            <input id={`end-${id}`} type="date" value={newEnd}
              onInput={(e) => setNewEnd((e.currentTarget as HTMLInputElement).value)} />
          </div>
          <button type="button" disabled={busy} onClick={saveEnd}>{t.saveEnd}</button>
          {!confirming ? (
            <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>{t.withdraw}</button>
          ) : (
            <span role="group" aria-label={t.withdrawConfirm}>
              <span>{t.withdrawConfirm} </span>
              <button type="button" class="danger" disabled={busy} onClick={withdraw}>{t.withdraw}</button>{' '}
              <button type="button" onClick={() => setConfirming(false)}>{t.cancel}</button>
            </span>
          )}
        </div>
      )}
      <ErrorMessage error={error} />
    </li>
  );
}

type ItemProps = { consent: Consent; token: string; onChange: (c: Consent) => void };

/** The patient's Consents that `pick` chooses (and orders), each shown by `Item`. */
function ConsentList({ session, id, title, intro, empty, pick, Item }: {
  session: Session;
  id: string;
  title: string;
  intro: string;
  empty: string;
  pick: (all: Consent[]) => Consent[];
  Item: FunctionComponent<ItemProps>;
}) {
  const t = s();
  const patient = session.patient ?? '';
  const { data, error, loading, set } = useAsync(() => loadConsents(patient, session.accessToken), [patient]);
  const shown = pick(data ?? []);
  const replace = (c: Consent) => set((data ?? []).map((x) => (x.id === c.id ? c : x)));
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <p>{intro}</p>
      {loading && <Status>{t.loading}</Status>}
      <ErrorMessage error={error} />
      {data && (shown.length === 0 ? <p>{empty}</p> : (
        <ul class="items">
          {shown.map((c) => <Item key={c.id} consent={c} token={session.accessToken} onChange={replace} />)}
        </ul>
      ))}
    </section>
  );
}

export function Consents({ session }: { session: Session }) {
  const t = s();
  return (
    <ConsentList session={session} id="consents-h" title={t.citizenViews.consents}
      intro={t.consentsIntro} empty={t.noConsents} Item={ConsentItem}
      pick={(all) => all.filter((c) => !isAppGrant(c))} />
  );
}

function AppItem({ consent, token, onChange }: ItemProps) {
  const t = s();
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<unknown>();
  const name = appName(consent);
  const types = (consent.provision?.class ?? []).map((c) => c.code ?? '').filter(Boolean);
  const period = consent.provision?.period;
  const active = consent.status === 'active';
  const revoke = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const stored = await update({ ...consent, status: 'inactive' }, { token });
      onChange(stored);
      announce(t.revoked(name));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  return (
    <li>
      <h3>{name}</h3>
      <dl class="facts">
        <dt>{t.consentStatus}</dt><dd>{t.statusNames[consent.status ?? ''] ?? consent.status}</dd>
        <dt>{t.appAccess}</dt><dd>{types.length ? types.join(', ') : t.appAllTypes}</dd>
        <dt>{t.appGranted}</dt><dd>{fmtDateTime(period?.start ?? consent.dateTime)}</dd>
        {period?.end && <><dt>{t.appExpires}</dt><dd>{fmtDateTime(period.end)}</dd></>}
      </dl>
      {active && (!confirming ? (
        <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
          {t.revoke}<span class="visually-hidden">: {name}</span>
        </button>
      ) : (
        <div role="group" aria-label={t.revokeConfirm(name)}>
          <p>{t.revokeConfirm(name)}</p>
          <button type="button" class="danger" disabled={busy} onClick={revoke}>
            {t.revoke}<span class="visually-hidden">: {name}</span>
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>{t.cancel}</button>
        </div>
      ))}
      <ErrorMessage error={error} />
    </li>
  );
}

export function Apps({ session }: { session: Session }) {
  const t = s();
  return (
    <ConsentList session={session} id="apps-h" title={t.citizenViews.apps}
      intro={t.appsIntro} empty={t.noApps} Item={AppItem}
      pick={(all) => all
        .filter((c) => isAppGrant(c) && appClientId(c) !== PORTAL_CLIENT_ID)
        .sort((a, b) => Number(b.status === 'active') - Number(a.status === 'active')
          || (b.dateTime ?? '').localeCompare(a.dateTime ?? ''))} />
  );
}
