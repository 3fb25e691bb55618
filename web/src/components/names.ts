// Names of the people and organisations that references point to (Practitioner/7 -> "Dr. A"),
// read once each and remembered for the page's lifetime. Unreadable ones keep their reference.
import { useEffect, useState } from 'preact/hooks';
import { get, refOf, type Resource } from '../fhir';
import { humanName } from './ui';

const cache = new Map<string, Promise<string | undefined>>();
const NAMED = /^(Practitioner|PractitionerRole|Organization|Patient|RelatedPerson|Device)\//;

function nameOf(r: Resource): string | undefined {
  if (typeof r.name === 'string') return r.name;
  const n = humanName(r.name);
  if (n) return n;
  const dn = r.deviceName as { name?: string }[] | undefined;
  return dn?.[0]?.name;
}

export function lookupName(reference: string, token: string): Promise<string | undefined> {
  const ref = refOf(reference);
  if (!ref || !NAMED.test(ref)) return Promise.resolve(undefined);
  let p = cache.get(ref);
  if (!p) {
    p = get(ref, { token, quiet401: true }).then(nameOf, () => undefined);
    cache.set(ref, p);
  }
  return p;
}

/** The names of `refs` as they arrive (a map from reference to name). */
export function useNames(refs: string[], token: string): Map<string, string> {
  const [names, setNames] = useState(() => new Map<string, string>());
  const key = [...new Set(refs)].sort().join(' ');
  useEffect(() => {
    let live = true;
    const list = key ? key.split(' ') : [];
    Promise.all(list.map(async (r) => [r, await lookupName(r, token)] as const)).then((pairs) => {
      if (!live) return;
      const m = new Map<string, string>();
      for (const [r, n] of pairs) if (n) m.set(r, n);
      setNames(m);
    });
    return () => { live = false; };
  }, [key, token]);
  return names;
}
