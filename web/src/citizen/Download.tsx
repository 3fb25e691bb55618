// "Download my data": GET /fhir/Patient/P/$everything (with its next links, if any) as one
// Bundle, saved as a JSON file.
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../auth';
import { ErrorMessage, Status } from '../components/ui';
import { type Bundle, get, nextLink } from '../fhir';
import { s } from '../i18n';

async function everything(patient: string, token: string): Promise<Bundle> {
  let url: string | undefined = `Patient/${encodeURIComponent(patient)}/$everything`;
  let first: Bundle | undefined;
  const entries: NonNullable<Bundle['entry']> = [];
  for (let pages = 0; url && pages < 1000; pages++) {
    const b: Bundle = await get<Bundle>(url, { token });
    first ??= b;
    entries.push(...(b.entry ?? []));
    url = nextLink(b);
  }
  const { link: _link, ...rest } = first ?? { resourceType: 'Bundle', type: 'searchset' };
  return { ...rest, total: entries.length, entry: entries };
}

export function Download({ session }: { session: Session }) {
  const t = s();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [file, setFile] = useState<{ url: string; count: number } | null>(null);
  useEffect(() => () => { if (file) URL.revokeObjectURL(file.url); }, [file]);

  const prepare = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const bundle = await everything(session.patient ?? '', session.accessToken);
      const blob = new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/fhir+json' });
      setFile({ url: URL.createObjectURL(blob), count: bundle.entry?.length ?? 0 });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const name = `sund-${session.patient ?? 'data'}-${new Date().toISOString().slice(0, 10)}.json`;
  return (
    <section aria-labelledby="download-h">
      <h2 id="download-h">{t.citizenViews.download}</h2>
      <p>{t.downloadIntro}</p>
      <button type="button" class="primary" disabled={busy} onClick={prepare}>{t.downloadPrepare}</button>
      {busy && <Status>{t.working}</Status>}
      <ErrorMessage error={error} />
      {file && (
        <div role="status">
          <p>{t.downloadReady(file.count)}</p>
          <p><a href={file.url} download={name}>{t.downloadSave} ({name})</a></p>
        </div>
      )}
    </section>
  );
}
