// End-to-end tests of the FHIR REST API through fhir-kit-client (Vermonster), a real FHIR
// client: every request goes over HTTP to a private `sund serve` started for this file.
// The resources are created by the tests themselves, so no shared data is needed here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';

import { startSund } from './lib/sund.mjs';

let sund;
let client;

before(async () => {
  sund = await startSund();
  client = new Client({ baseUrl: sund.fhirBase, bearerToken: sund.token });
});

after(async () => {
  await sund?.stop();
});

// The HTTP status fhir-kit-client saw for a successful call.
const statusOf = (resource) => Client.httpFor(resource).response?.status;

// The logical id of a written resource (the server returns it in the body).
function idOf(written) {
  assert.ok(written.id, 'the written resource has an id');
  return written.id;
}

// The logical id of a Bundle entry, from its fullUrl (.../Type/id).
const entryId = (e) => e.fullUrl.split('/').pop();

// Runs `fn`, which must fail; returns { status, data } of the HTTP error response.
async function httpError(fn) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e.response, `expected an HTTP error response, got ${e}`);
    return e.response;
  }
  assert.fail('the request succeeded but should have failed');
}

function assertOutcome(data, severity = 'error') {
  assert.equal(data?.resourceType, 'OperationOutcome', `body: ${JSON.stringify(data)}`);
  assert.ok(Array.isArray(data.issue) && data.issue.length > 0, 'OperationOutcome has issues');
  assert.equal(data.issue[0].severity, severity);
}

const LOINC = 'http://loinc.org';
const SYS = 'http://e2e.sund.test/id';

const bundleEntries = (b) => b.entry ?? [];
const matches = (b) => bundleEntries(b).filter((e) => e.search?.mode !== 'include' &&
                                                     e.search?.mode !== 'outcome');
const nextLink = (b) => (b.link ?? []).find((l) => l.relation === 'next');

function patient(family, extra = {}) {
  return { resourceType: 'Patient', name: [{ family, given: ['Eve'] }], ...extra };
}

function observation(patientId, system, code, extra = {}) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: `Patient/${patientId}` },
    ...extra,
  };
}

describe('capabilities', () => {
  // Verifies: REQ-API-039
  test('capabilityStatement describes a JSON FHIR R4 server', async () => {
    const cs = await client.capabilityStatement();
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.equal(cs.kind, 'instance');
    assert.ok(cs.format.some((f) => f.includes('json')), `format: ${cs.format}`);
    assert.ok(!cs.format.some((f) => f.includes('xml')), 'XML is not advertised');
    assert.ok(cs.patchFormat.includes('application/json-patch+json'));
    const rest = cs.rest.find((r) => r.mode === 'server');
    const pat = rest.resource.find((r) => r.type === 'Patient');
    const codes = pat.interaction.map((i) => i.code);
    for (const c of ['read', 'vread', 'update', 'patch', 'delete', 'history-instance',
                     'history-type', 'create', 'search-type']) {
      assert.ok(codes.includes(c), `Patient supports ${c}`);
    }
    assert.ok(pat.searchParam.some((p) => p.name === 'family' && p.type === 'string'));
    assert.ok(rest.interaction.some((i) => i.code === 'transaction'));
    assert.ok(rest.interaction.some((i) => i.code === 'batch'));
    assert.ok(rest.operation.some((o) => o.name === 'everything'));
  });
});

describe('instance lifecycle', () => {
  let id;

  // Verifies: REQ-API-001, REQ-API-002
  test('create assigns an id and version 1, answering 201 with Location', async () => {
    const created = await client.create({ resourceType: 'Patient', body: patient('Lifecycle') });
    assert.equal(statusOf(created), 201);
    assert.equal(created.resourceType, 'Patient');
    assert.match(idOf(created), /^[A-Za-z0-9\-.]{1,64}$/);
    assert.equal(created.meta.versionId, '1');
    assert.ok(created.meta.lastUpdated);
    const loc = Client.httpFor(created).response.headers.get('location');
    assert.ok(loc.includes(`/Patient/${idOf(created)}/_history/1`), `Location: ${loc}`);
    id = idOf(created);
  });

  // Verifies: REQ-API-001, REQ-API-003
  test('create and read return the resource with its id',
       async () => {
         const created = await client.create({ resourceType: 'Patient', body: patient('Withid') });
         assert.equal(created.id, idOf(created));
         const got = await client.read({ resourceType: 'Patient', id: idOf(created) });
         assert.equal(got.id, idOf(created));
       });

  // Verifies: REQ-API-003
  test('read returns the stored resource with its ETag', async () => {
    const got = await client.read({ resourceType: 'Patient', id });
    assert.equal(got.name[0].family, 'Lifecycle');
    assert.equal(Client.httpFor(got).response.headers.get('etag'), 'W/"1"');
  });

  // Verifies: REQ-API-002, REQ-API-005, REQ-API-008
  test('update makes version 2 and vread still returns version 1', async () => {
    const updated = await client.update({
      resourceType: 'Patient', id, body: patient('Lifecycle', { id, gender: 'female' }),
    });
    assert.equal(statusOf(updated), 200);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.gender, 'female');
    const v1 = await client.vread({ resourceType: 'Patient', id, version: '1' });
    assert.equal(v1.meta.versionId, '1');
    assert.equal(v1.gender, undefined);
    const v2 = await client.vread({ resourceType: 'Patient', id, version: '2' });
    assert.equal(v2.gender, 'female');
  });

  // Verifies: REQ-API-013
  test('patch applies a JSON Patch and makes version 3', async () => {
    const patched = await client.patch({
      resourceType: 'Patient', id,
      jsonPatch: [
        { op: 'test', path: '/gender', value: 'female' },
        { op: 'replace', path: '/gender', value: 'other' },
        { op: 'add', path: '/birthDate', value: '1970-01-02' },
        { op: 'add', path: '/name/0/given/-', value: 'Marie' },
      ],
    });
    assert.equal(patched.meta.versionId, '3');
    assert.equal(patched.gender, 'other');
    assert.equal(patched.birthDate, '1970-01-02');
    assert.deepEqual(patched.name[0].given, ['Eve', 'Marie']);
    const got = await client.read({ resourceType: 'Patient', id });
    assert.equal(got.birthDate, '1970-01-02');
  });

  // Verifies: REQ-API-014
  test('a failing JSON Patch test operation changes nothing', async () => {
    const err = await httpError(() => client.patch({
      resourceType: 'Patient', id,
      jsonPatch: [{ op: 'test', path: '/gender', value: 'male' },
                  { op: 'replace', path: '/gender', value: 'male' }],
    }));
    assert.ok([409, 412, 422].includes(err.status), `status ${err.status}`);
    assertOutcome(err.data);
    const got = await client.read({ resourceType: 'Patient', id });
    assert.equal(got.meta.versionId, '3');
    assert.equal(got.gender, 'other');
  });

  // Verifies: REQ-API-019
  test('instance history lists the versions newest first', async () => {
    const h = await client.history({ resourceType: 'Patient', id });
    assert.equal(h.resourceType, 'Bundle');
    assert.equal(h.type, 'history');
    const versions = h.entry.map((e) => e.resource.meta.versionId);
    assert.deepEqual(versions, ['3', '2', '1']);
    assert.equal(h.entry[2].request.method, 'POST');
    assert.equal(h.entry[1].request.method, 'PUT');
    assert.ok(['PUT', 'PATCH'].includes(h.entry[0].request.method), h.entry[0].request.method);
  });

  // Verifies: REQ-API-005, REQ-API-016
  test('delete answers 204 and a later read answers 410 Gone', async () => {
    const res = await client.delete({ resourceType: 'Patient', id });
    assert.equal(statusOf(res), 204);
    const err = await httpError(() => client.read({ resourceType: 'Patient', id }));
    assert.equal(err.status, 410);
    assertOutcome(err.data);
    // Old versions stay readable.
    const v1 = await client.vread({ resourceType: 'Patient', id, version: '1' });
    assert.equal(v1.meta.versionId, '1');
  });

  // Verifies: REQ-API-019
  test('instance history of a deleted resource includes the deletion', async () => {
    const h = await client.history({ resourceType: 'Patient', id });
    assert.equal(h.entry.length, 4);
    assert.equal(h.entry[0].request.method, 'DELETE');
    assert.equal(h.entry[0].resource, undefined);
  });

  // Verifies: REQ-API-019
  test('type history includes every version of the resource', async () => {
    const h = await client.history({ resourceType: 'Patient' });
    assert.equal(h.type, 'history');
    const ours = h.entry.filter((e) => e.fullUrl.endsWith(`/Patient/${id}`));
    assert.equal(ours.length, 4, 'create, update, patch and delete');
    for (const e of h.entry) assert.ok(e.fullUrl.includes('/Patient/'));
  });

  // Verifies: REQ-API-009
  test('update of a new id creates it (update-as-create) with 201', async () => {
    const newId = `e2e-${randomUUID().slice(0, 8)}`;
    const res = await client.update({
      resourceType: 'Patient', id: newId, body: patient('Upsert', { id: newId }),
    });
    assert.equal(statusOf(res), 201);
    assert.equal(res.id, newId);
    assert.equal(res.meta.versionId, '1');
  });
});

describe('search', () => {
  const family = 'Pagingtest';
  const created = [];
  let subjectId;

  before(async () => {
    for (let i = 0; i < 12; i++) {
      created.push(idOf(await client.create({
        resourceType: 'Patient', body: patient(family, { birthDate: `1980-01-${String(i + 1).padStart(2, '0')}` }),
      })));
    }
    const subj = await client.create({
      resourceType: 'Patient',
      body: patient('Chainsubject', { identifier: [{ system: SYS, value: 'chain-1' }] }),
    });
    subjectId = idOf(subj);
    await client.create({ resourceType: 'Observation',
                          body: observation(subjectId, LOINC, '8310-5', { valueQuantity: { value: 37.2, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' } }) });
    await client.create({ resourceType: 'Observation',
                          body: observation(subjectId, 'http://e2e.sund.test/other', '8310-5') });
    await client.create({ resourceType: 'Observation',
                          body: observation(created[0], LOINC, '29463-7') });
  });

  // Verifies: REQ-API-070, REQ-API-072
  test('paging with _count walks every match through nextPage', async () => {
    let page = await client.search({
      resourceType: 'Patient', searchParams: { family, _count: 5, _total: 'accurate' },
    });
    assert.equal(page.type, 'searchset');
    assert.equal(page.total, 12);
    const seen = [];
    const sizes = [];
    while (page) {
      sizes.push(matches(page).length);
      seen.push(...matches(page).map(entryId));
      page = await client.nextPage({ bundle: page });
    }
    assert.deepEqual(sizes, [5, 5, 2]);
    assert.deepEqual([...seen].sort(), [...created].sort(), 'each match exactly once');
  });

  // Verifies: REQ-API-071
  test('prevPage goes back to the first page', async () => {
    const first = await client.search({ resourceType: 'Patient', searchParams: { family, _count: 5 } });
    const second = await client.nextPage({ bundle: first });
    const back = await client.prevPage({ bundle: second });
    assert.deepEqual(matches(back).map(entryId), matches(first).map(entryId));
  });

  // Verifies: REQ-API-069
  test('_sort orders the matches', async () => {
    const b = await client.search({ resourceType: 'Patient',
                                    searchParams: { family, _sort: '-birthdate', _count: 3 } });
    assert.deepEqual(matches(b).map((e) => e.resource.birthDate),
                     ['1980-01-12', '1980-01-11', '1980-01-10']);
  });

  // Verifies: REQ-API-064
  test('POST _search gives the same matches as GET', async () => {
    const b = await client.search({ resourceType: 'Patient', searchParams: { family, _count: 50 },
                                    options: { postSearch: true } });
    assert.equal(matches(b).length, 12);
  });

  // Verifies: REQ-API-051
  test('token search with system|code matches only that system', async () => {
    const both = await client.search({ resourceType: 'Observation',
                                       searchParams: { subject: `Patient/${subjectId}`, code: '8310-5' } });
    assert.equal(matches(both).length, 2, 'code alone matches any system');
    const loinc = await client.search({
      resourceType: 'Observation',
      searchParams: { subject: `Patient/${subjectId}`, code: `${LOINC}|8310-5` },
    });
    assert.equal(matches(loinc).length, 1);
    assert.equal(matches(loinc)[0].resource.code.coding[0].system, LOINC);
  });

  // Verifies: REQ-API-073
  test('_include returns the referenced Patient with mode include', async () => {
    const b = await client.search({
      resourceType: 'Observation',
      searchParams: { code: `${LOINC}|8310-5`, subject: `Patient/${subjectId}`,
                      _include: 'Observation:subject' },
    });
    assert.equal(matches(b).length, 1);
    const inc = bundleEntries(b).filter((e) => e.search?.mode === 'include');
    assert.equal(inc.length, 1);
    assert.equal(inc[0].resource.resourceType, 'Patient');
    assert.equal(entryId(inc[0]), subjectId);
  });

  // Verifies: REQ-API-074
  test('_revinclude returns the Observations that point at the Patient', async () => {
    const b = await client.search({
      resourceType: 'Patient', searchParams: { _id: subjectId, _revinclude: 'Observation:subject' },
    });
    assert.equal(matches(b).length, 1);
    const inc = bundleEntries(b).filter((e) => e.search?.mode === 'include');
    assert.equal(inc.length, 2);
    assert.ok(inc.every((e) => e.resource.resourceType === 'Observation'));
  });

  // Verifies: REQ-API-060
  test('chained search on subject:Patient.identifier', async () => {
    const b = await client.search({
      resourceType: 'Observation',
      searchParams: { 'subject:Patient.identifier': `${SYS}|chain-1` },
    });
    assert.equal(matches(b).length, 2);
    assert.ok(matches(b).every((e) => e.resource.subject.reference === `Patient/${subjectId}`));
    const byName = await client.search({
      resourceType: 'Observation', searchParams: { 'subject.family': 'Chainsubject' },
    });
    assert.equal(matches(byName).length, 2);
  });

  // Verifies: REQ-API-060
  test('_has finds Patients by a property of the Observations about them', async () => {
    const b = await client.search({
      resourceType: 'Patient', searchParams: { '_has:Observation:patient:code': `${LOINC}|8310-5` },
    });
    assert.deepEqual(matches(b).map(entryId), [subjectId]);
    const other = await client.search({
      resourceType: 'Patient', searchParams: { '_has:Observation:patient:code': `${LOINC}|29463-7` },
    });
    assert.deepEqual(matches(other).map(entryId), [created[0]]);
  });

  // Verifies: REQ-API-068
  test('_summary=count returns only the total', async () => {
    const b = await client.search({ resourceType: 'Patient', searchParams: { family, _summary: 'count' } });
    assert.equal(b.total, 12);
    assert.equal(matches(b).length, 0);
  });

  // Verifies: REQ-API-038
  test('Patient/$everything returns the patient and its Observations', async () => {
    const b = await client.operation({ name: '$everything', resourceType: 'Patient',
                                       id: subjectId, method: 'GET' });
    assert.equal(b.resourceType, 'Bundle');
    const types = bundleEntries(b).map((e) => e.resource.resourceType).sort();
    assert.deepEqual(types, ['Observation', 'Observation', 'Patient']);
  });
});

describe('conditional interactions', () => {
  // Verifies: REQ-API-023
  test('conditional create with If-None-Exist twice gives one resource', async () => {
    const ident = `cond-${randomUUID()}`;
    const body = patient('Conditional', { identifier: [{ system: SYS, value: ident }] });
    const headers = { 'If-None-Exist': `identifier=${SYS}|${ident}` };
    const first = await client.create({ resourceType: 'Patient', body, options: { headers } });
    assert.equal(statusOf(first), 201);
    const second = await client.create({ resourceType: 'Patient', body, options: { headers } });
    assert.equal(statusOf(second), 200, 'the existing match is returned, not created');
    assert.equal(idOf(second), idOf(first));
    const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${SYS}|${ident}` } });
    assert.equal(matches(b).length, 1);
  });

  // Verifies: REQ-API-025
  test('conditional update creates when nothing matches, then updates the match', async () => {
    const ident = `cu-${randomUUID()}`;
    const searchParams = { identifier: `${SYS}|${ident}` };
    const body = patient('Condupdate', { identifier: [{ system: SYS, value: ident }] });
    const created = await client.update({ resourceType: 'Patient', searchParams, body });
    assert.equal(statusOf(created), 201);
    const id = idOf(created);
    // With the matching id in the body (a body without one: see the next test).
    const updated = await client.update({ resourceType: 'Patient', searchParams,
                                          body: { ...body, id, gender: 'male' } });
    assert.equal(statusOf(updated), 200);
    assert.equal(idOf(updated), id);
    assert.equal(updated.meta.versionId, '2');
  });

  // Verifies: REQ-API-025
  test('conditional update of a single match accepts a body without an id',
       async () => {
         const ident = `cu-${randomUUID()}`;
         const searchParams = { identifier: `${SYS}|${ident}` };
         const body = patient('Condupdate', { identifier: [{ system: SYS, value: ident }] });
         const created = await client.update({ resourceType: 'Patient', searchParams, body });
         const updated = await client.update({ resourceType: 'Patient', searchParams,
                                               body: { ...body, gender: 'male' } });
         assert.equal(statusOf(updated), 200);
         assert.equal(idOf(updated), idOf(created));
         assert.equal(updated.meta.versionId, '2');
       });

  // Verifies: REQ-API-026
  test('conditional delete removes the matches', async () => {
    const ident = `cd-${randomUUID()}`;
    const made = await client.create({
      resourceType: 'Patient', body: patient('Conddelete', { identifier: [{ system: SYS, value: ident }] }),
    });
    await client.request(`Patient?identifier=${encodeURIComponent(`${SYS}|${ident}`)}`, { method: 'DELETE' });
    const err = await httpError(() => client.read({ resourceType: 'Patient', id: idOf(made) }));
    assert.equal(err.status, 410);
  });

  // Verifies: REQ-API-011
  test('update with a stale If-Match answers 412 with an OperationOutcome', async () => {
    const p = await client.create({ resourceType: 'Patient', body: patient('Ifmatch') });
    p.id = idOf(p);
    await client.update({ resourceType: 'Patient', id: p.id, body: { ...p, gender: 'male' },
                          options: { headers: { 'If-Match': 'W/"1"' } } });
    const err = await httpError(() => client.update({
      resourceType: 'Patient', id: p.id, body: { ...p, gender: 'female' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    }));
    assert.equal(err.status, 412);
    assertOutcome(err.data);
    const got = await client.read({ resourceType: 'Patient', id: p.id });
    assert.equal(got.gender, 'male');
  });
});

describe('batch and transaction', () => {
  // Verifies: REQ-API-028, REQ-API-029
  test('a transaction resolves urn:uuid references to the new ids', async () => {
    const pUuid = `urn:uuid:${randomUUID()}`;
    const oUuid = `urn:uuid:${randomUUID()}`;
    const res = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: oUuid,
            resource: { resourceType: 'Observation', status: 'final',
                        code: { coding: [{ system: LOINC, code: '8867-4' }] },
                        subject: { reference: pUuid } },
            request: { method: 'POST', url: 'Observation' } },
          { fullUrl: pUuid, resource: patient('Transaction'),
            request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    assert.equal(res.resourceType, 'Bundle');
    assert.equal(res.type, 'transaction-response');
    assert.equal(res.entry.length, 2);
    for (const e of res.entry) assert.match(e.response.status, /^201/);
    const obsLoc = res.entry[0].response.location;
    const patLoc = res.entry[1].response.location;
    assert.match(obsLoc, /Observation\/[^/]+\/_history\/1$/);
    assert.match(patLoc, /Patient\/[^/]+\/_history\/1$/);
    const patId = patLoc.match(/Patient\/([^/]+)\//)[1];
    const obsId = obsLoc.match(/Observation\/([^/]+)\//)[1];
    const obs = await client.read({ resourceType: 'Observation', id: obsId });
    assert.equal(obs.subject.reference, `Patient/${patId}`);
    await client.read({ resourceType: 'Patient', id: patId });
  });

  // Verifies: REQ-API-027
  test('a transaction with a failing entry is rolled back as a whole', async () => {
    const family = `Rollback${randomUUID().slice(0, 8)}`;
    const err = await httpError(() => client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: `urn:uuid:${randomUUID()}`, resource: patient(family),
            request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'DELETE', url: 'Patient/does-not-exist-xyz' } },
          { resource: { resourceType: 'Patient', id: 'x', name: [{ family }] },
            request: { method: 'PUT', url: 'Patient/y' } },  // id mismatch: 400
        ],
      },
    }));
    assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`);
    assertOutcome(err.data);
    const b = await client.search({ resourceType: 'Patient', searchParams: { family } });
    assert.equal(matches(b).length, 0, 'nothing of the transaction was kept');
  });

  // Verifies: REQ-API-033, REQ-API-034
  test('a batch reports a failing entry without failing the others', async () => {
    const family = `Batch${randomUUID().slice(0, 8)}`;
    const existing = await client.create({ resourceType: 'Patient', body: patient(`${family}Old`) });
    const existingId = idOf(existing);
    const res = await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: patient(family), request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/no-such-patient-e2e' } },
          { resource: patient(`${family}Old`, { id: existingId, gender: 'male' }),
            request: { method: 'PUT', url: `Patient/${existingId}`, ifMatch: 'W/"7"' } },
          { request: { method: 'GET', url: `Patient?family=${family}` } },
        ],
      },
    });
    assert.equal(res.type, 'batch-response');
    assert.equal(res.entry.length, 4);
    assert.match(res.entry[0].response.status, /^201/);
    assert.match(res.entry[1].response.status, /^404/);
    assert.equal(res.entry[1].response.outcome?.resourceType, 'OperationOutcome');
    assert.match(res.entry[2].response.status, /^412/);
    assert.equal(res.entry[2].response.outcome?.resourceType, 'OperationOutcome');
    assert.match(res.entry[3].response.status, /^200/);
    assert.equal(res.entry[3].resource.resourceType, 'Bundle');
    // Family is a prefix match: the new Patient and the untouched old one.
    assert.equal(matches(res.entry[3].resource).length, 2);
    const old = await client.read({ resourceType: 'Patient', id: existingId });
    assert.equal(old.meta.versionId, '1', 'the failed PUT changed nothing');
  });

  // Verifies: REQ-API-033
  test('a batch entry whose resource does not match its URL fails alone',
       async () => {
         const res = await client.batch({
           body: {
             resourceType: 'Bundle',
             type: 'batch',
             entry: [
               { resource: patient('Batchmismatch'), request: { method: 'POST', url: 'Patient' } },
               { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
                 request: { method: 'POST', url: 'Patient' } },
             ],
           },
         });
         assert.equal(res.type, 'batch-response');
         assert.match(res.entry[0].response.status, /^201/);
         assert.match(res.entry[1].response.status, /^400/);
         assert.equal(res.entry[1].response.outcome?.resourceType, 'OperationOutcome');
       });
});

describe('errors are OperationOutcomes with the right status', () => {
  // Verifies: REQ-API-045
  test('404 for an unknown id', async () => {
    const err = await httpError(() => client.read({ resourceType: 'Patient', id: 'no-such-id-e2e' }));
    assert.equal(err.status, 404);
    assertOutcome(err.data);
  });

  // Verifies: REQ-API-045
  test('404 for an unknown resource type', async () => {
    const err = await httpError(() => client.request('NotAType/1'));
    assert.equal(err.status, 404);
    assertOutcome(err.data);
  });

  // Verifies: REQ-API-041
  test('400 for malformed JSON', async () => {
    const err = await httpError(() => client.request('Patient', {
      method: 'POST',
      body: '{"resourceType": "Patient", "name": [',
      options: { headers: { 'Content-Type': 'application/fhir+json' } },
    }));
    assert.equal(err.status, 400);
    assertOutcome(err.data);
  });

  // Verifies: REQ-API-042
  test('400 for a resource whose type does not match the URL', async () => {
    const err = await httpError(() => client.request('Patient', {
      method: 'POST',
      body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
      options: { headers: { 'Content-Type': 'application/fhir+json' } },
    }));
    assert.equal(err.status, 400);
    assertOutcome(err.data);
  });

  // Verifies: REQ-API-043
  test('400 for a resource that fails basic validation',
       async () => {
         const err = await httpError(() => client.create({
           resourceType: 'Patient', body: { resourceType: 'Patient', birthDate: 'not-a-date', colour: 'blue' },
         }));
         assert.equal(err.status, 400);
         assertOutcome(err.data);
       });

  // Verifies: REQ-API-048
  test('415 for an XML body', async () => {
    const err = await httpError(() => client.request('Patient', {
      method: 'POST',
      body: '<Patient xmlns="http://hl7.org/fhir"><gender value="male"/></Patient>',
      options: { headers: { 'Content-Type': 'application/fhir+xml' } },
    }));
    assert.equal(err.status, 415);
    assertOutcome(err.data);
  });

  // Verifies: REQ-API-048
  test('415 when only XML is acceptable (_format=xml)', async () => {
    const err = await httpError(() => client.request('Patient?_format=xml'));
    assert.equal(err.status, 415);
    assertOutcome(err.data);
  });

  // Verifies: REQ-API-065
  test('400 for an unknown search parameter under Prefer: handling=strict', async () => {
    const err = await httpError(() => client.search({
      resourceType: 'Patient', searchParams: { 'no-such-param': 'x' },
      options: { headers: { Prefer: 'handling=strict' } },
    }));
    assert.equal(err.status, 400);
    assertOutcome(err.data);
  });
});
