// Signing in: OAuth 2 authorization code with PKCE (S256) against Sund's own authorization
// server (docs/auth.md). The portals are the first-party public client `sund-portal`, which comes
// back to `${origin}/app/`; the developer portal also plays a registered third-party app in a
// sandbox launch, which comes back to `${origin}/app/launch-callback`.
//
// Tokens live in sessionStorage only (one per portal, so a person can use two portals in one
// tab); the PKCE verifier, the state and the route to come back to wait there during the
// round trip to the login page.

export type Portal = 'citizen' | 'clinician' | 'operator' | 'developer';

export const PORTAL_CLIENT_ID = 'sund-portal';

export const PORTAL_SCOPES: Record<Portal, string> = {
  citizen: 'openid fhirUser launch/patient patient/*.rs patient/Consent.u',
  clinician: 'openid fhirUser user/*.rs user/Flag.u user/Communication.u user/Subscription.c',
  operator: 'openid fhirUser user/Observation.rs',
  developer: 'openid fhirUser',
};

export const SANDBOX_SCOPE = 'launch/patient openid fhirUser patient/*.rs';

export interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  patient?: string;
  id_token?: string;
  refresh_token?: string;
  [other: string]: unknown;
}

export interface Session {
  portal: Portal;
  accessToken: string;
  expiresAt: number; // ms since the epoch
  scope: string;
  patient?: string;
  fhirUser?: string; // absolute URL, e.g. http://host/fhir/Practitioner/123
  name?: string;
}

/** The result of a sandbox launch (developer portal), kept for its "Run" buttons. */
export interface SandboxResult {
  clientId: string;
  receivedAt: number;
  token: TokenResponse;
}

interface Pending {
  kind: 'portal' | 'sandbox';
  portal: Portal;
  state: string;
  verifier: string;
  clientId: string;
  redirectUri: string;
  route: string;
}

const PENDING_KEY = 'sund.pending';
const SANDBOX_KEY = 'sund.sandbox';
const sessionKey = (portal: Portal) => `sund.session.${portal}`;

export const portalRedirectUri = () => `${location.origin}/app/`;
export const sandboxRedirectUri = () => `${location.origin}/app/launch-callback`;
export const fhirAudience = () => `${location.origin}/fhir`;

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier: string): Promise<string> {
  if (!crypto.subtle) throw new Error('PKCE needs a secure context (https or localhost)');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT's payload (not verified: it came straight from the token endpoint). */
export function jwtClaims(jwt: string | undefined): Record<string, unknown> {
  if (!jwt) return {};
  try {
    const part = jwt.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function getSession(portal: Portal): Session | null {
  try {
    const raw = sessionStorage.getItem(sessionKey(portal));
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export const isExpired = (s: Session) => Date.now() >= s.expiresAt;

export function forgetSession(portal: Portal) {
  sessionStorage.removeItem(sessionKey(portal));
}

export function getSandbox(): SandboxResult | null {
  try {
    const raw = sessionStorage.getItem(SANDBOX_KEY);
    return raw ? (JSON.parse(raw) as SandboxResult) : null;
  } catch {
    return null;
  }
}

async function authorize(p: Omit<Pending, 'state' | 'verifier'>, scope: string, lang: string,
  freshLogin = false) {
  const state = randomString(16);
  const verifier = randomString(32);
  const challenge = await challengeOf(verifier);
  const pending: Pending = { ...p, state, verifier };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    scope,
    state,
    aud: fhirAudience(),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ui_locales: lang,
  });
  const url = `/oauth2/authorize?${q}`;
  // A fresh login ends this browser's login session first (/oauth2/logout redirects to a path of
  // this origin), so the person the launch is for signs in, not whoever used the portal.
  location.assign(freshLogin ? `/oauth2/logout?redirect=${encodeURIComponent(url)}` : url);
}

/** Sends the browser to the login page; it comes back to `route` of `portal`. */
export function signIn(portal: Portal, route: string, lang: string): Promise<void> {
  return authorize({ kind: 'portal', portal, clientId: PORTAL_CLIENT_ID,
    redirectUri: portalRedirectUri(), route }, PORTAL_SCOPES[portal], lang);
}

/**
 * A standalone SMART launch of a registered public app, with the portal playing the app. The
 * sandbox citizen signs in afresh (the developer's own login session is ended first).
 */
export function sandboxLaunch(clientId: string, lang: string): Promise<void> {
  return authorize({ kind: 'sandbox', portal: 'developer', clientId,
    redirectUri: sandboxRedirectUri(), route: '#/developer/launch' }, SANDBOX_SCOPE, lang, true);
}

/** Forgets every token of this tab and ends the server's login session. */
export function signOut() {
  for (const p of Object.keys(PORTAL_SCOPES) as Portal[]) forgetSession(p);
  sessionStorage.removeItem(SANDBOX_KEY);
  location.assign('/oauth2/logout?redirect=/app/');
}

export class OAuthError extends Error {
  constructor(readonly code: string, description?: string) {
    super(description ? `${code}: ${description}` : code);
  }
}

async function exchange(p: Pending, code: string): Promise<TokenResponse> {
  const res = await fetch('/oauth2/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: p.redirectUri,
      client_id: p.clientId,
      code_verifier: p.verifier,
    }),
  });
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch { /* not JSON */ }
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new OAuthError(String(body.error ?? `HTTP ${res.status}`),
      typeof body.error_description === 'string' ? body.error_description : undefined);
  }
  return body as TokenResponse;
}

export interface RedirectOutcome {
  route: string; // the hash route to show next
  error?: string; // why signing in failed, for the person
}

/**
 * Finishes a sign-in or sandbox launch when the page is the redirect back from the
 * authorization server (`?code=...&state=...` or `?error=...`): checks the state, exchanges the
 * code, stores the result and removes the query from the address. Returns null otherwise.
 */
export async function completeRedirect(): Promise<RedirectOutcome | null> {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return null;
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? (JSON.parse(raw) as Pending) : null;
  const clean = (route: string) => history.replaceState(null, '', `/app/${route}`);
  if (!pending || q.get('state') !== pending.state) {
    clean('#/');
    return { route: '#/', error: 'state' };
  }
  if (q.has('error')) {
    clean(pending.route);
    return { route: pending.route, error: q.get('error_description') ?? q.get('error') ?? 'error' };
  }
  try {
    const token = await exchange(pending, q.get('code') ?? '');
    if (pending.kind === 'sandbox') {
      const result: SandboxResult = { clientId: pending.clientId, receivedAt: Date.now(), token };
      sessionStorage.setItem(SANDBOX_KEY, JSON.stringify(result));
    } else {
      const claims = jwtClaims(token.id_token);
      const name = [claims.name, claims.preferred_username].find((v) => typeof v === 'string');
      const session: Session = {
        portal: pending.portal,
        accessToken: token.access_token,
        expiresAt: Date.now() + (token.expires_in ?? 3600) * 1000,
        scope: token.scope ?? '',
        patient: token.patient,
        fhirUser: typeof claims.fhirUser === 'string' ? claims.fhirUser : undefined,
        name: name as string | undefined,
      };
      sessionStorage.setItem(sessionKey(pending.portal), JSON.stringify(session));
    }
    clean(pending.route);
    return { route: pending.route };
  } catch (e) {
    clean(pending.route);
    return { route: pending.route, error: e instanceof Error ? e.message : String(e) };
  }
}

/** "Practitioner/123" from a fhirUser URL (absolute or relative). */
export function fhirUserRef(fhirUser: string | undefined): string | undefined {
  const m = fhirUser ? /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(fhirUser) : null;
  return m?.[1];
}
