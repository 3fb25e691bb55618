// The citizen's record for the timeline: Conditions, MedicationRequests and Observations
// (vital signs and laboratory), fetched in parallel (the Observation pages after the first too)
// and reduced to what the timeline and charts show.
import { conceptText } from '../components/ui';
import { type CodeableConcept, type Quantity, type Resource, searchAll, searchParallel } from '../fhir';

export interface Measurement {
  key: string; // system|code of the first coding
  label: string;
  t: number; // ms since the epoch
  value?: number;
  unit?: string;
  text?: string; // a value that is not a number
  components?: { key: string; label: string; value: number; unit?: string }[];
}

export interface Event {
  kind: 'condition' | 'medication';
  t: number;
  text: string;
  detail?: string;
}

export interface PatientRecord {
  measurements: Measurement[];
  events: Event[];
  counts: { conditions: number; medications: number; observations: number };
}

interface Observation extends Resource {
  code?: CodeableConcept;
  effectiveDateTime?: string;
  effectivePeriod?: { start?: string };
  effectiveInstant?: string;
  issued?: string;
  valueQuantity?: Quantity;
  valueString?: string;
  valueCodeableConcept?: CodeableConcept;
  valueInteger?: number;
  component?: { code?: CodeableConcept; valueQuantity?: Quantity }[];
}

const codeKey = (cc: CodeableConcept | undefined) => {
  const c = cc?.coding?.[0];
  return c ? `${c.system ?? ''}|${c.code ?? ''}` : `text|${cc?.text ?? ''}`;
};

export function toMeasurement(o: Observation): Measurement | null {
  const when = o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.start ?? o.issued;
  const t = when ? Date.parse(when) : NaN;
  if (Number.isNaN(t)) return null;
  const m: Measurement = { key: codeKey(o.code), label: conceptText(o.code) || codeKey(o.code), t };
  if (typeof o.valueQuantity?.value === 'number') {
    m.value = o.valueQuantity.value;
    m.unit = o.valueQuantity.unit ?? o.valueQuantity.code;
  } else if (typeof o.valueInteger === 'number') {
    m.value = o.valueInteger;
  } else if (o.valueString) {
    m.text = o.valueString;
  } else if (o.valueCodeableConcept) {
    m.text = conceptText(o.valueCodeableConcept);
  }
  const comps = (o.component ?? []).filter((c) => typeof c.valueQuantity?.value === 'number');
  if (comps.length > 0) {
    m.components = comps.map((c) => ({
      key: codeKey(c.code),
      label: conceptText(c.code),
      value: c.valueQuantity!.value!,
      unit: c.valueQuantity!.unit ?? c.valueQuantity!.code,
    }));
  }
  return m;
}

const dateOf = (...values: unknown[]) => {
  for (const v of values) {
    if (typeof v === 'string') {
      const t = Date.parse(v);
      if (!Number.isNaN(t)) return t;
    }
  }
  return NaN;
};

export async function loadRecord(patient: string, token: string): Promise<PatientRecord> {
  performance.mark('sund-timeline-fetch');
  const o = { token };
  const p = encodeURIComponent(patient);
  const elements = '_elements=code,effectiveDateTime,effectiveInstant,effectivePeriod,issued,valueQuantity,'
    + 'valueString,valueCodeableConcept,valueInteger,component';
  const [vitals, labs, conditions, medications] = await Promise.all([
    searchParallel<Observation>(`Observation?patient=${p}&category=vital-signs&${elements}`, o),
    searchParallel<Observation>(`Observation?patient=${p}&category=laboratory&${elements}`, o),
    searchAll(`Condition?patient=${p}&_count=1000`, o),
    searchAll(`MedicationRequest?patient=${p}&_include=MedicationRequest:medication&_count=1000`, o),
  ]);
  const measurements: Measurement[] = [];
  const seen = new Set<string>();
  for (const obs of [...vitals.matches, ...labs.matches]) {
    if (obs.id && seen.has(obs.id)) continue; // in both categories
    if (obs.id) seen.add(obs.id);
    const m = toMeasurement(obs);
    if (m) measurements.push(m);
  }
  measurements.sort((a, b) => a.t - b.t);
  performance.mark('sund-timeline-fetched');

  const events: Event[] = [];
  for (const c of conditions.matches) {
    const t = dateOf(c.onsetDateTime, c.recordedDate, (c.onsetPeriod as { start?: string } | undefined)?.start);
    if (Number.isNaN(t)) continue;
    const status = conceptText(c.clinicalStatus as CodeableConcept | undefined);
    events.push({ kind: 'condition', t, text: conceptText(c.code as CodeableConcept), detail: status });
  }
  const drugs = new Map(medications.included.filter((r) => r.resourceType === 'Medication')
    .map((r) => [`Medication/${r.id}`, conceptText(r.code as CodeableConcept | undefined)]));
  for (const m of medications.matches) {
    const t = dateOf(m.authoredOn);
    if (Number.isNaN(t)) continue;
    const ref = m.medicationReference as { reference?: string; display?: string } | undefined;
    const med = conceptText(m.medicationCodeableConcept as CodeableConcept | undefined)
      || ref?.display || drugs.get(ref?.reference ?? '') || '';
    events.push({ kind: 'medication', t, text: med, detail: String(m.status ?? '') });
  }
  events.sort((a, b) => b.t - a.t);
  return {
    measurements,
    events,
    counts: { conditions: conditions.matches.length, medications: medications.matches.length,
      observations: measurements.length },
  };
}
