// What the clinician portal reads from the monitoring resources (docs/iomt.md, "Scoring"):
// NEWS2 score Observations, alert Flags and the Communications that acknowledge them.
import { type CodeableConcept, codeIn, type Reference, refOf, type Resource } from '../fhir';
import { s } from '../i18n';

export const NEWS2_SYSTEM = 'http://snomed.info/sct';
export const NEWS2_CODE = '1104051000000101';
export const NEWS2_TOKEN = `${NEWS2_SYSTEM}|${NEWS2_CODE}`;
const RISK_SYSTEM = 'urn:sund:news2-risk';
const ESCALATION_SYSTEM = 'urn:sund:news2-escalation';
const SILENCE_SYSTEM = 'urn:sund:no-report';

export interface News2 {
  id: string;
  subject: string; // Patient id
  t: number; // effective time, ms
  score?: number; // valueInteger when complete
  partial: number; // the sum of the parameters present
  band?: string; // low, low-medium, medium, high
}

export interface Alert {
  id: string;
  subject: string;
  level: string; // low, low-medium, medium, high (NEWS2 escalation), silence, or another code
  text: string;
  start?: string;
  active: boolean;
  identifier?: { system?: string; value?: string };
  version?: string;
}

interface ObservationLike extends Resource {
  subject?: Reference;
  effectiveDateTime?: string;
  issued?: string;
  valueInteger?: number;
  interpretation?: CodeableConcept[];
  component?: { valueInteger?: number }[];
}

export const subjectId = (r: { subject?: Reference }) => refOf(r.subject?.reference)?.split('/')[1] ?? '';

export function toNews2(o: ObservationLike): News2 | null {
  const subject = subjectId(o);
  const t = Date.parse(o.effectiveDateTime ?? o.issued ?? '');
  if (!o.id || !subject || Number.isNaN(t)) return null;
  const partial = (o.component ?? []).reduce((sum, c) => sum + (typeof c.valueInteger === 'number' ? c.valueInteger : 0), 0);
  let band: string | undefined;
  for (const cc of o.interpretation ?? []) band ??= codeIn(cc, RISK_SYSTEM);
  return { id: o.id, subject, t, score: typeof o.valueInteger === 'number' ? o.valueInteger : undefined, partial, band };
}

/** The value the worklist sorts on: the score, or the partial sum of an incomplete one. */
export const news2Value = (n: News2 | undefined) => (n ? n.score ?? n.partial : -1);

export function news2Text(n: News2 | undefined): string {
  const t = s();
  if (!n) return t.noScore;
  const value = n.score !== undefined ? String(n.score) : t.news2Incomplete(n.partial);
  return n.band ? `${value}, ${t.risk[n.band] ?? n.band}` : value;
}

interface FlagLike extends Resource {
  status?: string;
  code?: CodeableConcept;
  subject?: Reference;
  period?: { start?: string; end?: string };
  identifier?: { system?: string; value?: string }[];
}

export function toAlert(f: FlagLike): Alert | null {
  const subject = subjectId(f);
  if (!f.id || !subject) return null;
  const level = codeIn(f.code, ESCALATION_SYSTEM)
    ?? (codeIn(f.code, SILENCE_SYSTEM) !== undefined ? 'silence' : f.code?.coding?.[0]?.code ?? 'other');
  return {
    id: f.id, subject, level, text: f.code?.text ?? '', start: f.period?.start,
    active: f.status === 'active', identifier: f.identifier?.[0], version: f.meta?.versionId,
  };
}

const LEVEL_ORDER = ['other', 'silence', 'low', 'low-medium', 'medium', 'high'];
export const levelRank = (level: string) => LEVEL_ORDER.indexOf(level);

export function alertLevelText(level: string): string {
  const t = s();
  if (level === 'silence') return t.silenceAlert;
  return t.escalation[level] ?? level;
}

export const levelClass = (level: string) =>
  (['low', 'low-medium', 'medium', 'high'].includes(level) ? `tag tag-${level}` : 'tag tag-alert');

/** Does this Communication (Communication.about) concern that Flag (by identifier)? */
export function isAbout(comm: Resource, alert: Alert): boolean {
  const about = (comm.about as Reference[] | undefined) ?? [];
  return about.some((a) =>
    (a.reference && refOf(a.reference) === `Flag/${alert.id}`)
    || (!!alert.identifier?.value && a.identifier?.value === alert.identifier.value
      && (!a.identifier.system || !alert.identifier.system || a.identifier.system === alert.identifier.system)));
}
