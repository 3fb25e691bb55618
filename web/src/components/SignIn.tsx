// The session of a portal: its token from sessionStorage, or a sign-in panel. A request that
// answers 401 (fhir.ts fires UNAUTHORIZED_EVENT) turns the panel into "your session expired".
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getSession, isExpired, type Portal, type Session, signIn } from '../auth';
import { UNAUTHORIZED_EVENT } from '../fhir';
import { lang, s } from '../i18n';
import { ErrorMessage } from './ui';

export function useSession(portal: Portal): { session: Session | null; expired: boolean } {
  const [session] = useState(() => getSession(portal));
  const [expired, setExpired] = useState(() => (session ? isExpired(session) : false));
  useEffect(() => {
    if (!session) return;
    const on = () => setExpired(true);
    window.addEventListener(UNAUTHORIZED_EVENT, on);
    const timer = setTimeout(on, Math.max(0, session.expiresAt - Date.now()));
    return () => {
      window.removeEventListener(UNAUTHORIZED_EVENT, on);
      clearTimeout(timer);
    };
  }, [session]);
  return { session, expired };
}

export function SignInButton({ portal, label }: { portal: Portal; label?: string }) {
  const [error, setError] = useState<unknown>();
  return (
    <>
      <button type="button" class="primary"
        onClick={() => signIn(portal, location.hash || `#/${portal}`, lang()).catch(setError)}>
        {label ?? s().signIn}
      </button>
      <ErrorMessage error={error} />
    </>
  );
}

/** Shows `children(session)` with a valid session, otherwise the title and a sign-in button. */
export function RequireSession({ portal, title, children }: {
  portal: Portal;
  title: string;
  children: (session: Session) => ComponentChildren;
}) {
  const { session, expired } = useSession(portal);
  if (session && !expired) return <>{children(session)}</>;
  return (
    <section class="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">{title}</h1>
      {expired ? <p role="alert" class="error">{s().sessionExpired}</p> : <p>{s().signInNeeded}</p>}
      <SignInButton portal={portal} />
    </section>
  );
}
