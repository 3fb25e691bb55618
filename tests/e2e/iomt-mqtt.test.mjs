// Home monitoring end to end over MQTT (issue #5): Debian's Mosquitto on loopback, configured by
// `sund iomt broker-config`; `sund serve` with authorization, consent and audit taking the
// measurements from it; `sund iomt simulate` with 100 citizens for two simulated days in 20 s,
// one of them deteriorating. The care team's Subscriptions to alerts for that citizen, one
// rest-hook and one websocket (npm `ws` as the client), receive the notification, and reading
// the Flag it names (with a token) shows the NEWS2 escalation. The alert latency (Flag written ->
// notification received) is printed for both channels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startSund, sundBin } from './lib/sund.mjs';

function sund(args) {
  return new Promise((resolve) => {
    execFile(sundBin, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Stops the broker and waits for it to exit: mosquitto writes its persistence file on the way
// out, and removing its folder before that races with it (ENOTEMPTY).
async function stopBroker(broker) {
  if (broker.exitCode !== null || broker.signalCode !== null) return;
  const exited = new Promise((resolve) => broker.once('exit', resolve));
  broker.kill('SIGTERM');
  await exited;
}

// Debian's Mosquitto on a free loopback port with the configuration of `sund iomt
// broker-config --simulator`, in a fresh directory: the gateway's and the simulator's URLs.
async function startBroker(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const port = await freePort();
  const config = await sund(['iomt', 'broker-config', '--dir', path.join(dir, 'broker'),
                             '--port', String(port), '--simulator']);
  assert.equal(config.code, 0, config.stderr);
  const [gatewayUrl, simulatorUrl] = config.stdout.trim().split('\n');
  const broker = spawn(process.env.SUND_MOSQUITTO || '/usr/sbin/mosquitto',
                       ['-c', path.join(dir, 'broker', 'mosquitto.conf')], { stdio: 'ignore' });
  return { dir, gatewayUrl, simulatorUrl, broker };
}

// Verifies: REQ-IOMT-044, REQ-CLI-001, REQ-CLI-003, REQ-CLI-004, REQ-CLI-005
test('a deteriorating citizen at home: measurements over MQTT, NEWS2, an alert on the care team subscription', async () => {
  const { dir, gatewayUrl, simulatorUrl, broker } = await startBroker('sund-iomt-mqtt-');
  // The care team's endpoint.
  const notifications = [];
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      notifications.push({ at: Date.now(), body: JSON.parse(body), auth: req.headers.authorization });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  let server;
  const sockets = [];
  try {
    server = await startSund({ env: { SUND_MQTT: gatewayUrl } });
    const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/fhir+json' };
    // The citizens first (the subscription names one of them), then the subscription.
    const setup = await sund(['iomt', 'simulate', '--url', server.baseUrl, '--token', server.token,
                              '--patients', '100', '--duration', '0.001', '--rate', '0.001']);
    assert.equal(setup.code, 0, setup.stderr);
    const sub = await fetch(`${server.fhirBase}/Subscription`, {
      method: 'POST', headers,
      body: JSON.stringify({
        resourceType: 'Subscription', status: 'requested', reason: 'Hjemmeplejen: alarmer',
        criteria: 'https://sund.dk/fhir/SubscriptionTopic/alert',
        _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria',
                                   valueString: 'Flag?patient=Patient/sim-p-0' }] },
        channel: { type: 'rest-hook', endpoint: `http://127.0.0.1:${hook.address().port}/alerts`,
                   payload: 'application/fhir+json', header: ['Authorization: Bearer care-team-hook'] },
      }),
    });
    assert.equal(sub.status, 201, await sub.text());
    for (let i = 0; i < 50 && notifications.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(notifications.length, 1, 'the handshake');

    // The same alerts over a websocket: a Subscription, a binding token, the socket.
    const wsSub = await fetch(`${server.fhirBase}/Subscription`, {
      method: 'POST', headers,
      body: JSON.stringify({
        resourceType: 'Subscription', status: 'requested', reason: 'Vagtcentralen: alarmer',
        criteria: 'https://sund.dk/fhir/SubscriptionTopic/alert',
        _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria',
                                   valueString: 'Flag?patient=Patient/sim-p-0' }] },
        channel: { type: 'websocket', payload: 'application/fhir+json' },
      }),
    });
    assert.equal(wsSub.status, 201);
    const wsId = (await wsSub.json()).id;
    let binding;
    for (let i = 0; i < 50; i++) {
      binding = await fetch(`${server.fhirBase}/Subscription/${wsId}/$get-ws-binding-token`, { headers });
      if (binding.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));  // until the Subscription is active
    }
    assert.equal(binding.status, 200);
    const bindingParams = (await binding.json()).parameter;
    const token = bindingParams.find((p) => p.name === 'token').valueString;
    const wsUrl = bindingParams.find((p) => p.name === 'websocket-url').valueUrl;
    const wsMessages = [];
    const socket = new WebSocket(wsUrl);
    sockets.push(socket);
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
    socket.on('message', (data) => wsMessages.push({ at: Date.now(), body: JSON.parse(data.toString()) }));
    socket.send(`bind-with-token ${token}`);
    for (let i = 0; i < 50 && wsMessages.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(wsMessages.length, 1, 'the websocket handshake');
    // A binding token is single-use.
    const again = new WebSocket(wsUrl);
    sockets.push(again);
    await new Promise((resolve) => again.once('open', resolve));
    const refused = new Promise((resolve) => again.once('message', (d) => resolve(d.toString())));
    again.send(`bind-with-token ${token}`);
    assert.match(await refused, /unknown or expired/);
    again.close();

    // Two simulated days in 20 s: sim-p-0 falls ill from the tenth hour.
    const sim = await sund(['iomt', 'simulate', '--url', server.baseUrl, '--token', server.token,
                            '--mqtt', simulatorUrl, '--patients', '100', '--deteriorating', '1',
                            '--rate', '2', '--speed', '8640', '--duration', '20', '--seed', '5']);
    assert.equal(sim.code, 0, sim.stderr);
    assert.match(sim.stdout, /measurements \(refusals not known over MQTT\)/);
    // The alert follows the scoring of everything just filed; on a busy machine (the whole suite
    // on two cores, PostgreSQL) that can take tens of seconds. Delivery is checked here, not its
    // speed (the latency from Flag to notification is printed below).
    for (let i = 0; i < 600 && notifications.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(notifications.length >= 2, 'an alert notification');
    const event = notifications[1];
    assert.equal(event.auth, 'Bearer care-team-hook');
    const params = event.body.entry[0].resource.parameter;
    assert.equal(params.find((p) => p.name === 'type').valueCode, 'event-notification');
    const focus = params.find((p) => p.name === 'notification-event').part
      .find((p) => p.name === 'focus').valueReference.reference;
    // The subscriber reads the Flag with its own token.
    const flag = await (await fetch(focus, { headers })).json();
    assert.equal(flag.resourceType, 'Flag');
    assert.equal(flag.subject.reference, 'Patient/sim-p-0');
    assert.match(flag.code.text, /^NEWS2 \d+/);
    const latency = event.at - Date.parse(flag.meta.lastUpdated);
    console.log(`alert latency, Flag written -> rest-hook notification received: ${latency} ms`);
    for (let i = 0; i < 100 && wsMessages.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(wsMessages.length >= 2, 'an alert on the websocket');
    const wsEvent = wsMessages[1].body.entry[0].resource.parameter
      .find((p) => p.name === 'notification-event').part.find((p) => p.name === 'focus');
    assert.equal(wsEvent.valueReference.reference, focus);
    console.log(`alert latency, Flag written -> websocket notification received: ${wsMessages[1].at - Date.parse(flag.meta.lastUpdated)} ms`);
    socket.close();
    // Nobody else's alerts reached this subscriber.
    for (const n of notifications.slice(1)) {
      const f = n.body.entry[0].resource.parameter.find((p) => p.name === 'notification-event');
      const ref = f.part.find((p) => p.name === 'focus').valueReference.reference;
      const other = await (await fetch(ref, { headers })).json();
      assert.equal(other.subject.reference, 'Patient/sim-p-0');
    }
  } finally {
    for (const s of sockets) s.terminate();
    await server?.stop();
    hook.close();
    await stopBroker(broker);
    rmSync(dir, { recursive: true, force: true });
  }
});

// Verifies: REQ-IOMT-021, REQ-IOMT-074, REQ-CLI-004, REQ-CLI-005, REQ-CLI-006, REQ-CLI-007
test('the gateway as its own service writes through the FHIR API of a remote Sund', async () => {
  const { dir, gatewayUrl, simulatorUrl, broker } = await startBroker('sund-iomt-gateway-');
  let server;
  let gateway;
  try {
    server = await startSund();  // no MQTT of its own
    const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/fhir+json' };
    const setup = await sund(['iomt', 'simulate', '--url', server.baseUrl, '--token', server.token,
                              '--patients', '10', '--duration', '0.001', '--rate', '0.001']);
    assert.equal(setup.code, 0, setup.stderr);
    // sim-p-1 withdrew consent to home monitoring.
    const consent = await fetch(`${server.fhirBase}/Consent`, {
      method: 'POST', headers,
      body: JSON.stringify({
        resourceType: 'Consent', status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ text: 'hjemmemonitorering' }], patient: { reference: 'Patient/sim-p-1' },
        provision: { type: 'deny', action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'collect' }] }] },
      }),
    });
    assert.equal(consent.status, 201, await consent.text());
    const gatewayData = path.join(dir, 'gateway');
    gateway = spawn(sundBin, ['iomt', 'gateway', '--fhir', server.fhirBase, '--data', gatewayData],
                    { stdio: ['ignore', 'pipe', 'pipe'],
                      env: { ...process.env, SUND_TOKEN: server.token, SUND_MQTT: gatewayUrl } });
    let summary = '';
    gateway.stdout.on('data', (d) => { summary += d; });
    const gatewayExited = new Promise((r) => gateway.once('exit', r));
    await new Promise((r) => setTimeout(r, 1000));
    const sim = await sund(['iomt', 'simulate', '--url', server.baseUrl, '--token', server.token,
                            '--mqtt', simulatorUrl, '--patients', '10', '--rate', '30',
                            '--speed', '720', '--duration', '5', '--seed', '9']);
    assert.equal(sim.code, 0, sim.stderr);
    // sim-p-1's measurements are refused (no-consent), which the broker's acknowledgements do
    // not tell: the simulator claims no count of refusals.
    const m = /simulate: (\d+) payloads, (\d+) measurements \(refusals not known over MQTT\)/
      .exec(sim.stdout);
    assert.ok(m, sim.stdout);
    const payloads = Number(m[1]);
    const measurements = Number(m[2]);
    // One in ten citizens refused: roughly a tenth of the Observations are missing.
    let stored = 0;
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const res = await fetch(`${server.fhirBase}/Observation?identifier=urn:sund:iomt%7C&_summary=count`, { headers });
      stored = (await res.json()).total;
      if (stored === last && stored > 0) break;
      last = stored;
    }
    const refusedOf1 = await fetch(`${server.fhirBase}/Observation?identifier=urn:sund:iomt%7C&subject=Patient/sim-p-1&_summary=count`, { headers });
    assert.equal((await refusedOf1.json()).total, 0, "sim-p-1's measurements were not collected");
    assert.ok(stored > 0.8 * (measurements - payloads) && stored < measurements - payloads,
              `${stored} of ${measurements - payloads}`);
    const rejected = await sund(['iomt', 'rejected', '--data', gatewayData, '--count', '1']);
    assert.match(rejected.stdout, /no-consent/);
    gateway.kill('SIGTERM');
    await gatewayExited;
    assert.match(summary, /sund iomt gateway: \d+ messages in \d+ batches/);
  } finally {
    gateway?.kill('SIGKILL');
    await server?.stop();
    await stopBroker(broker);
    rmSync(dir, { recursive: true, force: true });
  }
});
