// A real Sund FHIR stack for integration tests, in the cpp-httplib style: a fresh store (SQLite in
// a temporary directory, or a PostgreSQL schema when SUND_TEST_BACKEND=postgres), the Engine, the
// FhirApi and an http::Server on a free port, driven through an http::Client, so that each test
// reads as a request followed by checks.
//
// FhirStack owns the stack (tests may hold one per test or one per suite); ApiTest is the
// per-test fixture with request helpers. Responses come back with their parsed JSON body.
// Thread-safety: a FhirStack may be used from many threads, each with its own http::Client;
// the helpers of ApiTest use the fixture's one client and belong to the test's thread.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/bulk_export.h"
#include "api/engine.h"
#include "api/fhir_api.h"
#include "auth/server.h"
#include "core/json.h"
#include "core/time.h"
#include "http/client.h"
#include "http/server.h"
#include "storage/store.h"

namespace sund::itest {

// One HTTP answer: status, headers, raw body and the body parsed as JSON (null when the body
// is empty or not JSON).
struct ApiResponse {
  int status = 0;
  http::Headers headers;
  std::string body;
  rapidjson::Document json;

  std::string Header(std::string_view name) const { return std::string(headers.Get(name)); }
  bool IsOperationOutcome() const {
    return json.IsObject() && json::GetString(json, "resourceType") == "OperationOutcome";
  }
  // The resource's id / meta.versionId (the body must be a resource).
  std::string Id() const { return std::string(json::GetString(json, "id")); }
  std::string VersionId() const;
  // The id in the Location header (".../Type/id/_history/n"), or "".
  std::string LocationId() const;
};

// The stack's clock: real time at the start, then 1 ms more on every reading, so that every
// version gets its own millisecond (history and _lastUpdated tests compare FHIR instants,
// which have millisecond precision). Readings are not on a millisecond boundary (+0.5 ms), as
// real ones are not either.
class SteppingClock final : public Clock {
 public:
  SteppingClock();
  std::int64_t NowMicros() const override { return next_.fetch_add(1000); }

 private:
  mutable std::atomic<std::int64_t> next_;
};

class FhirStack {
 public:
  // `options.port` is ignored (always 0: a free port).
  explicit FhirStack(http::ServerOptions options = DefaultOptions());
  ~FhirStack();
  FhirStack(const FhirStack&) = delete;
  FhirStack& operator=(const FhirStack&) = delete;

  // Opens the store and starts the server; a failure is a test failure.
  Status Start();
  // As Start, with an auth::AuthServer opened on the stack's directory (auth.db, keys/) whose
  // access tokens every /fhir request but /fhir/metadata must carry (api::ApiOptions::auth).
  Status StartWithAuth();

  static http::ServerOptions DefaultOptions();

  std::uint16_t port() const { return server_ ? server_->port() : 0; }
  api::Engine& engine() { return *engine_; }
  storage::Store& store() { return *store_; }
  const std::filesystem::path& dir() const { return dir_; }
  // The authorization server; null unless started with StartWithAuth.
  auth::AuthServer* auth() { return auth_.get(); }
  // The audit log of every /fhir request; null unless started with StartWithAuth.
  audit::AuditLog* audit() { return audit_.get(); }
  // The consent gate under the Danish base policy; null unless started with StartWithAuth.
  api::ConsentGate* consent() { return consent_.get(); }
  // Bulk Data $export (DIR/exports). Options set before Start apply (store, dir and consent are
  // filled in by the stack).
  api::BulkExportOptions& export_options() { return export_options_; }
  // The FhirApi's options. Options set before Start apply (auth, consent, audit and bulk_export
  // are filled in by the stack).
  api::ApiOptions& api_options() { return api_options_; }
  api::BulkExport* bulk_export() { return bulk_.get(); }
  // The FHIR base URL the API derives from the client's Host header (a token's audience).
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/fhir"; }

 private:
  Status Launch(bool with_auth);

  http::ServerOptions options_;
  SteppingClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<api::Engine> engine_;
  std::unique_ptr<auth::AuthServer> auth_;
  std::unique_ptr<api::ConsentGate> consent_;
  std::unique_ptr<audit::AuditLog> audit_;
  api::BulkExportOptions export_options_;
  api::ApiOptions api_options_;
  std::unique_ptr<api::BulkExport> bulk_;
  std::unique_ptr<api::FhirApi> api_;
  std::unique_ptr<http::Server> server_;
};

// Request helpers over one client. `target` is a path with query ("/fhir/Patient?x=1"); an
// absolute URL (a Bundle link) is reduced to its path and query.
class ApiClient {
 public:
  explicit ApiClient(std::uint16_t port) : client_("127.0.0.1", port) {}

  ApiResponse Send(std::string_view method, std::string_view target, std::string_view body = {},
                   const http::Headers& headers = {});
  ApiResponse Get(std::string_view target, const http::Headers& headers = {}) {
    return Send("GET", target, {}, headers);
  }
  // POST/PUT/PATCH add Content-Type application/fhir+json unless `headers` has one.
  ApiResponse Post(std::string_view target, std::string_view body,
                   const http::Headers& headers = {}) {
    return Send("POST", target, body, headers);
  }
  ApiResponse Put(std::string_view target, std::string_view body,
                  const http::Headers& headers = {}) {
    return Send("PUT", target, body, headers);
  }
  // application/json-patch+json.
  ApiResponse Patch(std::string_view target, std::string_view patch,
                    const http::Headers& headers = {});
  ApiResponse Delete(std::string_view target, const http::Headers& headers = {}) {
    return Send("DELETE", target, {}, headers);
  }

  // Bundle.total of `<type>?<query>&_summary=count`; -1 (and a test failure) if absent.
  std::int64_t Count(std::string_view type_and_query);
  // Follows `next` links from `target` to the end and returns the match entries' "Type/id" in
  // order. Fails the test (and stops) after `max_pages` pages.
  std::vector<std::string> AllMatches(std::string_view target, int max_pages = 1000,
                                      int* pages = nullptr);

  http::Client& raw() { return client_; }

 private:
  http::Client client_;
};

// The "Type/id" of each Bundle entry with the given search mode ("match", "include",
// "outcome"; "" for every entry), in order.
std::vector<std::string> EntryRefs(const rapidjson::Value& bundle, std::string_view mode = "match");
// The url of the Bundle link with this relation, or "".
std::string LinkUrl(const rapidjson::Value& bundle, std::string_view relation);
// Builds headers from name/value pairs.
http::Headers MakeHeaders(std::initializer_list<std::pair<std::string, std::string>> fields);
// "Type?a=x|y&b=1" with every parameter name and value percent-encoded, so that tests can
// write queries as FHIR shows them ("+" in a time zone, "|", "$" and "," stay what they are).
std::string EncodeQuery(std::string_view type_and_query);
// Percent-encodes a query value ("|" and ":" stay readable in test source this way).
std::string Q(std::string_view value);

// Per-test fixture: a fresh stack (max_body_bytes 64 KiB) and a client on it.
class ApiTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kMaxBodyBytes = 64 << 10;

  void SetUp() override;
  void TearDown() override;
  // Fixtures that return true get a stack with SMART authorization (FhirStack::StartWithAuth).
  virtual bool WithAuth() const { return false; }

  ApiResponse Get(std::string_view target, const http::Headers& h = {}) {
    return client_->Get(target, h);
  }
  ApiResponse Post(std::string_view target, std::string_view body, const http::Headers& h = {}) {
    return client_->Post(target, body, h);
  }
  ApiResponse Put(std::string_view target, std::string_view body, const http::Headers& h = {}) {
    return client_->Put(target, body, h);
  }
  ApiResponse Patch(std::string_view target, std::string_view body, const http::Headers& h = {}) {
    return client_->Patch(target, body, h);
  }
  ApiResponse Delete(std::string_view target, const http::Headers& h = {}) {
    return client_->Delete(target, h);
  }
  std::int64_t Count(std::string_view q) { return client_->Count(q); }
  // POSTs `json` to /fhir/<type> and returns the new id (the test fails unless 201).
  std::string Create(std::string_view type, std::string_view json);
  // PUTs `json` (a resource without id) as a new resource with a fresh client id
  // ("seed-<n>"); returns the id (the test fails unless 201).
  std::string CreateWithId(std::string_view type, std::string_view json);
  // Writes a transaction Bundle (JSON) through the stack's Engine and returns the response
  // Bundle: the `write` of the gateway, the scorer and Subscriptions, as sund serve wires it.
  std::function<Result<std::string>(std::string bundle)> BundleWriter();

  int seeded_ = 0;

  std::unique_ptr<FhirStack> stack_;
  std::unique_ptr<ApiClient> client_;
};

}  // namespace sund::itest
