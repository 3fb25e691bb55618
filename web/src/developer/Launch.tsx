// "Try a SMART launch": the portal plays a registered public app in a standalone launch with
// PKCE (auth.ts, sandboxLaunch), the sandbox citizen signs in and approves on the server's
// screens, and the browser comes back to /app/launch-callback, where the code is exchanged for
// that client (main.tsx). This view shows the token response (the access token truncated) and
// reads the sandbox patient's Patient resource with it.
import { useState } from 'preact/hooks';
import { getSandbox, sandboxLaunch, sandboxRedirectUri } from '../auth';
import { ErrorMessage, Status, useAsync } from '../components/ui';
import { get } from '../fhir';
import { lang, s } from '../i18n';
import type { RegisteredApp } from './Register';

export const truncate = (token: string) => (token.length > 24 ? `${token.slice(0, 12)}…${token.slice(-6)}` : token);

function SandboxPatient({ patient, token }: { patient: string; token: string }) {
  const t = s();
  const { data, error, loading } = useAsync(
    () => get(`Patient/${encodeURIComponent(patient)}`, { token, quiet401: true }), [patient, token]);
  return (
    <section aria-labelledby="sandbox-patient-h">
      <h3 id="sandbox-patient-h">{t.launchPatient}</h3>
      {loading && <Status>{t.loading}</Status>}
      <ErrorMessage error={error} />
      {data && <pre tabIndex={0} aria-labelledby="sandbox-patient-h"><code>{JSON.stringify(data, null, 2)}</code></pre>}
    </section>
  );
}

export function Launch({ apps }: { apps: RegisteredApp[] }) {
  const t = s();
  const [error, setError] = useState<unknown>();
  const result = getSandbox();
  const redirect = sandboxRedirectUri();
  const eligible = apps.filter((a) => a.token_endpoint_auth_method === 'none' && a.redirect_uris.includes(redirect));
  const token = result?.token;
  return (
    <>
      <section aria-labelledby="launch-h">
        <h2 id="launch-h">{t.devViews.launch}</h2>
        <p>{t.launchIntro(redirect)}</p>
        {eligible.length === 0 ? <p>{t.launchNoApps}</p> : (
          <ul class="items">
            {eligible.map((a) => (
              <li key={a.client_id}>
                <button type="button" class="primary"
                  onClick={() => sandboxLaunch(a.client_id, lang()).catch(setError)}>
                  {t.launchButton(a.client_name || a.client_id)}
                </button>
              </li>
            ))}
          </ul>
        )}
        <ErrorMessage error={error} />
      </section>
      <section aria-labelledby="launch-result-h">
        <h2 id="launch-result-h">{t.launchResult}</h2>
        {!token ? <p>{t.launchNone}</p> : (
          <>
            <dl class="facts" id="token-response">
              <dt>{t.tokenClient}</dt><dd><code>{result.clientId}</code></dd>
              <dt>{t.tokenScope}</dt><dd><code data-scope>{token.scope}</code></dd>
              <dt>{t.tokenPatient}</dt><dd><code data-patient>{token.patient}</code></dd>
              <dt>{t.tokenExpires}</dt><dd>{t.seconds(token.expires_in ?? 0)}</dd>
              <dt>{t.tokenAccess}</dt><dd><code>{truncate(token.access_token)}</code></dd>
            </dl>
            {token.patient && <SandboxPatient patient={token.patient} token={token.access_token} />}
          </>
        )}
      </section>
    </>
  );
}
