#include "synth/jobs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/log.h"
#include "core/json.h"
#include "http/message.h"
#include "storage/testing/test_store.h"
#include "synth/internal/test_store.h"

namespace sund::synth {
namespace {

using ::testing::HasSubstr;

constexpr char kCohort[] = R"({"reference_date": "2024-01-01",
  "period": {"from": "2020-01-01", "to": "2023-12-31"},
  "consent": {"research": "opt-out"},
  "features": [{"type": "sex"}, {"type": "age", "max": 100}]})";

// Forty fictitious patients, half of them female.
std::vector<std::string> Patients() {
  std::vector<std::string> out;
  for (int i = 0; i < 40; ++i) {
    out.push_back(R"({"resourceType":"Patient","id":"syn)" + std::to_string(i) + R"(","gender":")" +
                  (i % 2 ? "female" : "male") + R"(","birthDate":")" + std::to_string(1940 + i) +
                  R"(-05-01"})");
  }
  return out;
}

class JobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = testing::OpenStoreIn(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(testing::PutAll(*store_, Patients()).ok());
    service_ = std::make_unique<JobService>(Options());
  }

  // The fixture's service options; a test may change them and start its own service.
  JobServiceOptions Options() {
    JobServiceOptions o;
    o.store = store_.get();
    o.dir = (dir_.path() / "jobs").string();
    o.authorize = [](const http::Request& r) -> Result<std::string> {
      std::string_view who = r.headers.Get("X-Test-User");
      if (who.empty()) return Status(StatusCode::kUnauthenticated, "no token");
      return std::string(who);
    };
    o.error_response = [](const Status& s) {
      http::Response r;
      r.status = s.code() == StatusCode::kNotFound           ? 404
                 : s.code() == StatusCode::kUnauthenticated  ? 401
                 : s.code() == StatusCode::kMethodNotAllowed ? 405
                 : s.code() == StatusCode::kUnprocessable    ? 422
                 : s.code() == StatusCode::kConflict         ? 409
                                                             : 400;
      r.body = s.message();
      return r;
    };
    o.max_rows = 5000;
    return o;
  }

  http::Response Call(std::string method, std::string path, std::string body = "",
                      std::string user = "researcher-1", bool async = true) {
    http::Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    r.headers.Set("Host", "sund.test");
    if (!user.empty()) r.headers.Set("X-Test-User", user);
    if (async) r.headers.Set("Prefer", "respond-async");
    return service_->Handle(r);
  }

  static std::string Params(std::string_view cohort, std::string extra = "") {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    w.String(cohort.data(), static_cast<rapidjson::SizeType>(cohort.size()));
    return R"({"resourceType":"Parameters","parameter":[{"name":"cohort","valueString":)" +
           std::string(b.GetString()) + "}" + extra + "]}";
  }

  // The job's path from a kick-off's Content-Location.
  static std::string JobPath(const http::Response& r) {
    std::string loc(r.headers.Get("Content-Location"));
    return loc.substr(loc.find("/synth/"));
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<JobService> service_;
};

// An audit record as audit.db stores it (src/audit/README.md, "Leaf serialisation"): the leaf,
// whose accountable part is in clear, and the personal block.
struct StoredAudit {
  std::string leaf, personal;
};

// Every record of the audit log in `db_path`, in order, read behind the log's back.
std::vector<StoredAudit> ReadAudit(const std::filesystem::path& db_path) {
  std::vector<StoredAudit> out;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(db_path.string().c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT r.leaf, p.data FROM record r "
                              "LEFT JOIN personal p ON p.seq = r.seq ORDER BY r.seq",
                              -1, &st, nullptr);
  EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db);
  auto column = [&st](int i) {
    const void* bytes = sqlite3_column_blob(st, i);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, i));
    return bytes == nullptr ? std::string() : std::string(static_cast<const char*>(bytes), n);
  };
  while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) out.push_back({column(0), column(1)});
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// The service with an audit log in the test's folder; `identify` names the person and the client
// from test headers, as apps/sund names them from the token.
class JobServiceAuditTest : public JobServiceTest {
 protected:
  void SetUp() override {
    JobServiceTest::SetUp();
    audit::Options ao;
    ao.maintenance_every_us = 0;
    auto log = audit::AuditLog::Open((dir_.path() / "audit").string(), ao);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit_ = std::move(log).value();
    JobServiceOptions o = Options();
    o.audit = audit_.get();
    o.identify = [](const http::Request& r) {
      audit::Actor actor;
      actor.user_id = std::string(r.headers.Get("X-Test-User"));
      actor.client_id = std::string(r.headers.Get("X-Test-Client"));
      return actor;
    };
    service_ = std::make_unique<JobService>(std::move(o));
  }
  void TearDown() override {
    service_.reset();
    audit_.reset();
  }

  // A $synthesize order from 192.0.2.7 by `user` through the app `client` ("": none).
  http::Response Order(const std::string& user, const std::string& client, std::string body) {
    http::Request r;
    r.method = "POST";
    r.path = "/fhir/$synthesize";
    r.body = std::move(body);
    r.remote_address = "192.0.2.7";
    r.headers.Set("Host", "sund.test");
    r.headers.Set("Prefer", "respond-async");
    if (!user.empty()) r.headers.Set("X-Test-User", user);
    if (!client.empty()) r.headers.Set("X-Test-Client", client);
    return service_->Handle(r);
  }

  std::unique_ptr<audit::AuditLog> audit_;
};

// The catalogue `sund endpoints` prints (issue #11): no entry twice, and each of its paths, with
// its placeholders filled, is one the service takes.
// Verifies: REQ-SYNTH-064
TEST(JobServiceEndpointsTest, EveryEntryIsHandledAndListedOnce) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const http::Endpoint& e : JobService::Endpoints()) {
    SCOPED_TRACE(std::string(e.method) + " " + std::string(e.path));
    EXPECT_TRUE(seen.emplace(e.method, e.path).second) << "listed twice";
    EXPECT_EQ(e.family, "synth");
    std::string path(e.path);
    for (std::size_t at; (at = path.find('{')) != std::string::npos;) {
      path.replace(at, path.find('}', at) - at + 1, "x1");
    }
    EXPECT_TRUE(http::PathMatches(e.path, path));
    EXPECT_TRUE(JobService::Handles(path));
  }
  EXPECT_FALSE(JobService::Handles("/fhir/$synthesize/x"));
}

// Verifies: REQ-SYNTH-058, REQ-SYNTH-060, REQ-SYNTH-061, REQ-SYNTH-062
TEST_F(JobServiceTest, RunsACohortToSyntheticRows) {
  auto r = Call("POST", "/fhir/$synthesize", Params(kCohort, R"(,{"name":"rows","valueInteger":250},
                                   {"name":"epsilon","valueDecimal":2})"));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_THAT(std::string(r.headers.Get("Content-Location")),
              HasSubstr("http://sund.test/synth/v1/jobs/"));
  service_->WaitIdle();
  std::string job = JobPath(r);
  auto done = Call("GET", job);
  ASSERT_EQ(done.status, 200) << done.body;
  rapidjson::Document m;
  m.Parse(done.body.c_str());
  ASSERT_TRUE(m.IsObject()) << done.body;
  EXPECT_EQ(m["extraction"]["extracted"].GetInt(), 40);
  EXPECT_EQ(m["privacy"]["epsilon"].GetDouble(), 2.0);
  EXPECT_EQ(m["output"].Size(), 2u);
  std::string csv_url = m["output"][1]["url"].GetString();
  auto csv = Call("GET", csv_url.substr(csv_url.find("/synth/")));
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.headers.Get("Content-Type"), "text/csv");
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 251);  // header + rows
  EXPECT_THAT(csv.body, HasSubstr("sex,age\n"));
  // Another researcher does not see the job; nobody reads files outside it.
  EXPECT_EQ(Call("GET", job, "", "researcher-2").status, 404);
  EXPECT_EQ(Call("GET", job + "/files/..%2Fsund.db").status, 404);
  EXPECT_EQ(Call("GET", job + "/files/../../sund.db").status, 404);
  EXPECT_EQ(Call("DELETE", job).status, 202);
  EXPECT_EQ(Call("GET", job).status, 404);
}

// Verifies: REQ-SYNTH-058
TEST_F(JobServiceTest, FhirOutputIsBundles) {
  auto r = Call("POST", "/fhir/$synthesize", Params(kCohort, R"(,{"name":"rows","valueInteger":150},
                                   {"name":"_outputFormat","valueString":"application/fhir+json"})"));
  ASSERT_EQ(r.status, 202) << r.body;
  service_->WaitIdle();
  auto done = Call("GET", JobPath(r));
  ASSERT_EQ(done.status, 200) << done.body;
  rapidjson::Document m;
  m.Parse(done.body.c_str());
  ASSERT_EQ(m["output"].Size(), 3u);  // the model and two Bundles of up to 100 patients
  std::string url = m["output"][2]["url"].GetString();
  auto bundle = Call("GET", url.substr(url.find("/synth/")));
  ASSERT_EQ(bundle.status, 200);
  EXPECT_THAT(bundle.body, HasSubstr("\"resourceType\":\"Bundle\""));
}

// Verifies: REQ-SYNTH-059
TEST_F(JobServiceTest, RefusesBadRequests) {
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", Params(kCohort), "").status, 401);
  auto sync = Call("POST", "/fhir/$synthesize", Params(kCohort), "researcher-1", false);
  EXPECT_EQ(sync.status, 400);
  EXPECT_THAT(sync.body, HasSubstr("respond-async"));
  EXPECT_EQ(Call("GET", "/fhir/$synthesize").status, 405);
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", "{not json").status, 400);
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", R"({"resourceType":"Patient"})").status, 400);
  auto bad_spec = Call("POST", "/fhir/$synthesize", Params(R"({"features": []})"));
  EXPECT_EQ(bad_spec.status, 400);
  EXPECT_THAT(bad_spec.body, HasSubstr("cohort spec"));
  EXPECT_EQ(
      Call("POST", "/fhir/$synthesize", Params(kCohort, R"(,{"name":"epsilon","valueDecimal":0})"))
          .status,
      400);
  EXPECT_EQ(
      Call("POST", "/fhir/$synthesize", Params(kCohort, R"(,{"name":"rows","valueInteger":5001})"))
          .status,
      400);
  EXPECT_EQ(
      Call("POST", "/fhir/$synthesize", Params(kCohort, R"(,{"name":"seed","valueInteger":1})"))
          .status,
      400);
  EXPECT_EQ(Call("GET", "/synth/v1/jobs/nope").status, 404);
}

// valueInteger is whole: 2.5 rows is refused rather than truncated to 2.
// Verifies: REQ-SYNTH-069
TEST_F(JobServiceTest, RefusesFractionalRows) {
  auto r =
      Call("POST", "/fhir/$synthesize", Params(kCohort, R"(,{"name":"rows","valueInteger":2.5})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("rows must be a whole number"));
  EXPECT_TRUE(r.headers.Get("Content-Location").empty());
}

// One caller cannot fill the single worker's queue: past the limit a kick-off is refused with
// 409 until one of the caller's jobs finishes or is deleted; other callers have limits of their
// own.
// Verifies: REQ-SYNTH-068
TEST_F(JobServiceTest, LimitsJobsQueuedOrRunningPerCaller) {
  // The worker waits in the clock until released, so that the first job stays running. (If the
  // test stops early, the promise's destruction releases it.)
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  JobServiceOptions o = Options();
  o.max_jobs_per_caller = 2;
  o.now_ms = [released] {
    released.wait();
    return std::int64_t{1'704'067'200'000};  // 2024-01-01
  };
  service_ = std::make_unique<JobService>(std::move(o));
  const std::string body = Params(kCohort, R"(,{"name":"rows","valueInteger":20})");
  auto first = Call("POST", "/fhir/$synthesize", body);
  ASSERT_EQ(first.status, 202) << first.body;
  auto second = Call("POST", "/fhir/$synthesize", body);
  ASSERT_EQ(second.status, 202) << second.body;
  auto third = Call("POST", "/fhir/$synthesize", body);
  EXPECT_EQ(third.status, 409);
  EXPECT_THAT(third.body, HasSubstr("already has 2 synthesis jobs queued or running"));
  EXPECT_TRUE(third.headers.Get("Content-Location").empty());
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", body, "researcher-2").status, 202);
  // Deleting the queued job frees its place, and only its place.
  EXPECT_EQ(Call("DELETE", JobPath(second)).status, 202);
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", body).status, 202);
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", body).status, 409);
  // Finished jobs do not count.
  release.set_value();
  service_->WaitIdle();
  EXPECT_EQ(Call("GET", JobPath(first)).status, 200);
  EXPECT_EQ(Call("POST", "/fhir/$synthesize", body).status, 202);
}

// Verifies: REQ-SYNTH-040, REQ-SYNTH-063
TEST_F(JobServiceTest, AnEmptyCohortFailsClearly) {
  // Opt-in research with no research Consents: nobody may be used.
  std::string cohort = kCohort;
  cohort.replace(cohort.find("opt-out"), 7, "opt-in");
  auto r = Call("POST", "/fhir/$synthesize", Params(cohort));
  ASSERT_EQ(r.status, 202);
  service_->WaitIdle();
  auto failed = Call("GET", JobPath(r));
  EXPECT_EQ(failed.status, 422);
  EXPECT_THAT(failed.body, HasSubstr("the cohort is empty"));
}

// Who ordered a synthesis, and what became of the order, is in the audit log before the answer
// leaves: the person and the client of the token, the operation and its purpose (research), and
// the answer's status, for orders accepted and refused alike.
// Verifies: REQ-SYNTH-070
TEST_F(JobServiceAuditTest, RecordsEachOrderWithTheCallerAndTheOutcome) {
  http::Response accepted = Order("Practitioner/researcher-1", "research-app", Params(kCohort));
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  ASSERT_TRUE(accepted.before_send) << "the answer carries no audit record";
  EXPECT_TRUE(http::FinishSync(accepted));
  EXPECT_EQ(accepted.status, 202);
  http::Response refused = Order("Practitioner/researcher-1", "research-app", "{not json");
  EXPECT_EQ(refused.status, 400);
  EXPECT_TRUE(http::FinishSync(refused));
  http::Response anonymous = Order("", "", Params(kCohort));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_TRUE(http::FinishSync(anonymous));

  std::vector<StoredAudit> records = ReadAudit(dir_.path() / "audit" / "audit.db");
  ASSERT_EQ(records.size(), 3u);
  struct Expected {
    std::string_view user, client;
    int outcome;
  };
  const Expected expected[] = {{"Practitioner/researcher-1", "research-app", 202},
                               {"Practitioner/researcher-1", "research-app", 400},
                               {"", "", 401}};
  for (std::size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(records[i].leaf);
    rapidjson::Document leaf;
    leaf.Parse(records[i].leaf.c_str());
    ASSERT_TRUE(leaf.IsObject());
    const rapidjson::Value* actor = json::Find(leaf, "actor");
    ASSERT_NE(actor, nullptr);
    EXPECT_EQ(json::GetString(*actor, "user"), expected[i].user);
    EXPECT_EQ(json::GetString(*actor, "app"), expected[i].client);
    EXPECT_EQ(json::GetString(*actor, "role"), "researcher");
    EXPECT_EQ(json::GetString(leaf, "action"), "operation");
    const rapidjson::Value* outcome = json::Find(leaf, "outcome");
    ASSERT_TRUE(outcome != nullptr && outcome->IsInt());
    EXPECT_EQ(outcome->GetInt(), expected[i].outcome);
    EXPECT_EQ(json::GetString(leaf, "purpose"), "HRESCH");
    EXPECT_EQ(json::GetString(leaf, "source"), "192.0.2.7");
    rapidjson::Document personal;
    personal.Parse(records[i].personal.c_str());
    EXPECT_EQ(json::GetString(personal, "query"), "$synthesize") << records[i].personal;
  }
}

// Fail closed: an order whose record cannot be written is answered 503 and its job is deleted,
// so that no synthesis runs unrecorded.
// Verifies: REQ-SYNTH-071
TEST_F(JobServiceAuditTest, AnOrderThatCannotBeRecordedIsAnswered503AndDropped) {
  const std::string researcher = "Practitioner/researcher-1";
  ASSERT_TRUE(
      storage::testing::ExecOnSqliteFile((dir_.path() / "audit" / "audit.db").string(),
                                         "CREATE TRIGGER refuse_records BEFORE INSERT ON record "
                                         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;")
          .ok());
  http::Response r = Order(researcher, "research-app", Params(kCohort));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string job = JobPath(r);
  // The job exists for its owner until the record fails.
  EXPECT_NE(Call("GET", job, "", researcher).status, 404);
  ASSERT_TRUE(r.before_send) << "the answer carries no audit record";
  EXPECT_FALSE(http::FinishSync(r));
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.headers.Get("Content-Location").empty());
  service_->WaitIdle();
  EXPECT_EQ(Call("GET", job, "", researcher).status, 404);
  EXPECT_TRUE(ReadAudit(dir_.path() / "audit" / "audit.db").empty());
}

}  // namespace
}  // namespace sund::synth
