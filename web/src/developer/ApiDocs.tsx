// API documentation with examples that run against this server: each has a curl command
// (with $TOKEN) and a "Run" button that sends the same request with the token of the latest
// sandbox launch (public endpoints without one) and shows the status and body.
import { useState } from 'preact/hooks';
import { getSandbox } from '../auth';
import { ErrorMessage } from '../components/ui';
import { s } from '../i18n';

interface Example {
  id: string;
  method: 'GET' | 'POST';
  path: string;
  auth: boolean;
  contentType?: string;
  body?: unknown;
}

function curl(ex: Example): string {
  const lines = [`curl${ex.method === 'POST' ? ' -X POST' : ''} "${location.origin}${ex.path}"`];
  if (ex.auth) lines.push('  -H "Authorization: Bearer $TOKEN"');
  if (ex.path.startsWith('/fhir')) lines.push('  -H "Accept: application/fhir+json"');
  if (ex.body !== undefined) {
    lines.push(`  -H "Content-Type: ${ex.contentType ?? 'application/json'}"`);
    lines.push(`  -d '${JSON.stringify(ex.body)}'`);
  }
  return lines.join(' \\\n');
}

function Runner({ ex }: { ex: Example }) {
  const t = s();
  const [answer, setAnswer] = useState<{ status: number; text: string } | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const token = getSandbox()?.token.access_token;
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const headers: Record<string, string> = { Accept: ex.path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json' };
      if (ex.auth && token) headers.Authorization = `Bearer ${token}`;
      if (ex.body !== undefined) headers['Content-Type'] = ex.contentType ?? 'application/json';
      const res = await fetch(ex.path, { method: ex.method, headers,
        body: ex.body === undefined ? undefined : JSON.stringify(ex.body) });
      let text = await res.text();
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
      if (text.length > 20000) text = `${text.slice(0, 20000)}\n…`;
      setAnswer({ status: res.status, text });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="example">
      <pre tabIndex={0} aria-label={`curl: ${ex.method} ${ex.path}`}><code>{curl(ex)}</code></pre>
      {ex.auth && !token && <p class="hint">{t.docsNoToken}</p>}
      <button type="button" disabled={busy} onClick={run}>
        {t.run}<span class="visually-hidden">: {ex.method} {ex.path}</span>
      </button>
      <ErrorMessage error={error} />
      {answer && (
        <div role="status">
          <p>{t.status}: <strong data-status>{answer.status}</strong></p>
          <pre tabIndex={0} aria-label={`${t.response}: ${ex.method} ${ex.path}`}><code>{answer.text}</code></pre>
        </div>
      )}
    </div>
  );
}

export function ApiDocs() {
  const t = s();
  const sandbox = getSandbox();
  const patient = sandbox?.token.patient ?? 'PATIENT_ID';
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const sections: { id: string; title: string; text: string; examples: Example[] }[] = [
    { id: 'discover', title: t.docs.discover, text: t.docs.discoverText, examples: [
      { id: 'smart', method: 'GET', path: '/.well-known/smart-configuration', auth: false },
      { id: 'metadata', method: 'GET', path: '/fhir/metadata', auth: false },
    ] },
    { id: 'read', title: t.docs.read, text: t.docs.readText, examples: [
      { id: 'patient', method: 'GET', path: `/fhir/Patient/${patient}`, auth: true },
    ] },
    { id: 'search', title: t.docs.search, text: t.docs.searchText, examples: [
      { id: 'obs', method: 'GET', path: `/fhir/Observation?patient=${patient}&category=vital-signs&_count=5`, auth: true },
    ] },
    { id: 'create', title: t.docs.create, text: t.docs.createText, examples: [
      { id: 'create-obs', method: 'POST', path: '/fhir/Observation', auth: true, contentType: 'application/fhir+json', body: {
        resourceType: 'Observation', status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: now,
        valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      } },
    ] },
    { id: 'iomt', title: t.docs.iomt, text: t.docs.iomtText, examples: [
      { id: 'iomt-post', method: 'POST', path: '/iomt/v1/measurements', auth: true, body: {
        device: 'oxi-7', time: now,
        measurements: [
          { code: { system: 'mdc', code: '149530' }, value: 72, unit: '/min' },
          { code: { system: 'mdc', code: '150456' }, value: 0.96, unit: '{fraction}' },
        ],
      } },
    ] },
  ];
  return (
    <section aria-labelledby="docs-h">
      <h2 id="docs-h">{t.devViews.docs}</h2>
      <p>{t.docsIntro}</p>
      {sections.map((sec) => (
        <section key={sec.id} aria-labelledby={`doc-${sec.id}`}>
          <h3 id={`doc-${sec.id}`}>{sec.title}</h3>
          <p>{sec.text}</p>
          {sec.examples.map((ex) => <Runner key={ex.id} ex={ex} />)}
        </section>
      ))}
    </section>
  );
}
