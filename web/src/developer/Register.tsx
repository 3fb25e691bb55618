// Registering an app: RFC 7591 dynamic client registration (POST /oauth2/register). The
// registered apps are remembered in this browser's localStorage, without secrets.
import { useState } from 'preact/hooks';
import { getSession, sandboxRedirectUri } from '../auth';
import { announce } from '../components/announce';
import { ErrorMessage } from '../components/ui';
import { errorMessage } from '../fhir';
import { fmtDateTime, s } from '../i18n';

export interface RegisteredApp {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  scope: string;
  registered: number;
}

const APPS_KEY = 'sund.dev.apps';

export function loadApps(): RegisteredApp[] {
  try {
    return JSON.parse(localStorage.getItem(APPS_KEY) ?? '[]') as RegisteredApp[];
  } catch {
    return [];
  }
}

function saveApps(apps: RegisteredApp[]) {
  localStorage.setItem(APPS_KEY, JSON.stringify(apps));
}

const PRESETS = ['launch/patient', 'openid', 'fhirUser', 'offline_access', 'patient/*.rs',
  'patient/Observation.rs', 'patient/Observation.c', 'user/*.rs', 'launch'];
const DEFAULT_SCOPES = ['launch/patient', 'openid', 'fhirUser', 'patient/*.rs'];

type Method = 'none' | 'client_secret_basic' | 'private_key_jwt';

interface Registered { client_id: string; client_secret?: string; scope?: string; client_name?: string }

export function Register({ onChange }: { onChange: (apps: RegisteredApp[]) => void }) {
  const t = s();
  const [name, setName] = useState('');
  const [redirects, setRedirects] = useState(sandboxRedirectUri());
  const [method, setMethod] = useState<Method>('none');
  const [jwks, setJwks] = useState('');
  const [scopes, setScopes] = useState<string[]>(DEFAULT_SCOPES);
  const [more, setMore] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<Registered | null>(null);
  const [apps, setApps] = useState(loadApps);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setResult(null);
    const uris = redirects.split('\n').map((u) => u.trim()).filter(Boolean);
    if (uris.length === 0) {
      setError(t.regNeedRedirect);
      return;
    }
    const scope = [...new Set([...scopes, ...more.split(/\s+/).filter(Boolean)])].join(' ');
    const body: Record<string, unknown> = {
      client_name: name.trim(),
      redirect_uris: uris,
      token_endpoint_auth_method: method,
      grant_types: scope.split(' ').some((x) => x.startsWith('system/')) && method !== 'none'
        ? ['authorization_code', 'client_credentials'] : ['authorization_code'],
      scope,
    };
    if (scope.split(' ').includes('offline_access')) (body.grant_types as string[]).push('refresh_token');
    if (method === 'private_key_jwt') {
      try {
        body.jwks = JSON.parse(jwks);
      } catch {
        setError(t.regInvalidJwks);
        return;
      }
    }
    setBusy(true);
    try {
      const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
      const session = getSession('developer');
      if (session && session.expiresAt > Date.now()) headers.Authorization = `Bearer ${session.accessToken}`;
      const res = await fetch('/oauth2/register', { method: 'POST', headers, body: JSON.stringify(body) });
      const answer = (await res.json().catch(() => ({}))) as Registered & Record<string, unknown>;
      if (!res.ok || !answer.client_id) throw new Error(errorMessage(res.status, answer));
      setResult(answer);
      const app: RegisteredApp = {
        client_id: answer.client_id,
        client_name: answer.client_name ?? name.trim(),
        redirect_uris: (answer.redirect_uris as string[] | undefined) ?? uris,
        token_endpoint_auth_method: (answer.token_endpoint_auth_method as string | undefined) ?? method,
        scope: answer.scope ?? scope,
        registered: Date.now(),
      };
      const next = [app, ...apps.filter((a) => a.client_id !== app.client_id)];
      saveApps(next);
      setApps(next);
      onChange(next);
      announce(t.regDone);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const forget = (id: string) => {
    const next = apps.filter((a) => a.client_id !== id);
    saveApps(next);
    setApps(next);
    onChange(next);
  };

  const toggle = (scope: string, on: boolean) =>
    setScopes(on ? [...scopes, scope] : scopes.filter((x) => x !== scope));

  return (
    <>
      <section aria-labelledby="reg-h">
        <h2 id="reg-h">{t.devViews.register}</h2>
        <form onSubmit={submit}>
          <div class="field">
            <label for="reg-name">{t.regName}</label>
            <input id="reg-name" type="text" required value={name} autoComplete="off"
              onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for="reg-redirects">{t.regRedirects}</label>
            <textarea id="reg-redirects" rows={3} value={redirects} spellcheck={false}
              onInput={(e) => setRedirects((e.currentTarget as HTMLTextAreaElement).value)} />
          </div>
          <fieldset>
            <legend>{t.regClientType}</legend>
            {([['none', t.regPublic], ['client_secret_basic', t.regSecret], ['private_key_jwt', t.regJwt]] as const)
              .map(([value, label]) => (
                <label class="choice" key={value}>
                  <input type="radio" name="auth-method" value={value} checked={method === value}
                    onChange={() => setMethod(value)} />
                  {label}
                </label>
              ))}
          </fieldset>
          {method === 'private_key_jwt' && (
            <div class="field">
              <label for="reg-jwks">{t.regJwks}</label>
              <textarea id="reg-jwks" rows={6} value={jwks} spellcheck={false} placeholder='{"keys": [...]}'
                onInput={(e) => setJwks((e.currentTarget as HTMLTextAreaElement).value)} />
            </div>
          )}
          <fieldset>
            <legend>{t.regScopes}</legend>
            <div class="choices-row">
              {PRESETS.map((p) => (
                <label class="choice" key={p}>
                  <input type="checkbox" name="scope" value={p} checked={scopes.includes(p)}
                    onChange={(e) => toggle(p, (e.currentTarget as HTMLInputElement).checked)} />
                  <code>{p}</code>
                </label>
              ))}
            </div>
          </fieldset>
          <div class="field">
            <label for="reg-more">{t.regScopesMore}</label>
            <input id="reg-more" type="text" value={more} spellcheck={false} autoComplete="off"
              onInput={(e) => setMore((e.currentTarget as HTMLInputElement).value)} />
          </div>
          <button type="submit" class="primary" disabled={busy}>{t.regSubmit}</button>
        </form>
        <ErrorMessage error={error} />
        {result && (
          <div class="notice" role="status" id="registration-result">
            <p>{t.regDone}</p>
            <dl class="facts">
              <dt>{t.regClientId}</dt><dd><code data-client-id>{result.client_id}</code></dd>
              <dt>{t.regGranted}</dt><dd><code>{result.scope}</code></dd>
            </dl>
            {result.client_secret && (
              <div class="secret">
                <p><strong>{t.regSecretOnce}</strong></p>
                <code>{result.client_secret}</code>
              </div>
            )}
          </div>
        )}
      </section>
      <section aria-labelledby="myapps-h">
        <h2 id="myapps-h">{t.regMyApps}</h2>
        {apps.length === 0 ? <p>{t.regNoApps}</p> : (
          <ul class="items">
            {apps.map((a) => (
              <li key={a.client_id}>
                <h3>{a.client_name || a.client_id}</h3>
                <dl class="facts">
                  <dt>{t.regClientId}</dt><dd><code>{a.client_id}</code></dd>
                  <dt>{t.regClientType}</dt><dd>{a.token_endpoint_auth_method}</dd>
                  <dt>{t.regGranted}</dt><dd><code>{a.scope}</code></dd>
                  <dt>{t.regRedirects}</dt><dd>{a.redirect_uris.join(', ')}</dd>
                  <dt>{t.appGranted}</dt><dd>{fmtDateTime(a.registered)}</dd>
                </dl>
                <button type="button" onClick={() => forget(a.client_id)}>
                  {t.regForget}<span class="visually-hidden">: {a.client_name}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
