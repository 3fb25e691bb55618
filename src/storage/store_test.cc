// Behaviour every Store backend must share, run on each backend (StoreTest's parameter):
// SQLite always, PostgreSQL when the test run provides one (storage/testing/test_store.h).
#include "storage/store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

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

  std::unique_ptr<Store> store_;
};

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

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sund::storage
