// End-to-end tests through fhirclient, SMART on FHIR's JavaScript client (client-js), used the
// way a Node back end uses it with a token it already holds: `smart(request, response).client(
// {serverUrl, tokenResponse})` from its Node entry point gives a Client that sends the bearer
// token (a system token minted with `sund token`). The SMART launch itself is tested in
// smart-launch.test.mjs. The request/response pair is only consulted for SMART launches and
// session storage, which these tests do not use.
//
// The Synthea part loads a few bundles from $SUND_TEST_DATA/synthea and is skipped, with the
// reason, when that data is not there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import smart from 'fhirclient/lib/entry/node.js';

import { startSund, syntheaFiles } from './lib/sund.mjs';

const synthea = syntheaFiles(3);

let sund;
let client;

before(async () => {
  sund = await startSund({ importFiles: synthea.files ?? [] });
  const req = new http.IncomingMessage(new net.Socket());
  const res = new http.ServerResponse(req);
  client = smart(req, res).client({
    serverUrl: sund.fhirBase,
    tokenResponse: { access_token: sund.token, token_type: 'Bearer' },
  });
});

after(async () => {
  await sund?.stop();
});

// Runs `fn`, which must fail with fhirclient's HttpError; returns it.
async function httpError(fn) {
  try {
    await fn();
  } catch (e) {
    assert.equal(e.name, 'HttpError', `expected an HttpError, got ${e}`);
    return e;
  }
  assert.fail('the request succeeded but should have failed');
}

// Creates `resource` and returns it as stored, with its logical id, checked against Location.
async function create(resource) {
  const { body, response } = await client.create(resource, { includeResponse: true });
  assert.equal(response.status, 201);
  const loc = response.headers.get('location') ?? '';
  assert.ok(body.id && loc.includes(`/${body.id}/_history/`), `id ${body.id}, Location ${loc}`);
  return body;
}

// fhirclient has already read the error body and appended it, as JSON, to the message.
function assertOutcome(err) {
  assert.match(err.response.headers.get('content-type'), /^application\/fhir\+json/);
  const body = JSON.parse(err.message.slice(err.message.indexOf('{')));
  assert.equal(body.resourceType, 'OperationOutcome');
  assert.equal(body.issue[0].severity, 'error');
}

describe('fhirclient on resources it writes', () => {
  const family = 'Smartclient';
  let id;

  // Verifies: REQ-API-001, REQ-API-002
  test('create returns the new resource', async () => {
    const p = await create({ resourceType: 'Patient', name: [{ family, given: ['Ada'] }],
                             gender: 'female' });
    assert.equal(p.resourceType, 'Patient');
    assert.ok(p.id);
    assert.equal(p.meta.versionId, '1');
    id = p.id;
  });

  // Verifies: REQ-API-003
  test('request a Patient by id', async () => {
    const p = await client.request(`Patient/${id}`);
    assert.equal(p.name[0].family, family);
    const withResponse = await client.request({ url: `Patient/${id}`, includeResponse: true });
    assert.equal(withResponse.response.status, 200);
    assert.equal(withResponse.response.headers.get('etag'), 'W/"1"');
    assert.equal(withResponse.body.name[0].family, family);
  });

  // Verifies: REQ-API-008
  test('update makes a new version', async () => {
    const current = await client.request(`Patient/${id}`);
    const updated = await client.update({ ...current, id, birthDate: '1815-12-10' });
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.birthDate, '1815-12-10');
  });

  // Verifies: REQ-API-013
  test('patch sends a JSON Patch', async () => {
    const patched = await client.patch(`Patient/${id}`, [
      { op: 'replace', path: '/birthDate', value: '1815-12-11' },
    ]);
    assert.equal(patched.meta.versionId, '3');
    assert.equal(patched.birthDate, '1815-12-11');
  });

  // Verifies: REQ-API-006, REQ-API-016
  test('delete removes it: a later request fails with 410', async () => {
    await client.delete(`Patient/${id}`);
    const err = await httpError(() => client.request(`Patient/${id}`));
    assert.equal(err.status, 410);
    assertOutcome(err);
  });

  // Verifies: REQ-API-006, REQ-API-045
  test('an unknown id fails with 404 and an OperationOutcome', async () => {
    const err = await httpError(() => client.request('Patient/no-such-patient-e2e'));
    assert.equal(err.status, 404);
    assertOutcome(err);
  });

  // Verifies: REQ-API-070
  test('search with pageLimit and flat walks the pages into one array', async () => {
    // Told apart by identifier rather than id (see create() above).
    const made = [];
    for (let i = 0; i < 7; i++) {
      made.push(`flat-${i}`);
      await create({ resourceType: 'Patient', name: [{ family: 'Flatpages' }],
                     identifier: [{ system: 'http://e2e.sund.test/id', value: `flat-${i}` }] });
    }
    const one = await client.request('Patient?family=Flatpages&_count=3', { flat: true });
    assert.equal(one.length, 3, 'pageLimit defaults to one page');
    const two = await client.request('Patient?family=Flatpages&_count=3', { pageLimit: 2, flat: true });
    assert.equal(two.length, 6);
    const all = await client.request('Patient?family=Flatpages&_count=3', { pageLimit: 0, flat: true });
    assert.deepEqual(all.map((p) => p.identifier[0].value).sort(), made);
    const pages = [];
    await client.request('Patient?family=Flatpages&_count=3', {
      pageLimit: 0, onPage: (bundle) => { pages.push(bundle.entry.length); },
    });
    assert.deepEqual(pages, [3, 3, 1]);
  });

  // Verifies: REQ-API-003
  test('resolveReferences mounts a referenced resource in place', async () => {
    const p = await create({ resourceType: 'Patient', name: [{ family: 'Refholder' }] });
    const o = await create({
      resourceType: 'Observation', status: 'final', code: { text: 'note' },
      subject: { reference: `Patient/${p.id}` },
    });
    const got = await client.request(`Observation/${o.id}`, { resolveReferences: 'subject' });
    assert.equal(got.subject.resourceType, 'Patient');
    assert.equal(got.subject.name[0].family, 'Refholder');
  });
});

describe('fhirclient on imported Synthea data', { skip: synthea.reason }, () => {
  let patientId;
  let observationTotal;

  before(async () => {
    // Body weight (LOINC 29463-7) is recorded for every Synthea patient.
    const b = await client.request('Patient?_has:Observation:patient:code=http://loinc.org|29463-7&_count=1');
    assert.ok(b.entry?.length, 'an imported Patient has a body weight Observation');
    patientId = b.entry[0].resource.id;
    const count = await client.request(`Observation?subject=Patient/${patientId}&_summary=count`);
    observationTotal = count.total;
  });

  // Verifies: REQ-API-003, REQ-API-076
  test('request an imported Patient by id', async () => {
    const p = await client.request(`Patient/${patientId}`);
    assert.equal(p.resourceType, 'Patient');
    assert.equal(p.id, patientId);
    assert.ok(p.name?.length, 'Synthea patients have names');
  });

  // Verifies: REQ-API-068, REQ-API-070
  test('pageLimit: 0 with flat collects every Observation of the patient', async () => {
    assert.ok(observationTotal > 10, `patient has ${observationTotal} Observations`);
    const all = await client.request(`Observation?subject=Patient/${patientId}&_count=10`,
                                     { pageLimit: 0, flat: true });
    assert.equal(all.length, observationTotal);
    assert.equal(new Set(all.map((o) => o.id)).size, observationTotal, 'no resource twice');
    assert.ok(all.every((o) => o.resourceType === 'Observation'));
  });

  // Verifies: REQ-API-003, REQ-API-070
  test('resolveReferences resolves Observation.subject and .encounter across pages', async () => {
    const obs = await client.request(`Observation?subject=Patient/${patientId}&_count=5`, {
      pageLimit: 2, flat: true, resolveReferences: ['subject', 'encounter'],
    });
    assert.equal(obs.length, Math.min(10, observationTotal));
    for (const o of obs) {
      assert.equal(o.subject.resourceType, 'Patient', 'subject is the Patient resource');
      assert.equal(o.subject.id, patientId);
      if (o.encounter) {
        assert.equal(o.encounter.resourceType, 'Encounter');
        assert.equal(o.encounter.subject.reference, `Patient/${patientId}`);
      }
    }
  });

  // Verifies: REQ-API-003
  test('graph: false returns the references beside the data', async () => {
    const out = await client.request(`Observation?subject=Patient/${patientId}&_count=3`, {
      flat: true, graph: false, resolveReferences: 'subject',
    });
    assert.equal(out.data.length, 3);
    const ref = `Patient/${patientId}`;
    assert.equal(out.data[0].subject.reference, ref, 'data keeps the references as they are');
    assert.equal(out.references[ref].id, patientId);
  });

  // Verifies: REQ-API-078
  test('conditional references of the import resolve: Encounter.serviceProvider', async () => {
    const encs = await client.request(`Encounter?patient=Patient/${patientId}&_count=3`, { flat: true });
    assert.ok(encs.length > 0);
    const enc = encs.find((e) => e.serviceProvider);
    assert.ok(enc, 'Synthea encounters have a serviceProvider');
    assert.match(enc.serviceProvider.reference, /^Organization\/[^?]+$/,
                 'the import turned the conditional reference into a literal one');
    await client.resolveReferences(enc, ['serviceProvider']);
    assert.equal(enc.serviceProvider.resourceType, 'Organization');
  });
});
