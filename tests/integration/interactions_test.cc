// FHIR R4 interactions through the HTTP API on a real stack (http.html): create, read, vread,
// update, patch, delete, history, conditional interactions, batch/transaction, $everything,
// metadata, and the error answers (always an OperationOutcome, never a change to the data).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "api/importer.h"
#include "api_fixture.h"

namespace sund::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr std::string_view kPatient =
    R"({"resourceType":"Patient","name":[{"family":"Testesen","given":["Tove"]}],"gender":"female"})";

class InteractionTest : public ApiTest {};

// Verifies: REQ-API-001, REQ-API-002, REQ-API-006
TEST_F(InteractionTest, CreateAnswers201WithLocationETagAndMeta) {
  ApiResponse r = Post("/fhir/Patient", kPatient);
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = r.Id();
  ASSERT_FALSE(id.empty()) << r.body;
  EXPECT_THAT(r.Header("Location"), HasSubstr("/fhir/Patient/" + id + "/_history/1"));
  EXPECT_EQ(r.Header("ETag"), "W/\"1\"");
  EXPECT_THAT(r.Header("Last-Modified"), HasSubstr("GMT"));
  EXPECT_THAT(r.Header("Content-Type"), HasSubstr("application/fhir+json"));
  EXPECT_EQ(r.VersionId(), "1");
  ASSERT_TRUE(r.json["meta"].HasMember("lastUpdated"));
  auto lu = ParseFhirDate(json::View(r.json["meta"]["lastUpdated"]));
  EXPECT_TRUE(lu.ok());
  EXPECT_EQ(json::GetString(r.json["name"][0], "family"), "Testesen");
}

// Verifies: REQ-API-001, REQ-API-003
TEST_F(InteractionTest, CreateIgnoresClientIdAndReadReturnsTheResource) {
  ApiResponse c =
      Post("/fhir/Patient", R"({"resourceType":"Patient","id":"client-chosen","gender":"male"})");
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_NE(c.Id(), "client-chosen");
  EXPECT_EQ(c.Id(), c.LocationId());
  ApiResponse r = Get("/fhir/Patient/" + c.LocationId());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Id(), c.LocationId());
  EXPECT_EQ(json::GetString(r.json, "gender"), "male");
  EXPECT_EQ(r.Header("ETag"), "W/\"1\"");
  EXPECT_FALSE(r.Header("Last-Modified").empty());
}

// Verifies: REQ-API-002, REQ-API-005, REQ-API-008
TEST_F(InteractionTest, UpdateMakesVersion2AndVReadKeepsVersion1) {
  std::string id = Create("Patient", kPatient);
  ApiResponse u = Put("/fhir/Patient/" + id,
                      R"({"resourceType":"Patient","id":")" + id + R"(","gender":"other"})");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(u.Header("ETag"), "W/\"2\"");
  EXPECT_EQ(u.VersionId(), "2");
  EXPECT_THAT(u.Header("Location"), HasSubstr("/_history/2"));

  ApiResponse v1 = Get("/fhir/Patient/" + id + "/_history/1");
  ASSERT_EQ(v1.status, 200);
  EXPECT_EQ(json::GetString(v1.json, "gender"), "female");
  EXPECT_EQ(v1.Header("ETag"), "W/\"1\"");
  ApiResponse v2 = Get("/fhir/Patient/" + id + "/_history/2");
  ASSERT_EQ(v2.status, 200);
  EXPECT_EQ(json::GetString(v2.json, "gender"), "other");
  EXPECT_EQ(Get("/fhir/Patient/" + id + "/_history/3").status, 404);
  EXPECT_EQ(json::GetString(Get("/fhir/Patient/" + id).json, "gender"), "other");
}

// Verifies: REQ-API-009
TEST_F(InteractionTest, UpdateWithNewClientIdCreates) {
  ApiResponse r = Put("/fhir/Patient/my-id-1", R"({"resourceType":"Patient","id":"my-id-1"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Id(), "my-id-1");
  EXPECT_EQ(r.Header("ETag"), "W/\"1\"");
  EXPECT_EQ(Get("/fhir/Patient/my-id-1").status, 200);
}

// Verifies: REQ-API-010
TEST_F(InteractionTest, UpdateWithBodyIdMismatchIs400AndChangesNothing) {
  std::string id = Create("Patient", kPatient);
  ApiResponse r = Put("/fhir/Patient/" + id, R"({"resourceType":"Patient","id":"other"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.IsOperationOutcome());
  EXPECT_EQ(Get("/fhir/Patient/" + id).VersionId(), "1");
  EXPECT_EQ(Get("/fhir/Patient/other").status, 404);
}

// Verifies: REQ-API-011
TEST_F(InteractionTest, IfMatchAcceptsCurrentVersionAndRejectsStaleWith412) {
  std::string id = Create("Patient", kPatient);
  std::string body = R"({"resourceType":"Patient","id":")" + id + R"(","gender":"male"})";
  ApiResponse ok = Put("/fhir/Patient/" + id, body, MakeHeaders({{"If-Match", "W/\"1\""}}));
  EXPECT_EQ(ok.status, 200) << ok.body;
  ApiResponse stale = Put("/fhir/Patient/" + id, body, MakeHeaders({{"If-Match", "W/\"1\""}}));
  EXPECT_EQ(stale.status, 412);
  EXPECT_TRUE(stale.IsOperationOutcome());
  EXPECT_EQ(Get("/fhir/Patient/" + id).VersionId(), "2");
}

// Verifies: REQ-API-018
TEST_F(InteractionTest, PreferReturnMinimalRepresentationAndOperationOutcome) {
  ApiResponse minimal =
      Post("/fhir/Patient", kPatient, MakeHeaders({{"Prefer", "return=minimal"}}));
  EXPECT_EQ(minimal.status, 201);
  EXPECT_TRUE(minimal.body.empty());
  EXPECT_THAT(minimal.Header("Location"), HasSubstr("/fhir/Patient/"));
  EXPECT_EQ(minimal.Header("ETag"), "W/\"1\"");

  ApiResponse repr =
      Post("/fhir/Patient", kPatient, MakeHeaders({{"Prefer", "return=representation"}}));
  EXPECT_EQ(repr.status, 201);
  EXPECT_EQ(json::GetString(repr.json, "resourceType"), "Patient");

  ApiResponse oo =
      Post("/fhir/Patient", kPatient, MakeHeaders({{"Prefer", "return=OperationOutcome"}}));
  EXPECT_EQ(oo.status, 201);
  EXPECT_TRUE(oo.IsOperationOutcome()) << oo.body;
  EXPECT_EQ(Count("Patient"), 3);
}

// Verifies: REQ-API-013, REQ-API-014, REQ-API-015
TEST_F(InteractionTest, JsonPatchAppliesAndBadPatchesChangeNothing) {
  std::string id = CreateWithId("Patient", kPatient);
  std::string url = "/fhir/Patient/" + id;
  ApiResponse p = Patch(url, R"([{"op":"replace","path":"/gender","value":"male"},
                                 {"op":"add","path":"/birthDate","value":"1990-02-03"}])");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.VersionId(), "2");
  EXPECT_EQ(json::GetString(p.json, "gender"), "male");
  EXPECT_EQ(Count("Patient?birthdate=1990-02-03"), 1);  // the patched version is indexed

  // Not a patch document: 400.
  ApiResponse bad = Patch(url, R"({"op":"replace"})");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_TRUE(bad.IsOperationOutcome());
  // A well-formed patch that does not apply: 422.
  ApiResponse missing = Patch(url, R"([{"op":"replace","path":"/photo/0/url","value":"x"}])");
  EXPECT_EQ(missing.status, 422) << missing.body;
  EXPECT_TRUE(missing.IsOperationOutcome());
  // A failing test op makes the whole patch fail; the earlier op is not applied.
  ApiResponse failed_test = Patch(url, R"([{"op":"replace","path":"/gender","value":"other"},
                                           {"op":"test","path":"/gender","value":"female"}])");
  EXPECT_EQ(failed_test.status, 422) << failed_test.body;
  EXPECT_TRUE(failed_test.IsOperationOutcome());
  // Patch may not change the id.
  EXPECT_EQ(Patch(url, R"([{"op":"replace","path":"/id","value":"x"}])").status, 422);
  // Wrong content type.
  EXPECT_EQ(Patch(url, R"([])", MakeHeaders({{"Content-Type", "application/fhir+json"}})).status,
            415);

  ApiResponse now = Get(url);
  EXPECT_EQ(now.VersionId(), "2");
  EXPECT_EQ(json::GetString(now.json, "gender"), "male");
  EXPECT_EQ(Count("Patient?gender=other"), 0);
}

// Verifies: REQ-API-011
TEST_F(InteractionTest, PatchHonoursIfMatch) {
  std::string id = CreateWithId("Patient", kPatient);
  std::string patch = R"([{"op":"replace","path":"/gender","value":"male"}])";
  EXPECT_EQ(Patch("/fhir/Patient/" + id, patch, MakeHeaders({{"If-Match", "W/\"7\""}})).status,
            412);
  EXPECT_EQ(Patch("/fhir/Patient/" + id, patch, MakeHeaders({{"If-Match", "W/\"1\""}})).status,
            200);
}

// Verifies: REQ-API-005, REQ-API-016, REQ-API-017, REQ-API-062
TEST_F(InteractionTest, DeleteThenReadIs410AndOldVersionsStayReadable) {
  std::string id = Create("Patient", kPatient);
  ApiResponse d = Delete("/fhir/Patient/" + id);
  EXPECT_EQ(d.status, 204);
  EXPECT_TRUE(d.body.empty());
  ApiResponse gone = Get("/fhir/Patient/" + id);
  EXPECT_EQ(gone.status, 410);
  EXPECT_TRUE(gone.IsOperationOutcome());
  ApiResponse v1 = Get("/fhir/Patient/" + id + "/_history/1");
  EXPECT_EQ(v1.status, 200);
  EXPECT_EQ(json::GetString(v1.json, "gender"), "female");
  EXPECT_EQ(Get("/fhir/Patient/" + id + "/_history/2").status, 410);
  EXPECT_EQ(Count("Patient"), 0);
  // Deleting again is a no-op success; the resource can be brought back by update.
  EXPECT_EQ(Delete("/fhir/Patient/" + id).status, 204);
  ApiResponse back =
      Put("/fhir/Patient/" + id, R"({"resourceType":"Patient","id":")" + id + R"("})");
  EXPECT_EQ(back.VersionId(), "3") << back.body;
  EXPECT_EQ(Count("Patient"), 1);
}

// Verifies: REQ-API-019, REQ-API-020
TEST_F(InteractionTest, HistoryAtInstanceTypeAndSystemLevel) {
  std::string a = Create("Patient", kPatient);
  std::string b = Create("Patient", kPatient);
  std::string o = Create("Observation", R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"}})");
  ASSERT_EQ(Put("/fhir/Patient/" + a, R"({"resourceType":"Patient","id":")" + a + R"("})").status,
            200);
  ASSERT_EQ(Delete("/fhir/Patient/" + a).status, 204);

  ApiResponse inst = Get("/fhir/Patient/" + a + "/_history");
  ASSERT_EQ(inst.status, 200) << inst.body;
  EXPECT_EQ(json::GetString(inst.json, "type"), "history");
  ASSERT_EQ(inst.json["entry"].Size(), 3u);
  // Newest first: the delete (no resource), the update, the create.
  const auto& e = inst.json["entry"];
  EXPECT_FALSE(e[0].HasMember("resource"));
  EXPECT_EQ(json::GetString(e[0]["request"], "method"), "DELETE");
  EXPECT_EQ(json::GetString(e[1]["request"], "method"), "PUT");
  EXPECT_EQ(json::GetString(e[1]["resource"]["meta"], "versionId"), "2");
  EXPECT_EQ(json::GetString(e[2]["request"], "method"), "POST");

  ApiResponse type = Get("/fhir/Patient/_history");
  ASSERT_EQ(type.status, 200);
  EXPECT_EQ(type.json["entry"].Size(), 4u);  // a: 3 versions, b: 1
  ApiResponse sys = Get("/fhir/_history");
  ASSERT_EQ(sys.status, 200);
  EXPECT_EQ(sys.json["entry"].Size(), 5u);
  (void)b;
  (void)o;
  // A never-created resource has no history.
  EXPECT_EQ(Get("/fhir/Patient/nope/_history").status, 404);
}

// Verifies: REQ-API-021
TEST_F(InteractionTest, HistoryPagesWithCountThroughNextLinks) {
  std::string id = CreateWithId("Patient", kPatient);
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(Patch("/fhir/Patient/" + id, R"([{"op":"replace","path":"/gender","value":")" +
                                               std::string(i % 2 ? "male" : "female") + R"("}])")
                  .status,
              200);
  }
  std::vector<std::string> versions;
  std::string next = "/fhir/Patient/" + id + "/_history?_count=3";
  int pages = 0;
  while (!next.empty() && pages < 10) {
    ApiResponse r = Get(next);
    ASSERT_EQ(r.status, 200) << r.body;
    ++pages;
    EXPECT_LE(r.json["entry"].Size(), 3u);
    for (const auto& e : r.json["entry"].GetArray()) {
      versions.emplace_back(json::GetString(e["resource"]["meta"], "versionId"));
    }
    next = LinkUrl(r.json, "next");
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(versions, ElementsAre("7", "6", "5", "4", "3", "2", "1"));
}

// Verifies: REQ-API-022
TEST_F(InteractionTest, HistorySinceAndAt) {
  std::string id = CreateWithId("Patient", kPatient);
  std::string url = "/fhir/Patient/" + id;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Patch(url, R"([{"op":"add","path":"/active","value":true}])").status, 200);
  }
  // Version 3's lastUpdated (millisecond precision in meta).
  ApiResponse v3 = Get(url + "/_history/3");
  std::string t3(json::GetString(v3.json["meta"], "lastUpdated"));
  ASSERT_FALSE(t3.empty());

  ApiResponse since = Get(url + "/_history?_since=" + Q(t3));
  ASSERT_EQ(since.status, 200) << since.body;
  std::vector<std::string> got;
  for (const auto& e : since.json["entry"].GetArray()) {
    got.emplace_back(json::GetString(e["resource"]["meta"], "versionId"));
  }
  EXPECT_THAT(got, ElementsAre("4", "3"));

  ApiResponse at = Get(url + "/_history?_at=" + Q(t3));
  ASSERT_EQ(at.status, 200) << at.body;
  ASSERT_EQ(at.json["entry"].Size(), 1u);
  EXPECT_EQ(json::GetString(at.json["entry"][0]["resource"]["meta"], "versionId"), "3");

  EXPECT_EQ(Get(url + "/_history?_since=yesterday").status, 400);
}

// Verifies: REQ-API-022
TEST_F(InteractionTest, HistoryAtPagesKeepTheAtFilter) {
  // System history at an instant, one version per page: every page must keep _at, so that a
  // version superseded before the instant (a/1) never shows up.
  std::string a = CreateWithId("Patient", kPatient);
  ASSERT_EQ(Patch("/fhir/Patient/" + a, R"([{"op":"add","path":"/active","value":true}])").status,
            200);
  std::string b = CreateWithId("Patient", kPatient);
  std::string tb(json::GetString(Get("/fhir/Patient/" + b).json["meta"], "lastUpdated"));
  ASSERT_EQ(Patch("/fhir/Patient/" + b, R"([{"op":"add","path":"/active","value":true}])").status,
            200);
  std::vector<std::string> seen;
  std::string next = "/fhir/_history?_count=1&_at=" + Q(tb);
  int pages = 0;
  while (!next.empty() && pages < 10) {
    ApiResponse r = Get(next);
    ASSERT_EQ(r.status, 200) << r.body;
    ++pages;
    for (const auto& e : r.json["entry"].GetArray()) {
      seen.push_back(std::string(json::GetString(e["resource"], "id")) + "/" +
                     std::string(json::GetString(e["resource"]["meta"], "versionId")));
    }
    next = LinkUrl(r.json, "next");
  }
  EXPECT_THAT(seen, ElementsAre(b + "/1", a + "/2"));
}

// Verifies: REQ-API-023
TEST_F(InteractionTest, ConditionalCreateWithIfNoneExist) {
  std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"X1"}]})";
  auto ine = MakeHeaders({{"If-None-Exist", "identifier=urn:sys|X1"}});
  ApiResponse first = Post("/fhir/Patient", body, ine);
  ASSERT_EQ(first.status, 201) << first.body;
  ApiResponse second = Post("/fhir/Patient", body, ine);
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.LocationId(), first.LocationId());
  EXPECT_EQ(Count("Patient"), 1);

  // Two matches: 412 and nothing created.
  Create("Patient", body);
  ApiResponse twice = Post("/fhir/Patient", body, ine);
  EXPECT_EQ(twice.status, 412);
  EXPECT_TRUE(twice.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), 2);
}

// Verifies: REQ-API-025
TEST_F(InteractionTest, ConditionalUpdate) {
  std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"U1"}],"gender":"male"})";
  ApiResponse created = Put("/fhir/Patient?identifier=" + Q("urn:sys|U1"), body);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = created.LocationId();
  std::string body2 =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"U1"}],"gender":"female"})";
  ApiResponse updated = Put("/fhir/Patient?identifier=" + Q("urn:sys|U1"), body2);
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.LocationId(), id);
  EXPECT_EQ(updated.VersionId(), "2");
  // Two matches: 412.
  Create("Patient", body);
  ApiResponse many = Put("/fhir/Patient?identifier=" + Q("urn:sys|U1"), body2);
  EXPECT_EQ(many.status, 412);
  EXPECT_TRUE(many.IsOperationOutcome());
  EXPECT_EQ(Count("Patient?gender=female"), 1);
  EXPECT_EQ(Count("Patient"), 2);
}

// No match, but the body names the id of another patient: that patient is not overwritten
// (409, FHIR R4 3.1.0.4.3), in REST and in a transaction; an unused id is created.
// Verifies: REQ-API-025
TEST_F(InteractionTest, ConditionalUpdateWithoutMatchNeverReplacesAnotherResource) {
  std::string other = Create("Patient", kPatient);
  std::string body = R"({"resourceType":"Patient","id":")" + other +
                     R"(","identifier":[{"system":"urn:sys","value":"NOPE"}],"gender":"male"})";
  ApiResponse put = Put("/fhir/Patient?identifier=" + Q("urn:sys|NOPE"), body);
  EXPECT_EQ(put.status, 409) << put.body;
  EXPECT_TRUE(put.IsOperationOutcome());
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)" +
                       body +
                       R"(,"request":{"method":"PUT","url":"Patient?identifier=urn:sys|NOPE"}}]})";
  ApiResponse txn = Post("/fhir", bundle);
  EXPECT_EQ(txn.status, 409) << txn.body;
  ApiResponse still = Get("/fhir/Patient/" + other);
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.VersionId(), "1");
  std::string fresh = R"({"resourceType":"Patient","id":"issue12-unused-id","identifier":)"
                      R"([{"system":"urn:sys","value":"NOPE"}]})";
  EXPECT_EQ(Put("/fhir/Patient?identifier=" + Q("urn:sys|NOPE"), fresh).status, 201);
}

// Verifies: REQ-API-026
TEST_F(InteractionTest, ConditionalDeleteRemovesEveryMatch) {
  std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"D1"}]})";
  Create("Patient", body);
  Create("Patient", body);
  std::string keep = Create("Patient", kPatient);
  ApiResponse d = Delete("/fhir/Patient?identifier=" + Q("urn:sys|D1"));
  EXPECT_EQ(d.status, 204) << d.body;
  EXPECT_EQ(Count("Patient?identifier=" + Q("urn:sys|D1")), 0);
  EXPECT_EQ(Count("Patient"), 1);
  EXPECT_EQ(Get("/fhir/Patient/" + keep).status, 200);
  // Without criteria it is refused.
  EXPECT_EQ(Delete("/fhir/Patient").status, 400);
}

// Verifies: REQ-API-024
TEST_F(InteractionTest, ParallelConditionalCreatesMakeExactlyOne) {
  constexpr int kThreads = 16;
  std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:race","value":"X"}]})";
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<int> statuses(kThreads, 0);
  std::vector<std::string> ids(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ApiClient c(stack_->port());
      c.Get("/fhir/metadata");  // connect before the start line
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      ApiResponse r =
          c.Post("/fhir/Patient", body, MakeHeaders({{"If-None-Exist", "identifier=urn:race|X"}}));
      statuses[i] = r.status;
      ids[i] = r.LocationId();
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  go.store(true);
  for (auto& t : threads) t.join();
  int created = 0, matched = 0;
  for (int s : statuses) {
    if (s == 201) ++created;
    if (s == 200) ++matched;
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(matched, kThreads - 1);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(Count("Patient?identifier=" + Q("urn:race|X")), 1);
  EXPECT_EQ(Count("Patient"), 1);
}

// Read-modify-write from many clients at once with If-Match: every stale write is refused
// (412), none is lost, and the version counts the successful ones.
// Verifies: REQ-API-011, REQ-API-012
TEST_F(InteractionTest, ConcurrentIfMatchUpdatesLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 10;
  std::string id = Create("Patient", R"({"resourceType":"Patient","multipleBirthInteger":0})");
  std::atomic<int> refused{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      ApiClient c(stack_->port());
      for (int done = 0; done < kIncrements;) {
        ApiResponse r = c.Get("/fhir/Patient/" + id);
        if (r.status != 200) {
          failed.fetch_add(1);
          return;
        }
        std::int64_t n = r.json["multipleBirthInteger"].GetInt64();
        std::string body = R"({"resourceType":"Patient","id":")" + id +
                           R"(","multipleBirthInteger":)" + std::to_string(n + 1) + "}";
        ApiResponse w = c.Put("/fhir/Patient/" + id, body,
                              MakeHeaders({{"If-Match", "W/\"" + r.VersionId() + "\""}}));
        if (w.status == 200) {
          ++done;
        } else if (w.status == 412 || w.status == 409) {
          refused.fetch_add(1);
        } else {
          failed.fetch_add(1);
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  ApiResponse last = Get("/fhir/Patient/" + id);
  ASSERT_EQ(last.status, 200);
  EXPECT_EQ(last.json["multipleBirthInteger"].GetInt64(), kThreads * kIncrements);
  EXPECT_EQ(last.VersionId(), std::to_string(1 + kThreads * kIncrements));
  // The clients raced: some writes were stale and refused (one client alone would see none).
  EXPECT_GT(refused.load(), 0);
}

// Many writers at once, each creating its own resources and transactions: all of them land.
// Verifies: REQ-API-029, REQ-API-037
TEST_F(InteractionTest, ManyConcurrentWritersAllLand) {
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ApiClient c(stack_->port());
      for (int j = 0; j < kEach; ++j) {
        std::string tag = std::to_string(i) + "-" + std::to_string(j);
        std::string bundle =
            R"({"resourceType":"Bundle","type":"transaction","entry":[
              {"fullUrl":"urn:uuid:0b6e0c1c-0000-4000-8000-)" +
            std::string(12 - tag.size(), '0') + tag + R"(",
               "resource":{"resourceType":"Patient","identifier":[{"system":"urn:w","value":")" +
            tag + R"("}]},"request":{"method":"POST","url":"Patient"}},
              {"resource":{"resourceType":"Observation","status":"final",
               "code":{"text":"x"},"subject":{"reference":"urn:uuid:0b6e0c1c-0000-4000-8000-)" +
            std::string(12 - tag.size(), '0') + tag + R"("}},
               "request":{"method":"POST","url":"Observation"}}]})";
        ApiResponse r = c.Post("/fhir", bundle);
        if (r.status != 200) failed.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(Count("Patient"), kThreads * kEach);
  EXPECT_EQ(Count("Observation"), kThreads * kEach);
  EXPECT_EQ(Count("Observation?subject:Patient.identifier=" + Q("urn:w|3-7")), 1);
}

// Verifies: REQ-API-028, REQ-API-029
TEST_F(InteractionTest, TransactionResolvesUrnUuidAndConditionalReferences) {
  Create("Organization", R"({"resourceType":"Organization","name":"Acme",
      "identifier":[{"system":"urn:org","value":"O1"}]})");
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"T1"}],
                 "managingOrganization":{"reference":"Organization?identifier=urn:org|O1"}},
     "request":{"method":"POST","url":"Patient"}},
    {"fullUrl":"urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
     "resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},
                 "subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}},
     "request":{"method":"POST","url":"Observation"}}]})";
  ApiResponse r = Post("/fhir", bundle);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::GetString(r.json, "type"), "transaction-response");
  ASSERT_EQ(r.json["entry"].Size(), 2u);
  for (const auto& e : r.json["entry"].GetArray()) {
    EXPECT_THAT(std::string(json::GetString(e["response"], "status")), StartsWith("201"));
    EXPECT_THAT(std::string(json::GetString(e["response"], "location")), HasSubstr("/_history/1"));
  }
  std::string loc(json::GetString(r.json["entry"][0]["response"], "location"));
  std::string patient_id = loc.substr(8, loc.find("/_history") - 8);  // "Patient/<id>/..."
  ApiResponse obs = Get("/fhir/Observation?subject=Patient/" + patient_id);
  ASSERT_EQ(obs.status, 200);
  EXPECT_EQ(EntryRefs(obs.json).size(), 1u);
  ApiResponse p = Get("/fhir/Patient/" + patient_id);
  std::string org_ref(json::GetString(p.json["managingOrganization"], "reference"));
  EXPECT_THAT(org_ref, StartsWith("Organization/"));
  EXPECT_EQ(Get("/fhir/" + org_ref).status, 200);
}

// Verifies: REQ-API-031
TEST_F(InteractionTest, TransactionIfNoneExistReusesTheMatch) {
  std::string existing = Create(
      "Patient", R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"N1"}]})");
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:0c3b3f2e-5a8e-4d7c-9d55-4b0a1f2e3d4c",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"N1"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:sys|N1"}},
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},
                 "subject":{"reference":"urn:uuid:0c3b3f2e-5a8e-4d7c-9d55-4b0a1f2e3d4c"}},
     "request":{"method":"POST","url":"Observation"}}]})";
  ApiResponse r = Post("/fhir", bundle);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(std::string(json::GetString(r.json["entry"][0]["response"], "status")),
              StartsWith("200"));
  EXPECT_EQ(Count("Patient"), 1);
  EXPECT_EQ(Count("Observation?subject=Patient/" + existing), 1);
}

// Verifies: REQ-API-028, REQ-API-032
TEST_F(InteractionTest, TransactionProcessesDeletePostPutGetInThatOrder) {
  std::string old = Create(
      "Patient", R"({"resourceType":"Patient","identifier":[{"system":"urn:ord","value":"old"}]})");
  // Listed in the opposite order; the GET must see the writes and not the deleted one.
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"request":{"method":"GET","url":"Patient?identifier=urn:ord|"}},
    {"resource":{"resourceType":"Patient","id":"ord-put","identifier":[{"system":"urn:ord","value":"put"}]},
     "request":{"method":"PUT","url":"Patient/ord-put"}},
    {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:ord","value":"post"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"request":{"method":"DELETE","url":"Patient/)" +
                       old + R"("}}]})";
  ApiResponse r = Post("/fhir", bundle);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& e = r.json["entry"];
  ASSERT_EQ(e.Size(), 4u);
  // Response entries keep the request order.
  EXPECT_THAT(std::string(json::GetString(e[0]["response"], "status")), StartsWith("200"));
  EXPECT_THAT(std::string(json::GetString(e[1]["response"], "status")), StartsWith("201"));
  EXPECT_THAT(std::string(json::GetString(e[2]["response"], "status")), StartsWith("201"));
  EXPECT_THAT(std::string(json::GetString(e[3]["response"], "status")), StartsWith("204"));
  ASSERT_TRUE(e[0].HasMember("resource"));
  std::vector<std::string> values;
  for (const auto& x : e[0]["resource"]["entry"].GetArray()) {
    values.emplace_back(json::GetString(x["resource"]["identifier"][0], "value"));
  }
  EXPECT_THAT(values, UnorderedElementsAre("put", "post"));
  EXPECT_EQ(Get("/fhir/Patient/" + old).status, 410);
}

// Verifies: REQ-API-027, REQ-API-030, REQ-API-034
TEST_F(InteractionTest, TransactionWithOneBadEntryWritesNothing) {
  Create("Patient", kPatient);
  std::int64_t patients = Count("Patient");
  std::int64_t observations = Count("Observation");
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:5c7a1a5e-3f39-4c38-9f0f-0d6d1b8a6a01",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:atom","value":"A"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},
                 "subject":{"reference":"urn:uuid:5c7a1a5e-3f39-4c38-9f0f-0d6d1b8a6a01"}},
     "request":{"method":"POST","url":"Observation"}},
    {"resource":{"resourceType":"Patient","id":"atom-put"},
     "request":{"method":"PUT","url":"Patient/atom-put","ifMatch":"W/\"3\""}}]})";
  ApiResponse r = Post("/fhir", bundle);
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_TRUE(r.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), patients);
  EXPECT_EQ(Count("Observation"), observations);
  EXPECT_EQ(Count("Patient?identifier=" + Q("urn:atom|A")), 0);
  EXPECT_EQ(Get("/fhir/Patient/atom-put").status, 404);
  EXPECT_EQ(Get("/fhir/_history").json["entry"].Size(), 1u);

  // A conditional reference that matches nothing also fails the whole transaction.
  std::string bundle2 = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:atom","value":"B"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},
                 "subject":{"reference":"Patient?identifier=urn:none|none"}},
     "request":{"method":"POST","url":"Observation"}}]})";
  ApiResponse r2 = Post("/fhir", bundle2);
  EXPECT_EQ(r2.status, 412) << r2.body;
  EXPECT_TRUE(r2.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), patients);
  EXPECT_EQ(Count("Observation"), observations);
}

// Verifies: REQ-API-033, REQ-API-034
TEST_F(InteractionTest, BatchEntriesSucceedOrFailOnTheirOwn) {
  std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Patient","gender":"male"},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Patient","id":"b-put"},
     "request":{"method":"PUT","url":"Patient/b-put","ifMatch":"W/\"9\""}},
    {"request":{"method":"GET","url":"Patient/does-not-exist"}},
    {"resource":{"resourceType":"Patient","id":"b-ok"},
     "request":{"method":"PUT","url":"Patient/b-ok"}}]})";
  ApiResponse r = Post("/fhir", bundle);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::GetString(r.json, "type"), "batch-response");
  const auto& e = r.json["entry"];
  ASSERT_EQ(e.Size(), 4u);
  EXPECT_THAT(std::string(json::GetString(e[0]["response"], "status")), StartsWith("201"));
  EXPECT_THAT(std::string(json::GetString(e[1]["response"], "status")), StartsWith("412"));
  EXPECT_EQ(json::GetString(e[1]["response"]["outcome"], "resourceType"), "OperationOutcome");
  EXPECT_THAT(std::string(json::GetString(e[2]["response"], "status")), StartsWith("404"));
  EXPECT_THAT(std::string(json::GetString(e[3]["response"], "status")), StartsWith("201"));
  EXPECT_EQ(Count("Patient"), 2);
  EXPECT_EQ(Get("/fhir/Patient/b-put").status, 404);
}

// Verifies: REQ-API-035
TEST_F(InteractionTest, BundleThatIsNotBatchOrTransactionIs400) {
  ApiResponse r = Post("/fhir", R"({"resourceType":"Bundle","type":"collection","entry":[]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.IsOperationOutcome());
  ApiResponse r2 = Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Patient"}}]})");
  EXPECT_EQ(r2.status, 400);
  EXPECT_TRUE(r2.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), 0);
}

// Verifies: REQ-API-038
TEST_F(InteractionTest, PatientEverythingReturnsTheCompartment) {
  ASSERT_EQ(Put("/fhir/Organization/org1", R"({"resourceType":"Organization","id":"org1"})").status,
            201);
  ASSERT_EQ(Put("/fhir/Patient/p1", R"({"resourceType":"Patient","id":"p1",
      "managingOrganization":{"reference":"Organization/org1"}})")
                .status,
            201);
  ASSERT_EQ(Put("/fhir/Patient/p2", R"({"resourceType":"Patient","id":"p2"})").status, 201);
  ASSERT_EQ(Put("/fhir/Encounter/e1", R"({"resourceType":"Encounter","id":"e1","status":"finished",
      "class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}})")
                .status,
            201);
  ASSERT_EQ(Put("/fhir/Observation/o1", R"({"resourceType":"Observation","id":"o1","status":"final",
      "code":{"text":"x"},"subject":{"reference":"Patient/p1"},
      "encounter":{"reference":"Encounter/e1"}})")
                .status,
            201);
  ASSERT_EQ(Put("/fhir/Observation/o2", R"({"resourceType":"Observation","id":"o2","status":"final",
      "code":{"text":"x"},"subject":{"reference":"Patient/p2"}})")
                .status,
            201);
  ApiResponse r = Get("/fhir/Patient/p1/$everything");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryRefs(r.json, ""), UnorderedElementsAre("Patient/p1", "Organization/org1",
                                                          "Encounter/e1", "Observation/o1"));
  EXPECT_EQ(EntryRefs(r.json, "")[0], "Patient/p1");
  EXPECT_EQ(Get("/fhir/Patient/nobody/$everything").status, 404);
}

// Verifies: REQ-API-039
TEST_F(InteractionTest, MetadataListsResourceTypesAndSearchParameters) {
  ApiResponse r = Get("/fhir/metadata");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::GetString(r.json, "resourceType"), "CapabilityStatement");
  EXPECT_EQ(json::GetString(r.json, "fhirVersion"), "4.0.1");
  std::set<std::string> types;
  std::set<std::string> patient_params;
  for (const auto& res : r.json["rest"][0]["resource"].GetArray()) {
    std::string t(json::GetString(res, "type"));
    types.insert(t);
    if (t != "Patient") continue;
    for (const auto& p : res["searchParam"].GetArray()) {
      patient_params.insert(std::string(json::GetString(p, "name")) + ":" +
                            std::string(json::GetString(p, "type")));
    }
  }
  EXPECT_GT(types.size(), 140u);
  for (const char* t : {"Patient", "Observation", "Encounter", "Bundle", "ValueSet"}) {
    EXPECT_TRUE(types.count(t)) << t;
  }
  for (const char* p : {"_id:token", "_lastUpdated:date", "name:string", "birthdate:date",
                        "gender:token", "identifier:token", "general-practitioner:reference"}) {
    EXPECT_TRUE(patient_params.count(p)) << p;
  }
}

// ---- Errors: each is an OperationOutcome with the right status and changes nothing. ----

// Verifies: REQ-API-041
TEST_F(InteractionTest, MalformedJsonIs400) {
  ApiResponse r = Post("/fhir/Patient", R"({"resourceType":"Patient",)");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
  ApiResponse r2 = Post("/fhir/Patient", R"([1,2])");
  EXPECT_EQ(r2.status, 400);
  EXPECT_TRUE(r2.IsOperationOutcome());
  ApiResponse r3 = Post("/fhir", R"(not json)");
  EXPECT_EQ(r3.status, 400);
  EXPECT_TRUE(r3.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), 0);
}

// Verifies: REQ-API-042
TEST_F(InteractionTest, ResourceTypeMismatchIs400) {
  ApiResponse r = Post("/fhir/Patient", R"({"resourceType":"Observation","status":"final"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.IsOperationOutcome());
  EXPECT_EQ(Count("Observation"), 0);
}

// Verifies: REQ-API-044
TEST_F(InteractionTest, InvalidIdIs400) {
  std::string long_id(65, 'a');
  for (const std::string& id : {std::string("bad_id"), long_id, std::string("a%20b")}) {
    ApiResponse r = Get("/fhir/Patient/" + id);
    EXPECT_EQ(r.status, 400) << id;
    EXPECT_TRUE(r.IsOperationOutcome()) << id;
  }
  ApiResponse put = Put("/fhir/Patient/bad_id", R"({"resourceType":"Patient","id":"bad_id"})");
  EXPECT_EQ(put.status, 400);
  EXPECT_TRUE(put.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), 0);
}

// Verifies: REQ-API-065
TEST_F(InteractionTest, UnknownSearchParameterIs400WhenStrictAndAWarningOtherwise) {
  Create("Patient", kPatient);
  ApiResponse strict =
      Get("/fhir/Patient?nonsense=1", MakeHeaders({{"Prefer", "handling=strict"}}));
  EXPECT_EQ(strict.status, 400);
  EXPECT_TRUE(strict.IsOperationOutcome());
  ApiResponse lenient = Get("/fhir/Patient?nonsense=1");
  ASSERT_EQ(lenient.status, 200);
  EXPECT_EQ(EntryRefs(lenient.json).size(), 1u);
  ASSERT_EQ(EntryRefs(lenient.json, "outcome").size(), 1u);
}

// Verifies: REQ-API-045
TEST_F(InteractionTest, UnknownTypeAndUnknownIdAre404) {
  for (const char* target : {"/fhir/Unicorn", "/fhir/Unicorn/1", "/fhir/Patient/nope",
                             "/fhir/Patient/nope/_history/1", "/elsewhere"}) {
    ApiResponse r = Get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_TRUE(r.IsOperationOutcome()) << target;
  }
  ApiResponse post = Post("/fhir/Unicorn", R"({"resourceType":"Unicorn"})");
  EXPECT_EQ(post.status, 404);
  EXPECT_TRUE(post.IsOperationOutcome());
}

// Verifies: REQ-API-046
TEST_F(InteractionTest, WrongMethodIs405) {
  std::string id = Create("Patient", kPatient);
  struct Case {
    const char* method;
    std::string target;
  };
  for (const Case& c : {Case{"DELETE", "/fhir/metadata"}, Case{"POST", "/fhir/Patient/_history"},
                        Case{"POST", "/fhir/Patient/" + id}, Case{"PUT", "/fhir"},
                        Case{"DELETE", "/fhir/_history"}}) {
    ApiResponse r = client_->Send(c.method, c.target, "{}");
    EXPECT_EQ(r.status, 405) << c.method << " " << c.target;
    EXPECT_TRUE(r.IsOperationOutcome()) << c.method << " " << c.target;
  }
  EXPECT_EQ(Get("/fhir/Patient/" + id).VersionId(), "1");
}

// Verifies: REQ-API-047
TEST_F(InteractionTest, OversizedBodyIs413OperationOutcomeAndNothingIsStored) {
  std::string big = R"({"resourceType":"Patient","text":{"status":"generated","div":"<div>)" +
                    std::string(kMaxBodyBytes, 'x') + R"(</div>"}})";
  ApiResponse r = Post("/fhir/Patient", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
  client_->raw().Close();
  EXPECT_EQ(Count("Patient"), 0);
}

// Verifies: REQ-API-036
TEST_F(InteractionTest, TooManyBundleEntriesIs413) {
  // A stack with the default 16 MiB body limit, so that the Engine's entry limit answers.
  FhirStack big(FhirStack::DefaultOptions());
  ASSERT_TRUE(big.Start().ok());
  ApiClient client(big.port());
  std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (int i = 0; i < 10'001; ++i) {
    bundle += i ? "," : "";
    bundle += R"({"request":{"method":"GET","url":"Patient/x"}})";
  }
  bundle += "]}";
  ApiResponse r = client.Post("/fhir", bundle);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body.substr(0, 200);
}

// Verifies: REQ-API-048
TEST_F(InteractionTest, XmlIs415) {
  Create("Patient", kPatient);
  ApiResponse f = Get("/fhir/Patient?_format=xml");
  EXPECT_EQ(f.status, 415);
  EXPECT_TRUE(f.IsOperationOutcome());
  ApiResponse f2 = Get("/fhir/metadata?_format=application/fhir%2Bxml");
  EXPECT_EQ(f2.status, 415);
  ApiResponse a = Get("/fhir/Patient", MakeHeaders({{"Accept", "application/fhir+xml"}}));
  EXPECT_EQ(a.status, 415);
  EXPECT_TRUE(a.IsOperationOutcome());
  ApiResponse c = Post("/fhir/Patient", "<Patient xmlns=\"http://hl7.org/fhir\"/>",
                       MakeHeaders({{"Content-Type", "application/fhir+xml"}}));
  EXPECT_EQ(c.status, 415);
  EXPECT_TRUE(c.IsOperationOutcome());
  EXPECT_EQ(Count("Patient"), 1);
  // JSON and wildcard Accept are fine.
  EXPECT_EQ(Get("/fhir/Patient", MakeHeaders({{"Accept", "application/fhir+json"}})).status, 200);
  EXPECT_EQ(Get("/fhir/Patient?_format=json").status, 200);
  EXPECT_EQ(Get("/fhir/Patient", MakeHeaders({{"Accept", "*/*"}})).status, 200);
}

// Verifies: REQ-API-066
TEST_F(InteractionTest, InvalidSearchValueIs400) {
  for (const char* q : {"/fhir/Patient?birthdate=yesterday", "/fhir/Patient?_count=-1",
                        "/fhir/Observation?value-quantity=abc", "/fhir/Patient?gender:exact=x",
                        "/fhir/Patient?_sort=nonsense", "/fhir/Patient?_summary=maybe"}) {
    ApiResponse r = Get(q);
    EXPECT_EQ(r.status, 400) << q;
    EXPECT_TRUE(r.IsOperationOutcome()) << q;
  }
}

// Verifies: REQ-API-004, REQ-API-067
TEST_F(InteractionTest, ReadSupportsIfNoneMatchAndSummary) {
  std::string id = Create("Patient", kPatient);
  ApiResponse nm = Get("/fhir/Patient/" + id, MakeHeaders({{"If-None-Match", "W/\"1\""}}));
  EXPECT_EQ(nm.status, 304);
  ApiResponse el = Get("/fhir/Patient/" + id + "?_elements=gender");
  ASSERT_EQ(el.status, 200);
  EXPECT_TRUE(el.json.HasMember("gender"));
  EXPECT_FALSE(el.json.HasMember("name"));
}

// ---- Preconditions, validation, reads and operations beyond the basics (issue #12). ----

// Verifies: REQ-API-111
TEST_F(InteractionTest, DeleteHonoursIfMatchAndAMalformedIfMatchIs400) {
  std::string id = Create("Patient", kPatient);
  std::string url = "/fhir/Patient/" + id;
  ApiResponse stale = Delete(url, MakeHeaders({{"If-Match", "W/\"2\""}}));
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_TRUE(stale.IsOperationOutcome());
  EXPECT_EQ(Get(url).status, 200);
  // An If-Match that names no version is refused before anything is written.
  for (const char* bad : {"W/\"one\"", "abc"}) {
    http::Headers h = MakeHeaders({{"If-Match", bad}});
    ApiResponse d = Delete(url, h);
    EXPECT_EQ(d.status, 400) << bad;
    EXPECT_TRUE(d.IsOperationOutcome()) << bad;
    EXPECT_EQ(
        Put(url, R"({"resourceType":"Patient","id":")" + id + R"(","gender":"male"})", h).status,
        400)
        << bad;
    EXPECT_EQ(Patch(url, R"([{"op":"replace","path":"/gender","value":"male"}])", h).status, 400)
        << bad;
  }
  ApiResponse still = Get(url);
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.VersionId(), "1");
  EXPECT_EQ(json::GetString(still.json, "gender"), "female");
  // The current version deletes.
  EXPECT_EQ(Delete(url, MakeHeaders({{"If-Match", "W/\"1\""}})).status, 204);
  EXPECT_EQ(Get(url).status, 410);
}

// Result parameters would change which matches a conditional interaction sees.
// Verifies: REQ-API-112
TEST_F(InteractionTest, ConditionalCriteriaWithResultParametersAre400) {
  std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"R1"}]})";
  std::string id = Create("Patient", body);
  ApiResponse create = Post("/fhir/Patient", body,
                            MakeHeaders({{"If-None-Exist", "identifier=urn:sys|R1&_count=1"}}));
  EXPECT_EQ(create.status, 400) << create.body;
  EXPECT_TRUE(create.IsOperationOutcome());
  ApiResponse update =
      Put("/fhir/Patient?identifier=" + Q("urn:sys|R1") + "&_sort=family",
          R"({"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"R1"}],)"
          R"("gender":"male"})");
  EXPECT_EQ(update.status, 400) << update.body;
  EXPECT_TRUE(update.IsOperationOutcome());
  for (const char* result : {"_count=1", "_sort=family", "_include=Patient%3Aorganization",
                             "_revinclude=Observation%3Asubject", "_summary=true", "_elements=id",
                             "_total=accurate", "_offset=1", "_cursor=1"}) {
    ApiResponse del = Delete("/fhir/Patient?identifier=" + Q("urn:sys|R1") + "&" + result);
    EXPECT_EQ(del.status, 400) << result << ": " << del.body;
    EXPECT_TRUE(del.IsOperationOutcome()) << result;
  }
  EXPECT_EQ(Count("Patient"), 1);
  ApiResponse still = Get("/fhir/Patient/" + id);
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.VersionId(), "1");
  EXPECT_FALSE(still.json.HasMember("gender"));
}

// Verifies: REQ-API-113
TEST_F(InteractionTest, ConditionalDeleteOfMoreThan1000MatchesIs412) {
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 1001; ++i) {
    bundle += i ? "," : "";
    bundle += R"({"resource":{"resourceType":"Patient",)"
              R"("identifier":[{"system":"urn:bulk","value":"many"}]},)"
              R"("request":{"method":"POST","url":"Patient"}})";
  }
  bundle += "]}";
  auto written = BundleWriter()(bundle);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  std::string criteria = "/fhir/Patient?identifier=" + Q("urn:bulk|many");
  ApiResponse many = Delete(criteria);
  EXPECT_EQ(many.status, 412) << many.body;
  EXPECT_TRUE(many.IsOperationOutcome());
  EXPECT_EQ(Count("Patient?identifier=" + Q("urn:bulk|many")), 1001);
  // With one fewer match the limit holds, and every match is deleted.
  ApiResponse first = Get(criteria + "&_count=1");
  ASSERT_EQ(first.status, 200) << first.body;
  std::vector<std::string> refs = EntryRefs(first.json);
  ASSERT_EQ(refs.size(), 1u);
  ASSERT_EQ(Delete("/fhir/" + refs[0]).status, 204);
  EXPECT_EQ(Delete(criteria).status, 204);
  EXPECT_EQ(Count("Patient?identifier=" + Q("urn:bulk|many")), 0);
}

// Verifies: REQ-API-114
TEST_F(InteractionTest, TransactionReferenceToAnUrnNoEntryHasIs400) {
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:3f1c2d4e-0000-4000-8000-000000000001",
     "resource":{"resourceType":"Patient","gender":"female"},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},
                 "subject":{"reference":"urn:uuid:3f1c2d4e-0000-4000-8000-00000000dead"}},
     "request":{"method":"POST","url":"Observation"}}]})";
  ApiResponse r = Post("/fhir", bundle);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(r.IsOperationOutcome());
  EXPECT_THAT(r.body, HasSubstr("no entry"));
  EXPECT_EQ(Count("Patient"), 0);
  EXPECT_EQ(Count("Observation"), 0);
}

// Verifies: REQ-API-115
TEST_F(InteractionTest, UpdatePatchAndBundleEntriesAreValidated) {
  std::string id = CreateWithId("Patient", kPatient);
  std::string url = "/fhir/Patient/" + id;
  ApiResponse put = Put(
      url, R"({"resourceType":"Patient","id":")" + id + R"(","birthDate":"secret-not-a-date"})");
  EXPECT_EQ(put.status, 400) << put.body;
  EXPECT_TRUE(put.IsOperationOutcome());
  EXPECT_THAT(put.body, HasSubstr("Patient.birthDate"));
  EXPECT_THAT(put.body, ::testing::Not(HasSubstr("secret-not-a-date")));
  ApiResponse patch =
      Patch(url, R"([{"op":"add","path":"/birthDate","value":"secret-not-a-date"}])");
  EXPECT_EQ(patch.status, 400) << patch.body;
  EXPECT_TRUE(patch.IsOperationOutcome());
  EXPECT_THAT(patch.body, HasSubstr("Patient.birthDate"));
  EXPECT_THAT(patch.body, ::testing::Not(HasSubstr("secret-not-a-date")));
  ApiResponse now = Get(url);
  ASSERT_EQ(now.status, 200);
  EXPECT_EQ(now.VersionId(), "1");
  EXPECT_FALSE(now.json.HasMember("birthDate"));

  // A transaction with one invalid entry stores nothing; in a batch only that entry fails.
  std::string entries = R"([
    {"resource":{"resourceType":"Patient","gender":"male"},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Patient","id":"val-bad","unknownElement":1},
     "request":{"method":"PUT","url":"Patient/val-bad"}}])";
  ApiResponse txn =
      Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":)" + entries + "}");
  EXPECT_EQ(txn.status, 400) << txn.body;
  EXPECT_TRUE(txn.IsOperationOutcome());
  EXPECT_THAT(txn.body, HasSubstr("Patient.unknownElement"));
  EXPECT_EQ(Count("Patient"), 1);
  ApiResponse batch =
      Post("/fhir", R"({"resourceType":"Bundle","type":"batch","entry":)" + entries + "}");
  ASSERT_EQ(batch.status, 200) << batch.body;
  const auto& e = batch.json["entry"];
  ASSERT_EQ(e.Size(), 2u);
  EXPECT_THAT(std::string(json::GetString(e[0]["response"], "status")), StartsWith("201"));
  EXPECT_THAT(std::string(json::GetString(e[1]["response"], "status")), StartsWith("400"));
  EXPECT_EQ(json::GetString(e[1]["response"]["outcome"], "resourceType"), "OperationOutcome");
  EXPECT_EQ(Count("Patient"), 2);
  EXPECT_EQ(Get("/fhir/Patient/val-bad").status, 404);
}

// Verifies: REQ-API-116
TEST_F(InteractionTest, PatchOfADeletedResourceIs410AndATypeChangeIsRefused) {
  std::string id = CreateWithId("Patient", kPatient);
  std::string url = "/fhir/Patient/" + id;
  std::string to_observation = R"([{"op":"replace","path":"/resourceType","value":"Observation"}])";
  ApiResponse type = Patch(url, to_observation);
  EXPECT_EQ(type.status, 422) << type.body;
  EXPECT_TRUE(type.IsOperationOutcome());
  // As a PATCH entry of a transaction the same patch fails the Bundle with 400.
  ApiResponse txn =
      Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[)"
                    R"({"resource":)" +
                        to_observation + R"(,"request":{"method":"PATCH","url":"Patient/)" + id +
                        R"("}}]})");
  EXPECT_EQ(txn.status, 400) << txn.body;
  EXPECT_TRUE(txn.IsOperationOutcome());
  ApiResponse still = Get(url);
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.VersionId(), "1");
  EXPECT_EQ(json::GetString(still.json, "resourceType"), "Patient");
  EXPECT_EQ(Count("Observation"), 0);

  ASSERT_EQ(Delete(url).status, 204);
  ApiResponse gone = Patch(url, R"([{"op":"replace","path":"/gender","value":"male"}])");
  EXPECT_EQ(gone.status, 410) << gone.body;
  EXPECT_TRUE(gone.IsOperationOutcome());
  // Nothing was written after the deletion (version 2).
  EXPECT_EQ(Get(url + "/_history/3").status, 404);
}

// Verifies: REQ-API-117
TEST_F(InteractionTest, HeadReadAnswersTheHeadersWithoutABody) {
  std::string id = Create("Patient", kPatient);
  ApiResponse h = client_->Send("HEAD", "/fhir/Patient/" + id);
  EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.Header("ETag"), "W/\"1\"");
  EXPECT_THAT(h.Header("Last-Modified"), HasSubstr("GMT"));
  EXPECT_THAT(h.Header("Content-Type"), HasSubstr("application/fhir+json"));
  ApiResponse unknown = client_->Send("HEAD", "/fhir/Patient/nobody");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(unknown.body.empty());
  ASSERT_EQ(Delete("/fhir/Patient/" + id).status, 204);
  ApiResponse gone = client_->Send("HEAD", "/fhir/Patient/" + id);
  EXPECT_EQ(gone.status, 410);
  EXPECT_TRUE(gone.body.empty());
}

// Verifies: REQ-API-118
TEST_F(InteractionTest, ReadWithSummaryAndAnUnknownSummaryValue) {
  std::string id = Create("Patient", R"({"resourceType":"Patient",
      "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Tove</div>"},
      "name":[{"family":"Testesen"}],"gender":"female","maritalStatus":{"text":"unmarried"}})");
  std::string url = "/fhir/Patient/" + id;
  ApiResponse t = Get(url + "?_summary=true");
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_TRUE(t.json.HasMember("name"));
  EXPECT_TRUE(t.json.HasMember("gender"));
  EXPECT_FALSE(t.json.HasMember("maritalStatus"));
  EXPECT_FALSE(t.json.HasMember("text"));
  ASSERT_TRUE(t.json.HasMember("meta"));
  EXPECT_THAT(json::Serialize(t.json["meta"]), HasSubstr("SUBSETTED"));
  ApiResponse d = Get(url + "?_summary=data");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_TRUE(d.json.HasMember("maritalStatus"));
  EXPECT_FALSE(d.json.HasMember("text"));
  EXPECT_THAT(d.body, HasSubstr("SUBSETTED"));
  ApiResponse x = Get(url + "?_summary=text");
  ASSERT_EQ(x.status, 200) << x.body;
  EXPECT_TRUE(x.json.HasMember("text"));
  EXPECT_FALSE(x.json.HasMember("name"));
  EXPECT_THAT(x.body, HasSubstr("SUBSETTED"));
  // An unknown value is ignored on a read, while a search refuses it (REQ-API-066).
  ApiResponse u = Get(url + "?_summary=maybe");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_TRUE(u.json.HasMember("maritalStatus"));
  EXPECT_TRUE(u.json.HasMember("text"));
  EXPECT_THAT(u.body, ::testing::Not(HasSubstr("SUBSETTED")));
  EXPECT_EQ(Get("/fhir/Patient?_summary=maybe").status, 400);
}

// Verifies: REQ-API-018
TEST_F(InteractionTest, PreferReturnAppliesToUpdateAndPatch) {
  std::string id = CreateWithId("Patient", kPatient);
  std::string url = "/fhir/Patient/" + id;
  ApiResponse minimal =
      Put(url, R"({"resourceType":"Patient","id":")" + id + R"(","gender":"male"})",
          MakeHeaders({{"Prefer", "return=minimal"}}));
  EXPECT_EQ(minimal.status, 200);
  EXPECT_TRUE(minimal.body.empty());
  EXPECT_EQ(minimal.Header("ETag"), "W/\"2\"");
  EXPECT_THAT(minimal.Header("Location"), HasSubstr(url + "/_history/2"));
  ApiResponse oo = Patch(url, R"([{"op":"replace","path":"/gender","value":"other"}])",
                         MakeHeaders({{"Prefer", "return=OperationOutcome"}}));
  EXPECT_EQ(oo.status, 200);
  EXPECT_TRUE(oo.IsOperationOutcome()) << oo.body;
  EXPECT_EQ(oo.Header("ETag"), "W/\"3\"");
  ApiResponse repr = Patch(url, R"([{"op":"replace","path":"/gender","value":"female"}])",
                           MakeHeaders({{"Prefer", "return=representation"}}));
  EXPECT_EQ(repr.status, 200);
  EXPECT_EQ(repr.VersionId(), "4");
  EXPECT_EQ(json::GetString(repr.json, "gender"), "female");
  ApiResponse patched_minimal = Patch(url, R"([{"op":"replace","path":"/gender","value":"male"}])",
                                      MakeHeaders({{"Prefer", "return=minimal"}}));
  EXPECT_EQ(patched_minimal.status, 200);
  EXPECT_TRUE(patched_minimal.body.empty());
  EXPECT_EQ(patched_minimal.Header("ETag"), "W/\"5\"");
  ApiResponse now = Get(url);
  EXPECT_EQ(now.VersionId(), "5");
  EXPECT_EQ(json::GetString(now.json, "gender"), "male");
}

// FHIR R4 (http.html#search): the body of POST _search is a form; another media type is refused
// rather than read as a form.
// Verifies: REQ-API-119
TEST_F(InteractionTest, PostSearchTakesOnlyAFormBody) {
  std::string female = Create("Patient", kPatient);
  Create("Patient", R"({"resourceType":"Patient","gender":"male"})");
  ApiResponse ok = Post("/fhir/_search", "_type=Patient&gender=female",
                        MakeHeaders({{"Content-Type", "application/x-www-form-urlencoded"}}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_THAT(EntryRefs(ok.json), ElementsAre("Patient/" + female));
  for (const char* media : {"application/fhir+json", "text/plain"}) {
    for (const char* target : {"/fhir/_search", "/fhir/Patient/_search"}) {
      ApiResponse r = Post(target, "gender=female", MakeHeaders({{"Content-Type", media}}));
      EXPECT_EQ(r.status, 415) << media << " " << target << ": " << r.body;
      EXPECT_TRUE(r.IsOperationOutcome()) << media << " " << target;
    }
  }
}

// Verifies: REQ-API-120
TEST_F(InteractionTest, EverythingOfADeletedPatientIs410) {
  ASSERT_EQ(Put("/fhir/Patient/ev-gone", R"({"resourceType":"Patient","id":"ev-gone"})").status,
            201);
  ASSERT_EQ(Put("/fhir/Observation/ev-obs", R"({"resourceType":"Observation","id":"ev-obs",
      "status":"final","code":{"text":"x"},"subject":{"reference":"Patient/ev-gone"}})")
                .status,
            201);
  ASSERT_EQ(Get("/fhir/Patient/ev-gone/$everything").status, 200);
  ASSERT_EQ(Delete("/fhir/Patient/ev-gone").status, 204);
  ApiResponse r = Get("/fhir/Patient/ev-gone/$everything");
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_TRUE(r.IsOperationOutcome());
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("ev-obs")));
}

// A stack whose $everything returns at most 3 resources (ApiOptions::everything_limit).
class EverythingLimitTest : public ApiTest {
 protected:
  void SetUp() override {
    // As ApiTest::SetUp, with the API's options set before the stack starts.
    http::ServerOptions o = FhirStack::DefaultOptions();
    o.max_body_bytes = kMaxBodyBytes;
    stack_ = std::make_unique<FhirStack>(o);
    stack_->api_options().everything_limit = 3;
    Status s = stack_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = std::make_unique<ApiClient>(stack_->port());
  }
};

// A record larger than the limit is cut, not paged: the patient and the first resources in
// creation order, a total that counts only those, no next link, and a warning entry.
// Verifies: REQ-API-124
TEST_F(EverythingLimitTest, EverythingStopsAtTheLimit) {
  ASSERT_EQ(Put("/fhir/Patient/ev-cap", R"({"resourceType":"Patient","id":"ev-cap"})").status, 201);
  for (int i = 1; i <= 4; ++i) {
    const std::string id = "ev-cap-" + std::to_string(i);
    const std::string body = R"({"resourceType":"Observation","id":")" + id +
                             R"(","status":"final","code":{"text":"x"},)"
                             R"("subject":{"reference":"Patient/ev-cap"}})";
    ASSERT_EQ(Put("/fhir/Observation/" + id, body).status, 201) << id;
  }
  EXPECT_EQ(Count("Observation?subject=Patient/ev-cap"), 4);
  ApiResponse r = Get("/fhir/Patient/ev-cap/$everything");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryRefs(r.json, "match"),
              ElementsAre("Patient/ev-cap", "Observation/ev-cap-1", "Observation/ev-cap-2"));
  const rapidjson::Value* total = json::Find(r.json, "total");
  ASSERT_NE(total, nullptr);
  ASSERT_TRUE(total->IsInt64());
  EXPECT_EQ(total->GetInt64(), 3);
  EXPECT_EQ(LinkUrl(r.json, "next"), "");
  // The cut is told, as the Bundle's last entry.
  EXPECT_THAT(EntryRefs(r.json, "outcome"), ElementsAre("OperationOutcome/"));
  EXPECT_THAT(r.body, HasSubstr("only the first 3 are returned"));
  // A record of exactly the limit is whole, and says nothing.
  ASSERT_EQ(Delete("/fhir/Observation/ev-cap-4").status, 204);
  ASSERT_EQ(Delete("/fhir/Observation/ev-cap-3").status, 204);
  ApiResponse whole = Get("/fhir/Patient/ev-cap/$everything");
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_THAT(EntryRefs(whole.json, ""),
              ElementsAre("Patient/ev-cap", "Observation/ev-cap-1", "Observation/ev-cap-2"));
}

// Verifies: REQ-API-121
TEST_F(InteractionTest, MetricsHealthAndReadiness) {
  Create("Patient", kPatient);
  std::string gone = Create("Patient", kPatient);
  Create("Observation", R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})");
  ASSERT_EQ(Delete("/fhir/Patient/" + gone).status, 204);
  ApiResponse m = Get("/metrics");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_THAT(m.Header("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(m.body, HasSubstr("\nsund_build_info{version=\""));
  // Four requests before this one, which counts too; none was answered with a 5xx.
  EXPECT_THAT(m.body, HasSubstr("\nsund_http_requests_total 5\n"));
  EXPECT_THAT(m.body, HasSubstr("\nsund_http_errors_total 0\n"));
  // Current resources: the deleted Patient does not count.
  EXPECT_THAT(m.body, HasSubstr("\nsund_resources{type=\"Patient\"} 1\n"));
  EXPECT_THAT(m.body, HasSubstr("\nsund_resources{type=\"Observation\"} 1\n"));
  for (const char* path : {"/healthz", "/readyz"}) {
    for (const char* method : {"GET", "POST"}) {
      ApiResponse r = client_->Send(method, path);
      EXPECT_EQ(r.status, 200) << method << " " << path;
      EXPECT_EQ(r.body, "ok\n") << method << " " << path;
      EXPECT_THAT(r.Header("Content-Type"), HasSubstr("text/plain")) << method << " " << path;
    }
  }
}

}  // namespace
}  // namespace sund::itest

namespace sund::itest {
namespace {

// FHIR decimals keep their precision (json.html): 1.50 is stored and served as 1.50.
// Verifies: REQ-API-007
TEST_F(ApiTest, DecimalsKeepTheirPrecision) {
  ApiResponse r =
      client_->Post("/fhir/Observation",
                    R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
                    R"("valueQuantity":{"value":1.50,"unit":"mmol/L"}})",
                    MakeHeaders({{"Content-Type", "application/fhir+json"}}));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_THAT(r.body, ::testing::HasSubstr("\"value\":1.50"));
  ApiResponse read = client_->Get("/fhir/Observation/" + r.Id());
  EXPECT_THAT(read.body, ::testing::HasSubstr("\"value\":1.50"));
  // ... and they still search as numbers.
  ApiResponse hit = client_->Get("/fhir/Observation?value-quantity=1.5&_summary=count");
  EXPECT_EQ(hit.json["total"].GetInt(), 1);
}

// Basic validation: unknown elements and malformed primitives are refused with 400, naming the
// element but not the value, and nothing is stored.
// Verifies: REQ-API-043
TEST_F(ApiTest, InvalidResourcesAreRefusedWithoutEchoingValues) {
  ApiResponse r = client_->Post("/fhir/Patient",
                                R"({"resourceType":"Patient","birthDate":"secret-not-a-date"})",
                                MakeHeaders({{"Content-Type", "application/fhir+json"}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, ::testing::HasSubstr("Patient.birthDate"));
  EXPECT_THAT(r.body, ::testing::Not(::testing::HasSubstr("secret-not-a-date")));
  ApiResponse count = client_->Get("/fhir/Patient?_summary=count");
  EXPECT_EQ(count.json["total"].GetInt(), 0);
}

// A Bundle DELETE honours ifMatch.
// Verifies: REQ-API-027, REQ-API-034
TEST_F(ApiTest, BundleDeleteHonoursIfMatch) {
  std::string id = CreateWithId("Patient", R"({"resourceType":"Patient"})");
  ApiResponse r = client_->Post(
      "/fhir",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE",)"
      R"("url":"Patient/)" +
          id + R"(","ifMatch":"W/\"7\""}}]})",
      MakeHeaders({{"Content-Type", "application/fhir+json"}}));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id).status, 200);
}

}  // namespace
}  // namespace sund::itest

namespace sund::itest {
namespace {

// NDJSON import: lines with an id are upserted, others created; decimals kept; a bad line fails
// its file and writes nothing of its batch.
// Verifies: REQ-API-007, REQ-API-043, REQ-API-076, REQ-API-077
TEST_F(ApiTest, ImportsNdjson) {
  std::filesystem::path good = stack_->dir() / "good.ndjson";
  std::filesystem::path bad = stack_->dir() / "bad.ndjson";
  {
    std::ofstream f(good);
    f << R"({"resourceType":"Patient","id":"nd1","name":[{"family":"Ndjson"}]})"
      << "\n\n"
      << R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
      << R"("subject":{"reference":"Patient/nd1"},"valueQuantity":{"value":1.50}})"
      << "\r\n";
    std::ofstream g(bad);
    g << R"({"resourceType":"Patient","id":"nd2"})"
      << "\n"
      << R"({"resourceType":"Patient","unknownElement":1})"
      << "\n";
  }
  api::ImportOptions options;
  options.progress = false;
  auto summary = api::Import(stack_->engine(), {good.string(), bad.string()}, options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->resources, 2);
  EXPECT_EQ(summary->failed_files, 1);
  EXPECT_EQ(client_->Get("/fhir/Patient/nd1").status, 200);
  EXPECT_EQ(client_->Get("/fhir/Patient/nd2").status, 404);
  ApiResponse obs = client_->Get("/fhir/Observation?subject=Patient/nd1");
  EXPECT_THAT(obs.body, ::testing::HasSubstr("\"value\":1.50"));
}

}  // namespace
}  // namespace sund::itest
