// Small shared pieces: status and error messages (announced), a keyboard-scrollable table
// region, a tab-like sub-navigation of links, and the text of FHIR data types.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { CodeableConcept, Reference } from '../fhir';
import { s } from '../i18n';

/** An error for the person: announced at once (role=alert). */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return <p class="error" role="alert">{s().errorPrefix} {text}</p>;
}

/** A polite status line ("Loading …", "Saved"). */
export function Status({ children }: { children: ComponentChildren }) {
  return <p class="status" role="status">{children}</p>;
}

/** A table that may be wider than the screen: scrolls sideways, reachable by keyboard. */
export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-region" role="region" aria-label={s().tableScrollLabel(label)} tabIndex={0}>
      {children}
    </div>
  );
}

export interface SubNavItem { href: string; label: string; current: boolean }

export function SubNav({ label, items }: { label: string; items: SubNavItem[] }) {
  return (
    <nav class="subnav" aria-label={label}>
      <ul>
        {items.map((i) => (
          <li key={i.href}>
            <a href={i.href} aria-current={i.current ? 'page' : undefined}>{i.label}</a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** Runs an async loader on mount and when `deps` change; gives {data, error, loading, reload}. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((old) => ({ data: old.data, loading: true }));
    load().then(
      (data) => { if (live) setState({ data, loading: false }); },
      (error) => { if (live) setState({ error, loading: false }); },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  return { ...state, reload: () => setRound((r) => r + 1), set: (data: T) => setState({ data, loading: false }) };
}

export function conceptText(cc: CodeableConcept | undefined): string {
  if (!cc) return '';
  return cc.text ?? cc.coding?.find((c) => c.display)?.display ?? cc.coding?.[0]?.code ?? '';
}

export function referenceText(r: Reference | undefined): string {
  if (!r) return '';
  return r.display ?? r.identifier?.value ?? r.reference ?? '';
}

interface HumanName { text?: string; given?: string[]; family?: string; use?: string }

export function humanName(names: unknown): string {
  const list = Array.isArray(names) ? (names as HumanName[]) : [];
  const n = list.find((x) => x.use === 'official') ?? list[0];
  if (!n) return '';
  return n.text ?? [...(n.given ?? []), n.family ?? ''].join(' ').trim();
}

/** Focus the first heading of the page after a route change (keyboard and screen readers). */
export function focusHeading() {
  requestAnimationFrame(() => {
    const h = document.querySelector<HTMLElement>('main h1');
    if (h) {
      h.tabIndex = -1;
      h.focus({ preventScroll: false });
    }
  });
}
