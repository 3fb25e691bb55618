#include "auth/auth_db.h"

#include "core/json.h"
#include "storage/sqlite/db.h"

namespace sund::auth {

using storage::sqlite::Connection;
using storage::sqlite::Statement;

namespace {

const char* const kMigrations[] = {
    // 1: users, apps, codes, grants, tokens, sessions, launches, keys.
    R"sql(
CREATE TABLE user (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL,
  fhir_user     TEXT NOT NULL DEFAULT '',
  display       TEXT NOT NULL DEFAULT '',
  disabled      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE client (
  client_id     TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  auth_method   TEXT NOT NULL,
  secret_hash   TEXT NOT NULL DEFAULT '',
  redirect_uris TEXT NOT NULL DEFAULT '[]',
  grant_types   TEXT NOT NULL DEFAULT '[]',
  scope         TEXT NOT NULL DEFAULT '',
  jwks          TEXT NOT NULL DEFAULT '',
  client_uri    TEXT NOT NULL DEFAULT '',
  created       INTEGER NOT NULL,
  revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE auth_code (
  code_hash      TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL,
  user_id        INTEGER NOT NULL,
  redirect_uri   TEXT NOT NULL,
  scope          TEXT NOT NULL,
  patient        TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  grant_id       TEXT NOT NULL,
  expires        INTEGER NOT NULL,
  used           INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE grant_ (
  grant_id  TEXT PRIMARY KEY,
  user_id   INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  scope     TEXT NOT NULL,
  patient   TEXT NOT NULL,
  created   INTEGER NOT NULL,
  expires   INTEGER NOT NULL,
  revoked   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grant_user ON grant_ (user_id, created);
CREATE INDEX grant_client ON grant_ (client_id);
CREATE TABLE refresh_token (
  token_hash TEXT PRIMARY KEY,
  grant_id   TEXT NOT NULL,
  expires    INTEGER NOT NULL,
  used       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE revoked_jti (
  jti     TEXT PRIMARY KEY,
  expires INTEGER NOT NULL
);
CREATE TABLE client_assertion (
  client_id TEXT NOT NULL,
  jti       TEXT NOT NULL,
  expires   INTEGER NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE TABLE session (
  session_hash TEXT PRIMARY KEY,
  user_id      INTEGER NOT NULL,
  expires      INTEGER NOT NULL
);
CREATE TABLE launch (
  launch_id TEXT PRIMARY KEY,
  patient   TEXT NOT NULL,
  expires   INTEGER NOT NULL
);
CREATE TABLE signing_key (
  kid     TEXT PRIMARY KEY,
  alg     TEXT NOT NULL,
  created INTEGER NOT NULL,
  retired INTEGER NOT NULL DEFAULT 0
);
)sql",
};

std::string ToJsonArray(const std::vector<std::string>& items) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const auto& s : items) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

std::vector<std::string> FromJsonArray(std::string_view text) {
  std::vector<std::string> out;
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsArray()) return out;
  for (const auto& v : d.GetArray()) {
    if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

User ReadUser(Statement& st) {
  User u;
  u.id = st.Int(0);
  u.username = std::string(st.Text(1));
  u.password_hash = std::string(st.Text(2));
  u.role = std::string(st.Text(3));
  u.fhir_user = std::string(st.Text(4));
  u.display = std::string(st.Text(5));
  u.disabled = st.Int(6) != 0;
  return u;
}

Client ReadClient(Statement& st) {
  Client c;
  c.client_id = std::string(st.Text(0));
  c.name = std::string(st.Text(1));
  c.auth_method = std::string(st.Text(2));
  c.secret_hash = std::string(st.Text(3));
  c.redirect_uris = FromJsonArray(st.Text(4));
  c.grant_types = FromJsonArray(st.Text(5));
  c.scope = std::string(st.Text(6));
  c.jwks = std::string(st.Text(7));
  c.client_uri = std::string(st.Text(8));
  c.created = st.Int(9);
  c.revoked = st.Int(10) != 0;
  return c;
}

Grant ReadGrant(Statement& st) {
  Grant g;
  g.grant_id = std::string(st.Text(0));
  g.user_id = st.Int(1);
  g.client_id = std::string(st.Text(2));
  g.scope = std::string(st.Text(3));
  g.patient = std::string(st.Text(4));
  g.created = st.Int(5);
  g.expires = st.Int(6);
  g.revoked = st.Int(7) != 0;
  return g;
}

constexpr const char* kClientColumns =
    "client_id, name, auth_method, secret_hash, redirect_uris, grant_types, scope, jwks, "
    "client_uri, created, revoked";
constexpr const char* kGrantColumns =
    "grant_id, user_id, client_id, scope, patient, created, expires, revoked";

}  // namespace

AuthDb::AuthDb(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
AuthDb::~AuthDb() = default;

Result<std::unique_ptr<AuthDb>> AuthDb::Open(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(auto conn, Connection::Open(path, false));
  SUND_RETURN_IF_ERROR(
      conn->Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = "
                 "OFF;"));
  std::unique_ptr<AuthDb> db(new AuthDb(std::move(conn)));
  SUND_RETURN_IF_ERROR(db->Migrate());
  return db;
}

Status AuthDb::Migrate() {
  std::lock_guard<std::mutex> l(mu_);
  return storage::sqlite::ApplyMigrations(*conn_, kMigrations, "auth.db");
}

Status AuthDb::Run(const char* sql, const std::vector<Value>& params) {
  static_assert(std::is_same_v<Value, storage::sqlite::Param>);
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn_->PrepareLiteral(sql));
  Statement st(raw);
  st.BindAll(params);
  return st.Run();
}

Result<std::vector<std::string>> AuthDb::Strings(const char* sql,
                                                 const std::vector<Value>& params) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn_->PrepareLiteral(sql));
  Statement st(raw);
  st.BindAll(params);
  std::vector<std::string> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.emplace_back(st.Text(0));
  }
  return out;
}

Status AuthDb::AddUser(User& user) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("INSERT INTO user (username, password_hash, role, fhir_user, display, "
                            "disabled) VALUES (?, ?, ?, ?, ?, ?)"));
  Statement st(raw);
  st.Bind(1, std::string_view(user.username));
  st.Bind(2, std::string_view(user.password_hash));
  st.Bind(3, std::string_view(user.role));
  st.Bind(4, std::string_view(user.fhir_user));
  st.Bind(5, std::string_view(user.display));
  st.Bind(6, static_cast<std::int64_t>(user.disabled));
  Status s = st.Run();
  if (s.code() == StatusCode::kConflict) return Conflict("a user with that name exists");
  SUND_RETURN_IF_ERROR(s);
  user.id = conn_->LastInsertRowid();
  return Status::Ok();
}

Result<User> AuthDb::FindUser(std::string_view username) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT id, username, password_hash, role, fhir_user, display, "
                            "disabled FROM user WHERE username = ?"));
  Statement st(raw);
  st.Bind(1, username);
  SUND_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no such user");
  return ReadUser(st);
}

Result<User> AuthDb::GetUser(std::int64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT id, username, password_hash, role, fhir_user, display, "
                            "disabled FROM user WHERE id = ?"));
  Statement st(raw);
  st.Bind(1, id);
  SUND_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no such user");
  return ReadUser(st);
}

Status AuthDb::AddClient(const Client& c) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("INSERT INTO client (client_id, name, auth_method, secret_hash, "
                            "redirect_uris, grant_types, scope, jwks, client_uri, created, "
                            "revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  Statement st(raw);
  std::string uris = ToJsonArray(c.redirect_uris);
  std::string grants = ToJsonArray(c.grant_types);
  st.Bind(1, std::string_view(c.client_id));
  st.Bind(2, std::string_view(c.name));
  st.Bind(3, std::string_view(c.auth_method));
  st.Bind(4, std::string_view(c.secret_hash));
  st.Bind(5, std::string_view(uris));
  st.Bind(6, std::string_view(grants));
  st.Bind(7, std::string_view(c.scope));
  st.Bind(8, std::string_view(c.jwks));
  st.Bind(9, std::string_view(c.client_uri));
  st.Bind(10, c.created);
  st.Bind(11, static_cast<std::int64_t>(c.revoked));
  Status s = st.Run();
  if (s.code() == StatusCode::kConflict) return Conflict("an app with that client id exists");
  return s;
}

Result<Client> AuthDb::FindClient(std::string_view client_id) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn_->Prepare(std::string("SELECT ") + kClientColumns +
                                                           " FROM client WHERE client_id = ?"));
  Statement st(raw);
  st.Bind(1, client_id);
  SUND_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no such app");
  return ReadClient(st);
}

Result<std::vector<Client>> AuthDb::ListClients() {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn_->Prepare(std::string("SELECT ") + kClientColumns +
                                                           " FROM client ORDER BY created"));
  Statement st(raw);
  std::vector<Client> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadClient(st));
  }
  return out;
}

Status AuthDb::RevokeClient(std::string_view client_id) {
  std::lock_guard<std::mutex> l(mu_);
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_->PrepareLiteral("UPDATE client SET revoked = 1 WHERE client_id = ?"));
    Statement st(raw);
    st.Bind(1, client_id);
    SUND_RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(conn_->raw()) == 0) return NotFound("no such app");
  }
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                        conn_->PrepareLiteral("UPDATE grant_ SET revoked = 1 WHERE client_id = ?"));
  Statement st(raw);
  st.Bind(1, client_id);
  return st.Run();
}

Result<std::vector<std::string>> AuthDb::RevokedClients() {
  return Strings("SELECT client_id FROM client WHERE revoked = 1", {});
}

Status AuthDb::AddCode(const AuthCode& c) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("INSERT INTO auth_code (code_hash, client_id, user_id, redirect_uri, "
                            "scope, patient, code_challenge, nonce, grant_id, expires) VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  Statement st(raw);
  st.Bind(1, std::string_view(c.code_hash));
  st.Bind(2, std::string_view(c.client_id));
  st.Bind(3, c.user_id);
  st.Bind(4, std::string_view(c.redirect_uri));
  st.Bind(5, std::string_view(c.scope));
  st.Bind(6, std::string_view(c.patient));
  st.Bind(7, std::string_view(c.code_challenge));
  st.Bind(8, std::string_view(c.nonce));
  st.Bind(9, std::string_view(c.grant_id));
  st.Bind(10, c.expires);
  return st.Run();
}

Result<AuthCode> AuthDb::TakeCode(std::string_view code_hash, std::int64_t now,
                                  std::string* reused_grant, bool spend) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT code_hash, client_id, user_id, redirect_uri, scope, patient, "
                            "code_challenge, nonce, grant_id, expires, used FROM auth_code WHERE "
                            "code_hash = ?"));
  AuthCode c;
  bool used = false;
  {
    Statement st(raw);
    st.Bind(1, code_hash);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("unknown authorization code");
    c.code_hash = std::string(st.Text(0));
    c.client_id = std::string(st.Text(1));
    c.user_id = st.Int(2);
    c.redirect_uri = std::string(st.Text(3));
    c.scope = std::string(st.Text(4));
    c.patient = std::string(st.Text(5));
    c.code_challenge = std::string(st.Text(6));
    c.nonce = std::string(st.Text(7));
    c.grant_id = std::string(st.Text(8));
    c.expires = st.Int(9);
    used = st.Int(10) != 0;
  }
  if (used) {
    if (reused_grant != nullptr) *reused_grant = c.grant_id;
    return Conflict("authorization code already used");
  }
  if (!spend) {
    if (c.expires <= now) return NotFound("authorization code expired");
    return c;
  }
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * upd,
                        conn_->PrepareLiteral("UPDATE auth_code SET used = 1 WHERE code_hash = ?"));
  Statement u(upd);
  u.Bind(1, code_hash);
  SUND_RETURN_IF_ERROR(u.Run());
  if (c.expires <= now) return NotFound("authorization code expired");
  return c;
}

Status AuthDb::AddGrant(const Grant& g) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("INSERT INTO grant_ (grant_id, user_id, client_id, scope, patient, "
                            "created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  Statement st(raw);
  st.Bind(1, std::string_view(g.grant_id));
  st.Bind(2, g.user_id);
  st.Bind(3, std::string_view(g.client_id));
  st.Bind(4, std::string_view(g.scope));
  st.Bind(5, std::string_view(g.patient));
  st.Bind(6, g.created);
  st.Bind(7, g.expires);
  st.Bind(8, static_cast<std::int64_t>(g.revoked));
  return st.Run();
}

Result<Grant> AuthDb::GetGrant(std::string_view grant_id) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn_->Prepare(std::string("SELECT ") + kGrantColumns +
                                                           " FROM grant_ WHERE grant_id = ?"));
  Statement st(raw);
  st.Bind(1, grant_id);
  SUND_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no such grant");
  return ReadGrant(st);
}

Status AuthDb::RevokeGrant(std::string_view grant_id) {
  return Run("UPDATE grant_ SET revoked = 1 WHERE grant_id = ?", {std::string(grant_id)});
}

Result<std::vector<Grant>> AuthDb::GrantsOfUser(std::int64_t user_id, std::int64_t now) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->Prepare(std::string("SELECT ") + kGrantColumns +
                     " FROM grant_ WHERE user_id = ? AND revoked = 0 AND (expires = 0 OR "
                     "expires > ?) ORDER BY created DESC"));
  Statement st(raw);
  st.Bind(1, user_id);
  st.Bind(2, now);
  std::vector<Grant> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadGrant(st));
  }
  return out;
}

Result<std::vector<std::string>> AuthDb::RevokedGrants(std::int64_t since) {
  return Strings("SELECT grant_id FROM grant_ WHERE revoked = 1 AND (created >= ? OR expires >= ?)",
                 {since, since});
}

Status AuthDb::AddRefresh(std::string_view token_hash, std::string_view grant_id,
                          std::int64_t expires) {
  return Run("INSERT INTO refresh_token (token_hash, grant_id, expires) VALUES (?, ?, ?)",
             {std::string(token_hash), std::string(grant_id), expires});
}

Result<std::string> AuthDb::TakeRefresh(std::string_view token_hash, std::int64_t now,
                                        std::string* reused_grant, bool spend) {
  std::lock_guard<std::mutex> l(mu_);
  std::string grant;
  std::int64_t expires = 0;
  bool used = false;
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_->PrepareLiteral(
            "SELECT grant_id, expires, used FROM refresh_token WHERE token_hash = ?"));
    Statement st(raw);
    st.Bind(1, token_hash);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("unknown refresh token");
    grant = std::string(st.Text(0));
    expires = st.Int(1);
    used = st.Int(2) != 0;
  }
  if (used) {
    if (reused_grant != nullptr) *reused_grant = grant;
    return Conflict("refresh token already used");
  }
  if (!spend) {
    if (expires <= now) return NotFound("refresh token expired");
    return grant;
  }
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * upd,
      conn_->PrepareLiteral("UPDATE refresh_token SET used = 1 WHERE token_hash = ?"));
  Statement u(upd);
  u.Bind(1, token_hash);
  SUND_RETURN_IF_ERROR(u.Run());
  if (expires <= now) return NotFound("refresh token expired");
  return grant;
}

Status AuthDb::RevokeJti(std::string_view jti, std::int64_t expires) {
  return Run("INSERT OR IGNORE INTO revoked_jti (jti, expires) VALUES (?, ?)",
             {std::string(jti), expires});
}

Result<std::vector<std::string>> AuthDb::RevokedJtis(std::int64_t now) {
  return Strings("SELECT jti FROM revoked_jti WHERE expires > ?", {now});
}

Result<bool> AuthDb::RecordAssertion(std::string_view client_id, std::string_view jti,
                                     std::int64_t expires) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("INSERT OR IGNORE INTO client_assertion (client_id, jti, expires) "
                            "VALUES (?, ?, ?)"));
  Statement st(raw);
  st.Bind(1, client_id);
  st.Bind(2, jti);
  st.Bind(3, expires);
  SUND_RETURN_IF_ERROR(st.Run());
  return sqlite3_changes(conn_->raw()) == 1;
}

Status AuthDb::AddSession(std::string_view session_hash, std::int64_t user_id,
                          std::int64_t expires) {
  return Run("INSERT INTO session (session_hash, user_id, expires) VALUES (?, ?, ?)",
             {std::string(session_hash), user_id, expires});
}

Result<std::int64_t> AuthDb::FindSession(std::string_view session_hash, std::int64_t now) {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT user_id FROM session WHERE session_hash = ? AND expires > ?"));
  Statement st(raw);
  st.Bind(1, session_hash);
  st.Bind(2, now);
  SUND_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no session");
  return st.Int(0);
}

Status AuthDb::DeleteSession(std::string_view session_hash) {
  return Run("DELETE FROM session WHERE session_hash = ?", {std::string(session_hash)});
}

Status AuthDb::AddLaunch(std::string_view launch_id, std::string_view patient,
                         std::int64_t expires) {
  return Run("INSERT INTO launch (launch_id, patient, expires) VALUES (?, ?, ?)",
             {std::string(launch_id), std::string(patient), expires});
}

Result<std::string> AuthDb::FindLaunch(std::string_view launch_id, std::int64_t now) {
  SUND_ASSIGN_OR_RETURN(std::vector<std::string> found,
                        Strings("SELECT patient FROM launch WHERE launch_id = ? AND expires > ?",
                                {std::string(launch_id), now}));
  if (found.empty()) return NotFound("unknown or expired launch");
  return found.front();
}

Status AuthDb::AddKey(const KeyRow& key) {
  return Run("INSERT INTO signing_key (kid, alg, created, retired) VALUES (?, ?, ?, ?)",
             {key.kid, key.alg, key.created, key.retired});
}

Result<std::vector<KeyRow>> AuthDb::Keys() {
  std::lock_guard<std::mutex> l(mu_);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_->PrepareLiteral("SELECT kid, alg, created, retired FROM signing_key ORDER BY created"));
  Statement st(raw);
  std::vector<KeyRow> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(KeyRow{std::string(st.Text(0)), std::string(st.Text(1)), st.Int(2), st.Int(3)});
  }
  return out;
}

Status AuthDb::RetireKey(std::string_view kid, std::int64_t at) {
  return Run("UPDATE signing_key SET retired = ? WHERE kid = ? AND retired = 0",
             {at, std::string(kid)});
}

}  // namespace sund::auth
