// The citizen portal (#/citizen/VIEW): signed in with a patient/ token for the person's own
// Patient (the token response's `patient`).
import { RequireSession } from '../components/SignIn';
import { SubNav } from '../components/ui';
import { s, useLang } from '../i18n';
import { href } from '../route';
import { AccessLog } from './AccessLog';
import { Apps, Consents } from './Consents';
import { Download } from './Download';
import { Timeline } from './Timeline';

const VIEWS = ['timeline', 'consents', 'apps', 'log', 'download'] as const;
type ViewName = (typeof VIEWS)[number];

export default function Citizen({ parts }: { parts: string[] }) {
  useLang();
  const t = s();
  const view: ViewName = (VIEWS as readonly string[]).includes(parts[0] ?? '') ? parts[0] as ViewName : 'timeline';
  return (
    <RequireSession portal="citizen" title={t.citizenTitle}>
      {(session) => (
        <>
          <h1>{t.citizenTitle}</h1>
          <SubNav label={t.citizenNav} items={VIEWS.map((v) => ({
            href: href('citizen', v), label: t.citizenViews[v], current: v === view,
          }))} />
          {view === 'timeline' && <Timeline patient={session.patient ?? ''} token={session.accessToken} />}
          {view === 'consents' && <Consents session={session} />}
          {view === 'apps' && <Apps session={session} />}
          {view === 'log' && <AccessLog session={session} />}
          {view === 'download' && <Download session={session} />}
        </>
      )}
    </RequireSession>
  );
}
