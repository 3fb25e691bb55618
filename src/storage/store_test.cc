// Behaviour every Store backend must share, run on each backend (StoreTest's parameter):
// SQLite always, PostgreSQL when the test run provides one (storage/testing/test_store.h).
#include "storage/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/json.h"
#include "fhir/model.h"
#include "fhir/search_index.h"
#include "fhir/search_query.h"
#include "storage/testing/test_store.h"

namespace sund::storage {
namespace {

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto store = testing::OpenTestStore(GetParam());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  static ResourceVersion Version(std::string id, std::int64_t version, bool deleted = false) {
    ResourceVersion v;
    v.type = "Basic";
    v.id = std::move(id);
    v.version = version;
    v.last_updated_us = 1'700'000'000'000'000 + version;
    v.deleted = deleted;
    v.method = deleted ? "DELETE" : version == 1 ? "POST" : "PUT";
    if (!deleted) {
      v.json = R"({"resourceType":"Basic","id":")" + v.id + R"(","meta":{"versionId":")" +
               std::to_string(version) + R"("}})";
    }
    return v;
  }

  void Write(std::initializer_list<ResourceVersion> versions) {
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (const auto& v : versions) ASSERT_TRUE((*w)->Put(v, {}).ok()) << v.id;
    ASSERT_TRUE((*w)->Commit().ok());
  }

  // Stores version `version` of the resource `text` (one commit) with the index entries the
  // API would extract from it.
  void PutResource(const std::string& text, std::int64_t version = 1) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    ASSERT_FALSE(d.HasParseError()) << text;
    ResourceVersion v;
    v.type = std::string(sund::json::GetString(d, "resourceType"));
    v.id = std::string(sund::json::GetString(d, "id"));
    v.version = version;
    v.last_updated_us = 1'700'000'000'000'000 + version;
    v.method = version == 1 ? "POST" : "PUT";
    v.json = text;
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    Status put = (*w)->Put(v, fhir::Extractor::R4().Extract(v.type, d));
    ASSERT_TRUE(put.ok()) << put.ToString();
    ASSERT_TRUE((*w)->Commit().ok());
  }

  void DeleteResource(const std::string& type, const std::string& id, std::int64_t version) {
    ResourceVersion v;
    v.type = type;
    v.id = id;
    v.version = version;
    v.last_updated_us = 1'700'000'000'000'000 + version;
    v.deleted = true;
    v.method = "DELETE";
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Put(v, {}).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }

  static fhir::SearchQuery Query(std::string_view type,
                                 const std::vector<std::pair<std::string, std::string>>& params) {
    auto q = fhir::ParseSearch(fhir::Model::R4(), type, params, /*strict=*/true);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return q.ok() ? std::move(q).value() : fhir::SearchQuery{};
  }

  static std::vector<std::string> Names(const std::vector<SearchHit>& hits) {
    std::vector<std::string> out;
    for (const auto& h : hits) out.push_back(h.type + "/" + h.id);
    return out;
  }

  // "Type/id" of each match of a search on `type`, in the order the store gives them.
  std::vector<std::string> Found(std::string_view type,
                                 const std::vector<std::pair<std::string, std::string>>& params) {
    auto page = store_->Search(Query(type, params));
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? Names(page->matches) : std::vector<std::string>{};
  }

  // "Type/id/version" of each version of a history page, in the order given.
  static std::vector<std::string> Versions(const HistoryPage& page) {
    std::vector<std::string> out;
    for (const auto& v : page.versions) {
      out.push_back(v.type + "/" + v.id + "/" + std::to_string(v.version));
    }
    return out;
  }

  std::unique_ptr<Store> store_;
};

using Strings = std::vector<std::string>;

// Verifies: REQ-STO-001, REQ-STO-002
TEST_P(StoreTest, WritesAreReadBackAndVersionsMustFollow) {
  Write({Version("a", 1)});
  {
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok());
    EXPECT_EQ((*w)->Put(Version("a", 3), {}).code(), StatusCode::kConflict);
    ASSERT_TRUE((*w)->Put(Version("a", 2), {}).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }
  auto r = store_->Read("Basic", "a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(r->json, Version("a", 2).json);
  auto old = store_->ReadVersion("Basic", "a", 1);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->json, Version("a", 1).json);
  EXPECT_EQ(store_->Read("Basic", "b").status().code(), StatusCode::kNotFound);
}

// Verifies: REQ-STO-003
TEST_P(StoreTest, ARolledBackTransactionLeavesNothing) {
  {
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Put(Version("a", 1), {}).ok());
    auto inside = (*w)->Read("Basic", "a");
    ASSERT_TRUE(inside.ok());
    EXPECT_EQ(inside->version, 1);
  }
  EXPECT_EQ(store_->Read("Basic", "a").status().code(), StatusCode::kNotFound);
  auto last = store_->LastVid();
  ASSERT_TRUE(last.ok());
  Write({Version("a", 1)});
  EXPECT_TRUE(store_->Read("Basic", "a").ok());
}

// Verifies: REQ-STO-004
TEST_P(StoreTest, ASavepointRollbackUndoesOnlyItsPart) {
  auto w = store_->BeginWrite();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Put(Version("kept", 1), {}).ok());
  ASSERT_TRUE((*w)->Savepoint().ok());
  ASSERT_TRUE((*w)->Put(Version("undone", 1), {}).ok());
  ASSERT_TRUE((*w)->RollbackToSavepoint().ok());
  ASSERT_TRUE((*w)->Savepoint().ok());
  ASSERT_TRUE((*w)->Put(Version("released", 1), {}).ok());
  ASSERT_TRUE((*w)->ReleaseSavepoint().ok());
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_TRUE(store_->Read("Basic", "kept").ok());
  EXPECT_TRUE(store_->Read("Basic", "released").ok());
  EXPECT_EQ(store_->Read("Basic", "undone").status().code(), StatusCode::kNotFound);
}

// The consent gate's stamp: changes with each commit that wrote the type, only after it has
// committed, and not for other types or for rolled-back transactions.
// Verifies: REQ-STO-005
TEST_P(StoreTest, TypeStampChangesWithCommitsOfItsTypeOnly) {
  auto stamp = [&](std::string_view type) {
    auto s = store_->TypeStamp(type);
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : std::string();
  };
  std::string basic0 = stamp("Basic");
  std::string consent0 = stamp("Consent");
  {
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Put(Version("a", 1), {}).ok());
    EXPECT_EQ(stamp("Basic"), basic0) << "changed before the commit";
    ASSERT_TRUE((*w)->Commit().ok());
  }
  std::string basic1 = stamp("Basic");
  EXPECT_NE(basic1, basic0);
  EXPECT_EQ(stamp("Consent"), consent0);
  {
    auto w = store_->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Put(Version("a", 2), {}).ok());
    // Destroyed without Commit: rolled back.
  }
  EXPECT_EQ(stamp("Basic"), basic1);
}

// An export's snapshot: what was current at the feed position, whatever was written after.
// Verifies: REQ-STO-006
TEST_P(StoreTest, SnapshotShowsTheResourcesAsTheyWereAtItsPosition) {
  Write({Version("a", 1), Version("b", 1), Version("c", 1), Version("gone", 1)});
  Write({Version("gone", 2, true)});
  auto as_of = store_->LastVid();
  ASSERT_TRUE(as_of.ok());
  EXPECT_GT(*as_of, 0);
  // After the snapshot: a is updated, b deleted, d created.
  Write({Version("a", 2), Version("b", 2, true), Version("d", 1)});

  SnapshotQuery q;
  q.type = "Basic";
  q.as_of_vid = *as_of;
  q.count = 2;
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto p = store_->Snapshot(q);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const auto& v : p->versions) {
      seen.push_back(v.id + "/" + std::to_string(v.version));
      EXPECT_EQ(v.json, Version(v.id, v.version).json);
    }
    if (!p->next_rid) break;
    q.after_rid = *p->next_rid;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a/1", "b/1", "c/1"}));

  // The current state, for contrast.
  q.as_of_vid = *store_->LastVid();
  q.after_rid = 0;
  q.count = 10;
  auto now = store_->Snapshot(q);
  ASSERT_TRUE(now.ok());
  std::vector<std::string> current;
  for (const auto& v : now->versions) current.push_back(v.id + "/" + std::to_string(v.version));
  EXPECT_EQ(current, (std::vector<std::string>{"a/2", "c/1", "d/1"}));
}

// Two processes sharing a database (PostgreSQL): each sees the other's commits, and the stamp
// the consent gate caches by changes in the other process too, soon after the commit.
// Verifies: REQ-STO-007, REQ-STO-002
TEST_P(StoreTest, ASecondProcessSeesCommitsAndTheirTypeStamps) {
  auto other = testing::OpenSharingStore(*store_);
  if (other.status().code() == StatusCode::kNotImplemented) {
    GTEST_SKIP() << GetParam() << ": one process owns the database";
  }
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto before = (*other)->TypeStamp("Basic");
  ASSERT_TRUE(before.ok());
  Write({Version("a", 1)});
  auto seen = (*other)->Read("Basic", "a");
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->version, 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (*(*other)->TypeStamp("Basic") == *before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(*(*other)->TypeStamp("Basic"), *before);
  // Writers in both take turns: the other's next version follows this one's.
  {
    auto w = (*other)->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Put(Version("a", 2), {}).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }
  auto w = store_->BeginWrite();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Put(Version("a", 2), {}).code(), StatusCode::kConflict);
}

// Search answers from the index rows stored with each current version.
// Verifies: REQ-STO-010
TEST_P(StoreTest, SearchMatchesTheCurrentIndexEntries) {
  PutResource(R"({"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1970-01-01",)"
              R"("name":[{"family":"Testesen","given":["Test"]}]})");
  PutResource(R"({"resourceType":"Patient","id":"p2","gender":"male","birthDate":"1980-06-15",)"
              R"("name":[{"family":"Müller","given":["Prøve"]}]})");
  PutResource(R"({"resourceType":"Patient","id":"p3","gender":"male","birthDate":"1990-01-01",)"
              R"("name":[{"family":"Testesen"}]})");
  DeleteResource("Patient", "p3", 2);
  // p4 was female and is male now: only the current version's entries count.
  PutResource(R"({"resourceType":"Patient","id":"p4","gender":"female","birthDate":"2000-01-01"})");
  PutResource(R"({"resourceType":"Patient","id":"p4","gender":"male","birthDate":"2000-01-01"})",
              2);

  EXPECT_EQ(Found("Patient", {{"family", "TESTES"}}), Strings{"Patient/p1"});
  EXPECT_EQ(Found("Patient", {{"family", "muller"}}), Strings{"Patient/p2"});
  EXPECT_EQ(Found("Patient", {{"gender", "male"}}), (Strings{"Patient/p2", "Patient/p4"}));
  EXPECT_EQ(Found("Patient", {{"gender", "female"}}), Strings{"Patient/p1"});
  EXPECT_EQ(Found("Patient", {{"gender:not", "male"}}), Strings{"Patient/p1"});
  EXPECT_EQ(Found("Patient", {{"birthdate", "lt1975"}}), Strings{"Patient/p1"});
  EXPECT_EQ(Found("Patient",
                  {{"gender", "female,male"}, {"birthdate", "ge1980"}, {"birthdate", "lt1990"}}),
            Strings{"Patient/p2"});
  EXPECT_EQ(Found("Patient", {{"_id", "p3"}}), Strings{});
  EXPECT_EQ(Found("Patient", {{"_sort", "-birthdate"}}),
            (Strings{"Patient/p4", "Patient/p2", "Patient/p1"}));

  // Pages: the cursor of one page starts the next, and each match comes once.
  fhir::SearchQuery q = Query("Patient", {{"_count", "2"}, {"_total", "accurate"}});
  auto first = store_->Search(q);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(Names(first->matches), (Strings{"Patient/p1", "Patient/p2"}));
  EXPECT_TRUE(first->has_more);
  ASSERT_TRUE(first->total.has_value());
  EXPECT_EQ(*first->total, 3);
  EXPECT_FALSE(first->matches[0].json.empty());
  q.cursor = first->next_cursor;
  auto second = store_->Search(q);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(Names(second->matches), Strings{"Patient/p4"});
  EXPECT_FALSE(second->has_more);
  ASSERT_TRUE(second->prev_cursor.has_value());
  EXPECT_EQ(*second->prev_cursor, 0);

  auto count = store_->Search(Query("Patient", {{"gender", "male"}, {"_summary", "count"}}));
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_TRUE(count->matches.empty());
  ASSERT_TRUE(count->total.has_value());
  EXPECT_EQ(*count->total, 2);
}

// Verifies: REQ-STO-011
TEST_P(StoreTest, SearchFollowsReferencesBothWays) {
  PutResource(R"({"resourceType":"Patient","id":"p1","name":[{"family":"Testesen"}]})");
  PutResource(R"({"resourceType":"Patient","id":"p2","name":[{"family":"Prøvesen"}]})");
  PutResource(R"({"resourceType":"Practitioner","id":"pr1","name":[{"family":"Lege"}]})");
  PutResource(
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":)"
      R"("http://loinc.org","code":"8480-6"}]},"subject":{"reference":"Patient/p1"},)"
      R"("performer":[{"reference":"Practitioner/pr1"}],"valueQuantity":{"value":120,)"
      R"("system":"http://unitsofmeasure.org","code":"mm[Hg]"}})");
  PutResource(
      R"({"resourceType":"Observation","id":"o2","status":"final","code":{"coding":[{"system":)"
      R"("http://loinc.org","code":"8310-5"}]},"subject":{"reference":"Patient/p2"},)"
      R"("valueQuantity":{"value":37,"system":"http://unitsofmeasure.org","code":"Cel"}})");

  EXPECT_EQ(Found("Observation", {{"patient.family", "testesen"}}), Strings{"Observation/o1"});
  EXPECT_EQ(Found("Observation", {{"subject", "Patient/p2"}}), Strings{"Observation/o2"});
  EXPECT_EQ(Found("Patient", {{"_has:Observation:patient:code", "http://loinc.org|8480-6"}}),
            Strings{"Patient/p1"});
  // 120 mm[Hg] is about 16 kPa: compared in canonical units.
  EXPECT_EQ(Found("Observation", {{"value-quantity", "gt15|http://unitsofmeasure.org|kPa"}}),
            Strings{"Observation/o1"});

  auto included = store_->Search(Query(
      "Observation",
      {{"_id", "o1"}, {"_include", "Observation:patient"}, {"_include", "Observation:performer"}}));
  ASSERT_TRUE(included.ok()) << included.status().ToString();
  EXPECT_EQ(Names(included->matches), Strings{"Observation/o1"});
  Strings names = Names(included->includes);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (Strings{"Patient/p1", "Practitioner/pr1"}));

  auto revincluded =
      store_->Search(Query("Patient", {{"_id", "p1"}, {"_revinclude", "Observation:patient"}}));
  ASSERT_TRUE(revincluded.ok()) << revincluded.status().ToString();
  EXPECT_EQ(Names(revincluded->matches), Strings{"Patient/p1"});
  EXPECT_EQ(Names(revincluded->includes), Strings{"Observation/o1"});
}

// Verifies: REQ-STO-012
TEST_P(StoreTest, HistoryIsNewestFirstAndTheChangeFeedInCommitOrder) {
  Write({Version("a", 1), Version("b", 1)});
  Write({Version("a", 2)});
  Write({Version("b", 2, true)});
  Write({Version("c", 1)});

  HistoryQuery h;
  h.type = "Basic";
  h.count = 2;
  Strings all;
  for (int page = 0; page < 5; ++page) {
    auto p = store_->History(h);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const auto& v : p->versions) {
      EXPECT_EQ(v.deleted, v.id == "b" && v.version == 2);
      if (!v.deleted) {
        EXPECT_EQ(v.json, Version(v.id, v.version).json);
      }
    }
    Strings got = Versions(*p);
    all.insert(all.end(), got.begin(), got.end());
    if (!p->next_vid) break;
    h.before_vid = *p->next_vid;
  }
  EXPECT_EQ(all, (Strings{"Basic/c/1", "Basic/b/2", "Basic/a/2", "Basic/b/1", "Basic/a/1"}));

  HistoryQuery one;
  one.type = "Basic";
  one.id = "a";
  auto a = store_->History(one);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Versions(*a), (Strings{"Basic/a/2", "Basic/a/1"}));
  HistoryQuery since;
  since.since_us = 1'700'000'000'000'000 + 2;
  auto recent = store_->History(since);
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ(Versions(*recent), (Strings{"Basic/b/2", "Basic/a/2"}));
  HistoryQuery at;
  at.type = "Basic";
  at.at_us = 1'700'000'000'000'000 + 1;
  auto then = store_->History(at);
  ASSERT_TRUE(then.ok());
  EXPECT_EQ(Versions(*then), (Strings{"Basic/c/1", "Basic/b/1", "Basic/a/1"}));

  // The change feed: oldest first from a cursor; each page's last_vid is the next cursor.
  HistoryQuery feed;
  feed.after_vid = 0;
  feed.count = 2;
  Strings fed;
  std::int64_t cursor = 0;
  for (int page = 0; page < 5; ++page) {
    auto p = store_->History(feed);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    if (p->versions.empty()) {
      EXPECT_EQ(p->last_vid, 0);
      break;
    }
    Strings got = Versions(*p);
    fed.insert(fed.end(), got.begin(), got.end());
    EXPECT_GT(p->last_vid, cursor);
    cursor = p->last_vid;
    feed.after_vid = cursor;
  }
  EXPECT_EQ(fed, (Strings{"Basic/a/1", "Basic/b/1", "Basic/a/2", "Basic/b/2", "Basic/c/1"}));
  auto last = store_->LastVid();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, cursor);
}

// The Patient compartment (CompartmentDefinition/patient) as the point reads, searches, history
// and $everything of patient-context access see it.
// Verifies: REQ-STO-013
TEST_P(StoreTest, CompartmentReadsSeeOnlyThePatientsResources) {
  PutResource(R"({"resourceType":"Patient","id":"p1","name":[{"family":"Testesen"}]})");
  PutResource(R"({"resourceType":"Patient","id":"p2","name":[{"family":"Prøvesen"}]})");
  PutResource(R"({"resourceType":"Practitioner","id":"pr1","name":[{"family":"Lege"}]})");
  const std::string o1 =
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
      R"("subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/pr1"}]})";
  PutResource(o1);
  PutResource(R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},)"
              R"("subject":{"reference":"Patient/p2"}})");
  PutResource(R"({"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},)"
              R"("subject":{"reference":"Patient/p1"}})");
  DeleteResource("Observation", "o3", 2);

  auto in = [&](std::string_view type, std::string_view id, std::string_view patient) {
    auto r = store_->InPatientCompartment(type, id, patient);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r;
  };
  EXPECT_TRUE(in("Observation", "o1", "p1"));
  EXPECT_FALSE(in("Observation", "o1", "p2"));
  EXPECT_TRUE(in("Patient", "p1", "p1"));
  EXPECT_FALSE(in("Patient", "p2", "p1"));
  EXPECT_FALSE(in("Practitioner", "pr1", "p1"));
  EXPECT_FALSE(in("Observation", "o3", "p1"));  // deleted

  auto read = store_->ReadInPatientCompartment("Observation", "o1", "p1");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->json, o1);
  EXPECT_EQ(read->version, 1);
  EXPECT_EQ(store_->ReadInPatientCompartment("Observation", "o2", "p1").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadInPatientCompartment("Observation", "o3", "p1").status().code(),
            StatusCode::kNotFound);

  fhir::SearchQuery q = Query("Observation", {});
  q.compartment_patient = "p1";
  auto found = store_->Search(q);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(Names(found->matches), Strings{"Observation/o1"});

  HistoryQuery h;
  h.compartment_patient = "p1";
  auto history = store_->History(h);
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_EQ(Versions(*history), (Strings{"Observation/o1/1", "Patient/p1/1"}));

  // $everything: the patient first, then its resources and what they reference, in creation
  // order; not other patients' data, not deleted resources.
  auto everything = store_->Everything("p1", 100);
  ASSERT_TRUE(everything.ok()) << everything.status().ToString();
  EXPECT_EQ(Names(*everything), (Strings{"Patient/p1", "Practitioner/pr1", "Observation/o1"}));
  auto capped = store_->Everything("p1", 2);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(Names(*capped), (Strings{"Patient/p1", "Practitioner/pr1"}));
}

// PostgreSQL cuts index values at 1,000 bytes (a B-tree entry must stay under about 2.7 KB), at
// a UTF-8 boundary; the resource is stored whole and found by the value's start on every backend.
// Verifies: REQ-STO-014
TEST_P(StoreTest, KeepsResourcesWithIndexValuesLongerThanAnIndexEntry) {
  std::string family = "x";
  for (int i = 0; i < 2000; ++i) family += "é";  // 4,001 bytes; byte 1,000 is inside a letter
  const std::string text =
      R"({"resourceType":"Patient","id":"long","name":[{"family":")" + family + R"("}]})";
  PutResource(text);
  auto r = store_->Read("Patient", "long");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->json, text);
  EXPECT_EQ(Found("Patient", {{"family", "x" + std::string(600, 'e')}}), Strings{"Patient/long"});
  EXPECT_EQ(Found("Patient", {{"family", "x" + std::string(600, 'a')}}), Strings{});
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sund::storage
