#include "storage/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace sund::storage {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sund-sqlite-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.path = (dir_ / "sund.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static ResourceVersion Version(std::string id, std::int64_t version, std::size_t bytes) {
    ResourceVersion v;
    v.type = "Basic";
    v.id = std::move(id);
    v.version = version;
    v.last_updated_us = 1'700'000'000'000'000 + version;
    v.method = version == 1 ? "POST" : "PUT";
    v.json = R"({"resourceType":"Basic","id":")" + v.id + R"(","text":")" +
             std::string(bytes, 'x') + R"("})";
    return v;
  }

  std::filesystem::path dir_;
  SqliteOptions options_;
};

// One process owns a database: a second open fails at once and names the reason; the lock
// goes with the store.
// Verifies: REQ-STO-008
TEST_F(SqliteStoreTest, ASecondOpenOfTheSameDatabaseIsRefusedUntilTheFirstCloses) {
  auto first = OpenSqliteStore(options_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = OpenSqliteStore(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  first->reset();
  auto third = OpenSqliteStore(options_);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

// Commits fill the WAL; the background checkpointer copies them into the database file while
// the store stays open (with SQLite's autocheckpoint the file would stay at its initial size
// until 1,000 frames).
// Verifies: REQ-STO-009
TEST_F(SqliteStoreTest, BackgroundCheckpointMovesCommitsIntoTheDatabaseFile) {
  options_.checkpoint_frames = 8;
  auto store = OpenSqliteStore(options_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::uintmax_t before = std::filesystem::file_size(options_.path);
  for (int i = 0; i < 20; ++i) {
    auto w = (*store)->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Put(Version("r" + std::to_string(i), 1, 20'000), {}).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }
  // 20 resources of ~20 KB each: at least 400 KB must reach the database file.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::filesystem::file_size(options_.path) < before + 400'000 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(std::filesystem::file_size(options_.path), before + 400'000);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE((*store)->Read("Basic", "r" + std::to_string(i)).ok()) << i;
  }
}

}  // namespace
}  // namespace sund::storage
