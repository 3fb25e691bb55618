// App grants as Consents. A person who lets a SMART app reach a patient's data (the consent
// screen of the authorization server) creates a grant there; this records each such grant as a
// FHIR Consent, so the patient finds it among their Consents and the consent engine knows the
// app as an actor:
//   id           "app-" + the grant id ('_' written as '.', which FHIR ids allow)
//   identifier   urn:sund:app-grant | the grant id
//   status       active; inactive once the grant is revoked
//   scope        patient-privacy;  category LOINC 59284-0 (Patient Consent)
//   patient, dateTime (when granted), performer (the person who granted, when a FHIR user)
//   provision    permit for the grant's lifetime (period: granted .. refresh-token expiry),
//                actor: the app by client id (urn:sund:client-id, role IRCP),
//                action: access, class: the granted resource types (none when all types)
// Both ways: withdrawing such a Consent through the FHIR API (any status but active, or a
// delete) revokes the grant at once, so its access and refresh tokens stop working on their
// next use; revoking the grant in the authorization server (the "my apps" page, /oauth2/revoke)
// sets its Consent inactive.
//
// Thread-safety: the hooks run on request threads and may run concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/consent_gate.h"
#include "api/engine.h"
#include "auth/server.h"

namespace sund::api {

inline constexpr std::string_view kAppGrantSystem = "urn:sund:app-grant";

// The Consent id that records grant `grant_id`.
std::string AppGrantConsentId(std::string_view grant_id);

// The grant a Consent (its FHIR JSON) records: the urn:sund:app-grant identifier, the patient
// and whether its status is active. nullopt when it records none (or is not JSON).
std::optional<AppGrantRecord> ReadAppGrant(std::string_view consent_json);

// The Consent that records `grant` of `app` by `user` (see above), as FHIR JSON.
std::string AppGrantConsentJson(const auth::Grant& grant, const auth::Client& app,
                                const auth::User& user);

// Sets `options.on_grant` (writes the grant's Consent through `engine`) and
// `options.on_grant_revoked` (sets it inactive). `engine` must outlive the server.
void RecordAppGrants(auth::AuthOptions& options, Engine& engine);

// Makes `gate` revoke, through `auth`, the grant of every app-grant Consent that is withdrawn
// (seen when the gate reloads; the FHIR API reloads it right after each write). A Consent
// revokes only the grant of its own patient. Both must outlive the gate's use.
void RevokeWithdrawnAppGrants(ConsentGate& gate, auth::AuthServer& auth);

}  // namespace sund::api
