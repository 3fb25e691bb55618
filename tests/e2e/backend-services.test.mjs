// End-to-end test of SMART Backend Services (client_credentials with private_key_jwt), the way a
// municipality's system gets in: an ES384 key pair made with the npm `jose` library, its public
// key registered as a JWK Set with `sund app register --backend --auth private_key_jwt`, client
// assertions signed with jose's SignJWT, and the access token verified with jose against the
// server's /oauth2/jwks. The negative checks: a replayed assertion (same jti), an assertion signed
// by a key that is not registered, a write with a read-only token, and a request without a token.
//
// Observations to read come from one Synthea bundle in $SUND_TEST_DATA/synthea when that data is
// there; otherwise the test writes one with the administrator token, so the file never skips.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  SignJWT, createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify,
} from 'jose';

import { rawFetch, startSund, sundBin, syntheaFiles } from './lib/sund.mjs';

const run = promisify(execFile);
const synthea = syntheaFiles(1);
const KID = 'kommune-2026-1';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let sund;
let clientId;
let tokenEndpoint;
let privateKey;

before(async () => {
  sund = await startSund({ importFiles: synthea.files ?? [] });
  if (!synthea.files) {
    const r = await rawFetch(`${sund.fhirBase}/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sund.token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Observation', status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      }),
    });
    assert.equal(r.status, 201, 'the administrator token could not write the test Observation');
  }

  const pair = await generateKeyPair('ES384', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'ES384', use: 'sig' };
  assert.equal(jwk.d, undefined, 'the registered JWK must not hold the private key');
  const jwksFile = path.join(sund.dataDir, 'kommune-jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const { stdout } = await run(sundBin, [
    'app', 'register', '--data', sund.dataDir, '--backend', '--auth', 'private_key_jwt',
    '--jwks', jwksFile, '--scope', 'system/*.rs', '--name', 'Kommunens system',
  ]);
  clientId = JSON.parse(stdout).client_id;
  assert.ok(clientId, `app register printed no client_id: ${stdout}`);

  const config = await rawFetch(`${sund.baseUrl}/.well-known/smart-configuration`);
  assert.equal(config.status, 200);
  tokenEndpoint = config.body.token_endpoint;
});

after(async () => {
  await sund?.stop();
});

// A client assertion (SMART Backend Services, RFC 7523) signed with `key`.
function assertion(key = privateKey, kid = KID) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenEndpoint)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

function tokenRequest(clientAssertion, scope = 'system/Observation.rs') {
  return rawFetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: JWT_BEARER,
      client_assertion: clientAssertion,
    }).toString(),
  });
}

describe('Backend Services with private_key_jwt', () => {
  let accessToken;

  // Verifies: REQ-AUTH-001, REQ-AUTH-002
  test('the SMART configuration offers private_key_jwt with ES384 at an absolute token endpoint',
       async () => {
    const { body } = await rawFetch(`${sund.baseUrl}/.well-known/smart-configuration`);
    assert.equal(tokenEndpoint, `${sund.baseUrl}/oauth2/token`);
    assert.ok(body.token_endpoint_auth_methods_supported?.includes('private_key_jwt'),
              JSON.stringify(body.token_endpoint_auth_methods_supported));
    assert.ok(body.capabilities?.includes('client-confidential-asymmetric'));
    const algs = body.token_endpoint_auth_signing_alg_values_supported;
    if (algs !== undefined) assert.ok(algs.includes('ES384'), JSON.stringify(algs));
  });

  // Verifies: REQ-AUTH-037
  test('client_credentials with a signed assertion grants system/Observation.rs', async () => {
    const r = await tokenRequest(await assertion());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.scope, 'system/Observation.rs');
    assert.ok(r.body.expires_in > 0 && r.body.expires_in <= 3600,
              `expires_in ${r.body.expires_in}`);
    assert.equal(r.body.refresh_token, undefined, 'Backend Services get no refresh token');
    accessToken = r.body.access_token;
  });

  // Verifies: REQ-AUTH-003, REQ-AUTH-037
  test('the access token verifies against /oauth2/jwks and is for this FHIR base', async () => {
    assert.ok(accessToken, 'no token from the previous test');
    const jwks = createRemoteJWKSet(new URL(`${sund.baseUrl}/oauth2/jwks`));
    const { payload, protectedHeader } = await jwtVerify(accessToken, jwks, {
      audience: sund.fhirBase,
      issuer: sund.baseUrl,
      algorithms: ['ES256', 'ES384'],
    });
    assert.ok(protectedHeader.kid, 'the token names its signing key');
    assert.equal(payload.aud, sund.fhirBase);
    assert.equal(payload.client_id, clientId);
    assert.equal(payload.scope, 'system/Observation.rs');
    assert.equal(payload.patient, undefined);
    assert.ok(payload.exp - payload.iat <= 3600, `lifetime ${payload.exp - payload.iat} s`);
    assert.ok(payload.exp > Date.now() / 1000);

    // A token whose signature is not the server's does not verify against the same set.
    const { body } = await rawFetch(`${sund.baseUrl}/oauth2/jwks`);
    const tampered = accessToken.slice(0, -4) + (accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await assert.rejects(jwtVerify(tampered, createLocalJWKSet(body)),
                         { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  // Verifies: REQ-AUTH-042
  test('the token reads Observations as a searchset', async () => {
    assert.ok(accessToken, 'no token from the previous test');
    const r = await rawFetch(`${sund.fhirBase}/Observation?_count=5`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/fhir+json' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.resourceType, 'Bundle');
    assert.equal(r.body.type, 'searchset');
    assert.ok(r.body.entry?.length > 0, 'the searchset is empty');
    for (const e of r.body.entry) {
      if (e.search?.mode === 'match') assert.equal(e.resource.resourceType, 'Observation');
    }
  });

  // Verifies: REQ-AUTH-039
  test('a replayed assertion (same jti) is refused with 401', async () => {
    const once = await assertion();
    const first = await tokenRequest(once);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await tokenRequest(once);
    assert.equal(again.status, 401, JSON.stringify(again.body));
    assert.equal(again.body.error, 'invalid_client');
    assert.equal(again.body.access_token, undefined);
  });

  // Verifies: REQ-AUTH-038
  test('an assertion signed by another key is refused with 401', async () => {
    const other = await generateKeyPair('ES384');
    // Same kid as the registered key, so only the signature tells them apart.
    const r = await tokenRequest(await assertion(other.privateKey, KID));
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_client');
    assert.equal(r.body.access_token, undefined);
  });

  // Verifies: REQ-AUTH-048
  test('the read-only system token cannot create (403)', async () => {
    assert.ok(accessToken, 'no token from the first test');
    const count = async () => {
      const r = await rawFetch(`${sund.fhirBase}/Observation?_summary=count`, {
        headers: { authorization: `Bearer ${sund.token}` },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.total;
    };
    const before = await count();
    const r = await rawFetch(`${sund.fhirBase}/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Observation', status: 'final',
        code: { text: 'written by a read-only backend token' },
      }),
    });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal(r.body.resourceType, 'OperationOutcome');
    assert.equal(await count(), before, 'the refused create was stored anyway');
  });

  // Verifies: REQ-AUTH-046
  test('a request without a token gets 401 with WWW-Authenticate: Bearer', async () => {
    const r = await rawFetch(`${sund.fhirBase}/Observation?_count=1`);
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/);
    assert.equal(r.body?.entry, undefined);
  });

  // Verifies: REQ-AUTH-046
  test('without a token the challenge carries no error code (RFC 6750 section 3.1)', async () => {
    const r = await rawFetch(`${sund.fhirBase}/Observation?_count=1`);
    assert.equal(r.status, 401);
    assert.doesNotMatch(r.headers.get('www-authenticate') ?? '', /error=/);
  });
});
