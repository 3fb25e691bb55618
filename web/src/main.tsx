// The single-page app: finishes a sign-in redirect if this page is one, then renders the
// header (portals, language, session), the current hash route's portal (loaded on demand) and
// the live region for announcements.
import type { ComponentType } from 'preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { completeRedirect, getSession, type Portal, type RedirectOutcome, signOut } from './auth';
import { setAnnouncer } from './components/announce';
import { focusHeading } from './components/ui';
import { lang, s, setLang, useLang } from './i18n';
import { href, useRoute } from './route';
import './styles.css';

type View = ComponentType<{ parts: string[] }>;

const loaders: Record<Portal, () => Promise<{ default: View }>> = {
  citizen: () => import('./citizen/Citizen'),
  clinician: () => import('./clinician/Clinician'),
  developer: () => import('./developer/Developer'),
  operator: () => import('./operator/Operator'),
};
const PORTALS = Object.keys(loaders) as Portal[];
const loaded = new Map<Portal, View>();

function PortalView({ portal, parts }: { portal: Portal; parts: string[] }) {
  const [view, setView] = useState<View | undefined>(() => loaded.get(portal));
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (loaded.has(portal)) {
      setView(() => loaded.get(portal));
      return;
    }
    let live = true;
    loaders[portal]().then((m) => {
      loaded.set(portal, m.default);
      if (live) setView(() => m.default);
    }, setError);
    return () => { live = false; };
  }, [portal]);
  if (error) return <p role="alert" class="error">{String(error)}</p>;
  if (!view) return <p role="status">{s().loading}</p>;
  const V = view;
  return <V parts={parts} />;
}

function Home() {
  const t = s();
  return (
    <>
      <h1>{t.homeTitle}</h1>
      <p>{t.homeIntro}</p>
      <ul class="cards">
        {PORTALS.map((p) => (
          <li key={p} class="card">
            <h2><a href={href(p)}>{t.portals[p]}</a></h2>
            <p>{t.portalIntro[p]}</p>
          </li>
        ))}
      </ul>
    </>
  );
}

function SessionControls({ portal }: { portal?: Portal }) {
  const session = portal ? getSession(portal) : null;
  if (!session) return null;
  const ref = session.fhirUser?.replace(/^.*\/fhir\//, '');
  const who = session.name ?? (ref && ref.length > 20 ? `${ref.slice(0, 18)}…` : ref) ?? '';
  return (
    <div class="session">
      {who && <span>{s().signedInAs(who)}</span>}
      <button type="button" onClick={signOut}>{s().signOut}</button>
    </div>
  );
}

function App({ notice }: { notice?: RedirectOutcome }) {
  const l = useLang();
  const route = useRoute();
  const first = useRef(true);
  const t = s();
  const portal = PORTALS.find((p) => p === route.parts[0]);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    focusHeading();
  }, [route.parts.join('/')]);

  const skip = (e: Event) => {
    e.preventDefault();
    const m = document.getElementById('main');
    m?.focus();
  };

  return (
    <>
      <a class="skip" href="#main" onClick={skip}>{t.skipToContent}</a>
      <header class="top">
        <a class="brand" href="#/">{t.appName}</a>
        <nav aria-label={t.mainNav}>
          <ul>
            {PORTALS.map((p) => (
              <li key={p}>
                <a href={href(p)} aria-current={portal === p ? 'page' : undefined}>{t.portals[p]}</a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="tools">
          <SessionControls portal={portal} />
          <button type="button" lang={l === 'da' ? 'en' : 'da'} aria-label={t.switchLanguageLabel}
            onClick={() => setLang(lang() === 'da' ? 'en' : 'da')}>
            {t.switchLanguage}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {notice?.error && (
          <p class="error" role="alert">
            {notice.error === 'state' ? t.signInStateMismatch : t.signInFailed(notice.error)}
          </p>
        )}
        {route.parts.length === 0 ? <Home />
          : portal ? <PortalView key={portal} portal={portal} parts={route.parts.slice(1)} />
          : <><h1>{t.notFound}</h1><p><a href="#/">{t.appName}</a></p></>}
      </main>
      <footer class="bottom"><p>{t.footer}</p></footer>
      <div class="visually-hidden" aria-live="polite" aria-atomic="true" ref={setAnnouncer} />
    </>
  );
}

async function start() {
  document.documentElement.lang = lang();
  let notice: RedirectOutcome | undefined;
  try {
    notice = (await completeRedirect()) ?? undefined;
  } catch (e) {
    notice = { route: location.hash || '#/', error: e instanceof Error ? e.message : String(e) };
  }
  // Any other path under /app/ (a reload of /app/launch-callback) shows the app at /app/.
  if (location.pathname !== '/app/' && !location.search) {
    history.replaceState(null, '', `/app/${location.hash}`);
  }
  render(<App notice={notice} />, document.getElementById('root')!);
}

void start();
