#include "api_fixture.h"

#include <stdlib.h>

#include <set>

#include "api/app_grants.h"
#include "core/time.h"
#include "fhir/resource.h"
#include "http/query.h"
#include "storage/testing/test_store.h"

namespace sund::itest {

std::string ApiResponse::VersionId() const {
  const rapidjson::Value* meta = json::Find(json, "meta");
  return meta == nullptr ? std::string() : std::string(json::GetString(*meta, "versionId"));
}

SteppingClock::SteppingClock() : next_(SystemClock::Get().NowMicros() / 1000 * 1000 + 500) {}

std::string ApiResponse::LocationId() const {
  std::string_view loc = headers.Get("Location");
  std::size_t h = loc.find("/_history/");
  if (h == std::string_view::npos) return {};
  loc = loc.substr(0, h);
  return std::string(loc.substr(loc.rfind('/') + 1));
}

http::ServerOptions FhirStack::DefaultOptions() {
  http::ServerOptions o;
  o.io_threads = 2;
  o.worker_threads = 4;
  return o;
}

FhirStack::FhirStack(http::ServerOptions options) : options_(std::move(options)) {
  options_.host = "127.0.0.1";
  options_.port = 0;
  options_.error_response = api::FhirApi::ErrorResponse;  // as `sund serve` wires it
}

FhirStack::~FhirStack() {
  if (server_) server_->Stop();
  server_.reset();
  api_.reset();
  bulk_.reset();
  auth_.reset();
  audit_.reset();
  consent_.reset();
  engine_.reset();
  store_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status FhirStack::Start() { return Launch(false); }

Status FhirStack::StartWithAuth() { return Launch(true); }

Status FhirStack::Launch(bool with_auth) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sund-itest-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return Internal("mkdtemp failed");
  dir_ = tmpl;
  // SQLite, or PostgreSQL for the suite's second run (SUND_TEST_BACKEND=postgres, ctest's
  // "pg." tests): one suite, both backends.
  auto store = storage::testing::OpenTestStore(storage::testing::BackendFromEnvironment());
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  engine_ = std::make_unique<api::Engine>(*store_, clock_);
  api::ApiOptions api_options = api_options_;
  if (with_auth) {
    // The production stack: authorization, Consents deciding under the Danish base policy, and
    // every request and authorization event audited before it is answered.
    auto log = audit::AuditLog::Open((dir_ / "audit").string());
    if (!log.ok()) return log.status();
    audit_ = std::move(log).value();
    api_options.audit = audit_.get();
    auth::AuthOptions ao;
    ao.data_dir = dir_.string();
    ao.audit = audit_.get();
    api::RecordAppGrants(ao, *engine_);
    auto auth = auth::AuthServer::Open(ao, store_.get(), clock_);
    if (!auth.ok()) return auth.status();
    auth_ = std::move(auth).value();
    api_options.auth = auth_.get();
    consent_ = std::make_unique<api::ConsentGate>(*store_, consent::BasePolicy::kDanish);
    api::RevokeWithdrawnAppGrants(*consent_, *auth_);
    api_options.consent = consent_.get();
  }
  export_options_.store = store_.get();
  export_options_.dir = (dir_ / "exports").string();
  export_options_.consent = consent_.get();
  export_options_.clock = &clock_;
  auto bulk = api::BulkExport::Open(export_options_);
  if (!bulk.ok()) return bulk.status();
  bulk_ = std::move(bulk).value();
  api_options.bulk_export = bulk_.get();
  api_ = std::make_unique<api::FhirApi>(*engine_, api_options);
  server_ = std::make_unique<http::Server>(
      options_, [this](http::Request& r) { return api_->Handle(r); },
      [](const http::Request& r) { return api::FhirApi::RunsInline(r); });
  return server_->Start();
}

ApiResponse ApiClient::Send(std::string_view method, std::string_view target, std::string_view body,
                            const http::Headers& headers) {
  // Absolute URLs (Bundle links, Location) are reduced to path and query; a path with "://"
  // in its query (a code system) is left alone.
  if (auto scheme = target.find("://");
      !target.starts_with('/') && scheme != std::string_view::npos) {
    std::size_t path = target.find('/', scheme + 3);
    target = path == std::string_view::npos ? std::string_view("/") : target.substr(path);
  }
  http::Headers h = headers;
  if ((method == "POST" || method == "PUT" || method == "PATCH") && !h.Has("Content-Type")) {
    h.Set("Content-Type", "application/fhir+json");
  }
  ApiResponse out;
  auto r = client_.Send(method, target, h, body);
  if (!r.ok()) {
    ADD_FAILURE() << method << " " << target << ": " << r.status().ToString();
    return out;
  }
  out.status = r->status;
  out.headers = std::move(r->headers);
  out.body = std::move(r->body);
  if (!out.body.empty()) out.json.Parse(out.body.data(), out.body.size());
  if (out.json.HasParseError()) out.json.SetNull();
  return out;
}

ApiResponse ApiClient::Patch(std::string_view target, std::string_view patch,
                             const http::Headers& headers) {
  http::Headers h = headers;
  if (!h.Has("Content-Type")) h.Set("Content-Type", "application/json-patch+json");
  return Send("PATCH", target, patch, h);
}

std::int64_t ApiClient::Count(std::string_view type_and_query) {
  std::string target = "/fhir/" + std::string(type_and_query);
  target += target.find('?') == std::string::npos ? "?" : "&";
  target += "_summary=count";
  ApiResponse r = Get(target);
  if (r.status != 200 || !r.json.IsObject()) {
    ADD_FAILURE() << target << ": status " << r.status << " " << r.body.substr(0, 300);
    return -1;
  }
  auto it = r.json.FindMember("total");
  if (it == r.json.MemberEnd() || !it->value.IsInt64()) {
    ADD_FAILURE() << target << ": no total";
    return -1;
  }
  if (r.json.HasMember("entry") && r.json["entry"].IsArray() && !r.json["entry"].Empty()) {
    ADD_FAILURE() << target << ": _summary=count returned entries";
  }
  return it->value.GetInt64();
}

std::vector<std::string> ApiClient::AllMatches(std::string_view target, int max_pages, int* pages) {
  std::vector<std::string> out;
  std::string next(target);
  int n = 0;
  while (!next.empty()) {
    if (n == max_pages) {
      ADD_FAILURE() << "more than " << max_pages << " pages from " << target;
      break;
    }
    ApiResponse r = Get(next);
    ++n;
    if (r.status != 200) {
      ADD_FAILURE() << next << ": status " << r.status << " " << r.body.substr(0, 300);
      break;
    }
    for (auto& ref : EntryRefs(r.json)) out.push_back(std::move(ref));
    next = LinkUrl(r.json, "next");
  }
  if (pages != nullptr) *pages = n;
  return out;
}

std::vector<std::string> EntryRefs(const rapidjson::Value& bundle, std::string_view mode) {
  std::vector<std::string> out;
  const rapidjson::Value* entries = json::Find(bundle, "entry");
  if (entries == nullptr || !entries->IsArray()) return out;
  for (const auto& e : entries->GetArray()) {
    const rapidjson::Value* search = json::Find(e, "search");
    std::string_view m = search == nullptr ? std::string_view() : json::GetString(*search, "mode");
    if (!mode.empty() && m != mode) continue;
    const rapidjson::Value* res = json::Find(e, "resource");
    if (res == nullptr) continue;
    out.push_back(std::string(json::GetString(*res, "resourceType")) + "/" +
                  std::string(json::GetString(*res, "id")));
  }
  return out;
}

std::string LinkUrl(const rapidjson::Value& bundle, std::string_view relation) {
  const rapidjson::Value* links = json::Find(bundle, "link");
  if (links == nullptr || !links->IsArray()) return {};
  for (const auto& l : links->GetArray()) {
    if (json::GetString(l, "relation") == relation) return std::string(json::GetString(l, "url"));
  }
  return {};
}

http::Headers MakeHeaders(std::initializer_list<std::pair<std::string, std::string>> fields) {
  http::Headers h;
  for (const auto& [k, v] : fields) h.Add(k, v);
  return h;
}

std::string EncodeQuery(std::string_view type_and_query) {
  std::size_t q = type_and_query.find('?');
  if (q == std::string_view::npos) return std::string(type_and_query);
  std::string out(type_and_query.substr(0, q + 1));
  std::string_view rest = type_and_query.substr(q + 1);
  bool first = true;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    std::size_t eq = part.find('=');
    out += first ? "" : "&";
    first = false;
    out += http::PercentEncode(part.substr(0, eq));
    if (eq != std::string_view::npos) out += "=" + http::PercentEncode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::string Q(std::string_view value) { return http::PercentEncode(value); }

void ApiTest::SetUp() {
  http::ServerOptions o = FhirStack::DefaultOptions();
  o.max_body_bytes = kMaxBodyBytes;
  stack_ = std::make_unique<FhirStack>(o);
  Status s = WithAuth() ? stack_->StartWithAuth() : stack_->Start();
  ASSERT_TRUE(s.ok()) << s.ToString();
  client_ = std::make_unique<ApiClient>(stack_->port());
}

void ApiTest::TearDown() {
  client_.reset();
  stack_.reset();
}

std::string ApiTest::Create(std::string_view type, std::string_view json) {
  ApiResponse r = Post("/fhir/" + std::string(type), json);
  EXPECT_EQ(r.status, 201) << type << ": " << r.body.substr(0, 400);
  return r.LocationId();
}

std::string ApiTest::CreateWithId(std::string_view type, std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  EXPECT_TRUE(doc.IsObject()) << json;
  if (!doc.IsObject()) return {};
  std::string id = "seed-" + std::to_string(++seeded_);
  doc.AddMember("id", rapidjson::Value(id.c_str(), doc.GetAllocator()), doc.GetAllocator());
  ApiResponse r = Put("/fhir/" + std::string(type) + "/" + id, json::Serialize(doc));
  EXPECT_EQ(r.status, 201) << type << ": " << r.body.substr(0, 400);
  return id;
}

std::function<Result<std::string>(std::string)> ApiTest::BundleWriter() {
  return [this](std::string bundle) -> Result<std::string> {
    SUND_ASSIGN_OR_RETURN(auto doc, fhir::ParseJson(bundle));
    return stack_->engine().ProcessBundle(std::move(doc), "http://sund.test/fhir");
  };
}

}  // namespace sund::itest
