// AuthServer: Sund's OAuth 2.0 / SMART App Launch 2.2 authorization server, built into
// `sund serve` on the same origin as the FHIR API. It answers
//   /fhir/.well-known/smart-configuration   discovery (SMART 2.2; also at the origin's root)
//   /oauth2/authorize                  GET and POST: login, patient picker, consent screens
//   /oauth2/token                      authorization_code (PKCE S256), refresh_token (rotated),
//                                      client_credentials (SMART Backend Services)
//   /oauth2/introspect                 RFC 7662          /oauth2/revoke     RFC 7009
//   /oauth2/register                   RFC 7591 (the app registry)
//   /oauth2/jwks                       the public signing keys
//   /oauth2/manage                     "apps that can reach my data", with revoke buttons
//   /oauth2/launch                     POST: an EHR records a launch context (patient) and gets
//                                      the opaque `launch` id for the app
//   /oauth2/logout                     GET and POST: ends the login session (the portals)
// and verifies the bearer tokens of FHIR requests (Authenticate). Access tokens are ES256 JWTs
// of at most an hour, checked against the signing keys, `aud`, expiry and the in-memory sets of
// revoked token ids and grants (kept in auth.db and loaded at start).
//
// Security model and flows: docs/auth.md. Thread-safety: every method may be called
// concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_db.h"
#include "auth/scopes.h"
#include "core/status.h"
#include "core/time.h"
#include "http/endpoint.h"
#include "http/message.h"

namespace sund::storage {
class Store;
}
namespace sund::audit {
class AuditLog;
}

namespace sund::auth {

// The client id of Sund's own web portals (web/, served at /app/): a public client that is
// created on first start, may only come back to this origin's /app/, and gets its scopes
// within the signed-in person's role without a consent screen or an app-grant Consent.
inline constexpr std::string_view kPortalClientId = "sund-portal";

struct AuthOptions {
  std::string data_dir;  // auth.db and keys/ live here
  // Public origin ("https://sund.example.dk"); "" derives it from each request's Host header.
  std::string issuer;
  std::int64_t access_token_seconds = 3600;
  std::int64_t refresh_token_seconds = 90 * 24 * 3600;  // like PSD2's 90-day re-consent
  std::int64_t code_seconds = 60;
  std::int64_t session_seconds = 8 * 3600;
  // Dynamic registration without an administrator's token may ask for patient/ and user/
  // scopes only (system/ scopes need an admin token).
  bool open_registration = true;
  // Where authorization events go (logins, consent decisions, tokens issued and revoked, app
  // registrations). Fail closed: an event the log cannot take durably is answered 503 and has
  // no effect on the person's session or tokens. Null: not audited (tests, offline commands).
  audit::AuditLog* audit = nullptr;
  // Grants for a patient are recorded elsewhere too (api/app_grants.h writes them as FHIR
  // Consents). on_grant runs before a person's grant takes effect; an error refuses the grant
  // (server_error), so no app holds access that is not on record. on_grant_revoked runs after
  // a grant was revoked here (the "my apps" page, /oauth2/revoke, a reused refresh token or
  // code); its error is logged. Either may be empty.
  std::function<Status(const Grant& grant, const Client& app, const User& user)> on_grant;
  std::function<Status(const std::string& grant_id)> on_grant_revoked;
};

// Who is calling, from a verified access token.
struct Access {
  std::string subject;  // user id ("user/7") or client id for client_credentials
  std::string client_id;
  std::string patient;    // launch context: the patient id patient/ scopes are bound to
  std::string fhir_user;  // "Patient/123", "Practitioner/456" or ""
  std::string jti;
  ScopeSet scopes;
  std::int64_t expires = 0;
};

// What `sund token` mints offline.
struct MintRequest {
  std::string audience;  // the FHIR base URL the token is for
  std::string scope;     // e.g. "system/*.cruds" or "patient/*.rs"
  std::string patient;   // for patient/ scopes
  std::string subject = "admin";
  std::string fhir_user;  // "Practitioner/7" ...: whom the consent engine sees acting ("" none)
  std::int64_t seconds = 3600;
};

class AuthServer {
 public:
  // Opens auth.db in options.data_dir and loads (creating on first start) the signing key.
  // `store` (may be null in tests) serves the patient picker and checks fhirUser links.
  static Result<std::unique_ptr<AuthServer>> Open(AuthOptions options, storage::Store* store,
                                                  const Clock& clock);
  ~AuthServer();

  // True for the paths above and every other /oauth2/ path (answered 404 by Handle).
  static bool Handles(std::string_view path);
  // The catalogue of the paths above (family "oauth"), from the table Handle dispatches with.
  static std::vector<http::Endpoint> Endpoints();
  http::Response Handle(http::Request& req);

  // Verifies the request's `Authorization: Bearer` token for the FHIR base `fhir_base`
  // (the token's aud). kUnauthenticated with a short reason when missing or invalid.
  Result<Access> Authenticate(const http::Request& req, std::string_view fhir_base) const;

  // Whether `origin` ("https://app.example") is the origin of a redirect URI of a registered,
  // unrevoked app: those get CORS (http/cors.h). Read from auth.db at most every 5 s, so apps
  // added or revoked by `sund app` in another process count within seconds.
  bool AllowsOrigin(std::string_view origin) const;

  // The SMART security extension for the CapabilityStatement (a JSON object text).
  std::string CapabilitySecurity(std::string_view origin) const;

  // Offline minting (administrator bootstrap).
  Result<std::string> Mint(const MintRequest& request);
  // Revokes a grant at once: its access tokens stop working on their next request and its
  // refresh tokens are refused (when a Consent recording it was withdrawn, api/app_grants.h).
  // Audited with `reason`. No effect, and Ok, for an unknown or already revoked grant.
  Status RevokeGrant(const std::string& grant_id, std::string_view reason);

  // Starts signing with a new key; the old one stays in the JWKS until its tokens expired.
  Status RotateKey();

  AuthDb& db();

 private:
  struct Impl;
  explicit AuthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The origin ("http://host:port") of a request: `issuer` when set, else from Host.
std::string RequestOrigin(const http::Request& req, std::string_view issuer);

}  // namespace sund::auth
