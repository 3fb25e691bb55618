// sund_bench: the measurements behind bench/RESULTS.md (run through bench/run.sh).
//
//   sund_bench import DATA_DIR FILE...   import through the engine; prints the overall rate, the
//                                        rates of the first and last 10% of resources, then the
//                                        raw SQLite limit: the same rows inserted into an empty
//                                        database with the same schema, without FHIR work
//   sund_bench extract FILE...           CPU per resource of each preparation step
//   sund_bench search HOST PORT N        latency p50/p99 of a dozen search shapes over HTTP
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "api/engine.h"
#include "api/importer.h"
#include "auth/server.h"
#include "core/crypto.h"
#include "core/file_reader.h"
#include "core/time.h"
#include "fhir/resource.h"
#include "fhir/search_index.h"
#include "fhir/validate.h"
#include "http/client.h"
#include "storage/sqlite/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double RateBetween(const std::vector<std::pair<double, std::int64_t>>& tl, double from_frac,
                   double to_frac, std::int64_t total) {
  // Rate over the resources between from_frac and to_frac of the total, by interpolation on the
  // per-file timeline.
  auto time_at = [&](double n) {
    double prev_t = 0, prev_n = 0;
    for (const auto& [t, c] : tl) {
      if (c >= n) {
        double span = static_cast<double>(c) - prev_n;
        return span <= 0 ? t : prev_t + (t - prev_t) * (n - prev_n) / span;
      }
      prev_t = t;
      prev_n = static_cast<double>(c);
    }
    return prev_t;
  };
  double a = from_frac * total, b = to_frac * total;
  double dt = time_at(b) - time_at(a);
  return dt > 0 ? (b - a) / dt : 0;
}

int Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
  return rc;
}

// Copies every row of `src`'s tables into a fresh database with the same schema, in
// transactions of ~20,000 resources, and returns resources/s.
double RawSqliteLimit(const std::string& src_path, const std::string& dst_path) {
  std::filesystem::remove(dst_path);
  std::filesystem::remove(dst_path + "-wal");
  std::filesystem::remove(dst_path + "-shm");
  {
    // The schema: open through the store (runs the migrations), then close.
    sund::storage::SqliteOptions o;
    o.path = dst_path;
    auto s = sund::storage::OpenSqliteStore(o);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      std::exit(1);
    }
  }
  sqlite3* db = nullptr;
  sqlite3_open(dst_path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-262144;",
               nullptr, nullptr, nullptr);
  std::string attach = "ATTACH DATABASE '" + src_path + "' AS src";  // a path from argv, bench only
  Check(sqlite3_exec(db, attach.c_str(), nullptr, nullptr, nullptr), db, "attach");
  // Load the source rows into memory first, so only the inserts are timed.
  struct Table {
    const char* name;
    int columns;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::vector<int>> types;
  };
  std::vector<Table> tables = {
      {"resource", 6, {}, {}},  {"version", 6, {}, {}},        {"idx_string", 4, {}, {}},
      {"idx_token", 4, {}, {}}, {"idx_token_text", 3, {}, {}}, {"idx_reference", 5, {}, {}},
      {"idx_date", 4, {}, {}},  {"idx_number", 3, {}, {}},     {"idx_quantity", 8, {}, {}},
      {"idx_uri", 3, {}, {}},   {"idx_composite", 10, {}, {}}};
  std::int64_t resources = 0;
  for (auto& t : tables) {
    std::string sql = std::string("SELECT * FROM src.") + t.name + " ORDER BY rowid";
    if (std::string(t.name).rfind("idx_", 0) == 0 && std::string(t.name) != "idx_quantity" &&
        std::string(t.name) != "idx_composite") {
      sql = std::string("SELECT * FROM src.") + t.name + " ORDER BY rid";
    }
    sqlite3_stmt* st = nullptr;
    Check(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), db, "select");
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      std::vector<int> types;
      for (int c = 0; c < t.columns; ++c) {
        types.push_back(sqlite3_column_type(st, c));
        const void* p = sqlite3_column_blob(st, c);
        row.emplace_back(p ? static_cast<const char*>(p) : "", sqlite3_column_bytes(st, c));
      }
      t.rows.push_back(std::move(row));
      t.types.push_back(std::move(types));
    }
    sqlite3_finalize(st);
    if (std::string(t.name) == "resource") resources = static_cast<std::int64_t>(t.rows.size());
  }
  Check(sqlite3_exec(db, "DETACH DATABASE src", nullptr, nullptr, nullptr), db, "detach");
  auto start = Clock::now();
  const int kBatches = 5;  // like the importer's groups of ~20,000 resources
  Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  std::size_t total_rows = 0;
  for (auto& t : tables) total_rows += t.rows.size();
  std::size_t done = 0, next_commit = total_rows / kBatches;
  for (auto& t : tables) {
    std::string sql = std::string("INSERT INTO ") + t.name + " VALUES (";
    for (int c = 0; c < t.columns; ++c) sql += c ? ",?" : "?";
    sql += ")";
    sqlite3_stmt* st = nullptr;
    Check(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), db, "insert");
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      for (int c = 0; c < t.columns; ++c) {
        const std::string& v = t.rows[r][c];
        switch (t.types[r][c]) {
          case SQLITE_INTEGER:
            sqlite3_bind_int64(st, c + 1, std::stoll(v.empty() ? "0" : v));
            break;
          case SQLITE_FLOAT:
            sqlite3_bind_double(st, c + 1, std::stod(v));
            break;
          case SQLITE_NULL:
            sqlite3_bind_null(st, c + 1);
            break;
          case SQLITE_BLOB:
            sqlite3_bind_blob(st, c + 1, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
            break;
          default:
            sqlite3_bind_text(st, c + 1, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
            break;
        }
      }
      Check(sqlite3_step(st), db, "step");
      sqlite3_reset(st);
      if (++done >= next_commit) {
        Check(sqlite3_exec(db, "COMMIT; BEGIN", nullptr, nullptr, nullptr), db, "commit");
        next_commit += total_rows / kBatches;
      }
    }
    sqlite3_finalize(st);
  }
  Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  sqlite3_close(db);
  std::printf("raw sqlite: %zu rows (%lld resources) in %.2f s = %.0f resources/s\n", total_rows,
              static_cast<long long>(resources), secs, resources / secs);
  return resources / secs;
}

int Import(const std::string& data, const std::vector<std::string>& files) {
  std::filesystem::remove_all(data);
  sund::storage::SqliteOptions o;
  o.path = (std::filesystem::path(data) / "sund.db").string();
  auto store = sund::storage::OpenSqliteStore(o);
  if (!store.ok()) return 1;
  sund::api::Engine engine(**store, sund::SystemClock::Get());
  sund::api::ImportOptions io;
  io.progress = false;
  auto s = sund::api::Import(engine, files, io);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return 1;
  }
  double rate = s->resources / s->seconds;
  double first = RateBetween(s->timeline, 0.0, 0.1, s->resources);
  double last = RateBetween(s->timeline, 0.9, 1.0, s->resources);
  std::printf(
      "import: %lld resources from %lld files in %.2f s = %.0f resources/s "
      "(first 10%%: %.0f/s, last 10%%: %.0f/s, last/first %.2f), %lld failed files\n",
      static_cast<long long>(s->resources), static_cast<long long>(s->files), s->seconds, rate,
      first, last, first > 0 ? last / first : 0.0, static_cast<long long>(s->failed_files));
  store->reset();
  double raw = RawSqliteLimit(o.path, (std::filesystem::path(data) / "raw-limit.db").string());
  std::printf("import / raw sqlite limit: %.2f\n", rate / raw);
  return 0;
}

// The per-resource CPU cost of each preparation step, on one thread, over every resource of
// the given Bundles: parse (numbers kept), serialise, plain parse, validate, extract.
int Extract(const std::vector<std::string>& files) {
  std::vector<std::string> resources;
  for (const auto& f : files) {
    auto text = sund::ReadFileDecompressed(f);
    if (!text.ok()) continue;
    rapidjson::Document b;
    b.Parse(text->data(), text->size());
    const rapidjson::Value* entries = sund::json::Find(b, "entry");
    if (entries == nullptr || !entries->IsArray()) continue;
    for (const auto& e : entries->GetArray()) {
      if (const auto* r = sund::json::Find(e, "resource"))
        resources.push_back(sund::json::Serialize(*r));
    }
  }
  const auto& model = sund::fhir::Model::R4();
  const auto& extractor = sund::fhir::Extractor::R4();
  double t_parse = 0, t_ser = 0, t_plain = 0, t_valid = 0, t_extract = 0;
  std::size_t rows = 0;
  auto secs = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  for (const auto& r : resources) {
    auto t0 = Clock::now();
    auto doc = sund::fhir::ParseJson(r);
    auto t1 = Clock::now();
    std::string canonical = sund::fhir::CanonicalJson(*doc);
    auto t2 = Clock::now();
    rapidjson::Document plain;
    plain.Parse(canonical.data(), canonical.size());
    auto t3 = Clock::now();
    (void)sund::fhir::ValidateResource(model, plain);
    auto t4 = Clock::now();
    auto index = extractor.Extract(sund::fhir::ResourceType(plain), plain);
    auto t5 = Clock::now();
    rows += index.size();
    t_parse += secs(t0, t1);
    t_ser += secs(t1, t2);
    t_plain += secs(t2, t3);
    t_valid += secs(t3, t4);
    t_extract += secs(t4, t5);
  }
  double n = static_cast<double>(resources.size());
  std::printf(
      "%zu resources, %.1f index entries each; microseconds per resource: parse %.1f, "
      "serialise %.1f, plain parse %.1f, validate %.1f, extract %.1f\n",
      resources.size(), rows / n, t_parse / n * 1e6, t_ser / n * 1e6, t_plain / n * 1e6,
      t_valid / n * 1e6, t_extract / n * 1e6);
  return 0;
}

int Search(const std::string& host, int port, int n) {
  const char* queries[][2] = {
      {"token", "/fhir/Observation?code=http://loinc.org|8310-5&_count=20"},
      {"token, 1 match", "/fhir/Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655"},
      {"string prefix", "/fhir/Patient?name=Abb"},
      {"date range", "/fhir/Observation?date=ge2019-01-01&date=lt2019-02-01&_count=20"},
      {"token + date", "/fhir/Observation?code=http://loinc.org|8310-5&date=ge2020-01-01"},
      {"reference", "/fhir/Observation?subject=Patient/PATIENT_ID&_count=20"},
      {"chain",
       "/fhir/Observation?subject:Patient.identifier=http://hl7.org/fhir/sid/"
       "us-ssn|999-82-5655&_count=20"},
      {"_has", "/fhir/Patient?_has:Observation:patient:code=8310-5&_count=20"},
      {"_include", "/fhir/Encounter?_count=20&_include=Encounter:patient"},
      {"_revinclude", "/fhir/Patient?_count=10&_revinclude=Encounter:patient"},
      {"composite",
       "/fhir/Observation?code-value-quantity=http://loinc.org|8302-2$gt150&_count=20"},
      {"_sort date desc", "/fhir/Observation?code=http://loinc.org|8310-5&_sort=-date&_count=20"},
      {"deep page offset", "/fhir/Observation?_count=20&_offset=40000"},
      {"deep page cursor", "/fhir/Observation?_count=20&_cursor=80000"},
      {"quantity", "/fhir/Observation?value-quantity=gt100&_count=20"},
  };
  sund::http::Client client(host, static_cast<std::uint16_t>(port));
  // The access token (authorization is on): $SUND_TOKEN, minted by bench/run.sh.
  sund::http::Headers auth;
  if (const char* token = std::getenv("SUND_TOKEN"); token != nullptr && *token != '\0') {
    auth.Set("Authorization", std::string("Bearer ") + token);
  }
  // A patient id of this load, for the reference query.
  std::string patient_id;
  if (auto r = client.Send(
          "GET", "/fhir/Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655", auth);
      r.ok()) {
    auto p = r->body.find("\"resourceType\":\"Patient\",\"id\":\"");
    if (p != std::string::npos) {
      p += 31;
      patient_id = r->body.substr(p, r->body.find('"', p) - p);
    }
  }
  std::printf("%-16s %8s %8s %8s %8s\n", "shape", "p50 ms", "p99 ms", "entries", "status");
  for (const auto& q : queries) {
    std::vector<double> ms;
    int status = 0;
    std::size_t entries = 0;
    std::string target = q[1];
    if (auto p = target.find("PATIENT_ID"); p != std::string::npos) {
      target.replace(p, 10, patient_id);
    }
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      auto r = client.Send("GET", target, auth);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (r.ok()) {
        status = r->status;
        entries = 0;
        for (std::size_t p = r->body.find("\"fullUrl\""); p != std::string::npos;
             p = r->body.find("\"fullUrl\"", p + 1)) {
          ++entries;
        }
      }
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
      return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))];
    };
    std::printf("%-16s %8.2f %8.2f %8zu %8d\n", q[0], pct(0.5), pct(0.99), entries, status);
  }
  return 0;
}

// The authorization server in process (no network): authorization_code exchanges (with PKCE),
// client_credentials grants, and access-token verification, each `n` times on one thread.
int AuthBench(const std::string& dir, int n) {
  std::filesystem::remove_all(dir);
  sund::auth::AuthOptions o;
  o.data_dir = dir;
  auto server = sund::auth::AuthServer::Open(o, nullptr, sund::SystemClock::Get());
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  auto& db = (*server)->db();
  sund::auth::User user;
  user.username = "bench";
  user.role = "citizen";
  user.fhir_user = "Patient/bench";
  user.password_hash = "unused";
  if (!db.AddUser(user).ok()) return 1;
  std::string secret = "bench-secret";
  sund::auth::Client app;
  app.client_id = "bench-app";
  app.name = "Bench app";
  app.auth_method = "none";
  app.redirect_uris = {"http://127.0.0.1/cb"};
  app.grant_types = {"authorization_code", "refresh_token"};
  app.scope = "launch/patient openid fhirUser offline_access patient/*.rs";
  sund::auth::Client backend;
  backend.client_id = "bench-backend";
  backend.name = "Bench backend";
  backend.auth_method = "client_secret_post";
  backend.secret_hash = sund::crypto::Sha256Hex(secret);
  backend.scope = "system/*.rs";
  backend.grant_types = {"client_credentials"};
  if (!db.AddClient(app).ok() || !db.AddClient(backend).ok()) return 1;
  std::string verifier(64, 'v');
  std::string challenge = sund::crypto::Base64UrlEncode(sund::crypto::Sha256(verifier));
  std::int64_t now = sund::SystemClock::Get().NowMicros() / 1'000'000;
  std::vector<std::string> codes;
  for (int i = 0; i < n; ++i) {
    sund::auth::Grant g;
    g.grant_id = "g" + std::to_string(i);
    g.user_id = user.id;
    g.client_id = app.client_id;
    g.scope = "launch/patient openid fhirUser offline_access patient/*.rs";
    g.patient = "bench";
    g.created = now;
    g.expires = now + 3600;
    sund::auth::AuthCode c;
    codes.push_back(sund::crypto::RandomToken(32));
    c.code_hash = sund::crypto::Sha256Hex(codes.back());
    c.client_id = app.client_id;
    c.user_id = user.id;
    c.redirect_uri = "http://127.0.0.1/cb";
    c.scope = g.scope;
    c.patient = "bench";
    c.code_challenge = challenge;
    c.grant_id = g.grant_id;
    c.expires = now + 600;
    if (!db.AddGrant(g).ok() || !db.AddCode(c).ok()) return 1;
  }
  auto post = [&](const std::string& body) {
    sund::http::Request req;
    req.method = "POST";
    req.path = "/oauth2/token";
    req.headers.Set("Host", "127.0.0.1:8080");
    req.headers.Set("Content-Type", "application/x-www-form-urlencoded");
    req.body = body;
    return (*server)->Handle(req);
  };
  std::vector<std::string> access;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto r = post("grant_type=authorization_code&client_id=bench-app&code=" + codes[i] +
                  "&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier=" + verifier);
    if (r.status != 200) {
      std::fprintf(stderr, "code exchange failed: %d %s\n", r.status, r.body.c_str());
      return 1;
    }
    auto p = r.body.find("\"access_token\":\"") + 16;
    access.push_back(r.body.substr(p, r.body.find('"', p) - p));
  }
  double code_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto r = post(
        "grant_type=client_credentials&scope=system%2FObservation.rs&client_id="
        "bench-backend&client_secret=" +
        secret);
    if (r.status != 200) {
      std::fprintf(stderr, "client_credentials failed: %d %s\n", r.status, r.body.c_str());
      return 1;
    }
  }
  double cc_s = std::chrono::duration<double>(Clock::now() - t0).count();
  sund::http::Request fhir;
  fhir.method = "GET";
  fhir.path = "/fhir/Observation/x";
  fhir.headers.Set("Host", "127.0.0.1:8080");
  auto verify = [&](const std::string& token) {
    fhir.headers.Set("Authorization", "Bearer " + token);
    if ((*server)->Authenticate(fhir, "http://127.0.0.1:8080/fhir").ok()) return true;
    std::fprintf(stderr, "verification failed\n");
    return false;
  };
  // First use of each token: signature, claims, scopes (then cached).
  t0 = Clock::now();
  for (const auto& token : access) {
    if (!verify(token)) return 1;
  }
  double first_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // Every later request with a token: the cache, expiry and revocation checks.
  int verify_n = n * 10;
  t0 = Clock::now();
  for (int i = 0; i < verify_n; ++i) {
    if (!verify(access[i % access.size()])) return 1;
  }
  double verify_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("authorization_code exchanges: %d in %.2f s = %.0f/s (%.0f us each)\n", n, code_s,
              n / code_s, 1e6 * code_s / n);
  std::printf("client_credentials grants:    %d in %.2f s = %.0f/s (%.0f us each)\n", n, cc_s,
              n / cc_s, 1e6 * cc_s / n);
  std::printf("first verification of a token: %d in %.2f s = %.0f/s (%.1f us each)\n", n, first_s,
              n / first_s, 1e6 * first_s / n);
  std::printf("later verifications (cached):  %d in %.2f s = %.0f/s (%.2f us each)\n", verify_n,
              verify_s, verify_n / verify_s, 1e6 * verify_s / verify_n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "auth") {
    return AuthBench(argv[2], std::stoi(argv[3]));
  }
  if (argc >= 4 && std::string(argv[1]) == "import") {
    return Import(argv[2], std::vector<std::string>(argv + 3, argv + argc));
  }
  if (argc >= 3 && std::string(argv[1]) == "extract") {
    return Extract(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc == 5 && std::string(argv[1]) == "search") {
    return Search(argv[2], std::stoi(argv[3]), std::stoi(argv[4]));
  }
  std::fprintf(
      stderr,
      "usage: sund_bench import DATA_DIR FILE... | extract FILE... | search HOST PORT N | auth "
      "DIR N\n");
  return 2;
}
