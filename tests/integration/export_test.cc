// FHIR Bulk Data $export through the HTTP API on a real stack (src/api/bulk_export.h,
// docs/bulk-data.md): kick-off validation, a full round (status, manifest, NDJSON files equal to
// what was stored), _type, _since and _typeFilter, Group and Patient exports, cancellation,
// SMART authorization and Consents, the snapshot under concurrent writers, and resuming a job
// that a "crash" interrupted (the checkpoint hook stops it mid-way, as a killed process would).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "api/access.h"
#include "api_fixture.h"
#include "core/crypto.h"
#include "core/time.h"
#include "http/query.h"

namespace sund::itest {
namespace {

namespace fs = std::filesystem;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr std::string_view kCategory = "http://terminology.hl7.org/CodeSystem/observation-category";

std::string PatientJson(std::string_view id, std::string_view family = "Eksportsen") {
  return R"({"resourceType":"Patient","id":")" + std::string(id) + R"(","name":[{"family":")" +
         std::string(family) + R"("}]})";
}

// An Observation of `patient` ("" for none) with a LOINC code and a category.
std::string ObservationJson(std::string_view id, std::string_view patient,
                            std::string_view code = "8867-4",
                            std::string_view category = "vital-signs", int value = 70) {
  std::string out = R"({"resourceType":"Observation","id":")" + std::string(id) +
                    R"(","status":"final","category":[{"coding":[{"system":")" +
                    std::string(kCategory) + R"(","code":")" + std::string(category) +
                    R"("}]}],"code":{"coding":[{"system":"http://loinc.org","code":")" +
                    std::string(code) + R"("}]},)";
  if (!patient.empty()) {
    out += R"("subject":{"reference":"Patient/)" + std::string(patient) + R"("},)";
  }
  out += R"("valueQuantity":{"value":)" + std::to_string(value) + "}}";
  return out;
}

// One line of an NDJSON file.
struct Line {
  std::string type, id, version, json;
};

// The export's files, downloaded.
struct Downloaded {
  std::vector<Line> lines;
  std::map<std::string, std::int64_t> counts;  // per type, from the manifest
  std::multiset<std::string> refs() const {
    std::multiset<std::string> out;
    for (const auto& l : lines) out.insert(l.type + "/" + l.id);
    return out;
  }
  std::set<std::string> types() const {
    std::set<std::string> out;
    for (const auto& l : lines) out.insert(l.type);
    return out;
  }
};

class ExportTest : public ApiTest {
 protected:
  void SetUp() override {
    // As ApiTest::SetUp, with the export's options set before the stack starts.
    http::ServerOptions o = FhirStack::DefaultOptions();
    o.max_body_bytes = kMaxBodyBytes;
    stack_ = std::make_unique<FhirStack>(o);
    ConfigureExport(stack_->export_options());
    Status s = WithAuth() ? stack_->StartWithAuth() : stack_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = std::make_unique<ApiClient>(stack_->port());
  }
  virtual void ConfigureExport(api::BulkExportOptions& o) {
    o.page_size = 7;  // several pages (and checkpoints) even for a few resources
    o.max_file_resources = 5;
    o.after_checkpoint = [this](const api::ExportCheckpoint& cp) { return OnCheckpoint(cp); };
  }

  // The checkpoint sync point: when `hold_` is set, the worker waits at its first checkpoint
  // until Release().
  bool OnCheckpoint(const api::ExportCheckpoint&) {
    std::unique_lock<std::mutex> l(hook_mu_);
    if (hold_) {
      held_ = true;
      hook_cv_.notify_all();
      hook_cv_.wait(l, [&] { return !hold_; });
    }
    return true;
  }
  void Hold() {
    std::lock_guard<std::mutex> l(hook_mu_);
    hold_ = true;
    held_ = false;
  }
  void WaitHeld() {
    std::unique_lock<std::mutex> l(hook_mu_);
    ASSERT_TRUE(hook_cv_.wait_for(l, std::chrono::seconds(20), [&] { return held_; }))
        << "the export never reached a checkpoint";
  }
  void Release() {
    {
      std::lock_guard<std::mutex> l(hook_mu_);
      hold_ = false;
    }
    hook_cv_.notify_all();
  }
  void TearDown() override {
    Release();
    ApiTest::TearDown();
  }

  // Writes resources (JSON with ids) as one transaction of PUTs through the Engine.
  void Seed(const std::vector<std::string>& resources) {
    std::string b = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
    for (std::size_t i = 0; i < resources.size(); ++i) {
      rapidjson::Document d;
      d.Parse(resources[i].data(), resources[i].size());
      ASSERT_TRUE(d.IsObject()) << resources[i];
      b += (i ? "," : "") + std::string(R"({"resource":)") + resources[i] +
           R"(,"request":{"method":"PUT","url":")" +
           std::string(json::GetString(d, "resourceType")) + "/" +
           std::string(json::GetString(d, "id")) + R"("}})";
    }
    b += "]}";
    auto r = BundleWriter()(b);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  // The kick-off with Prefer: respond-async (and the given headers).
  ApiResponse KickOff(std::string_view target, http::Headers h = {}) {
    h.Set("Prefer", "respond-async");
    h.Set("Accept", "application/fhir+json");
    return Get(target, h);
  }
  // Kicks off, waits for the job and returns its manifest (fails the test unless 202 then 200).
  rapidjson::Document Export(std::string_view target, const http::Headers& h = {},
                             std::string* status_url = nullptr) {
    rapidjson::Document none;
    ApiResponse k = KickOff(target, h);
    EXPECT_EQ(k.status, 202) << target << ": " << k.body;
    std::string url = k.Header("Content-Location");
    EXPECT_THAT(url, HasSubstr("/fhir/$export-status/"));
    if (k.status != 202) return none;
    if (status_url != nullptr) *status_url = url;
    stack_->bulk_export()->WaitIdle();
    ApiResponse s = Get(url, h);
    EXPECT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.Header("Content-Type"), "application/json");
    return std::move(s.json);
  }
  // Downloads every file of a manifest.
  Downloaded Download(const rapidjson::Value& manifest, const http::Headers& h = {}) {
    Downloaded out;
    const auto* output = json::Find(manifest, "output");
    EXPECT_TRUE(output != nullptr && output->IsArray());
    if (output == nullptr || !output->IsArray()) return out;
    for (const auto& o : output->GetArray()) {
      std::string type(json::GetString(o, "type"));
      std::string url(json::GetString(o, "url"));
      EXPECT_THAT(url, HasSubstr("/fhir/$export-file/"));
      const auto* count = json::Find(o, "count");
      EXPECT_TRUE(count != nullptr && count->IsInt64());
      std::int64_t expected = count != nullptr && count->IsInt64() ? count->GetInt64() : -1;
      out.counts[type] += expected;
      ApiResponse f = Get(url, h);
      EXPECT_EQ(f.status, 200) << url << ": " << f.body.substr(0, 300);
      EXPECT_EQ(f.Header("Content-Type"), "application/fhir+ndjson");
      std::int64_t lines = 0;
      std::size_t pos = 0;
      while (pos < f.body.size()) {
        std::size_t end = f.body.find('\n', pos);
        EXPECT_NE(end, std::string::npos) << "the last line of " << url << " is not terminated";
        if (end == std::string::npos) end = f.body.size();
        Line l;
        l.json = f.body.substr(pos, end - pos);
        pos = end + 1;
        rapidjson::Document d;
        d.Parse(l.json.data(), l.json.size());
        EXPECT_TRUE(d.IsObject()) << "not JSON in " << url << ": " << l.json.substr(0, 200);
        l.type = std::string(json::GetString(d, "resourceType"));
        l.id = std::string(json::GetString(d, "id"));
        if (const auto* meta = json::Find(d, "meta")) {
          l.version = std::string(json::GetString(*meta, "versionId"));
        }
        EXPECT_EQ(l.type, type) << url;
        out.lines.push_back(std::move(l));
        ++lines;
      }
      EXPECT_EQ(lines, expected) << url;
    }
    return out;
  }

  std::mutex hook_mu_;
  std::condition_variable hook_cv_;
  bool hold_ = false, held_ = false;
};

// --- Kick-off -------------------------------------------------------------------------------

// Verifies: REQ-API-083
TEST_F(ExportTest, KickOffNeedsPreferRespondAsync) {
  ApiResponse r = Get("/fhir/$export");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
  EXPECT_THAT(r.body, HasSubstr("respond-async"));
}

// Verifies: REQ-API-084
TEST_F(ExportTest, KickOffRefusesBadParametersWithAnOperationOutcome) {
  Seed({PatientJson("p1")});
  struct Case {
    std::string target;
    int status;
    std::string says;
  };
  std::vector<Case> cases = {
      {"/fhir/$export?_type=Observation,Nonsense", 400, "Nonsense"},
      {"/fhir/$export?_outputFormat=" + Q("text/csv"), 400, "_outputFormat"},
      {"/fhir/$export?_since=yesterday", 400, "_since"},
      {"/fhir/$export?_since=2024-01-01", 400, "instant"},
      {"/fhir/$export?_foo=1", 400, "_foo"},
      {"/fhir/$export?_elements=id", 501, "_elements"},
      {"/fhir/$export?_typeFilter=" + Q("Observation?nonsense=1"), 400, "nonsense"},
      {"/fhir/$export?_typeFilter=" + Q("Observation?_count=5"), 400, "_count"},
      {"/fhir/$export?_typeFilter=" + Q("code=1"), 400, "TYPE?CRITERIA"},
      {"/fhir/$export?_type=Patient&_typeFilter=" + Q("Observation?code=1"), 400, "Observation"},
      {"/fhir/$export?_typeFilter=" + Q("Observation?code=1,Observation?code=2"), 501,
       "more than one"},
      {"/fhir/Patient/$export?_type=Practitioner", 400, "compartment"},
      {"/fhir/Group/nope/$export", 404, "Group/nope"},
  };
  for (const auto& c : cases) {
    ApiResponse r = KickOff(c.target);
    EXPECT_EQ(r.status, c.status) << c.target << ": " << r.body;
    EXPECT_TRUE(r.IsOperationOutcome()) << c.target << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.says)) << c.target;
    EXPECT_TRUE(r.Header("Content-Location").empty()) << c.target;
  }
  // Nothing was started.
  EXPECT_TRUE(fs::is_empty(stack_->dir() / "exports"));
  // The accepted spellings of the output format ('+' unencoded arrives as a space).
  for (const char* f : {"application%2Ffhir%2Bndjson", "application/fhir+ndjson",
                        "application%2Fndjson", "ndjson"}) {
    EXPECT_EQ(KickOff(std::string("/fhir/$export?_type=Patient&_outputFormat=") + f).status, 202)
        << f;
  }
}

// Parameters of the Bulk Data IG that Sund does not implement are refused, not ignored, so that a
// client never takes a wider (or narrower) export for the one it asked for.
// Verifies: REQ-API-122
TEST_F(ExportTest, KickOffAnswers501ForParametersItDoesNotImplement) {
  Seed({PatientJson("p1")});
  struct Case {
    std::string target;
    std::string says;
  };
  std::vector<Case> cases = {
      {"/fhir/$export?patient=" + Q("Patient/p1"), "patient"},
      {"/fhir/Patient/$export?includeAssociatedData=LatestProvenanceResources",
       "includeAssociatedData"},
      {"/fhir/$export?_until=" + Q("2030-01-01T00:00:00Z"), "_until"},
      {"/fhir/Patient/$export?organizeOutputBy=Patient", "organizeOutputBy"},
      {"/fhir/$export?allowPartialManifests=true", "allowPartialManifests"},
  };
  for (const auto& c : cases) {
    ApiResponse r = KickOff(c.target);
    EXPECT_EQ(r.status, 501) << c.target << ": " << r.body;
    EXPECT_TRUE(r.IsOperationOutcome()) << c.target << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.says)) << c.target;
    EXPECT_TRUE(r.Header("Content-Location").empty()) << c.target;
  }
  // The same in a POST kick-off's Parameters body (patient as the IG writes it: a reference).
  ApiResponse post = Post("/fhir/Patient/$export",
                          R"({"resourceType":"Parameters","parameter":[{"name":"patient",)"
                          R"("valueReference":{"reference":"Patient/p1"}}]})",
                          MakeHeaders({{"Prefer", "respond-async"}}));
  EXPECT_EQ(post.status, 501) << post.body;
  EXPECT_TRUE(post.IsOperationOutcome()) << post.body;
  EXPECT_THAT(post.body, HasSubstr("patient"));
  // Nothing was started.
  EXPECT_TRUE(fs::is_empty(stack_->dir() / "exports"));
}

// --- A full round ------------------------------------------------------------------------------

// Verifies: REQ-API-085, REQ-API-086
TEST_F(ExportTest, ExportsEveryResourceAsStoredIntoNdjsonFilesWithAManifest) {
  std::vector<std::string> seed = {
      PatientJson("p1"), PatientJson("p2"),
      R"({"resourceType":"Practitioner","id":"doc","name":[{"family":"Doktorsen"}]})"};
  for (int i = 0; i < 12; ++i) {
    seed.push_back(ObservationJson("o" + std::to_string(i), i % 2 ? "p1" : "p2"));
  }
  Seed(seed);
  ASSERT_EQ(
      Put("/fhir/Observation/o3", ObservationJson("o3", "p1", "8867-4", "vital-signs", 99)).status,
      200);
  ASSERT_EQ(Delete("/fhir/Observation/o4").status, 204);

  std::string status_url;
  rapidjson::Document m = Export("/fhir/$export", {}, &status_url);
  ASSERT_TRUE(m.IsObject());
  auto tt = ParseFhirDate(json::GetString(m, "transactionTime"));
  EXPECT_TRUE(tt.ok()) << json::GetString(m, "transactionTime");
  EXPECT_THAT(std::string(json::GetString(m, "request")), HasSubstr("/fhir/$export"));
  ASSERT_TRUE(m.HasMember("requiresAccessToken") && m["requiresAccessToken"].IsBool());
  EXPECT_FALSE(m["requiresAccessToken"].GetBool());  // no authorization on this stack
  ASSERT_TRUE(m.HasMember("error") && m["error"].IsArray());
  EXPECT_TRUE(m["error"].Empty());

  Downloaded d = Download(m);
  EXPECT_EQ(d.counts["Observation"], 11);
  EXPECT_EQ(d.counts["Patient"], 2);
  EXPECT_EQ(d.counts["Practitioner"], 1);
  EXPECT_EQ(d.types(), (std::set<std::string>{"Observation", "Patient", "Practitioner"}));
  // 11 Observations in files of at most 5.
  EXPECT_EQ(m["output"].Size(), 3u + 2u);
  // Every line is the stored resource, byte for byte, once.
  std::set<std::string> seen;
  for (const auto& l : d.lines) {
    EXPECT_TRUE(seen.insert(l.type + "/" + l.id).second) << "twice: " << l.type << "/" << l.id;
    ApiResponse stored = Get("/fhir/" + l.type + "/" + l.id);
    EXPECT_EQ(stored.status, 200);
    EXPECT_EQ(stored.body, l.json);
  }
  EXPECT_EQ(seen.count("Observation/o4"), 0u);
  for (const auto& l : d.lines) {
    if (l.id == "o3") {
      EXPECT_EQ(l.version, "2");
    }
  }
  // The status stays 200 with the same manifest.
  EXPECT_EQ(Get(status_url).status, 200);
}

// Verifies: REQ-API-085, REQ-API-087
TEST_F(ExportTest, StatusShowsProgressWhileRunning) {
  std::vector<std::string> seed;
  for (int i = 0; i < 20; ++i) seed.push_back(ObservationJson("o" + std::to_string(i), ""));
  Seed(seed);
  Hold();
  ApiResponse k = KickOff("/fhir/$export?_type=Observation");
  ASSERT_EQ(k.status, 202) << k.body;
  EXPECT_TRUE(k.IsOperationOutcome());
  WaitHeld();
  ApiResponse s = Get(k.Header("Content-Location"));
  EXPECT_EQ(s.status, 202);
  EXPECT_THAT(s.Header("X-Progress"), HasSubstr("Observation: 5 of ~20 resources"));
  EXPECT_FALSE(s.Header("Retry-After").empty());
  // Files are not served before the job is complete.
  std::string id = k.Header("Content-Location").substr(k.Header("Content-Location").rfind('/') + 1);
  EXPECT_EQ(Get("/fhir/$export-file/" + id + "/Observation-0001.ndjson").status, 404);
  Release();
  stack_->bulk_export()->WaitIdle();
  EXPECT_EQ(Get(k.Header("Content-Location")).status, 200);
}

// Verifies: REQ-API-085, REQ-API-088
TEST_F(ExportTest, PostKickOffWithParameters) {
  Seed({PatientJson("p1"), ObservationJson("o1", "p1")});
  http::Headers h = MakeHeaders({{"Prefer", "respond-async"}});
  ApiResponse r = Post(
      "/fhir/$export",
      R"({"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Observation"},)"
      R"({"name":"_outputFormat","valueString":"application/fhir+ndjson"}]})",
      h);
  ASSERT_EQ(r.status, 202) << r.body;
  stack_->bulk_export()->WaitIdle();
  ApiResponse s = Get(r.Header("Content-Location"));
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(Download(s.json).refs(), (std::multiset<std::string>{"Observation/o1"}));
  EXPECT_EQ(Post("/fhir/$export", R"({"resourceType":"Patient"})", h).status, 400);
}

// --- _type, _since, _typeFilter -------------------------------------------------------------

// Verifies: REQ-API-088
TEST_F(ExportTest, TypeSinceAndTypeFilterNarrowTheExport) {
  Seed({PatientJson("p1"), ObservationJson("hr", "p1", "8867-4"),
        ObservationJson("bp", "p1", "85354-9"), R"({"resourceType":"Practitioner","id":"doc"})"});
  // _type
  Downloaded typed = Download(Export("/fhir/$export?_type=" + Q("Patient,Observation")));
  EXPECT_EQ(typed.types(), (std::set<std::string>{"Observation", "Patient"}));
  EXPECT_EQ(typed.lines.size(), 3u);
  // _typeFilter
  Downloaded filtered = Download(Export("/fhir/$export?_type=Observation&_typeFilter=" +
                                        Q("Observation?code=http://loinc.org|8867-4")));
  EXPECT_EQ(filtered.refs(), (std::multiset<std::string>{"Observation/hr"}));
  // _since: only what was written at or after it.
  std::string since = FormatInstant(SystemClock::Get().NowMicros() + 3'600'000'000LL);
  Downloaded none = Download(Export("/fhir/$export?_since=" + Q(since)));
  EXPECT_THAT(none.lines, IsEmpty());
  ApiResponse later = Put("/fhir/Observation/bp", ObservationJson("bp", "p1", "85354-9", "x", 1));
  ASSERT_EQ(later.status, 200);
  std::string at = std::string(json::GetString(later.json["meta"], "lastUpdated"));
  Downloaded recent = Download(Export("/fhir/$export?_since=" + Q(at)));
  EXPECT_EQ(recent.refs(), (std::multiset<std::string>{"Observation/bp"}));
}

// --- Patient and Group exports ---------------------------------------------------------------

// Verifies: REQ-API-089
TEST_F(ExportTest, GroupExportHoldsOnlyItsActiveMembersData) {
  Seed({PatientJson("p1"), PatientJson("p2"), PatientJson("p3"), ObservationJson("o1", "p1"),
        ObservationJson("o2", "p2"), ObservationJson("o3", "p3"), ObservationJson("free", ""),
        R"({"resourceType":"Practitioner","id":"doc"})",
        R"({"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},)"
        R"("subject":{"reference":"Patient/p1"}})",
        R"({"resourceType":"Group","id":"g","type":"person","actual":true,"member":[)"
        R"({"entity":{"reference":"Patient/p1"}},)"
        R"({"entity":{"reference":"Patient/p2"},"inactive":true},)"
        R"({"entity":{"reference":"Practitioner/doc"}}]})"});
  // The Group itself is in its members' compartments (Group.member).
  Downloaded g = Download(Export("/fhir/Group/g/$export"));
  EXPECT_THAT(g.refs(),
              UnorderedElementsAre("Patient/p1", "Observation/o1", "Encounter/e1", "Group/g"));

  // All patients: their compartments, without resources in none (free) or outside (doc).
  Downloaded all = Download(Export("/fhir/Patient/$export"));
  EXPECT_THAT(all.refs(),
              UnorderedElementsAre("Patient/p1", "Patient/p2", "Patient/p3", "Observation/o1",
                                   "Observation/o2", "Observation/o3", "Encounter/e1", "Group/g"));
  Downloaded typed = Download(Export("/fhir/Patient/$export?_type=Observation"));
  EXPECT_THAT(typed.refs(),
              UnorderedElementsAre("Observation/o1", "Observation/o2", "Observation/o3"));

  // A Group without active Patient members exports nothing (not everything).
  Seed({R"({"resourceType":"Group","id":"empty","type":"person","actual":true})"});
  EXPECT_THAT(Download(Export("/fhir/Group/empty/$export")).lines, IsEmpty());
}

// --- Cancelling and deleting -------------------------------------------------------------------

// Verifies: REQ-API-091
TEST_F(ExportTest, DeleteCancelsARunningJobAndDeletesAFinishedOne) {
  std::vector<std::string> seed;
  for (int i = 0; i < 30; ++i) seed.push_back(ObservationJson("o" + std::to_string(i), ""));
  Seed(seed);
  Hold();
  ApiResponse k = KickOff("/fhir/$export?_type=Observation");
  ASSERT_EQ(k.status, 202);
  std::string url = k.Header("Content-Location");
  std::string id = url.substr(url.rfind('/') + 1);
  WaitHeld();
  EXPECT_TRUE(fs::exists(stack_->bulk_export()->JobDir(id)));
  EXPECT_EQ(Delete(url).status, 202);
  EXPECT_EQ(Get(url).status, 404);
  Release();
  stack_->bulk_export()->WaitIdle();
  EXPECT_FALSE(fs::exists(stack_->bulk_export()->JobDir(id)));
  EXPECT_EQ(Get(url).status, 404);
  EXPECT_EQ(Delete(url).status, 404);

  // A finished job: its files go.
  std::string done_url;
  rapidjson::Document m = Export("/fhir/$export?_type=Observation", {}, &done_url);
  std::string file_url(json::GetString(m["output"][0], "url"));
  EXPECT_EQ(Get(file_url).status, 200);
  EXPECT_EQ(Delete(done_url).status, 202);
  EXPECT_EQ(Get(done_url).status, 404);
  EXPECT_EQ(Get(file_url).status, 404);
  EXPECT_TRUE(fs::is_empty(stack_->dir() / "exports"));
}

// Verifies: REQ-API-092
TEST_F(ExportTest, AJobThatCannotWriteFailsWithItsReason) {
  std::vector<std::string> seed;
  for (int i = 0; i < 30; ++i) seed.push_back(ObservationJson("o" + std::to_string(i), ""));
  Seed(seed);
  Hold();
  ApiResponse k = KickOff("/fhir/$export?_type=Observation");
  ASSERT_EQ(k.status, 202);
  std::string url = k.Header("Content-Location");
  WaitHeld();
  // The job's folder disappears under it (a full or failing disk looks the same to it).
  fs::remove_all(stack_->bulk_export()->JobDir(url.substr(url.rfind('/') + 1)));
  Release();
  stack_->bulk_export()->WaitIdle();
  ApiResponse s = Get(url);
  EXPECT_EQ(s.status, 500);
  EXPECT_TRUE(s.IsOperationOutcome()) << s.body;
  EXPECT_THAT(s.body, HasSubstr("the export failed: "));
}

// --- The file size cut --------------------------------------------------------------------------

// Files closed by size: a one-byte limit with pages of two resources, so that each page after
// the first starts a new file, while the page that filled a file stayed whole in it.
class ExportFileSizeTest : public ExportTest {
 protected:
  void ConfigureExport(api::BulkExportOptions& o) override {
    o.page_size = 2;
    o.max_file_resources = 1000;  // far above the counts here: only bytes cut the files
    o.max_file_bytes = 1;
  }
};

// Verifies: REQ-API-123
TEST_F(ExportFileSizeTest, AFileThatReachedTheByteLimitIsFollowedByANewOne) {
  Seed({PatientJson("p1"), PatientJson("p2"), PatientJson("p3"), PatientJson("p4"),
        PatientJson("p5")});
  rapidjson::Document m = Export("/fhir/$export?_type=Patient");
  ASSERT_TRUE(m.IsObject());
  ASSERT_TRUE(m.HasMember("output") && m["output"].IsArray());
  std::vector<std::int64_t> counts;
  for (const auto& o : m["output"].GetArray()) {
    const auto* count = json::Find(o, "count");
    ASSERT_TRUE(count != nullptr && count->IsInt64());
    counts.push_back(count->GetInt64());
  }
  EXPECT_THAT(counts, ElementsAre(2, 2, 1));
  Downloaded d = Download(m);
  EXPECT_EQ(d.refs(), (std::multiset<std::string>{"Patient/p1", "Patient/p2", "Patient/p3",
                                                  "Patient/p4", "Patient/p5"}));
}

// --- Metadata ------------------------------------------------------------------------------------

// Verifies: REQ-API-040
TEST_F(ExportTest, CapabilityStatementDeclaresTheExportOperations) {
  ApiResponse r = Get("/fhir/metadata");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("instantiates":["http://hl7.org/fhir/uv/bulkdata/)"
                                R"(CapabilityStatement/bulk-data"])"));
  EXPECT_THAT(r.body, HasSubstr(R"({"name":"export","definition":"http://hl7.org/fhir/uv/)"
                                R"(bulkdata/OperationDefinition/export"})"));
  EXPECT_THAT(r.body, HasSubstr("bulkdata/OperationDefinition/patient-export"));
  EXPECT_THAT(r.body, HasSubstr("bulkdata/OperationDefinition/group-export"));
}

// --- The snapshot under concurrent writes ------------------------------------------------------

// Writers update, create and delete while the export runs; the checkpoint hook lets the export
// go on only after more writes have landed, so that every page is read after writes that
// touched resources it holds. The writers pause for the kick-off, so that the state at the
// snapshot is known exactly. Its size: 5,000 resources and 4 writers, or what
// SUND_EXPORT_SNAPSHOT_RESOURCES and SUND_EXPORT_SNAPSHOT_WRITERS say (ctest's slow
// export_snapshot_100k runs 100,000 resources with 8 writers on each backend, issue #9's check).
class ExportSnapshotTest : public ExportTest {
 protected:
  static int EnvInt(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v == nullptr || *v == '\0' ? fallback : std::atoi(v);
  }

  void ConfigureExport(api::BulkExportOptions& o) override {
    o.page_size = page_size_;
    o.max_file_resources = 10 * o.page_size;
    o.after_checkpoint = [this](const api::ExportCheckpoint&) {
      std::unique_lock<std::mutex> l(mu_);
      std::int64_t target = writes_ + kWritesPerPage;
      if (!cv_.wait_for(l, std::chrono::seconds(20),
                        [&] { return writes_ >= target || writer_failed_; })) {
        ADD_FAILURE() << "the writers stalled";
      }
      return true;
    };
  }

  struct State {
    std::int64_t version = 0;
    bool deleted = false;
  };

  const int kSeed = EnvInt("SUND_EXPORT_SNAPSHOT_RESOURCES", 5000);
  const int kWriters = EnvInt("SUND_EXPORT_SNAPSHOT_WRITERS", 4);
  const int page_size_ = std::max(100, kSeed / 100);  // about 100 pages, whatever the size
  static constexpr std::int64_t kWritesPerPage = 12;

  std::mutex mu_;
  std::condition_variable cv_;
  std::int64_t writes_ = 0;  // guarded by mu_
  bool pause_ = false;       // guarded by mu_
  int parked_ = 0;           // guarded by mu_
  bool stop_ = false;        // guarded by mu_
  bool writer_failed_ = false;
};

// Verifies: REQ-API-090
TEST_F(ExportSnapshotTest, EveryResourceIsAsItWasAtTheKickOff) {
  std::vector<std::string> seed;
  for (int i = 0; i < kSeed; ++i) {
    seed.push_back(ObservationJson("o" + std::to_string(i), "", "8867-4", "vital-signs", i));
    if (seed.size() == 1000) {
      Seed(seed);
      seed.clear();
    }
  }
  std::vector<std::map<std::string, State>> owned(kWriters);
  for (int i = 0; i < kSeed; ++i) owned[i % kWriters]["o" + std::to_string(i)] = State{1, false};

  auto writer = [&](int w) {
    ApiClient client(stack_->port());
    std::mt19937 rng(w + 1);
    std::map<std::string, State>& mine = owned[w];
    std::vector<std::string> live;
    for (const auto& [id, s] : mine) live.push_back(id);
    for (int n = 0;; ++n) {
      {
        std::unique_lock<std::mutex> l(mu_);
        if (pause_) {
          ++parked_;
          cv_.notify_all();
          cv_.wait(l, [&] { return !pause_ || stop_; });
          --parked_;
        }
        if (stop_) return;
      }
      int dice = static_cast<int>(rng() % 10);
      ApiResponse r;
      std::string id;
      if (dice < 7 || live.size() < 10) {  // update
        id = live[rng() % live.size()];
        r = client.Put("/fhir/Observation/" + id,
                       ObservationJson(id, "", "8867-4", "vital-signs", 100000 + n));
        if (r.status != 200) break;
        mine[id].version = std::stoll(r.VersionId());
      } else if (dice < 9) {  // create
        id = "n" + std::to_string(w) + "-" + std::to_string(n);
        r = client.Put("/fhir/Observation/" + id, ObservationJson(id, ""));
        if (r.status != 201) break;
        mine[id] = State{1, false};
        live.push_back(id);
      } else {  // delete
        std::size_t at = rng() % live.size();
        id = live[at];
        r = client.Delete("/fhir/Observation/" + id);
        if (r.status != 204) break;
        mine[id].deleted = true;
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(at));
      }
      std::lock_guard<std::mutex> l(mu_);
      ++writes_;
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> l(mu_);
    writer_failed_ = true;
    ADD_FAILURE() << "writer " << w << " failed";
    cv_.notify_all();
  };
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back(writer, w);

  // Let them write a while, then pause them for the kick-off and take down the truth.
  std::map<std::string, State> truth;
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return writes_ >= 200 || writer_failed_; });
    pause_ = true;
    cv_.wait(l, [&] { return parked_ + (writer_failed_ ? kWriters : 0) >= kWriters; });
    for (const auto& m : owned) truth.insert(m.begin(), m.end());
  }
  ApiResponse k = KickOff("/fhir/$export?_type=Observation");
  {
    std::lock_guard<std::mutex> l(mu_);
    pause_ = false;
  }
  cv_.notify_all();
  ASSERT_EQ(k.status, 202) << k.body;
  stack_->bulk_export()->WaitIdle();
  std::int64_t writes_during;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    writes_during = writes_;
  }
  cv_.notify_all();
  for (auto& t : writers) t.join();

  ApiResponse s = Get(k.Header("Content-Location"));
  ASSERT_EQ(s.status, 200) << s.body;
  Downloaded d = Download(s.json);
  std::map<std::string, std::string> exported;
  for (const auto& l : d.lines) {
    EXPECT_TRUE(exported.emplace(l.id, l.version).second) << "twice: " << l.id;
  }
  std::int64_t expected = 0;
  for (const auto& [id, st] : truth) {
    if (st.deleted) {
      EXPECT_EQ(exported.count(id), 0u) << id << " was deleted before the kick-off";
      continue;
    }
    ++expected;
    auto it = exported.find(id);
    if (it == exported.end()) {
      ADD_FAILURE() << id << " is missing";
      continue;
    }
    EXPECT_EQ(it->second, std::to_string(st.version)) << id;
  }
  for (const auto& [id, v] : exported) {
    EXPECT_TRUE(truth.contains(id)) << id << " was created after the kick-off";
  }
  EXPECT_EQ(static_cast<std::int64_t>(exported.size()), expected);
  EXPECT_GT(expected, kSeed / 2);
  // The writers really wrote while the export ran (about kWritesPerPage per page).
  EXPECT_GE(writes_during, 200 + kWritesPerPage * (expected / page_size_));
}

// --- Restart ---------------------------------------------------------------------------------

// A job "killed" mid-way (the hook abandons it at a checkpoint, after more bytes than the
// checkpoint recorded reached its file, and an unrecorded file appeared) resumes in a new
// service on the same folder from its checkpoint, at the same snapshot, without duplicates.
class ExportResumeTest : public ExportTest {
 protected:
  void SetUp() override {
    ExportTest::SetUp();
    if (HasFatalFailure()) return;
    std::vector<std::string> seed;
    for (int p = 0; p < 30; ++p) seed.push_back(PatientJson("p" + std::to_string(p)));
    for (int i = 0; i < 3000; ++i) {
      seed.push_back(ObservationJson("o" + std::to_string(i), "p" + std::to_string(i % 30)));
      if (seed.size() >= 1000) {
        Seed(seed);
        seed.clear();
      }
    }
    Seed(seed);
  }

  api::BulkExportOptions Options(int crash_at) {
    api::BulkExportOptions o;
    o.store = &stack_->store();
    o.dir = (stack_->dir() / "resume").string();
    o.page_size = 100;
    o.max_file_resources = 250;
    if (crash_at > 0) {
      o.after_checkpoint = [crash_at](const api::ExportCheckpoint& cp) {
        if (cp.number < crash_at) return true;
        // A page written after the checkpoint, cut off mid-line, and a file begun after it.
        std::ofstream(cp.file, std::ios::app) << R"({"resourceType":"Observation","id":"o1)";
        std::ofstream(fs::path(cp.file).parent_path() / "Observation-0099.ndjson") << "{}\n";
        return false;
      };
    }
    return o;
  }

  api::ExportRequest Request() {
    api::ExportRequest r;
    r.types = {"Observation", "Patient"};
    r.request_url = "http://sund.test/fhir/$export";
    return r;
  }

  // Lines of every file of a completed job, read from its folder.
  std::vector<Line> Files(api::BulkExport& b, const api::ExportStatus& st, std::string_view id) {
    std::vector<Line> out;
    for (const auto& f : st.output) {
      std::ifstream in(fs::path(b.JobDir(id)) / f.name);
      std::string text;
      std::int64_t n = 0;
      while (std::getline(in, text)) {
        rapidjson::Document d;
        d.Parse(text.data(), text.size());
        EXPECT_TRUE(d.IsObject()) << f.name << ": " << text.substr(0, 100);
        Line l;
        l.type = std::string(json::GetString(d, "resourceType"));
        l.id = std::string(json::GetString(d, "id"));
        if (const auto* meta = json::Find(d, "meta")) {
          l.version = std::string(json::GetString(*meta, "versionId"));
        }
        out.push_back(std::move(l));
        ++n;
      }
      EXPECT_EQ(n, f.count) << f.name;
    }
    return out;
  }
};

// Verifies: REQ-API-086, REQ-API-090, REQ-API-093, REQ-API-096
TEST_F(ExportResumeTest, ResumesFromTheLastCheckpointAtTheSameSnapshot) {
  std::string id;
  {
    auto first = api::BulkExport::Open(Options(7));
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    auto started = (*first)->Start(Request(), api::ExportCaller{"tester", std::nullopt, false});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    id = *started;
    (*first)->WaitIdle();
    auto st = (*first)->Poll(id, "tester");
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->state, api::ExportState::kRunning);  // abandoned mid-way
  }
  // Written after the kick-off: not in the export.
  ASSERT_EQ(Put("/fhir/Observation/o2999", ObservationJson("o2999", "p1", "x", "y", 1)).status,
            200);
  ASSERT_EQ(Put("/fhir/Observation/late", ObservationJson("late", "p1")).status, 201);
  ASSERT_EQ(Delete("/fhir/Observation/o0").status, 204);

  auto second = api::BulkExport::Open(Options(0));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  (*second)->WaitIdle();
  EXPECT_EQ((*second)->Poll(id, "someone else").status().code(), StatusCode::kNotFound);
  auto st = (*second)->Poll(id, "tester");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->state, api::ExportState::kCompleted) << st->error.ToString();
  EXPECT_FALSE(fs::exists(fs::path((*second)->JobDir(id)) / "Observation-0099.ndjson"));
  std::vector<Line> lines = Files(**second, *st, id);
  std::set<std::string> refs;
  for (const auto& l : lines) {
    EXPECT_TRUE(refs.insert(l.type + "/" + l.id).second) << "twice: " << l.type << "/" << l.id;
    EXPECT_EQ(l.version, "1") << l.type << "/" << l.id;
  }
  EXPECT_EQ(refs.size(), 3030u);
  EXPECT_TRUE(refs.contains("Observation/o0"));
  EXPECT_FALSE(refs.contains("Observation/late"));
  // Files of at most 250 resources.
  for (const auto& f : st->output) EXPECT_LE(f.count, 250) << f.name;
}

// Verifies: REQ-API-094
TEST_F(ExportResumeTest, AJobWhoseFilesAreDamagedFailsWithAClearReason) {
  std::string id;
  {
    auto first = api::BulkExport::Open(Options(7));
    ASSERT_TRUE(first.ok());
    auto started = (*first)->Start(Request(), api::ExportCaller{"tester", std::nullopt, false});
    ASSERT_TRUE(started.ok());
    id = *started;
    (*first)->WaitIdle();
  }
  fs::path file = fs::path(stack_->dir() / "resume" / id / "Observation-0001.ndjson");
  ASSERT_TRUE(fs::exists(file));
  fs::resize_file(file, 10);
  auto second = api::BulkExport::Open(Options(0));
  ASSERT_TRUE(second.ok());
  (*second)->WaitIdle();
  auto st = (*second)->Poll(id, "tester");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, api::ExportState::kFailed);
  EXPECT_THAT(st->error.message(), HasSubstr("Observation-0001.ndjson is shorter than recorded"));
  // And it stays failed across another restart.
  second->reset();
  auto third = api::BulkExport::Open(Options(0));
  ASSERT_TRUE(third.ok());
  (*third)->WaitIdle();
  auto again = (*third)->Poll(id, "tester");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, api::ExportState::kFailed);
  EXPECT_THAT(again->error.message(), HasSubstr("shorter than recorded"));
}

// --- Authorization, Consents and the audit log ---------------------------------------------------

class ExportAuthTest : public ExportTest {
 protected:
  bool WithAuth() const override { return true; }

  void SetUp() override {
    ExportTest::SetUp();
    if (HasFatalFailure()) return;
    system_ = Bearer(Mint("system/*.cruds"));
    for (const auto& [type, id, json] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"Patient", "pa", PatientJson("pa")},
             {"Patient", "pb", PatientJson("pb")},
             {"Observation", "a-vital", ObservationJson("a-vital", "pa")},
             {"Observation", "b-vital", ObservationJson("b-vital", "pb")},
             {"Observation", "b-lab", ObservationJson("b-lab", "pb", "2093-3", "laboratory")}}) {
      ApiResponse r = Put("/fhir/" + type + "/" + id, json, system_);
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  std::string Mint(std::string_view scope, std::string_view patient = {},
                   std::string_view subject = "admin") {
    auth::MintRequest m;
    m.audience = stack_->base_url();
    m.scope = std::string(scope);
    m.patient = std::string(patient);
    m.subject = std::string(subject);
    auto token = stack_->auth()->Mint(m);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? *token : std::string();
  }
  static http::Headers Bearer(const std::string& token) {
    return MakeHeaders({{"Authorization", "Bearer " + token}});
  }

  http::Headers system_;
};

// Verifies: REQ-API-095, REQ-API-096
TEST_F(ExportAuthTest, SystemScopesExportOtherTokensAreRefused) {
  // A system/ token of the Backend Services kind (read only) exports.
  http::Headers reader = Bearer(Mint("system/*.rs"));
  std::string status_url;
  rapidjson::Document m = Export("/fhir/$export?_type=Patient,Observation", reader, &status_url);
  ASSERT_TRUE(m.IsObject());
  EXPECT_TRUE(m["requiresAccessToken"].GetBool());
  Downloaded d = Download(m, reader);
  EXPECT_EQ(d.lines.size(), 5u);
  // v1 scopes too.
  EXPECT_EQ(KickOff("/fhir/$export?_type=Patient", Bearer(Mint("system/Patient.read"))).status,
            202);

  // patient/ and user/ tokens: 403, with an OperationOutcome; no token: 401.
  for (const auto& h : {Bearer(Mint("patient/*.rs", "pa")), Bearer(Mint("user/*.cruds"))}) {
    ApiResponse r = KickOff("/fhir/$export", h);
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_TRUE(r.IsOperationOutcome());
    EXPECT_EQ(KickOff("/fhir/Patient/$export", h).status, 403);
  }
  EXPECT_EQ(KickOff("/fhir/$export").status, 401);
  // A type the token does not cover, asked for: 403; not asked for: left out.
  http::Headers obs = Bearer(Mint("system/Observation.rs"));
  EXPECT_EQ(KickOff("/fhir/$export?_type=Patient", obs).status, 403);
  Downloaded only = Download(Export("/fhir/$export", obs), obs);
  EXPECT_EQ(only.types(), (std::set<std::string>{"Observation"}));
  // Granular system scopes are not enough for an export.
  EXPECT_EQ(KickOff("/fhir/$export?_type=Observation",
                    Bearer(Mint("system/Observation.rs?category=" +
                                http::PercentEncode(std::string(kCategory) + "|vital-signs"))))
                .status,
            403);

  // Another client (another subject) cannot see the job or its files; the owner can.
  http::Headers other = Bearer(Mint("system/*.rs", {}, "another-service"));
  EXPECT_EQ(Get(status_url, other).status, 404);
  EXPECT_EQ(Delete(status_url, other).status, 404);
  std::string file_url(json::GetString(m["output"][0], "url"));
  EXPECT_EQ(Get(file_url, other).status, 404);
  EXPECT_EQ(Get(file_url).status, 401);
  EXPECT_EQ(Get(status_url, reader).status, 200);
  // The owner's token must still cover the types.
  EXPECT_EQ(Get(file_url, Bearer(Mint("patient/*.rs", "pa", "admin"))).status, 403);
}

// Verifies: REQ-API-097
TEST_F(ExportAuthTest, ConsentsApplyAndDownloadsAreAudited) {
  // B blocks their laboratory results for everyone (decided resource by resource).
  ApiResponse c =
      Put("/fhir/Consent/c-lab",
          R"({"resourceType":"Consent","id":"c-lab","status":"active",)"
          R"("scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
          R"("code":"patient-privacy"}]},"category":[{"text":"negativ samtykke"}],)"
          R"("patient":{"reference":"Patient/pb"},)"
          R"("provision":{"type":"deny","class":[{"system":)"
          R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}})",
          system_);
  ASSERT_EQ(c.status, 201) << c.body;
  // The export shows what a search shows this caller.
  std::set<std::string> searched;
  for (const auto& r : EntryRefs(Get("/fhir/Observation?_count=100", system_).json)) {
    searched.insert(r);
  }
  EXPECT_EQ(searched, (std::set<std::string>{"Observation/a-vital", "Observation/b-vital"}));
  rapidjson::Document m = Export("/fhir/Patient/$export?_type=Patient,Observation", system_);
  Downloaded d = Download(m, system_);
  EXPECT_THAT(d.refs(), UnorderedElementsAre("Patient/pa", "Patient/pb", "Observation/a-vital",
                                             "Observation/b-vital"));

  // The download is in the audit log of the patients whose data it held.
  ApiResponse log = Get("/fhir/AuditEvent?patient=Patient/pb&_count=100", system_);
  ASSERT_EQ(log.status, 200) << log.body;
  EXPECT_THAT(log.body, HasSubstr(crypto::Base64Encode("$export-file")));
}

}  // namespace
}  // namespace sund::itest
