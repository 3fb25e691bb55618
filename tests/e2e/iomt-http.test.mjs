// The IoMT gateway over HTTP in `sund serve` with authorization on (docs/iomt.md): a hub
// with a system token posts a device's measurements; they become Observations of the patient
// the device is assigned to, once even when sent twice; refused measurements are listed with
// their reasons at /iomt/v1/rejected and by `sund iomt rejected`; tokens without a system/ scope for Observations are
// refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { execFileSync } from 'node:child_process';

import { rawFetch, startSund, sundBin } from './lib/sund.mjs';

let server;
let patientId;

before(async () => {
  server = await startSund();
  const post = async (resource) => {
    const r = await rawFetch(`${server.fhirBase}/${resource.resourceType}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  patientId = await post({ resourceType: 'Patient', name: [{ family: 'Hjemmemåler' }] });
  await post({ resourceType: 'Device', identifier: [{ system: 'urn:sund:device', value: 'hub-1' }],
               patient: { reference: `Patient/${patientId}` } });
});

after(async () => { await server?.stop(); });

const payload = JSON.stringify({
  device: 'hub-1',
  time: new Date(Date.now() - 60_000).toISOString(),
  measurements: [
    { code: { system: 'mdc', code: '149530' }, value: 88, unit: '/min' },
    { code: { system: 'mdc', code: '150021' }, value: 16.5, unit: 'kPa' },
    { code: { system: 'mdc', code: '150022' }, value: 80, unit: 'mm[Hg]' },
    { code: { system: 'mdc', code: '150456' }, value: 130, unit: '%' },
  ],
});

function ingest(token, body = payload) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return rawFetch(`${server.baseUrl}/iomt/v1/measurements`, { method: 'POST', headers, body });
}

// Verifies: REQ-IOMT-002, REQ-IOMT-007, REQ-IOMT-015, REQ-IOMT-022, REQ-IOMT-024, REQ-IOMT-032
// Verifies: REQ-IOMT-038, REQ-CLI-001, REQ-CLI-002
test('measurements become the patient\'s Observations, once', async () => {
  const first = await ingest(server.token);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.accepted, 3);
  assert.equal(first.body.stored, 2);  // the pulse, and the blood pressure pair as one
  assert.deepEqual(first.body.refused.map((r) => r.reason), ['impossible-value']);
  const again = await ingest(server.token);
  assert.equal(again.body.stored, 0);
  assert.equal(again.body.duplicates, 2);

  const obs = await rawFetch(
    `${server.fhirBase}/Observation?subject=Patient/${patientId}&category=vital-signs`,
    { headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(obs.status, 200);
  const resources = (obs.body.entry ?? []).map((e) => e.resource);
  assert.equal(resources.length, 2);

  // sund serve scored them (in the background, from the change feed): a NEWS2 Observation
  // (incomplete: only pulse and pressure).
  let news2;
  for (let i = 0; i < 50; i++) {
    news2 = await rawFetch(
      `${server.fhirBase}/Observation?subject=Patient/${patientId}&code=http://snomed.info/sct|1104051000000101`,
      { headers: { authorization: `Bearer ${server.token}` } });
    if (news2.body.entry?.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(news2.body.entry?.length, 1, JSON.stringify(news2.body));
  assert.match(news2.body.entry[0].resource.dataAbsentReason.text, /incomplete NEWS2/);
  const bp = resources.find((r) => r.code.coding[0].code === '85354-9');
  assert.ok(bp, 'no blood pressure Observation');
  assert.equal(bp.component[0].valueQuantity.code, 'mm[Hg]');
  assert.ok(Math.abs(bp.component[0].valueQuantity.value - 123.76) < 0.01);
});

// Verifies: REQ-IOMT-012, REQ-IOMT-026, REQ-IOMT-032, REQ-CLI-002, REQ-CLI-007
test('refusals are listed with their reasons; other tokens are refused', async () => {
  const rejected = await rawFetch(`${server.baseUrl}/iomt/v1/rejected`,
                                  { headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(rejected.status, 200);
  assert.ok(rejected.body.rejected.length >= 1);
  assert.equal(rejected.body.rejected[0].reason, 'impossible-value');
  assert.doesNotMatch(rejected.body.rejected[0].detail, /130/);

  // The same from the command line, without the payloads.
  const listed = execFileSync(sundBin, ['iomt', 'rejected', '--data', server.dataDir]).toString();
  assert.match(listed, /impossible-value \(measurement 3\)/);
  assert.doesNotMatch(listed, /hub-1","time"/);

  assert.equal((await ingest(undefined)).status, 401);
  const citizen = await server.mint(['--patient', patientId, '--scope', 'patient/*.rs']);
  assert.equal((await ingest(citizen)).status, 403);
});
