// Hash routes: #/, #/citizen/VIEW, #/clinician, #/clinician/patient/ID, #/developer/VIEW,
// #/operator. The sandbox launch comes back to the path /app/launch-callback (auth.ts).
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  parts: string[]; // the hash path split on '/', decoded: ['clinician', 'patient', '123']
}

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, '').split('?')[0] ?? '';
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join('/')}`;

export function go(...parts: string[]) {
  location.hash = href(...parts);
}
