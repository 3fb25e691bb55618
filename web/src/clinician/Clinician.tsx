// The clinician portal: #/clinician (the monitoring worklist) and #/clinician/patient/ID.
// Signed in with user/ scopes (practitioners and administrators only).
import { RequireSession } from '../components/SignIn';
import { s, useLang } from '../i18n';
import { PatientPage } from './PatientPage';
import { Worklist } from './Worklist';

export default function Clinician({ parts }: { parts: string[] }) {
  useLang();
  const t = s();
  const patient = parts[0] === 'patient' ? parts[1] : undefined;
  return (
    <RequireSession portal="clinician" title={t.clinicianTitle}>
      {(session) => (patient
        ? <PatientPage key={patient} id={patient} session={session} />
        : <Worklist session={session} />)}
    </RequireSession>
  );
}
