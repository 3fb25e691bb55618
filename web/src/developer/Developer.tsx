// The developer portal (#/developer/VIEW): register apps, try a SMART launch with a sandbox
// patient, run the API examples. Signing in (role developer) is optional.
import { useState } from 'preact/hooks';
import { getSession } from '../auth';
import { SignInButton } from '../components/SignIn';
import { SubNav } from '../components/ui';
import { s, useLang } from '../i18n';
import { href } from '../route';
import { ApiDocs } from './ApiDocs';
import { Launch } from './Launch';
import { loadApps, Register } from './Register';

const VIEWS = ['register', 'launch', 'docs'] as const;
type ViewName = (typeof VIEWS)[number];

export default function Developer({ parts }: { parts: string[] }) {
  useLang();
  const t = s();
  const [apps, setApps] = useState(loadApps);
  const view: ViewName = (VIEWS as readonly string[]).includes(parts[0] ?? '') ? parts[0] as ViewName : 'register';
  const session = getSession('developer');
  return (
    <>
      <h1>{t.developerTitle}</h1>
      {!session && (
        <div class="inline">
          <span>{t.signInOptional}</span> <SignInButton portal="developer" />
        </div>
      )}
      <SubNav label={t.developerTitle} items={VIEWS.map((v) => ({
        href: href('developer', v), label: t.devViews[v], current: v === view,
      }))} />
      {view === 'register' && <Register onChange={setApps} />}
      {view === 'launch' && <Launch apps={apps} />}
      {view === 'docs' && <ApiDocs />}
    </>
  );
}
