// A small FHIR R4 REST client for the portals: JSON in and out, a bearer token, errors as
// OperationOutcomes turned into messages a person can read (never the token), paging by the
// server's links. The server's links are absolute; they are followed on this origin.

export interface Coding { system?: string; code?: string; display?: string }
export interface CodeableConcept { coding?: Coding[]; text?: string }
export interface Reference {
  reference?: string;
  display?: string;
  type?: string;
  identifier?: { system?: string; value?: string };
}
export interface Period { start?: string; end?: string }
export interface Quantity { value?: number; unit?: string; code?: string; system?: string }
export interface Meta { versionId?: string; lastUpdated?: string }
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: Meta;
  [element: string]: unknown;
}
export interface BundleEntry<R = Resource> {
  fullUrl?: string;
  resource?: R;
  search?: { mode?: string };
}
export interface Bundle<R = Resource> extends Resource {
  type?: string;
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: BundleEntry<R>[];
}
export interface OperationOutcome extends Resource {
  issue?: { severity?: string; code?: string; diagnostics?: string; details?: CodeableConcept }[];
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly body?: unknown) {
    super(message);
  }
}

export interface RequestOptions {
  token?: string;
  method?: string;
  body?: unknown;
  /** The versionId the update is based on (sent as If-Match: W/"n"). */
  ifMatch?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Do not tell the app that the session ended on a 401 (a sandbox token's request). */
  quiet401?: boolean;
}

/** Fired on window when a request with the portal's token answers 401. */
export const UNAUTHORIZED_EVENT = 'sund:unauthorized';

/** A same-origin URL for a FHIR path ("Patient/1"), a root path ("/healthz") or a server link. */
export function toUrl(pathOrUrl: string): string {
  if (/^https?:\/\//.test(pathOrUrl)) {
    const u = new URL(pathOrUrl);
    return u.origin === location.origin ? u.href : `${u.pathname}${u.search}`;
  }
  return pathOrUrl.startsWith('/') ? pathOrUrl : `/fhir/${pathOrUrl}`;
}

/** The message of an error answer: the OperationOutcome's diagnostics, else the status. */
export function errorMessage(status: number, body: unknown): string {
  const o = body as OperationOutcome | { error?: string; error_description?: string } | undefined;
  if (o && 'resourceType' in o && o.resourceType === 'OperationOutcome') {
    const issue = (o as OperationOutcome).issue?.[0];
    const text = issue?.diagnostics ?? issue?.details?.text;
    if (text) return text;
  }
  if (o && 'error' in o && typeof o.error === 'string') {
    return o.error_description ? `${o.error}: ${o.error_description}` : o.error;
  }
  return `HTTP ${status}`;
}

export interface Answer<T> { status: number; body: T; etag: string | null; headers: Headers }

/** One request. Resolves for 2xx; throws HttpError otherwise. */
export async function request<T = Resource>(path: string, o: RequestOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: 'application/fhir+json', ...o.headers };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  if (o.ifMatch) headers['If-Match'] = `W/"${o.ifMatch}"`;
  let body: string | undefined;
  if (o.body !== undefined) {
    headers['Content-Type'] ??= 'application/fhir+json';
    body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  }
  const res = await fetch(toUrl(path), { method: o.method ?? 'GET', headers, body, signal: o.signal });
  const text = await res.text();
  let parsed: unknown = text;
  if (text) {
    try { parsed = JSON.parse(text); } catch { /* keep the text */ }
  }
  if (!res.ok) {
    if (res.status === 401 && o.token && !o.quiet401) {
      window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT));
    }
    throw new HttpError(res.status, errorMessage(res.status, parsed), parsed);
  }
  return { status: res.status, body: parsed as T, etag: res.headers.get('ETag'), headers: res.headers };
}

export async function get<T = Resource>(path: string, o: RequestOptions = {}): Promise<T> {
  return (await request<T>(path, o)).body;
}

/** PUT of a changed resource, based on the version it was read at. */
export async function update<T extends Resource>(resource: T, o: RequestOptions = {}): Promise<T> {
  return (await request<T>(`${resource.resourceType}/${resource.id}`, {
    ...o, method: 'PUT', body: resource, ifMatch: resource.meta?.versionId,
  })).body;
}

export const nextLink = (b: Bundle) => b.link?.find((l) => l.relation === 'next')?.url;

export interface SearchResult<R> { matches: R[]; included: Resource[] }

function collect<R>(bundles: Bundle[]): SearchResult<R> {
  const matches: R[] = [];
  const included: Resource[] = [];
  const seen = new Set<string>();
  for (const b of bundles) {
    for (const e of b.entry ?? []) {
      const r = e.resource;
      if (!r) continue;
      const mode = e.search?.mode ?? 'match';
      if (mode === 'outcome') continue;
      const key = `${mode}/${r.resourceType}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (mode === 'include') included.push(r);
      else matches.push(r as R);
    }
  }
  return { matches, included };
}

/** Every page of a search, following the `next` links one after another. */
export async function searchAll<R = Resource>(path: string, o: RequestOptions = {},
  maxPages = 100): Promise<SearchResult<R>> {
  const bundles: Bundle[] = [];
  let url: string | undefined = path;
  while (url && bundles.length < maxPages) {
    const b: Bundle = await get<Bundle>(url, o);
    bundles.push(b);
    url = nextLink(b);
  }
  return collect<R>(bundles);
}

/**
 * Every page of a search, fetched in parallel: a count first (`_summary=count`, cheap), then
 * the pages as offset pages (docs/api.md, "Paging"), `parallel` at a time.
 */
export async function searchParallel<R = Resource>(path: string, o: RequestOptions = {},
  pageSize = 1000, parallel = 4): Promise<SearchResult<R>> {
  const sep = path.includes('?') ? '&' : '?';
  const counted = await get<Bundle>(`${path}${sep}_summary=count`, o);
  const total = counted.total;
  if (total === undefined) return searchAll<R>(`${path}${sep}_count=${pageSize}`, o);
  const offsets: number[] = [];
  for (let at = 0; at < total; at += pageSize) offsets.push(at);
  const pages: Bundle[] = new Array(offsets.length);
  let next = 0;
  const worker = async () => {
    while (next < offsets.length) {
      const i = next++;
      pages[i] = await get<Bundle>(`${path}${sep}_count=${pageSize}&_offset=${offsets[i]}`, o);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, offsets.length) }, worker));
  // Matches written since the count are on a further page.
  const last = pages[pages.length - 1];
  const more = last && nextLink(last) ? await searchAll<R>(nextLink(last)!, o) : null;
  const result = collect<R>(pages);
  if (more) {
    result.matches.push(...more.matches);
    result.included.push(...more.included);
  }
  return result;
}

/** "Patient/1" from a reference or an absolute URL of one. */
export function refOf(reference: string | undefined): string | undefined {
  const m = reference ? /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/.exec(reference) : null;
  return m?.[1];
}

export const idOf = (reference: string | undefined) => refOf(reference)?.split('/')[1];

export function hasCoding(cc: CodeableConcept | undefined, system: string, code?: string): boolean {
  return (cc?.coding ?? []).some((c) => c.system === system && (code === undefined || c.code === code));
}

export function codeIn(cc: CodeableConcept | undefined, system: string): string | undefined {
  return cc?.coding?.find((c) => c.system === system)?.code;
}
