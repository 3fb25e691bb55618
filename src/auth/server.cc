#include "auth/server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "audit/fhir_view.h"
#include "audit/log.h"
#include "auth/jwt.h"
#include "auth/pages.h"
#include "auth/password.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/json_bounded.h"
#include "core/log.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "http/cors.h"
#include "http/query.h"
#include "storage/store.h"

namespace sund::auth {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kSessionCookie = "sund_session";
constexpr std::string_view kCsrfCookie = "sund_csrf";
constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::string Param(const Params& p, std::string_view name) {
  for (const auto& [k, v] : p) {
    if (k == name) return v;
  }
  return {};
}

std::vector<std::string> AllParams(const Params& p, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : p) {
    if (k == name) out.push_back(v);
  }
  return out;
}

std::string HashHex(std::string_view secret) { return crypto::Sha256Hex(secret); }

std::string Cookie(const http::Request& req, std::string_view name) {
  std::string_view all = req.headers.Get("Cookie");
  while (!all.empty()) {
    std::size_t semi = all.find(';');
    std::string_view part = all.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    std::size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      return std::string(part.substr(eq + 1));
    }
    if (semi == std::string_view::npos) break;
    all.remove_prefix(semi + 1);
  }
  return {};
}

std::string SetCookie(std::string_view name, std::string_view value, bool secure,
                      std::string_view same_site, std::int64_t max_age) {
  std::string c = std::string(name) + "=" + std::string(value) +
                  "; Path=/oauth2; HttpOnly; SameSite=" + std::string(same_site) +
                  "; Max-Age=" + std::to_string(max_age);
  if (secure) c += "; Secure";
  return c;
}

http::Response JsonOut(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("Pragma", "no-cache");
  r.body = std::move(body);
  return r;
}

// An OAuth error response (RFC 6749 section 5.2).
http::Response OAuthError(int status, std::string_view error, std::string_view description) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.String(error.data(), static_cast<rapidjson::SizeType>(error.size()));
  w.Key("error_description");
  w.String(description.data(), static_cast<rapidjson::SizeType>(description.size()));
  w.EndObject();
  http::Response r = JsonOut(status, std::string(buf.GetString(), buf.GetSize()));
  if (status == 401) r.headers.Set("WWW-Authenticate", "Basic realm=\"sund\"");
  return r;
}

// `style`: the text of the page's one <style> element, allowed by its hash.
http::Response Html(int status, std::string body, std::string_view style = pages::Stylesheet()) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "text/html; charset=utf-8");
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("X-Frame-Options", "DENY");
  // No script at all; the one inline stylesheet is allowed by its hash. Forms post to this
  // origin, whose answers may redirect to the app (form-action applies to those redirects).
  std::string style_hash = "'sha256-" + crypto::Base64Encode(crypto::Sha256(style)) + "'";
  r.headers.Set("Content-Security-Policy", "default-src 'none'; style-src " + style_hash +
                                               "; form-action *; frame-ancestors 'none'; "
                                               "base-uri 'none'");
  r.headers.Set("Referrer-Policy", "no-referrer");
  r.body = std::move(body);
  return r;
}

// A person's or organisation's name for screens: the first HumanName's first given name and
// family name (or its text), or an Organization's name; "" when none.
std::string DisplayName(const rapidjson::Value& resource) {
  if (!resource.IsObject()) return "";
  const rapidjson::Value* names = json::Find(resource, "name");
  if (names != nullptr && names->IsString()) return std::string(json::View(*names));
  if (names == nullptr || !names->IsArray() || names->Empty() || !(*names)[0].IsObject()) {
    return "";
  }
  const rapidjson::Value& n = (*names)[0];
  std::string out;
  if (const auto* given = json::Find(n, "given");
      given && given->IsArray() && !given->Empty() && (*given)[0].IsString()) {
    out = std::string(json::View((*given)[0])) + " ";
  }
  out += std::string(json::GetString(n, "family"));
  if (out.empty() || out == " ") out = std::string(json::GetString(n, "text"));
  return out;
}

http::Response Redirect(std::string location) {
  http::Response r;
  r.status = 302;
  r.headers.Set("Location", std::move(location));
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

// What a browser sees when the audit log cannot take an event: nothing happened.
http::Response AuditDownPage(pages::Lang lang) {
  bool en = lang == pages::Lang::kEn;
  return Html(503, pages::RenderError(lang, en ? "Try again later" : "Prøv igen senere",
                                      en ? "Sund cannot record this right now, so nothing was "
                                           "changed."
                                         : "Sund kan ikke registrere det lige nu, så intet er "
                                           "ændret."));
}

// The browser's double-submit CSRF token (cookie `sund_csrf`); a new one, with the cookie
// added to `set_cookies`, when it has none.
std::string CsrfFor(const http::Request& req, std::vector<std::string>& set_cookies) {
  std::string csrf = Cookie(req, kCsrfCookie);
  if (csrf.empty()) {
    csrf = crypto::RandomToken(24);
    set_cookies.push_back(SetCookie(kCsrfCookie, csrf, req.secure, "Strict", 3600));
  }
  return csrf;
}

std::string WithQuery(std::string uri, const Params& params) {
  char sep = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    if (v.empty() && k == "state") continue;
    uri += sep;
    uri += http::PercentEncode(k) + "=" + http::PercentEncode(v);
    sep = '&';
  }
  return uri;
}

void AddString(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
               std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void AddStrings(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
                const std::vector<std::string>& values) {
  w.Key(key);
  w.StartArray();
  for (const auto& v : values) w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  w.EndArray();
}

// A login check that costs the same Argon2id work whether or not the user exists, so that its
// timing does not tell which usernames are registered.
bool CheckPassword(const Result<User>& user, std::string_view password) {
  static const std::string kDummy = [] {
    auto h = HashPassword("sund-dummy-password");
    return h.ok() ? *h : std::string();
  }();
  if (!user.ok()) {
    VerifyPassword(password, kDummy);
    return false;
  }
  bool good = VerifyPassword(password, user->password_hash);
  return good && !user->disabled;
}

bool IsLoopbackHost(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

// Redirect URIs an app may register: https, http on loopback (native apps and development),
// or a private-use scheme ("dk.example.app:/cb", RFC 8252); never with a fragment.
// A user-info part ("user@host") is refused: "http://localhost:1@evil.example/cb" goes to
// evil.example, not to the loopback host it starts with.
bool AcceptableRedirect(std::string_view uri) {
  if (uri.empty() || uri.find('#') != std::string_view::npos) return false;
  auto authority = [&](std::size_t scheme_len) {
    std::string_view rest = uri.substr(scheme_len);
    return rest.substr(0, rest.find_first_of("/?"));
  };
  if (uri.rfind("https://", 0) == 0) {
    std::string_view a = authority(8);
    return !a.empty() && a.find('@') == std::string_view::npos;
  }
  if (uri.rfind("http://", 0) == 0) {
    std::string_view a = authority(7);
    if (a.find('@') != std::string_view::npos) return false;
    std::size_t host_end = a.rfind("[", 0) == 0 ? a.find(']') + 1 : a.find(':');
    if (host_end == 0 || (host_end < a.size() && a[host_end] != ':')) return false;
    return IsLoopbackHost(a.substr(0, host_end));
  }
  std::size_t colon = uri.find(':');
  return colon != std::string_view::npos && colon > 0 &&
         uri.substr(0, colon).find('.') != std::string_view::npos;
}

bool HasResourceScopeOf(const ScopeSet& s, ScopeContext ctx) {
  return std::any_of(s.resources.begin(), s.resources.end(),
                     [&](const ResourceScope& r) { return r.context == ctx; });
}

// Keeps only the resource scopes of `ctx` (and no flags but those listed by the caller).
ScopeSet OnlyContext(const ScopeSet& s, ScopeContext ctx) {
  ScopeSet out;
  for (const auto& r : s.resources) {
    if (r.context == ctx) out.resources.push_back(r);
  }
  return out;
}

struct Key {
  std::string kid;
  crypto::SigningKey signing;
  crypto::VerifyKey verify;
  std::int64_t retired = 0;
};

}  // namespace

struct AuthServer::Impl {
  AuthOptions options;
  storage::Store* store = nullptr;
  const Clock* clock = nullptr;
  std::unique_ptr<AuthDb> db;

  mutable std::shared_mutex keys_mu;
  std::vector<std::unique_ptr<Key>> keys;  // the last one signs

  mutable std::shared_mutex revoked_mu;
  mutable std::unordered_set<std::string> revoked_jtis;
  mutable std::unordered_set<std::string> revoked_grants;
  mutable std::unordered_set<std::string> revoked_clients;
  // Revocations made by other processes on the same data directory (`sund app revoke`) are
  // picked up from auth.db every few seconds.
  static constexpr std::int64_t kReloadSeconds = 5;
  mutable std::atomic<std::int64_t> next_reload{0};
  Status ReloadRevocations() const;
  void MaybeReloadRevocations() const {
    std::int64_t now = Now();
    std::int64_t due = next_reload.load(std::memory_order_relaxed);
    if (now < due) return;
    // One caller reloads; the others go on with the sets they have.
    if (!next_reload.compare_exchange_strong(due, now + kReloadSeconds)) return;
    if (Status s = ReloadRevocations(); !s.ok()) {
      log::Warn("auth: could not reload revocations: {}", s.ToString());
    }
  }
  // The origins of registered, unrevoked apps' redirect URIs (CORS, http/cors.h), reloaded
  // from auth.db as revocations are (apps added by `sund app` in another process count too).
  mutable std::shared_mutex origins_mu;
  mutable std::unordered_set<std::string> app_origins;
  mutable std::atomic<std::int64_t> next_origins_reload{0};
  bool AllowsOrigin(std::string_view origin) const {
    std::int64_t now = Now();
    std::int64_t due = next_origins_reload.load(std::memory_order_relaxed);
    if (now >= due && next_origins_reload.compare_exchange_strong(due, now + kReloadSeconds)) {
      auto clients = db->ListClients();
      if (clients.ok()) {
        std::unordered_set<std::string> origins;
        for (const auto& c : *clients) {
          if (c.revoked) continue;
          for (const auto& uri : c.redirect_uris) {
            std::string_view o = http::OriginOf(uri);
            if (!o.empty()) origins.emplace(o);
          }
        }
        std::unique_lock<std::shared_mutex> l(origins_mu);
        app_origins = std::move(origins);
      } else {
        log::Warn("auth: could not reload the apps' origins: {}", clients.status().ToString());
      }
    }
    std::shared_lock<std::shared_mutex> l(origins_mu);
    return app_origins.count(std::string(origin)) != 0;
  }
  bool Revoked(const std::string& jti, const std::string& gid, const std::string& client_id) const {
    std::shared_lock<std::shared_mutex> l(revoked_mu);
    return revoked_jtis.count(jti) != 0 || (!gid.empty() && revoked_grants.count(gid) != 0) ||
           revoked_clients.count(client_id) != 0;
  }

  // Access tokens verified before, by their exact text (Authenticate).
  struct Verified {
    Access access;
    std::string fhir_base;
    std::string grant_id;
  };
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  static constexpr std::size_t kMaxCachedTokens = 20'000;
  mutable std::shared_mutex cache_mu;
  mutable std::unordered_map<std::string, Verified, TextHash, std::equal_to<>> verified;

  std::int64_t Now() const { return clock->NowMicros() / 1'000'000; }

  Status LoadKeys();
  Status EnsurePortalClient();
  http::Response Logout(http::Request& req);
  Result<std::unique_ptr<Key>> NewKey();
  std::string KeysDir() const {
    return (std::filesystem::path(options.data_dir) / "keys").string();
  }

  // Tokens.
  Result<std::string> SignClaims(rapidjson::Document& claims) const;
  Result<std::string> AccessToken(std::string_view origin, std::string_view subject,
                                  std::string_view client_id, const ScopeSet& scopes,
                                  std::string_view patient, std::string_view fhir_user,
                                  std::string_view grant_id, std::int64_t seconds,
                                  std::string* jti_out = nullptr) const;
  Result<rapidjson::Document> VerifyOurJwt(std::string_view token) const;
  void RevokeGrantInMemory(const std::string& grant_id) {
    std::unique_lock<std::shared_mutex> l(revoked_mu);
    revoked_grants.insert(grant_id);
  }
  Status RevokeGrantEverywhere(const std::string& grant_id) {
    RevokeGrantInMemory(grant_id);
    SUND_RETURN_IF_ERROR(db->RevokeGrant(grant_id));
    if (options.on_grant_revoked) {
      if (Status s = options.on_grant_revoked(grant_id); !s.ok()) {
        log::Warn("auth: a revoked grant's record was not updated: {}", s.ToString());
      }
    }
    return Status::Ok();
  }

  // Appends one authorization event to the audit log; false when the log could not take it
  // (the caller answers 503). True without a log.
  bool Audit(const http::Request& req, audit::Action action, int outcome, const User* user,
             std::string_view client_id, std::string_view patient, std::string detail) const {
    if (options.audit == nullptr) return true;
    audit::Record r;
    r.time_us = clock->NowMicros();
    r.action = action;
    r.outcome = outcome;
    if (user != nullptr) {
      r.actor.user_id =
          user->fhir_user.empty() ? "user/" + std::to_string(user->id) : user->fhir_user;
      r.actor.role = user->role;
    }
    r.actor.client_id = std::string(client_id);
    if (!patient.empty()) r.patient_ids.emplace_back(patient);
    r.detail = std::move(detail);
    r.source = req.remote_address;
    auto appended = options.audit->Append(r);
    if (!appended.ok())
      log::Warn("auth: audit record not written: {}", appended.status().ToString());
    return appended.ok();
  }
  static http::Response AuditUnavailable() {
    return OAuthError(503, "temporarily_unavailable", "the audit log is unavailable");
  }

  // Endpoints.
  http::Response SmartConfiguration(const http::Request& req) const;
  http::Response Jwks() const;
  http::Response Authorize(http::Request& req);
  http::Response Token(http::Request& req);
  // What the audit record of a token request names, filled in as IssueToken learns it.
  struct TokenEvent {
    std::string client_id;
    std::optional<User> user;
    std::string patient;
    bool recorded = false;  // the grant was put on record before the code or token was spent
  };
  http::Response IssueToken(http::Request& req, TokenEvent& event);
  // Records a code exchange or refresh that is about to be granted, before it spends the code
  // or the refresh token, so that an audit log that cannot take it costs the app nothing (it is
  // answered 503 and may try again). False when the log could not take it.
  bool RecordToken(const http::Request& req, TokenEvent& event, std::string detail) const {
    event.recorded = Audit(req, audit::Action::kToken, 200, event.user ? &*event.user : nullptr,
                           event.client_id, event.patient, std::move(detail));
    return event.recorded;
  }
  http::Response Introspect(http::Request& req);
  http::Response Revoke(http::Request& req);
  http::Response Register(http::Request& req);
  http::Response Manage(http::Request& req);
  http::Response MyLog(const http::Request& req, const User& user, pages::Lang lang,
                       std::string_view before);
  http::Response Launch(http::Request& req);

  // Client authentication at the token, introspection and revocation endpoints. `require`:
  // public clients are refused.
  Result<Client> AuthenticateClient(const http::Request& req, const Params& form,
                                    std::string_view origin, bool require_confidential);
  // The signed-in user of the browser session, if any.
  std::optional<User> SessionUser(const http::Request& req);
  Result<std::string> StartSession(std::int64_t user_id);
  // CSRF: the form field must equal the double-submit cookie.
  bool CsrfOk(const http::Request& req, const Params& form) const {
    std::string cookie = Cookie(req, kCsrfCookie);
    std::string field = Param(form, "csrf");
    return !cookie.empty() && crypto::ConstantTimeEquals(cookie, field);
  }
  std::string TokenResponse(std::string_view origin, const Grant& grant, const User* user,
                            std::string_view nonce, std::string_view refresh, std::string* error);

  // The dispatch table and the catalogue (AuthServer::Endpoints) in one: Handle answers a path
  // with the handler of its first entry, and that handler checks the method (a path's entries
  // share it), so no path is answered without being listed here.
  using Handler = http::Response (*)(Impl& impl, http::Request& req);
  struct Route {
    http::Endpoint endpoint;
    Handler handler;
  };
  static const Route kRoutes[];
};

const AuthServer::Impl::Route AuthServer::Impl::kRoutes[] = {
    // SMART 2.2 discovery lives under the FHIR base; the origin's copy serves older clients.
    {{"GET", "/.well-known/smart-configuration", "oauth"},
     [](Impl& i, http::Request& r) { return i.SmartConfiguration(r); }},
    {{"GET", "/fhir/.well-known/smart-configuration", "oauth"},
     [](Impl& i, http::Request& r) { return i.SmartConfiguration(r); }},
    {{"GET", "/oauth2/jwks", "oauth"}, [](Impl& i, http::Request&) { return i.Jwks(); }},
    {{"GET", "/oauth2/authorize", "oauth"},
     [](Impl& i, http::Request& r) {
       if (r.method != "GET" && r.method != "POST") {
         return OAuthError(405, "invalid_request", "use GET or POST");
       }
       return i.Authorize(r);
     }},
    {{"POST", "/oauth2/authorize", "oauth"}, nullptr},
    {{"POST", "/oauth2/token", "oauth"}, [](Impl& i, http::Request& r) { return i.Token(r); }},
    {{"POST", "/oauth2/introspect", "oauth"},
     [](Impl& i, http::Request& r) { return i.Introspect(r); }},
    {{"POST", "/oauth2/revoke", "oauth"}, [](Impl& i, http::Request& r) { return i.Revoke(r); }},
    {{"POST", "/oauth2/register", "oauth"},
     [](Impl& i, http::Request& r) { return i.Register(r); }},
    {{"GET", "/oauth2/manage", "oauth"}, [](Impl& i, http::Request& r) { return i.Manage(r); }},
    {{"POST", "/oauth2/manage", "oauth"}, nullptr},
    {{"POST", "/oauth2/launch", "oauth"}, [](Impl& i, http::Request& r) { return i.Launch(r); }},
    {{"GET", "/oauth2/logout", "oauth"}, [](Impl& i, http::Request& r) { return i.Logout(r); }},
    {{"POST", "/oauth2/logout", "oauth"}, nullptr},
};

std::string RequestOrigin(const http::Request& req, std::string_view issuer) {
  if (!issuer.empty()) {
    std::string o(issuer);
    while (!o.empty() && o.back() == '/') o.pop_back();
    return o;
  }
  std::string_view host = req.headers.Get("Host");
  if (host.empty()) host = "localhost";
  return std::string(req.secure ? "https://" : "http://") + std::string(host);
}

// ---------------------------------------------------------------------------------------------
// Keys

Result<std::unique_ptr<Key>> AuthServer::Impl::NewKey() {
  SUND_ASSIGN_OR_RETURN(auto signing, crypto::SigningKey::Generate("ES256"));
  SUND_ASSIGN_OR_RETURN(auto verify, crypto::VerifyKey::FromSigningKey(signing));
  std::string kid = signing.kid();
  auto key = std::make_unique<Key>(Key{kid, std::move(signing), std::move(verify), 0});
  std::error_code ec;
  std::filesystem::create_directories(KeysDir(), ec);
  ::chmod(KeysDir().c_str(), 0700);
  std::string path = (std::filesystem::path(KeysDir()) / (key->kid + ".pem")).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot create signing key file in " + KeysDir());
  std::string pem = key->signing.ToPem();
  bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return Internal("cannot write signing key file in " + KeysDir());
  SUND_RETURN_IF_ERROR(db->AddKey(KeyRow{key->kid, "ES256", Now(), 0}));
  log::Info("auth: created signing key {}", key->kid);
  return key;
}

Status AuthServer::Impl::LoadKeys() {
  SUND_ASSIGN_OR_RETURN(auto rows, db->Keys());
  std::vector<std::unique_ptr<Key>> loaded;
  std::int64_t now = Now();
  for (const auto& row : rows) {
    // A retired key verifies until the last token it signed has expired.
    if (row.retired != 0 && row.retired + options.access_token_seconds < now) continue;
    std::string path = (std::filesystem::path(KeysDir()) / (row.kid + ".pem")).string();
    std::ifstream in(path);
    if (!in) return Internal("signing key file missing: " + path);
    std::stringstream pem;
    pem << in.rdbuf();
    SUND_ASSIGN_OR_RETURN(auto signing, crypto::SigningKey::FromPem(pem.str()));
    SUND_ASSIGN_OR_RETURN(auto verify, crypto::VerifyKey::FromSigningKey(signing));
    auto key =
        std::make_unique<Key>(Key{row.kid, std::move(signing), std::move(verify), row.retired});
    loaded.push_back(std::move(key));
  }
  if (loaded.empty() || loaded.back()->retired != 0) {
    SUND_ASSIGN_OR_RETURN(auto key, NewKey());
    loaded.push_back(std::move(key));
  }
  std::unique_lock<std::shared_mutex> l(keys_mu);
  keys = std::move(loaded);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Tokens

Result<std::string> AuthServer::Impl::SignClaims(rapidjson::Document& claims) const {
  std::shared_lock<std::shared_mutex> l(keys_mu);
  return SignJwt(claims, keys.back()->signing);
}

Result<std::string> AuthServer::Impl::AccessToken(std::string_view origin, std::string_view subject,
                                                  std::string_view client_id,
                                                  const ScopeSet& scopes, std::string_view patient,
                                                  std::string_view fhir_user,
                                                  std::string_view grant_id, std::int64_t seconds,
                                                  std::string* jti_out) const {
  rapidjson::Document c(rapidjson::kObjectType);
  auto& a = c.GetAllocator();
  auto str = [&](std::string_view s) {
    return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  std::int64_t now = Now();
  std::string jti = crypto::RandomToken(16);
  std::string aud = std::string(origin) + "/fhir";
  std::string scope = ToString(scopes);
  c.AddMember("iss", str(origin), a);
  c.AddMember("sub", str(subject), a);
  c.AddMember("aud", str(aud), a);
  c.AddMember("iat", rapidjson::Value(static_cast<int64_t>(now)), a);
  c.AddMember("exp", rapidjson::Value(static_cast<int64_t>(now + seconds)), a);
  c.AddMember("jti", str(jti), a);
  c.AddMember("client_id", str(client_id), a);
  c.AddMember("scope", str(scope), a);
  if (!patient.empty()) c.AddMember("patient", str(patient), a);
  if (!fhir_user.empty()) c.AddMember("fhirUser", str(fhir_user), a);
  if (!grant_id.empty()) c.AddMember("gid", str(grant_id), a);
  if (jti_out != nullptr) *jti_out = jti;
  return SignClaims(c);
}

Result<rapidjson::Document> AuthServer::Impl::VerifyOurJwt(std::string_view token) const {
  SUND_ASSIGN_OR_RETURN(ParsedJwt jwt, ParseJwt(token));
  {
    std::shared_lock<std::shared_mutex> l(keys_mu);
    const Key* key = nullptr;
    for (const auto& k : keys) {
      if (k->kid == jwt.kid) key = k.get();
    }
    if (key == nullptr) return Status(StatusCode::kUnauthenticated, "unknown signing key");
    SUND_RETURN_IF_ERROR(VerifyJwtSignature(jwt, key->verify));
  }
  SUND_RETURN_IF_ERROR(CheckTimeClaims(jwt.claims, Now()));
  MaybeReloadRevocations();
  if (Revoked(std::string(json::GetString(jwt.claims, "jti")),
              std::string(json::GetString(jwt.claims, "gid")),
              std::string(json::GetString(jwt.claims, "client_id")))) {
    return Status(StatusCode::kUnauthenticated, "token revoked");
  }
  return std::move(jwt.claims);
}

Status AuthServer::Impl::ReloadRevocations() const {
  std::int64_t now = Now();
  SUND_ASSIGN_OR_RETURN(auto jtis, db->RevokedJtis(now));
  SUND_ASSIGN_OR_RETURN(auto grants, db->RevokedGrants(now - options.access_token_seconds));
  SUND_ASSIGN_OR_RETURN(auto clients, db->RevokedClients());
  std::unique_lock<std::shared_mutex> l(revoked_mu);
  // Union with what this process revoked meanwhile (its own revocations are in auth.db too).
  revoked_jtis.insert(jtis.begin(), jtis.end());
  revoked_grants.insert(grants.begin(), grants.end());
  revoked_clients = {clients.begin(), clients.end()};
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Discovery

http::Response AuthServer::Impl::SmartConfiguration(const http::Request& req) const {
  std::string o = RequestOrigin(req, options.issuer);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  AddString(w, "issuer", o);
  AddString(w, "jwks_uri", o + "/oauth2/jwks");
  AddString(w, "authorization_endpoint", o + "/oauth2/authorize");
  AddString(w, "token_endpoint", o + "/oauth2/token");
  AddString(w, "introspection_endpoint", o + "/oauth2/introspect");
  AddString(w, "revocation_endpoint", o + "/oauth2/revoke");
  AddString(w, "registration_endpoint", o + "/oauth2/register");
  AddString(w, "management_endpoint", o + "/oauth2/manage");
  AddStrings(w, "grant_types_supported",
             {"authorization_code", "refresh_token", "client_credentials"});
  AddStrings(w, "response_types_supported", {"code"});
  AddStrings(w, "token_endpoint_auth_methods_supported",
             {"client_secret_basic", "client_secret_post", "private_key_jwt"});
  AddStrings(w, "token_endpoint_auth_signing_alg_values_supported",
             {"ES384", "RS384", "ES256", "RS256"});
  AddStrings(w, "id_token_signing_alg_values_supported", {"ES256"});
  AddStrings(w, "code_challenge_methods_supported", {"S256"});
  AddStrings(w, "scopes_supported",
             {"openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access",
              "online_access", "patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds",
              "system/*.rs", "system/*.cruds", "patient/*.read", "user/*.read", "system/*.read",
              "sund/synth"});
  AddStrings(w, "capabilities",
             {"launch-standalone", "launch-ehr", "client-public", "client-confidential-symmetric",
              "client-confidential-asymmetric", "context-standalone-patient", "context-ehr-patient",
              "permission-patient", "permission-user", "permission-offline", "permission-online",
              "permission-v1", "permission-v2", "sso-openid-connect", "authorize-post"});
  w.EndObject();
  http::Response r = JsonOut(200, std::string(buf.GetString(), buf.GetSize()));
  r.headers.Set("Cache-Control", "public, max-age=300");
  r.headers.Remove("Pragma");
  return r;
}

http::Response AuthServer::Impl::Jwks() const {
  std::string body = "{\"keys\":[";
  {
    std::shared_lock<std::shared_mutex> l(keys_mu);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i) body += ',';
      body += keys[i]->signing.PublicJwk();
    }
  }
  body += "]}";
  http::Response r = JsonOut(200, std::move(body));
  r.headers.Set("Cache-Control", "public, max-age=300");
  r.headers.Remove("Pragma");
  return r;
}

// ---------------------------------------------------------------------------------------------
// Browser sessions

std::optional<User> AuthServer::Impl::SessionUser(const http::Request& req) {
  std::string token = Cookie(req, kSessionCookie);
  if (token.empty()) return std::nullopt;
  auto uid = db->FindSession(HashHex(token), Now());
  if (!uid.ok()) return std::nullopt;
  auto user = db->GetUser(*uid);
  if (!user.ok() || user->disabled) return std::nullopt;
  return *user;
}

Result<std::string> AuthServer::Impl::StartSession(std::int64_t user_id) {
  std::string token = crypto::RandomToken(32);
  SUND_RETURN_IF_ERROR(db->AddSession(HashHex(token), user_id, Now() + options.session_seconds));
  return token;
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint (SMART App Launch: standalone and EHR launch)

http::Response AuthServer::Impl::Authorize(http::Request& req) {
  Params form = req.method == "POST" ? http::ParseQuery(req.body) : http::ParseQuery(req.query);
  std::string origin = RequestOrigin(req, options.issuer);
  pages::Lang lang = pages::PickLang(Param(form, "ui_locales"), req.headers.Get("Accept-Language"));
  bool en = lang == pages::Lang::kEn;
  // The same request in the other language (GET only: a POST would resubmit a form).
  std::string lang_switch;
  if (req.method == "GET") {
    Params other;
    for (const auto& kv : form) {
      if (kv.first != "ui_locales") other.push_back(kv);
    }
    other.emplace_back("ui_locales", en ? "da" : "en");
    lang_switch = WithQuery("/oauth2/authorize", other);
  }
  auto page_error = [&](std::string_view title_da, std::string_view title_en,
                        std::string_view msg_da, std::string_view msg_en) {
    return Html(400, pages::RenderError(lang, en ? title_en : title_da, en ? msg_en : msg_da));
  };

  std::string client_id = Param(form, "client_id");
  auto client = db->FindClient(client_id);
  if (client_id.empty() || !client.ok() || client->revoked) {
    return page_error("Ukendt app", "Unknown app",
                      "Appen, der sendte dig hertil, er ikke registreret hos Sund.",
                      "The app that sent you here is not registered with Sund.");
  }
  // A registered path ("/app/": only the portals' built-in client has one; registration takes
  // absolute URIs only) means that path on the origin this request came to.
  std::vector<std::string> registered;
  for (const auto& u : client->redirect_uris) {
    registered.push_back(u.starts_with("/") ? origin + u : u);
  }
  std::string redirect_uri = Param(form, "redirect_uri");
  if (redirect_uri.empty() && registered.size() == 1) redirect_uri = registered[0];
  const bool first_party = client->client_id == kPortalClientId;
  if (std::find(registered.begin(), registered.end(), redirect_uri) == registered.end()) {
    return page_error("Forkert adresse", "Wrong address",
                      "Appen bad om at sende dig til en adresse, den ikke har registreret.",
                      "The app asked to send you to an address it has not registered.");
  }
  // From here on, errors go back to the app (RFC 6749 section 4.1.2.1).
  std::string state = Param(form, "state");
  auto back_error = [&](std::string_view error, std::string_view description) {
    return Redirect(WithQuery(redirect_uri, {{"error", std::string(error)},
                                             {"error_description", std::string(description)},
                                             {"state", state}}));
  };
  if (Param(form, "response_type") != "code") {
    return back_error("unsupported_response_type", "response_type must be code");
  }
  std::string challenge = Param(form, "code_challenge");
  std::string method = Param(form, "code_challenge_method");
  if (challenge.empty() || method != "S256") {
    return back_error("invalid_request", "PKCE with code_challenge_method S256 is required");
  }
  if (challenge.size() != 43) return back_error("invalid_request", "malformed code_challenge");
  std::string aud = Param(form, "aud");
  while (!aud.empty() && aud.back() == '/') aud.pop_back();
  if (aud != origin + "/fhir") {
    return back_error("invalid_request", "aud must be this server's FHIR base URL");
  }
  // Our own screens post back with a `step` and carry the app's scope request as
  // "requested_scope" (the consent form's ticked scopes arrive as "scope").
  std::string step = req.method == "POST" ? Param(form, "step") : "";
  bool internal = !step.empty() || !Param(form, "requested_scope").empty();
  std::string requested_text = internal ? Param(form, "requested_scope") : Param(form, "scope");
  ScopeSet requested = ParseScopes(requested_text);
  ScopeSet offered = Narrow(requested, ParseScopes(client->scope));
  // system/ scopes are for backend services (client_credentials), never granted by a person.
  std::erase_if(offered.resources,
                [](const ResourceScope& r) { return r.context == ScopeContext::kSystem; });
  std::string launch = Param(form, "launch");
  std::string nonce = Param(form, "nonce");

  // The original request travels in hidden fields through the screens.
  pages::Fields carried;
  for (const char* name :
       {"response_type", "client_id", "redirect_uri", "state", "aud", "code_challenge",
        "code_challenge_method", "launch", "nonce", "ui_locales"}) {
    std::string v = Param(form, name);
    if (!v.empty()) carried.emplace_back(name, v);
  }
  carried.emplace_back("requested_scope", requested_text);
  std::vector<std::string> set_cookies;
  std::string csrf = CsrfFor(req, set_cookies);
  auto with_cookies = [&](http::Response r) {
    for (const auto& c : set_cookies) r.headers.Add("Set-Cookie", c);
    return r;
  };
  auto hidden = [&](std::string_view next_step) {
    pages::Fields f = carried;
    f.emplace_back("csrf", csrf);
    f.emplace_back("step", std::string(next_step));
    return f;
  };

  // The login page; after a failed attempt (the name tried is given) with the error and 401.
  auto login_page = [&](std::optional<std::string> failed_username) {
    pages::LoginPage p;
    p.lang = lang;
    p.action = "/oauth2/authorize";
    p.hidden = hidden("login");
    p.app_name = client->name;
    p.failed = failed_username.has_value();
    p.username = failed_username.value_or("");
    if (!p.failed) p.lang_switch_url = lang_switch;
    return Html(p.failed ? 401 : 200, pages::RenderLogin(p));
  };

  // 1. Who is there.
  std::optional<User> user = SessionUser(req);
  if (step == "login") {
    if (!CsrfOk(req, form)) {
      return page_error("Formularen er udløbet", "The form has expired",
                        "Gå tilbage til appen og prøv igen.", "Go back to the app and try again.");
    }
    std::string username = Param(form, "username");
    auto found = db->FindUser(username);
    bool good = CheckPassword(found, Param(form, "password"));
    if (!Audit(req, audit::Action::kLogin, good ? 200 : 401, good ? &*found : nullptr,
               client->client_id, "", good ? "login" : "failed login")) {
      return AuditDownPage(lang);
    }
    if (!good) return with_cookies(login_page(username));
    auto session = StartSession(found->id);
    if (!session.ok()) return page_error("Fejl", "Error", "Prøv igen.", "Try again.");
    set_cookies.push_back(
        SetCookie(kSessionCookie, *session, req.secure, "Lax", options.session_seconds));
    user = *found;
    step = "";
  }
  if (!user) return with_cookies(login_page(std::nullopt));

  // 2. Whose data (launch context).
  std::string patient;
  bool is_patient_user = user->fhir_user.rfind("Patient/", 0) == 0;
  if (!launch.empty()) {
    auto p = db->FindLaunch(launch, Now());
    if (!p.ok()) return back_error("invalid_request", "unknown or expired launch");
    // A citizen's tokens reach their own compartment only. A launch id is a bearer value an app
    // may hold from an EHR launch for someone else; it must not widen a citizen's access.
    if (is_patient_user && *p != user->fhir_user.substr(8)) {
      return with_cookies(back_error("access_denied", "the launch is for another patient"));
    }
    patient = *p;
  } else if (is_patient_user) {
    patient = user->fhir_user.substr(8);
  } else if (offered.launch_patient || HasResourceScopeOf(offered, ScopeContext::kPatient)) {
    std::string chosen = step == "pick" || step == "consent" ? Param(form, "patient") : "";
    bool exists = false;
    if (!chosen.empty() && store != nullptr) exists = store->Read("Patient", chosen).ok();
    if (!exists) {
      pages::PatientPickerPage p;
      p.lang = lang;
      p.action = "/oauth2/authorize";
      p.hidden = hidden("pick");
      p.search_hidden = carried;  // the GET search form: no CSRF token in URLs
      p.app_name = client->name;
      p.query = Param(form, "q");
      if (store != nullptr) {
        fhir::SearchQuery q;
        q.type = "Patient";
        q.count = 20;
        if (!p.query.empty()) {
          auto parsed = fhir::ParseSearch(fhir::Model::R4(), "Patient", {{"name", p.query}}, true);
          if (parsed.ok()) q = std::move(parsed).value();
          q.count = 20;
        }
        auto page = store->Search(q);
        if (page.ok()) {
          for (const auto& hit : page->matches) {
            rapidjson::Document d;
            d.Parse(hit.json.data(), hit.json.size());
            if (d.HasParseError() || !d.IsObject()) continue;
            pages::PatientChoice c;
            c.id = hit.id;
            c.name = DisplayName(d);
            c.birth_date = std::string(json::GetString(d, "birthDate"));
            c.gender = std::string(json::GetString(d, "gender"));
            p.patients.push_back(std::move(c));
          }
        }
      }
      return with_cookies(Html(200, pages::RenderPatientPicker(p)));
    }
    patient = chosen;
  }
  // A person without a patient link cannot grant patient/ scopes without choosing a patient;
  // a citizen cannot grant user/ scopes beyond their own compartment: user/ becomes patient/.
  if (is_patient_user && HasResourceScopeOf(offered, ScopeContext::kUser)) {
    for (auto& r : offered.resources) {
      if (r.context == ScopeContext::kUser) r.context = ScopeContext::kPatient;
    }
    offered = Narrow(offered, offered);
  }
  // user/ scopes reach every patient's data: only care staff and administrators hold them.
  if (!is_patient_user && user->role != "practitioner" && user->role != "admin") {
    std::erase_if(offered.resources,
                  [](const ResourceScope& r) { return r.context == ScopeContext::kUser; });
  }
  if (patient.empty()) {
    std::erase_if(offered.resources,
                  [](const ResourceScope& r) { return r.context == ScopeContext::kPatient; });
    offered.launch_patient = false;
  }
  if (!patient.empty()) carried.emplace_back("patient", patient);

  // 3. Consent. Sund's own portals are the person using the platform itself, not a third
  // party: they get what they asked for within the role, without a consent screen and without
  // an app-grant Consent (the sign-in is audited).
  if (step == "consent" || first_party) {
    if (!first_party && !CsrfOk(req, form)) {
      return page_error("Formularen er udløbet", "The form has expired",
                        "Gå tilbage til appen og prøv igen.", "Go back to the app and try again.");
    }
    if (!first_party && Param(form, "decision") != "approve") {
      if (!Audit(req, audit::Action::kConsentChange, 403, &*user, client->client_id, patient,
                 "app access refused")) {
        return AuditDownPage(lang);
      }
      return with_cookies(back_error("access_denied", "the user did not grant access"));
    }
    std::vector<std::string> ticked = AllParams(form, "scope");
    std::string chosen_text;
    for (const auto& s : ticked) chosen_text += s + " ";
    ScopeSet granted = first_party ? offered : Narrow(ParseScopes(chosen_text), offered);
    // Context and identity flags follow the request (they are not ticked separately).
    granted.launch = offered.launch;
    granted.launch_patient = offered.launch_patient && !patient.empty();
    granted.openid = offered.openid;
    granted.fhir_user = offered.fhir_user;
    granted.profile = offered.profile;
    // online_access has no checkbox either (the screen states the duration instead); without
    // this line it was always dropped, though permission-online is advertised.
    granted.online_access = offered.online_access;
    if (first_party || std::find(ticked.begin(), ticked.end(), "offline_access") == ticked.end()) {
      granted.offline_access = false;
    }
    Grant g;
    g.grant_id = crypto::RandomToken(16);
    g.user_id = user->id;
    g.client_id = client->client_id;
    g.scope = ToString(granted);
    g.patient = patient;
    g.created = Now();
    // online_access refresh tokens last while the person is online, i.e. as long as a login
    // session (SMART 2.2); offline_access ones the full refresh lifetime.
    g.expires = granted.offline_access  ? Now() + options.refresh_token_seconds
                : granted.online_access ? Now() + options.session_seconds
                                        : Now() + options.access_token_seconds;
    std::string code = crypto::RandomToken(32);
    AuthCode c;
    c.code_hash = HashHex(code);
    c.client_id = client->client_id;
    c.user_id = user->id;
    c.redirect_uri = redirect_uri;
    c.scope = g.scope;
    c.patient = patient;
    c.code_challenge = challenge;
    c.nonce = nonce;
    c.grant_id = g.grant_id;
    c.expires = Now() + options.code_seconds;
    if (!Audit(req, audit::Action::kConsentChange, 200, &*user, client->client_id, patient,
               (first_party ? "portal access: " : "app access granted: ") + g.scope)) {
      return AuditDownPage(lang);
    }
    if (options.on_grant && !g.patient.empty() && !first_party) {
      if (Status s = options.on_grant(g, *client, *user); !s.ok()) {
        log::Warn("auth: the grant could not be recorded: {}", s.ToString());
        return back_error("server_error", "could not record the grant");
      }
    }
    if (!db->AddGrant(g).ok() || !db->AddCode(c).ok()) {
      return back_error("server_error", "could not record the grant");
    }
    return with_cookies(Redirect(WithQuery(redirect_uri, {{"code", code}, {"state", state}})));
  }
  pages::ConsentPage p;
  p.lang = lang;
  p.action = "/oauth2/authorize";
  p.hidden = hidden("consent");
  p.app_name = client->name;
  p.app_uri = client->client_uri;
  p.user_display = user->display.empty() ? user->username : user->display;
  if (!patient.empty() && !is_patient_user) p.patient_display = "Patient/" + patient;
  std::string lc(pages::LangCode(lang));
  for (const auto& r : offered.resources) {
    ScopeSet one;
    one.resources.push_back(r);
    auto lines = DescribeScopes(one, lc);
    pages::ConsentItem item;
    item.value = ToString(r);
    item.description = lines.empty() ? item.value : lines.front();
    p.items.push_back(std::move(item));
    if (r.type == "*") p.wildcard = true;
  }
  if (offered.offline_access) {
    ScopeSet one;
    one.offline_access = true;
    auto lines = DescribeScopes(one, lc);
    p.items.push_back(pages::ConsentItem{
        "offline_access", lines.empty() ? "offline_access" : lines.front(), true, false});
    p.offline = true;
  }
  if (offered.openid || offered.fhir_user) {
    ScopeSet one;
    one.openid = offered.openid;
    one.fhir_user = offered.fhir_user;
    auto lines = DescribeScopes(one, lc);
    p.items.push_back(
        pages::ConsentItem{"openid", lines.empty() ? "openid" : lines.front(), true, true});
  }
  std::int64_t days = options.refresh_token_seconds / 86400;
  if (offered.offline_access) {
    p.duration = en ? std::to_string(days) + " days, or until you revoke the access"
                    : std::to_string(days) + " dage, eller indtil du tilbagekalder adgangen";
  } else {
    p.duration = en ? "While you use the app (at most one hour at a time)"
                    : "Mens du bruger appen (højst en time ad gangen)";
  }
  return with_cookies(Html(200, pages::RenderConsent(p)));
}

// ---------------------------------------------------------------------------------------------
// Client authentication

Result<Client> AuthServer::Impl::AuthenticateClient(const http::Request& req, const Params& form,
                                                    std::string_view origin,
                                                    bool require_confidential) {
  auto unauth = [](std::string m) { return Status(StatusCode::kUnauthenticated, std::move(m)); };
  std::string_view authz = req.headers.Get("Authorization");
  if (authz.size() > 6 && http::EqualsIgnoreCase(authz.substr(0, 6), "Basic ")) {
    auto decoded = crypto::Base64Decode(authz.substr(6));
    if (!decoded.ok()) return unauth("malformed Basic credentials");
    std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) return unauth("malformed Basic credentials");
    std::string id = http::PercentDecode(decoded->substr(0, colon), true);
    std::string secret = http::PercentDecode(decoded->substr(colon + 1), true);
    auto c = db->FindClient(id);
    if (!c.ok() || c->revoked || c->secret_hash.empty() ||
        !crypto::ConstantTimeEquals(HashHex(secret), c->secret_hash)) {
      return unauth("client authentication failed");
    }
    return c;
  }
  std::string assertion_type = Param(form, "client_assertion_type");
  if (!assertion_type.empty()) {
    if (assertion_type != kJwtBearer) return unauth("unsupported client_assertion_type");
    auto jwt = ParseJwt(Param(form, "client_assertion"));
    if (!jwt.ok()) return unauth("malformed client assertion");
    std::string iss(json::GetString(jwt->claims, "iss"));
    std::string sub(json::GetString(jwt->claims, "sub"));
    if (iss.empty() || iss != sub)
      return unauth("client assertion iss and sub must be the client id");
    std::string form_id = Param(form, "client_id");
    if (!form_id.empty() && form_id != iss) return unauth("client_id does not match the assertion");
    auto c = db->FindClient(iss);
    if (!c.ok() || c->revoked || c->auth_method != "private_key_jwt" || c->jwks.empty()) {
      return unauth("client authentication failed");
    }
    rapidjson::Document set;
    json::ParseBounded(set, c->jwks);
    const rapidjson::Value* keys = set.IsObject() ? json::Find(set, "keys") : nullptr;
    bool verified = false;
    if (keys != nullptr && keys->IsArray()) {
      for (const auto& k : keys->GetArray()) {
        if (!k.IsObject()) continue;
        std::string_view kid = json::GetString(k, "kid");
        if (!jwt->kid.empty() && !kid.empty() && kid != jwt->kid) continue;
        auto vk = crypto::VerifyKey::FromJwk(k);
        if (!vk.ok()) continue;
        if (VerifyJwtSignature(*jwt, *vk).ok()) {
          verified = true;
          break;
        }
      }
    }
    if (!verified) return unauth("client assertion signature does not verify");
    if (jwt->alg != "ES384" && jwt->alg != "RS384" && jwt->alg != "ES256" && jwt->alg != "RS256") {
      return unauth("unsupported client assertion algorithm");
    }
    SUND_RETURN_IF_ERROR(CheckTimeClaims(jwt->claims, Now()));
    std::string token_url = std::string(origin) + "/oauth2/token";
    bool aud_ok = false;
    if (const auto* aud = json::Find(jwt->claims, "aud")) {
      if (aud->IsString()) aud_ok = json::View(*aud) == token_url;
      if (aud->IsArray()) {
        for (const auto& x : aud->GetArray())
          aud_ok = aud_ok || (x.IsString() && json::View(x) == token_url);
      }
    }
    if (!aud_ok) return unauth("client assertion aud must be the token endpoint");
    const auto* exp = json::Find(jwt->claims, "exp");
    if (exp == nullptr || !exp->IsInt64() || exp->GetInt64() > Now() + 300) {
      return unauth("client assertion must expire within five minutes");
    }
    std::string jti(json::GetString(jwt->claims, "jti"));
    if (jti.empty()) return unauth("client assertion needs a jti");
    auto fresh = db->RecordAssertion(iss, jti, exp->GetInt64());
    if (!fresh.ok() || !*fresh) return unauth("client assertion jti was used before");
    return c;
  }
  std::string id = Param(form, "client_id");
  auto c = db->FindClient(id);
  if (id.empty() || !c.ok() || c->revoked) return unauth("unknown client");
  std::string secret = Param(form, "client_secret");
  if (!secret.empty()) {
    if (c->secret_hash.empty() || !crypto::ConstantTimeEquals(HashHex(secret), c->secret_hash)) {
      return unauth("client authentication failed");
    }
    return c;
  }
  if (c->auth_method != "none") return unauth("this client must authenticate");
  if (require_confidential) return unauth("a confidential client is required");
  return c;
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

std::string AuthServer::Impl::TokenResponse(std::string_view origin, const Grant& grant,
                                            const User* user, std::string_view nonce,
                                            std::string_view refresh, std::string* error) {
  ScopeSet scopes = ParseScopes(grant.scope);
  std::string fhir_user = user != nullptr ? user->fhir_user : "";
  std::string subject = user != nullptr ? "user/" + std::to_string(user->id) : grant.client_id;
  std::int64_t seconds = options.access_token_seconds;
  auto token = AccessToken(origin, subject, grant.client_id, scopes, grant.patient, fhir_user,
                           grant.grant_id, seconds);
  if (!token.ok()) {
    *error = "could not sign the token";
    return {};
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  AddString(w, "access_token", *token);
  AddString(w, "token_type", "Bearer");
  w.Key("expires_in");
  w.Int64(seconds);
  AddString(w, "scope", ToString(scopes));
  if (!grant.patient.empty()) {
    AddString(w, "patient", grant.patient);
    w.Key("need_patient_banner");
    w.Bool(true);
  }
  if (!refresh.empty()) AddString(w, "refresh_token", refresh);
  if (scopes.openid && user != nullptr) {
    rapidjson::Document c(rapidjson::kObjectType);
    auto& a = c.GetAllocator();
    auto str = [&](std::string_view s) {
      return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
    };
    std::int64_t now = Now();
    c.AddMember("iss", str(origin), a);
    c.AddMember("sub", str(subject), a);
    c.AddMember("aud", str(grant.client_id), a);
    c.AddMember("iat", rapidjson::Value(static_cast<int64_t>(now)), a);
    c.AddMember("exp", rapidjson::Value(static_cast<int64_t>(now + seconds)), a);
    if (!nonce.empty()) c.AddMember("nonce", str(nonce), a);
    if (scopes.fhir_user && !fhir_user.empty()) {
      c.AddMember("fhirUser", str(std::string(origin) + "/fhir/" + fhir_user), a);
    }
    if (scopes.profile && !user->display.empty()) c.AddMember("name", str(user->display), a);
    auto id_token = SignClaims(c);
    if (id_token.ok()) AddString(w, "id_token", *id_token);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

http::Response AuthServer::Impl::Token(http::Request& req) {
  TokenEvent event;
  http::Response r = IssueToken(req, event);
  if (event.recorded && r.status == 200) return r;  // on record before it was granted
  std::string grant_type = Param(http::ParseQuery(req.body), "grant_type");
  std::string detail = grant_type.empty() ? "token request" : grant_type;
  if (r.status != 200) detail += " refused";
  if (!Audit(req, audit::Action::kToken, r.status, event.user ? &*event.user : nullptr,
             event.client_id, event.patient, detail)) {
    return AuditUnavailable();
  }
  return r;
}

http::Response AuthServer::Impl::IssueToken(http::Request& req, TokenEvent& event) {
  if (req.method != "POST") return OAuthError(405, "invalid_request", "use POST");
  Params form = http::ParseQuery(req.body);
  std::string origin = RequestOrigin(req, options.issuer);
  std::string grant_type = Param(form, "grant_type");
  bool basic = http::EqualsIgnoreCase(req.headers.Get("Authorization").substr(0, 6), "Basic ");
  auto client = AuthenticateClient(req, form, origin, grant_type == "client_credentials");
  if (!client.ok()) {
    http::Response r = OAuthError(401, "invalid_client", client.status().message());
    if (!basic) r.headers.Remove("WWW-Authenticate");
    return r;
  }
  event.client_id = client->client_id;
  std::int64_t now = Now();
  // The grant types the app registered (refresh_token comes with authorization_code).
  auto registered = [&](std::string_view g) {
    return std::find(client->grant_types.begin(), client->grant_types.end(), g) !=
           client->grant_types.end();
  };
  bool allowed = grant_type == "refresh_token"
                     ? registered("refresh_token") || registered("authorization_code")
                     : registered(grant_type);
  if (!allowed && (grant_type == "authorization_code" || grant_type == "refresh_token" ||
                   grant_type == "client_credentials")) {
    return OAuthError(400, "unauthorized_client", "this app is not registered for " + grant_type);
  }
  if (grant_type == "authorization_code") {
    std::string reused;
    std::string code_hash = HashHex(Param(form, "code"));
    // Looked at first, and spent once the exchange is good and on record; a refused exchange
    // spends it all the same (a code is tried once).
    auto code = db->TakeCode(code_hash, now, &reused, /*spend=*/false);
    if (!code.ok()) {
      if (!reused.empty()) RevokeGrantEverywhere(reused).IgnoreError();
      return OAuthError(400, "invalid_grant", code.status().message());
    }
    auto refuse = [&](std::string_view description) {
      db->TakeCode(code_hash, now, &reused).status().IgnoreError();
      return OAuthError(400, "invalid_grant", description);
    };
    if (code->client_id != client->client_id) {
      return refuse("the code was issued to another client");
    }
    if (Param(form, "redirect_uri") != code->redirect_uri) {
      return refuse("redirect_uri does not match the authorization");
    }
    std::string verifier = Param(form, "code_verifier");
    bool verifier_ok = verifier.size() >= 43 && verifier.size() <= 128 &&
                       std::all_of(verifier.begin(), verifier.end(), [](char ch) {
                         return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                                ch == '.' || ch == '_' || ch == '~';
                       });
    if (!verifier_ok ||
        !crypto::ConstantTimeEquals(crypto::Base64UrlEncode(crypto::Sha256(verifier)),
                                    code->code_challenge)) {
      RevokeGrantEverywhere(code->grant_id).IgnoreError();
      return refuse("code_verifier does not match the code_challenge");
    }
    auto grant = db->GetGrant(code->grant_id);
    auto user = db->GetUser(code->user_id);
    if (!grant.ok() || grant->revoked || !user.ok()) {
      return refuse("the authorization was revoked");
    }
    event.user = *user;
    event.patient = grant->patient;
    if (!RecordToken(req, event, "authorization_code")) return AuditUnavailable();
    if (auto spent = db->TakeCode(code_hash, now, &reused); !spent.ok()) {
      // Exchanged meanwhile by a concurrent request: a replay, as above.
      if (!reused.empty()) RevokeGrantEverywhere(reused).IgnoreError();
      return OAuthError(400, "invalid_grant", spent.status().message());
    }
    std::string refresh;
    ScopeSet scopes = ParseScopes(grant->scope);
    if (scopes.offline_access || scopes.online_access) {
      refresh = crypto::RandomToken(32);
      if (!db->AddRefresh(HashHex(refresh), grant->grant_id, grant->expires).ok()) {
        return OAuthError(500, "server_error", "could not store the refresh token");
      }
    }
    std::string error;
    std::string body = TokenResponse(origin, *grant, &*user, code->nonce, refresh, &error);
    if (!error.empty()) return OAuthError(500, "server_error", error);
    return JsonOut(200, std::move(body));
  }
  if (grant_type == "refresh_token") {
    std::string reused;
    std::string refresh_hash = HashHex(Param(form, "refresh_token"));
    auto grant_id = db->TakeRefresh(refresh_hash, now, &reused, /*spend=*/false);
    if (!grant_id.ok()) {
      // A rotated-out refresh token used again: someone holds a copy. End the whole grant.
      if (!reused.empty()) RevokeGrantEverywhere(reused).IgnoreError();
      return OAuthError(400, "invalid_grant", grant_id.status().message());
    }
    auto grant = db->GetGrant(*grant_id);
    if (!grant.ok() || grant->revoked) return OAuthError(400, "invalid_grant", "grant revoked");
    if (grant->client_id != client->client_id) {
      return OAuthError(400, "invalid_grant", "the refresh token belongs to another client");
    }
    Grant issued = *grant;
    std::string scope_param = Param(form, "scope");
    if (!scope_param.empty()) {
      ScopeSet asked = ParseScopes(scope_param);
      ScopeSet had = ParseScopes(grant->scope);
      if (!asked.other.empty() || !IsSubset(asked, had)) {
        return OAuthError(400, "invalid_scope", "a refresh cannot widen the granted scopes");
      }
      asked.offline_access = asked.offline_access || had.offline_access;
      issued.scope = ToString(asked);
    }
    std::optional<User> user;
    if (grant->user_id != 0) {
      auto u = db->GetUser(grant->user_id);
      if (!u.ok() || u->disabled) return OAuthError(400, "invalid_grant", "user disabled");
      user = *u;
    }
    event.user = user;
    event.patient = grant->patient;
    if (!RecordToken(req, event, "refresh_token")) return AuditUnavailable();
    // The request is good and on record: now spend the presented token (a concurrent use of
    // the same token finds it spent and counts as reuse).
    if (auto spent = db->TakeRefresh(refresh_hash, now, &reused); !spent.ok()) {
      if (!reused.empty()) RevokeGrantEverywhere(reused).IgnoreError();
      return OAuthError(400, "invalid_grant", spent.status().message());
    }
    std::string refresh = crypto::RandomToken(32);
    if (!db->AddRefresh(HashHex(refresh), grant->grant_id, grant->expires).ok()) {
      return OAuthError(500, "server_error", "could not store the refresh token");
    }
    std::string error;
    std::string body = TokenResponse(origin, issued, user ? &*user : nullptr, "", refresh, &error);
    if (!error.empty()) return OAuthError(500, "server_error", error);
    return JsonOut(200, std::move(body));
  }
  if (grant_type == "client_credentials") {
    ScopeSet asked = ParseScopes(Param(form, "scope"));
    ScopeSet granted = Narrow(OnlyContext(asked, ScopeContext::kSystem),
                              OnlyContext(ParseScopes(client->scope), ScopeContext::kSystem));
    if (granted.resources.empty()) {
      return OAuthError(400, "invalid_scope", "no system/ scope of this client was requested");
    }
    auto token = AccessToken(origin, client->client_id, client->client_id, granted, "", "", "",
                             std::min<std::int64_t>(options.access_token_seconds, 300 * 12));
    if (!token.ok()) return OAuthError(500, "server_error", "could not sign the token");
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    AddString(w, "access_token", *token);
    AddString(w, "token_type", "Bearer");
    w.Key("expires_in");
    w.Int64(std::min<std::int64_t>(options.access_token_seconds, 300 * 12));
    AddString(w, "scope", ToString(granted));
    w.EndObject();
    return JsonOut(200, std::string(buf.GetString(), buf.GetSize()));
  }
  return OAuthError(400, "unsupported_grant_type",
                    "grant_type must be authorization_code, refresh_token or client_credentials");
}

// ---------------------------------------------------------------------------------------------
// Introspection (RFC 7662) and revocation (RFC 7009)

http::Response AuthServer::Impl::Introspect(http::Request& req) {
  if (req.method != "POST") return OAuthError(405, "invalid_request", "use POST");
  Params form = http::ParseQuery(req.body);
  std::string origin = RequestOrigin(req, options.issuer);
  // The caller (RFC 7662 section 2.1): a confidential client, or a bearer token of this server.
  // A resource server, i.e. a caller holding system/ scopes (which only an administrator can
  // register), may introspect any token; any other caller only its own: a client the tokens
  // issued to it, a bearer token itself and the other tokens of its grant. Any other token is
  // answered as inactive (section 2.2), so the answer does not tell whether it is valid.
  std::string_view authz = req.headers.Get("Authorization");
  bool by_bearer = false;
  bool resource_server = false;
  std::string caller_client;  // a client that authenticated
  std::string caller_jti;     // a bearer token's
  std::string caller_gid;
  if (authz.size() > 7 && http::EqualsIgnoreCase(authz.substr(0, 7), "Bearer ")) {
    auto bearer = VerifyOurJwt(authz.substr(7));
    if (bearer.ok()) {
      by_bearer = true;
      caller_jti = std::string(json::GetString(*bearer, "jti"));
      caller_gid = std::string(json::GetString(*bearer, "gid"));
      resource_server =
          HasResourceScopeOf(ParseScopes(json::GetString(*bearer, "scope")), ScopeContext::kSystem);
    }
  }
  if (!by_bearer) {
    auto client = AuthenticateClient(req, form, origin, true);
    if (!client.ok()) return OAuthError(401, "invalid_client", client.status().message());
    caller_client = client->client_id;
    resource_server = HasResourceScopeOf(ParseScopes(client->scope), ScopeContext::kSystem);
  }
  std::string token = Param(form, "token");
  auto claims = VerifyOurJwt(token);
  bool may = false;
  if (claims.ok()) {
    std::string_view jti = json::GetString(*claims, "jti");
    std::string_view gid = json::GetString(*claims, "gid");
    bool own = by_bearer ? ((!caller_jti.empty() && jti == caller_jti) ||
                            (!caller_gid.empty() && gid == caller_gid))
                         : json::GetString(*claims, "client_id") == caller_client;
    may = resource_server || own;
  }
  if (claims.ok() && may) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("active");
    w.Bool(true);
    for (const char* k :
         {"scope", "client_id", "sub", "aud", "iss", "jti", "patient", "fhirUser"}) {
      std::string_view v = json::GetString(*claims, k);
      if (!v.empty()) AddString(w, k, v);
    }
    for (const char* k : {"exp", "iat"}) {
      if (const auto* v = json::Find(*claims, k); v != nullptr && v->IsInt64()) {
        w.Key(k);
        w.Int64(v->GetInt64());
      }
    }
    AddString(w, "token_type", "Bearer");
    w.EndObject();
    return JsonOut(200, std::string(buf.GetString(), buf.GetSize()));
  }
  return JsonOut(200, "{\"active\":false}");
}

http::Response AuthServer::Impl::Revoke(http::Request& req) {
  if (req.method != "POST") return OAuthError(405, "invalid_request", "use POST");
  Params form = http::ParseQuery(req.body);
  std::string origin = RequestOrigin(req, options.issuer);
  auto client = AuthenticateClient(req, form, origin, false);
  if (!client.ok()) return OAuthError(401, "invalid_client", client.status().message());
  std::string token = Param(form, "token");
  if (token.empty()) return OAuthError(400, "invalid_request", "token is required");
  if (!Audit(req, audit::Action::kToken, 200, nullptr, client->client_id, "", "revoke")) {
    return AuditUnavailable();
  }
  auto jwt = ParseJwt(token);
  if (jwt.ok()) {
    auto claims = VerifyOurJwt(token);
    if (claims.ok() && json::GetString(*claims, "client_id") == client->client_id) {
      std::string jti(json::GetString(*claims, "jti"));
      std::int64_t exp = 0;
      if (const auto* e = json::Find(*claims, "exp"); e != nullptr && e->IsInt64()) {
        exp = e->GetInt64();
      }
      {
        std::unique_lock<std::shared_mutex> l(revoked_mu);
        revoked_jtis.insert(jti);
      }
      db->RevokeJti(jti, exp).IgnoreError();
    }
    return JsonOut(200, "{}");
  }
  // A refresh token: revoke its grant, and so every token issued under it (RFC 7009 2.1).
  // Looked up first and spent only for its own client: another client naming it changes nothing
  // (RFC 7009 2.1; it is answered 200 all the same, so as not to confirm that it exists).
  std::string reused;
  auto grant_id = db->TakeRefresh(HashHex(token), Now(), &reused, /*spend=*/false);
  std::string gid = grant_id.ok() ? *grant_id : reused;
  if (!gid.empty()) {
    auto grant = db->GetGrant(gid);
    if (grant.ok() && grant->client_id == client->client_id) {
      if (grant_id.ok()) db->TakeRefresh(HashHex(token), Now(), &reused).status().IgnoreError();
      RevokeGrantEverywhere(gid).IgnoreError();
    }
  }
  return JsonOut(200, "{}");
}

// ---------------------------------------------------------------------------------------------
// Dynamic client registration (RFC 7591): the app registry

http::Response AuthServer::Impl::Register(http::Request& req) {
  if (req.method != "POST") return OAuthError(405, "invalid_request", "use POST");
  auto meta_error = [](std::string_view d) {
    return OAuthError(400, "invalid_client_metadata", d);
  };
  rapidjson::Document d;
  json::ParseBounded(d, req.body);
  if (d.HasParseError() || !d.IsObject()) return meta_error("the body must be a JSON object");
  // An administrator's token (system/ scopes on every type) may register backend services.
  bool admin = false;
  std::string_view authz = req.headers.Get("Authorization");
  if (authz.size() > 7 && http::EqualsIgnoreCase(authz.substr(0, 7), "Bearer ")) {
    auto claims = VerifyOurJwt(authz.substr(7));
    if (!claims.ok()) return OAuthError(401, "invalid_token", claims.status().message());
    ScopeSet s = ParseScopes(json::GetString(*claims, "scope"));
    admin = Allows(s, ScopeContext::kSystem, "*", kCreate);
    // Closed registration: any other valid token (a patient's) used to pass as well.
    if (!admin && !options.open_registration) {
      return OAuthError(403, "insufficient_scope", "registration needs an administrator's token");
    }
  } else if (!options.open_registration) {
    return OAuthError(401, "invalid_token", "registration needs an administrator's token");
  }
  Client c;
  c.client_id = crypto::RandomToken(16);
  c.name = std::string(json::GetString(d, "client_name"));
  if (c.name.empty()) return meta_error("client_name is required");
  c.client_uri = std::string(json::GetString(d, "client_uri"));
  c.auth_method = std::string(json::GetString(d, "token_endpoint_auth_method"));
  if (c.auth_method.empty()) c.auth_method = "client_secret_basic";
  if (c.auth_method != "none" && c.auth_method != "client_secret_basic" &&
      c.auth_method != "client_secret_post" && c.auth_method != "private_key_jwt") {
    return meta_error("unsupported token_endpoint_auth_method");
  }
  if (const auto* uris = json::Find(d, "redirect_uris")) {
    if (!uris->IsArray()) return meta_error("redirect_uris must be an array");
    for (const auto& u : uris->GetArray()) {
      if (!u.IsString() || !AcceptableRedirect(json::View(u))) {
        return OAuthError(400, "invalid_redirect_uri",
                          "redirect URIs must be https, http on loopback, or a private-use "
                          "scheme, without a fragment");
      }
      c.redirect_uris.emplace_back(json::View(u));
    }
  }
  if (const auto* g = json::Find(d, "grant_types"); g != nullptr && g->IsArray()) {
    for (const auto& x : g->GetArray()) {
      if (x.IsString()) c.grant_types.emplace_back(json::View(x));
    }
  }
  if (c.grant_types.empty()) c.grant_types = {"authorization_code"};
  for (const auto& g : c.grant_types) {
    if (g != "authorization_code" && g != "refresh_token" && g != "client_credentials") {
      return meta_error("unsupported grant type");
    }
    if (g == "authorization_code" && c.redirect_uris.empty()) {
      return OAuthError(400, "invalid_redirect_uri", "redirect_uris are required");
    }
    if (g == "client_credentials" && c.auth_method == "none") {
      return meta_error("client_credentials needs a confidential client");
    }
  }
  c.scope = std::string(json::GetString(d, "scope"));
  ScopeSet scopes = ParseScopes(c.scope);
  if (HasResourceScopeOf(scopes, ScopeContext::kSystem) && !admin) {
    return meta_error("system/ scopes need an administrator's registration token");
  }
  if (c.auth_method == "private_key_jwt") {
    const auto* jwks = json::Find(d, "jwks");
    if (jwks == nullptr || !jwks->IsObject()) {
      return meta_error("private_key_jwt needs jwks (jwks_uri is not supported)");
    }
    const auto* keys = json::Find(*jwks, "keys");
    bool any = false;
    if (keys != nullptr && keys->IsArray()) {
      for (const auto& k : keys->GetArray()) any = any || crypto::VerifyKey::FromJwk(k).ok();
    }
    if (!any) return meta_error("jwks holds no usable EC or RSA public key");
    c.jwks = json::Serialize(*jwks);
  }
  std::string secret;
  if (c.auth_method == "client_secret_basic" || c.auth_method == "client_secret_post") {
    secret = crypto::RandomToken(32);
    c.secret_hash = HashHex(secret);
  }
  c.created = Now();
  if (!Audit(req, audit::Action::kOperation, 201, nullptr, c.client_id, "",
             "app registered: " + c.name)) {
    return AuditUnavailable();
  }
  if (!db->AddClient(c).ok()) return OAuthError(500, "server_error", "could not store the app");
  next_origins_reload.store(0, std::memory_order_relaxed);  // its origin may call at once
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  AddString(w, "client_id", c.client_id);
  w.Key("client_id_issued_at");
  w.Int64(c.created);
  if (!secret.empty()) {
    AddString(w, "client_secret", secret);
    w.Key("client_secret_expires_at");
    w.Int64(0);
  }
  AddString(w, "client_name", c.name);
  AddString(w, "token_endpoint_auth_method", c.auth_method);
  AddStrings(w, "redirect_uris", c.redirect_uris);
  AddStrings(w, "grant_types", c.grant_types);
  AddString(w, "scope", c.scope);
  if (!c.client_uri.empty()) AddString(w, "client_uri", c.client_uri);
  w.EndObject();
  return JsonOut(201, std::string(buf.GetString(), buf.GetSize()));
}

// ---------------------------------------------------------------------------------------------
// Management: the apps that can reach my data

http::Response AuthServer::Impl::Manage(http::Request& req) {
  Params form = req.method == "POST" ? http::ParseQuery(req.body) : http::ParseQuery(req.query);
  pages::Lang lang = pages::PickLang(Param(form, "lang"), req.headers.Get("Accept-Language"));
  bool en = lang == pages::Lang::kEn;
  std::string lang_switch = en ? "/oauth2/manage?lang=da" : "/oauth2/manage?lang=en";
  std::vector<std::string> set_cookies;
  std::string csrf = CsrfFor(req, set_cookies);
  auto with_cookies = [&](http::Response r) {
    for (const auto& c : set_cookies) r.headers.Add("Set-Cookie", c);
    return r;
  };
  pages::Fields hidden = {{"csrf", csrf}, {"lang", std::string(pages::LangCode(lang))}};
  // view=log: the person's own audit log instead of the apps (kept through the login form).
  bool log_view = Param(form, "view") == "log";
  if (log_view) hidden.emplace_back("view", "log");
  // The login form says step=login; the apps page's forms carry the same hidden fields, a
  // revoke form with the app's client_id, the sign-out form without.
  std::string step;
  if (req.method == "POST") {
    step = Param(form, "step");
    if (step.empty()) step = Param(form, "client_id").empty() ? "logout" : "revoke";
  }
  if (req.method == "POST" && !CsrfOk(req, form)) {
    return Html(400, pages::RenderError(
                         lang, en ? "The form has expired" : "Formularen er udløbet",
                         en ? "Reload the page and try again." : "Genindlæs siden og prøv igen."));
  }
  // The login page; after a failed attempt (the name tried is given) with the error and 401.
  auto login_page = [&](std::optional<std::string> failed_username) {
    pages::LoginPage p;
    p.lang = lang;
    p.action = "/oauth2/manage";
    p.hidden = hidden;
    p.hidden.emplace_back("step", "login");
    p.failed = failed_username.has_value();
    p.username = failed_username.value_or("");
    p.lang_switch_url = lang_switch;
    return with_cookies(Html(p.failed ? 401 : 200, pages::RenderLogin(p)));
  };
  std::optional<User> user = SessionUser(req);
  if (step == "login") {
    auto found = db->FindUser(Param(form, "username"));
    bool good = CheckPassword(found, Param(form, "password"));
    if (!Audit(req, audit::Action::kLogin, good ? 200 : 401, good ? &*found : nullptr, "", "",
               good ? "login (my apps)" : "failed login (my apps)")) {
      return AuditDownPage(lang);
    }
    if (!good) return login_page(Param(form, "username"));
    auto session = StartSession(found->id);
    if (session.ok()) {
      set_cookies.push_back(
          SetCookie(kSessionCookie, *session, req.secure, "Lax", options.session_seconds));
      user = *found;
    }
  }
  if (!user) return login_page(std::nullopt);
  std::string message;
  if (step == "logout") {
    db->DeleteSession(HashHex(Cookie(req, kSessionCookie))).IgnoreError();
    set_cookies.push_back(SetCookie(kSessionCookie, "", req.secure, "Lax", 0));
    return login_page(std::nullopt);
  }
  if (log_view) return with_cookies(MyLog(req, *user, lang, Param(form, "before")));
  auto grants = db->GrantsOfUser(user->id, Now());
  if (step == "revoke" && grants.ok()) {
    std::string client_id = Param(form, "client_id");
    std::string name = client_id;
    std::string patient =
        user->fhir_user.rfind("Patient/", 0) == 0 ? user->fhir_user.substr(8) : "";
    if (!Audit(req, audit::Action::kConsentChange, 200, &*user, client_id, patient,
               "app access revoked")) {
      return AuditDownPage(lang);
    }
    for (const auto& g : *grants) {
      if (g.client_id != client_id) continue;
      RevokeGrantEverywhere(g.grant_id).IgnoreError();
    }
    if (auto c = db->FindClient(client_id); c.ok()) name = c->name;
    message = en ? "Access for " + name + " has been revoked."
                 : "Adgangen for " + name + " er tilbagekaldt.";
    grants = db->GrantsOfUser(user->id, Now());
  }
  pages::AppsPage p;
  p.lang = lang;
  p.user_display = user->display.empty() ? user->username : user->display;
  p.revoke_action = "/oauth2/manage";
  p.logout_action = "/oauth2/manage";
  if (options.audit != nullptr && user->fhir_user.starts_with("Patient/")) {
    p.log_url = "/oauth2/manage?view=log&lang=" + std::string(pages::LangCode(lang));
  }
  p.hidden = hidden;
  p.message = message;
  p.lang_switch_url = lang_switch;
  if (grants.ok()) {
    std::vector<std::string> seen;
    for (const auto& g : *grants) {
      if (std::find(seen.begin(), seen.end(), g.client_id) != seen.end()) continue;
      seen.push_back(g.client_id);
      pages::AppGrant a;
      a.client_id = g.client_id;
      auto c = db->FindClient(g.client_id);
      a.app_name = c.ok() ? c->name : g.client_id;
      a.what = DescribeScopes(ParseScopes(g.scope), pages::LangCode(lang));
      a.granted = FormatInstant(g.created * 1'000'000).substr(0, 10);
      a.expires = g.expires != 0 ? FormatInstant(g.expires * 1'000'000).substr(0, 10) : "";
      p.apps.push_back(std::move(a));
    }
  }
  return with_cookies(Html(200, pages::RenderApps(p)));
}

// The person's own audit log ("min log"): who looked at their patient record, newest first,
// 50 a page. Viewing it is itself recorded.
http::Response AuthServer::Impl::MyLog(const http::Request& req, const User& user, pages::Lang lang,
                                       std::string_view before) {
  bool en = lang == pages::Lang::kEn;
  if (options.audit == nullptr || !user.fhir_user.starts_with("Patient/")) {
    return Html(404, pages::RenderError(lang, en ? "No log" : "Ingen log",
                                        en ? "Your account is not linked to a patient record."
                                           : "Din konto er ikke knyttet til en patientjournal."));
  }
  std::string patient = user.fhir_user.substr(8);
  std::int64_t before_seq = std::numeric_limits<std::int64_t>::max();
  if (!before.empty()) {
    char* end = nullptr;
    std::string text(before);
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (*end != '\0' || v < 0) {
      return Html(400, pages::RenderError(lang, en ? "Invalid page" : "Ugyldig side",
                                          en ? "Open the log again from the start."
                                             : "Åbn loggen igen fra begyndelsen."));
    }
    before_seq = v;
  }
  if (!Audit(req, audit::Action::kRead, 200, &user, "", patient, "own audit log viewed")) {
    return AuditDownPage(lang);
  }
  constexpr int kPage = 50;
  auto records = options.audit->RecordsForPatient(patient, kPage, before_seq);
  if (!records.ok()) {
    log::Warn("auth: the audit log could not be read: {}", records.status().ToString());
    return AuditDownPage(lang);
  }
  // Readable names: people and organisations from the store, apps from the registry.
  audit::DisplayNames names;
  for (const auto& r : *records) {
    for (const std::string* ref : {&r.record.actor.user_id, &r.record.actor.organization}) {
      std::size_t slash = ref->find('/');
      if (slash == std::string::npos || names.contains(*ref) || store == nullptr) continue;
      std::string type = ref->substr(0, slash);
      if (type != "Practitioner" && type != "Patient" && type != "RelatedPerson" &&
          type != "Organization") {
        continue;
      }
      auto found = store->Read(type, ref->substr(slash + 1));
      std::string name;
      if (found.ok() && !found->deleted) {
        rapidjson::Document d;
        d.Parse(found->json.data(), found->json.size());
        if (!d.HasParseError()) name = DisplayName(d);
      }
      names.emplace(*ref, std::move(name));
    }
    const std::string& app = r.record.actor.client_id;
    if (!app.empty() && !names.contains(app)) {
      auto c = db->FindClient(app);
      names.emplace(app, c.ok() ? c->name : "");
    }
  }
  std::string next;
  if (static_cast<int>(records->size()) == kPage) {
    next = "/oauth2/manage?view=log&lang=" + std::string(pages::LangCode(lang)) +
           "&before=" + std::to_string(records->back().seq);
  }
  return Html(200, audit::MyLogHtml(*records, pages::LangCode(lang), next, names),
              audit::MyLogStyle());
}

// ---------------------------------------------------------------------------------------------
// EHR launch contexts: the EHR (the clinician portal, or a system) records which patient an app
// is launched for and passes the opaque id to the app as `launch`.

http::Response AuthServer::Impl::Launch(http::Request& req) {
  if (req.method != "POST") return OAuthError(405, "invalid_request", "use POST");
  std::string_view authz = req.headers.Get("Authorization");
  if (authz.size() <= 7 || !http::EqualsIgnoreCase(authz.substr(0, 7), "Bearer ")) {
    return OAuthError(401, "invalid_token", "a bearer token is required");
  }
  auto claims = VerifyOurJwt(authz.substr(7));
  if (!claims.ok()) return OAuthError(401, "invalid_token", claims.status().message());
  // Only a token that may read the patient across patients: a practitioner (user/) or a system.
  ScopeSet s = ParseScopes(json::GetString(*claims, "scope"));
  bool may = Allows(s, ScopeContext::kUser, "Patient", kRead) ||
             Allows(s, ScopeContext::kSystem, "Patient", kRead);
  if (!may) return OAuthError(403, "insufficient_scope", "needs user/ or system/ Patient read");
  Params form = http::ParseQuery(req.body);
  std::string patient = Param(form, "patient");
  if (patient.empty() || (store != nullptr && !store->Read("Patient", patient).ok())) {
    return OAuthError(400, "invalid_request", "patient must name an existing Patient");
  }
  std::string id = crypto::RandomToken(24);
  constexpr std::int64_t kLaunchSeconds = 300;
  if (!db->AddLaunch(id, patient, Now() + kLaunchSeconds).ok()) {
    return OAuthError(500, "server_error", "could not record the launch");
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  AddString(w, "launch", id);
  w.Key("expires_in");
  w.Int64(kLaunchSeconds);
  w.EndObject();
  return JsonOut(201, std::string(buf.GetString(), buf.GetSize()));
}

// ---------------------------------------------------------------------------------------------
// The portals' client and sign-out

Status AuthServer::Impl::EnsurePortalClient() {
  auto found = db->FindClient(kPortalClientId);
  if (found.ok()) return Status::Ok();
  if (found.status().code() != StatusCode::kNotFound) return found.status();
  Client c;
  c.client_id = std::string(kPortalClientId);
  c.name = "Sund";
  c.auth_method = "none";
  c.redirect_uris = {"/app/"};  // on this origin (checked in Authorize)
  c.grant_types = {"authorization_code"};
  c.scope = "openid fhirUser profile launch/patient patient/*.cruds user/*.cruds";
  c.created = Now();
  Status s = db->AddClient(c);
  return s.code() == StatusCode::kConflict ? Status::Ok() : s;
}

// GET /oauth2/logout?redirect=/app/...: ends the login session and goes back to a path of this
// origin (anything else goes to /app/, so the endpoint cannot send people elsewhere).
http::Response AuthServer::Impl::Logout(http::Request& req) {
  if (req.method != "GET" && req.method != "POST") {
    return OAuthError(405, "invalid_request", "use GET or POST");
  }
  if (std::optional<User> user = SessionUser(req)) {
    if (!Audit(req, audit::Action::kLogout, 200, &*user, "", "", "logout")) {
      return AuditDownPage(pages::Lang::kDa);
    }
    db->DeleteSession(HashHex(Cookie(req, kSessionCookie))).IgnoreError();
  }
  Params q = http::ParseQuery(req.query);
  std::string next = Param(q, "redirect");
  if (next.empty() || next[0] != '/' || (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) ||
      next.find_first_of("\r\n") != std::string::npos) {
    next = "/app/";
  }
  http::Response r = Redirect(next);
  r.headers.Add("Set-Cookie", SetCookie(kSessionCookie, "", req.secure, "Lax", 0));
  return r;
}

// ---------------------------------------------------------------------------------------------

AuthServer::AuthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuthServer::~AuthServer() = default;

Result<std::unique_ptr<AuthServer>> AuthServer::Open(AuthOptions options, storage::Store* store,
                                                     const Clock& clock) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->store = store;
  impl->clock = &clock;
  std::error_code ec;
  std::filesystem::create_directories(impl->options.data_dir, ec);
  SUND_ASSIGN_OR_RETURN(
      impl->db, AuthDb::Open((std::filesystem::path(impl->options.data_dir) / "auth.db").string()));
  SUND_RETURN_IF_ERROR(impl->LoadKeys());
  SUND_RETURN_IF_ERROR(impl->EnsurePortalClient());
  SUND_RETURN_IF_ERROR(impl->ReloadRevocations());
  impl->next_reload = impl->Now() + Impl::kReloadSeconds;
  return std::unique_ptr<AuthServer>(new AuthServer(std::move(impl)));
}

bool AuthServer::Handles(std::string_view path) {
  return path == "/.well-known/smart-configuration" ||
         path == "/fhir/.well-known/smart-configuration" || path.rfind("/oauth2/", 0) == 0;
}

std::vector<http::Endpoint> AuthServer::Endpoints() {
  std::vector<http::Endpoint> out;
  for (const Impl::Route& route : Impl::kRoutes) out.push_back(route.endpoint);
  return out;
}

http::Response AuthServer::Handle(http::Request& req) {
  // A path's first entry holds its handler (the entries after it, other methods, hold none).
  for (const Impl::Route& route : Impl::kRoutes) {
    if (route.handler != nullptr && route.endpoint.path == req.path) {
      return route.handler(*impl_, req);
    }
  }
  return OAuthError(404, "invalid_request", "no such endpoint");
}

Result<Access> AuthServer::Authenticate(const http::Request& req,
                                        std::string_view fhir_base) const {
  std::string_view authz = req.headers.Get("Authorization");
  if (authz.size() <= 7 || !http::EqualsIgnoreCase(authz.substr(0, 7), "Bearer ")) {
    return Status(StatusCode::kUnauthenticated, "a bearer token is required");
  }
  std::string_view token = authz.substr(7);
  std::int64_t now = impl_->Now();
  // Apps use a token for many requests: a token verified before (the exact same bytes) is
  // served from the cache, after the checks that can change (expiry, revocation, audience).
  {
    std::shared_lock<std::shared_mutex> l(impl_->cache_mu);
    auto it = impl_->verified.find(token);
    if (it != impl_->verified.end()) {
      const Impl::Verified& v = it->second;
      if (v.access.expires + 30 <= now) {
        return Status(StatusCode::kUnauthenticated, "token expired");
      }
      if (v.fhir_base != fhir_base) {
        return Status(StatusCode::kUnauthenticated, "token audience is not this server");
      }
      impl_->MaybeReloadRevocations();
      if (impl_->Revoked(v.access.jti, v.grant_id, v.access.client_id)) {
        return Status(StatusCode::kUnauthenticated, "token revoked");
      }
      return v.access;
    }
  }
  SUND_ASSIGN_OR_RETURN(rapidjson::Document claims, impl_->VerifyOurJwt(token));
  bool aud_ok = false;
  if (const auto* aud = json::Find(claims, "aud")) {
    if (aud->IsString()) aud_ok = json::View(*aud) == fhir_base;
    if (aud->IsArray()) {
      for (const auto& x : aud->GetArray()) {
        aud_ok = aud_ok || (x.IsString() && json::View(x) == fhir_base);
      }
    }
  }
  if (!aud_ok) return Status(StatusCode::kUnauthenticated, "token audience is not this server");
  Access a;
  a.subject = std::string(json::GetString(claims, "sub"));
  a.client_id = std::string(json::GetString(claims, "client_id"));
  a.patient = std::string(json::GetString(claims, "patient"));
  a.fhir_user = std::string(json::GetString(claims, "fhirUser"));
  a.jti = std::string(json::GetString(claims, "jti"));
  a.scopes = ParseScopes(json::GetString(claims, "scope"));
  if (const auto* e = json::Find(claims, "exp"); e != nullptr && e->IsInt64()) {
    a.expires = e->GetInt64();
  }
  {
    std::unique_lock<std::shared_mutex> l(impl_->cache_mu);
    // Bounded: when full, start over (every entry is re-verified once).
    if (impl_->verified.size() >= Impl::kMaxCachedTokens) impl_->verified.clear();
    impl_->verified.emplace(
        std::string(token),
        Impl::Verified{a, std::string(fhir_base), std::string(json::GetString(claims, "gid"))});
  }
  return a;
}

bool AuthServer::AllowsOrigin(std::string_view origin) const { return impl_->AllowsOrigin(origin); }

std::string AuthServer::CapabilitySecurity(std::string_view origin) const {
  std::string o(origin);
  auto ext = [&](const char* url, const std::string& uri) {
    return std::string("{\"url\":\"") + url + "\",\"valueUri\":\"" + uri + "\"}";
  };
  return std::string(
             "{\"cors\":true,\"service\":[{\"coding\":[{\"system\":\"http://"
             "terminology.hl7.org/CodeSystem/"
             "restful-security-service\",\"code\":\"SMART-on-FHIR\"}]"
             "}],\"extension\":[{\"url\":\"http://fhir-registry.smarthealthit.org/"
             "StructureDefinition/oauth-uris\",\"extension\":[") +
         ext("authorize", o + "/oauth2/authorize") + "," + ext("token", o + "/oauth2/token") + "," +
         ext("register", o + "/oauth2/register") + "," + ext("manage", o + "/oauth2/manage") + "," +
         ext("introspect", o + "/oauth2/introspect") + "," + ext("revoke", o + "/oauth2/revoke") +
         "]}]}";
}

Status AuthServer::RevokeGrant(const std::string& grant_id, std::string_view reason) {
  Impl& m = *impl_;
  {
    std::shared_lock<std::shared_mutex> l(m.revoked_mu);
    if (m.revoked_grants.count(grant_id) != 0) return Status::Ok();
  }
  auto grant = m.db->GetGrant(grant_id);
  if (!grant.ok()) {
    return grant.status().code() == StatusCode::kNotFound ? Status::Ok() : grant.status();
  }
  if (grant->revoked) {
    m.RevokeGrantInMemory(grant_id);
    return Status::Ok();
  }
  std::optional<User> user;
  if (grant->user_id != 0) {
    if (auto u = m.db->GetUser(grant->user_id); u.ok()) user = std::move(u).value();
  }
  http::Request none;  // no request of its own: what changed was a record of the grant
  if (!m.Audit(none, audit::Action::kConsentChange, 200, user ? &*user : nullptr, grant->client_id,
               grant->patient, "app access revoked: " + std::string(reason))) {
    return Status(StatusCode::kUnavailable, "the audit log is unavailable");
  }
  return m.RevokeGrantEverywhere(grant_id);
}

Result<std::string> AuthServer::Mint(const MintRequest& r) {
  ScopeSet scopes = ParseScopes(r.scope);
  if (!scopes.other.empty()) return InvalidArgument("not a valid SMART scope: " + scopes.other[0]);
  if (HasResourceScopeOf(scopes, ScopeContext::kPatient) && r.patient.empty()) {
    return InvalidArgument("patient/ scopes need a patient id");
  }
  std::string aud = r.audience;
  while (!aud.empty() && aud.back() == '/') aud.pop_back();
  if (aud.size() < 5 || aud.substr(aud.size() - 5) != "/fhir") {
    return InvalidArgument("the audience must be a FHIR base URL ending in /fhir");
  }
  std::string origin = aud.substr(0, aud.size() - 5);
  return impl_->AccessToken(origin, r.subject, "sund-cli", scopes, r.patient, r.fhir_user, "",
                            r.seconds);
}

Status AuthServer::RotateKey() {
  std::int64_t now = impl_->Now();
  std::string old_kid;
  {
    std::shared_lock<std::shared_mutex> l(impl_->keys_mu);
    old_kid = impl_->keys.back()->kid;
  }
  SUND_ASSIGN_OR_RETURN(auto key, impl_->NewKey());
  SUND_RETURN_IF_ERROR(impl_->db->RetireKey(old_kid, now));
  std::unique_lock<std::shared_mutex> l(impl_->keys_mu);
  impl_->keys.back()->retired = now;
  impl_->keys.push_back(std::move(key));
  return Status::Ok();
}

AuthDb& AuthServer::db() { return *impl_->db; }

}  // namespace sund::auth
