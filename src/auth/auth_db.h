// AuthDb: the authorization server's own state in `auth.db` beside the FHIR store in the data
// directory (SQLite, WAL): users, registered apps (clients), authorization codes, grants (a
// person's approval of an app, the family of its refresh tokens), refresh tokens, revoked access
// tokens, client-assertion ids seen (replay check), browser sessions, EHR launch contexts and
// signing-key metadata (the keys themselves are files, see keys.h).
//
// Secrets are never stored: codes, refresh tokens, sessions and client secrets are kept as
// SHA-256 hashes (they are random 256-bit values, so a plain hash suffices); passwords as
// Argon2id encodings. Schema: docs/auth.md. Thread-safety: every method may be called from any
// thread (one connection behind a mutex; the authorization server's traffic is small and token
// verification never touches the database).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"

namespace sund::storage::sqlite {
class Connection;
}

namespace sund::auth {

struct User {
  std::int64_t id = 0;
  std::string username;
  std::string password_hash;  // Argon2id encoding
  std::string role;           // "citizen", "practitioner" or "admin"
  std::string fhir_user;      // "Patient/123", "Practitioner/456" or ""
  std::string display;        // name shown on screens
  bool disabled = false;
};

struct Client {
  std::string client_id;
  std::string name;
  // "none" (public), "client_secret_basic", "client_secret_post" or "private_key_jwt".
  std::string auth_method = "none";
  std::string secret_hash;  // SHA-256 hex of the secret (secret methods only)
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;  // authorization_code, refresh_token, client_credentials
  std::string scope;                     // the most this app may ever be granted
  std::string jwks;                      // JSON Web Key Set (private_key_jwt), "" if none
  std::string client_uri;                // the app's home page, shown on the consent screen
  std::int64_t created = 0;
  bool revoked = false;
};

struct AuthCode {
  std::string code_hash;
  std::string client_id;
  std::int64_t user_id = 0;
  std::string redirect_uri;
  std::string scope;  // granted
  std::string patient;
  std::string code_challenge;  // S256
  std::string nonce;
  std::string grant_id;
  std::int64_t expires = 0;  // unix seconds
};

struct Grant {
  std::string grant_id;
  std::int64_t user_id = 0;  // 0 for client_credentials
  std::string client_id;
  std::string scope;
  std::string patient;
  std::int64_t created = 0;
  std::int64_t expires = 0;  // of its refresh tokens (0: no refresh token)
  bool revoked = false;
};

struct KeyRow {
  std::string kid;
  std::string alg;
  std::int64_t created = 0;
  std::int64_t retired = 0;  // 0 while it signs; else when it stopped signing
};

class AuthDb {
 public:
  static Result<std::unique_ptr<AuthDb>> Open(const std::string& path);
  ~AuthDb();

  // Users. AddUser sets user.id; kConflict when the username exists.
  Status AddUser(User& user);
  Result<User> FindUser(std::string_view username);
  Result<User> GetUser(std::int64_t id);

  // Apps. kConflict when the client id exists.
  Status AddClient(const Client& client);
  Result<Client> FindClient(std::string_view client_id);
  Result<std::vector<Client>> ListClients();
  // Marks the app revoked and revokes every grant of it.
  Status RevokeClient(std::string_view client_id);
  // Ids of every revoked app.
  Result<std::vector<std::string>> RevokedClients();

  // Authorization codes: TakeCode returns the code once and marks it used. A second use
  // returns kConflict carrying nothing but the grant id in *reused_grant (so the caller
  // can revoke what the first use produced); an expired or unknown code kNotFound.
  // `spend` false only looks (the same checks, nothing marked): the token endpoint spends the
  // code once the exchange is good and its audit record written.
  Status AddCode(const AuthCode& code);
  Result<AuthCode> TakeCode(std::string_view code_hash, std::int64_t now, std::string* reused_grant,
                            bool spend = true);

  Status AddGrant(const Grant& grant);
  Result<Grant> GetGrant(std::string_view grant_id);
  Status RevokeGrant(std::string_view grant_id);
  // Active grants of a person (for the "my apps" page), newest first.
  Result<std::vector<Grant>> GrantsOfUser(std::int64_t user_id, std::int64_t now);
  // Ids of every revoked grant whose tokens may still be alive (created after `since`).
  Result<std::vector<std::string>> RevokedGrants(std::int64_t since);

  // Refresh tokens (rotated): TakeRefresh marks the token used and returns its grant id; a
  // token used before returns kConflict with the grant id in *reused_grant.
  Status AddRefresh(std::string_view token_hash, std::string_view grant_id, std::int64_t expires);
  // `spend` false only looks (the same checks, nothing marked): the token endpoint checks the
  // request against the grant before it spends the token, so a refused refresh keeps it.
  Result<std::string> TakeRefresh(std::string_view token_hash, std::int64_t now,
                                  std::string* reused_grant, bool spend = true);

  // Revoked access tokens (by jti) until they expire anyway.
  Status RevokeJti(std::string_view jti, std::int64_t expires);
  Result<std::vector<std::string>> RevokedJtis(std::int64_t now);

  // Client assertions (private_key_jwt): false when this client already used the jti.
  Result<bool> RecordAssertion(std::string_view client_id, std::string_view jti,
                               std::int64_t expires);

  // Browser sessions of the login screen.
  Status AddSession(std::string_view session_hash, std::int64_t user_id, std::int64_t expires);
  Result<std::int64_t> FindSession(std::string_view session_hash, std::int64_t now);
  Status DeleteSession(std::string_view session_hash);

  // EHR launch contexts (the opaque `launch` parameter).
  Status AddLaunch(std::string_view launch_id, std::string_view patient, std::int64_t expires);
  Result<std::string> FindLaunch(std::string_view launch_id, std::int64_t now);

  // Signing keys' metadata.
  Status AddKey(const KeyRow& key);
  Result<std::vector<KeyRow>> Keys();
  Status RetireKey(std::string_view kid, std::int64_t at);

 private:
  explicit AuthDb(std::unique_ptr<storage::sqlite::Connection> conn);
  Status Migrate();
  // A bound value: the same type as storage::sqlite::Param (db.h stays out of this header).
  using Value = std::variant<std::int64_t, double, std::string, std::nullptr_t>;
  // One statement (SQL text from code: a string literal) with these parameters, no rows.
  Status Run(const char* sql, const std::vector<Value>& params);
  // The first column of every row of one statement, as text.
  Result<std::vector<std::string>> Strings(const char* sql, const std::vector<Value>& params);
  std::mutex mu_;
  std::unique_ptr<storage::sqlite::Connection> conn_;
};

}  // namespace sund::auth
