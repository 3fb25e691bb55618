// One polite live region for the whole app (rendered by main.tsx): announcements of changes a
// screen reader user would otherwise miss (a patient rising to the top, a saved change).
let region: HTMLElement | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

export function setAnnouncer(el: HTMLElement | null) {
  region = el;
}

export function announce(message: string) {
  if (!region) return;
  const el = region;
  // Clear first so that the same message twice is announced twice.
  el.textContent = '';
  clearTimeout(timer);
  timer = setTimeout(() => { el.textContent = message; }, 50);
}
