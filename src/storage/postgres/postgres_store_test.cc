// Behaviour of the PostgreSQL backend alone: its connection pool's wait for a free connection
// and the replacement of connections the server has closed. Each test opens its store in a
// schema of its own of SUND_TEST_PG's database, with an application_name of its own, so that it
// counts and ends only its own store's connections (ctest runs other tests on the same server
// at the same time). Skips without SUND_TEST_PG, except under CI=true.
#include "storage/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/pg.h"

namespace sund::storage {
namespace {

using namespace std::chrono_literals;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("SUND_TEST_PG");
    if (url == nullptr || *url == '\0') {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") FAIL() << "SUND_TEST_PG is not set";
      GTEST_SKIP() << "SUND_TEST_PG is not set: run the tests through scripts/run-tests.sh";
    }
    url_ = url;
    static std::atomic<int> counter{0};
    const std::string unique = std::to_string(::getpid()) + "_" + std::to_string(++counter);
    schema_ = "t_pgstore_" + unique;
    name_ = "sund_pgstore_test_" + unique;
  }

  void TearDown() override {
    store_.reset();
    if (!url_.empty()) {
      Status s = DropPostgresSchema(url_, schema_);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
  }

  // The test's URL with its own application_name.
  std::string NamedUrl() const {
    const bool uri = url_.starts_with("postgresql://") || url_.starts_with("postgres://");
    if (!uri) return url_ + " application_name=" + name_;
    return url_ + (url_.find('?') == std::string::npos ? "?" : "&") + "application_name=" + name_;
  }

  // Opens store_ with a pool of 2 connections (the least there is).
  void OpenStore(std::chrono::milliseconds pool_wait) {
    PostgresOptions o;
    o.url = NamedUrl();
    o.schema = schema_;
    o.pool_size = 2;
    o.pool_wait = pool_wait;
    auto store = OpenPostgresStore(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // A connection of the test's own, not the store's (application_name "sund"), in its schema.
  std::unique_ptr<pg::Connection> Admin() {
    auto c = pg::Connection::Open(url_, schema_);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      return nullptr;
    }
    return std::move(c).value();
  }

  // How many server processes serve the store (by its application_name), or only those
  // waiting for a lock; -1 on error.
  std::int64_t StoreBackends(pg::Connection& admin, bool waiting_for_lock = false) {
    std::string sql =
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = ? AND pid <> "
        "pg_backend_pid()";
    if (waiting_for_lock) sql += " AND wait_event_type = 'Lock'";
    auto rows = admin.Query(sql, {name_});
    if (!rows.ok()) return -1;
    auto row = (*rows)->Next();
    return row.ok() && *row ? (*rows)->Int(0) : -1;
  }

  // Ends every server process of the store and waits until they are gone; returns how many.
  int KillStoreConnections(pg::Connection& admin) {
    auto rows = admin.Query(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ? "
        "AND pid <> pg_backend_pid()",
        {name_});
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return 0;
    std::string pids = "{";
    int killed = 0;
    while (true) {
      auto row = (*rows)->Next();
      if (!row.ok() || !*row) break;
      EXPECT_EQ((*rows)->Text(1), "t");
      if (killed++ > 0) pids += ",";
      pids += std::to_string((*rows)->Int(0));
    }
    pids += "}";
    // pg_terminate_backend only signals: the processes end a moment later.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = admin.Query(
          "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(? AS integer[]))", {pids});
      EXPECT_TRUE(left.ok()) << left.status().ToString();
      if (!left.ok()) break;
      auto row = (*left)->Next();
      if (row.ok() && *row && (*left)->Int(0) == 0) return killed;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "the store's server processes did not end";
    return killed;
  }

  static ResourceVersion Version(std::string id, std::int64_t version) {
    ResourceVersion v;
    v.type = "Basic";
    v.id = std::move(id);
    v.version = version;
    v.last_updated_us = 1'700'000'000'000'000 + version;
    v.method = version == 1 ? "POST" : "PUT";
    v.json = R"({"resourceType":"Basic","id":")" + v.id + R"("})";
    return v;
  }

  // Writes version 1 of Basic/<id> in a transaction of its own.
  Status Write(const std::string& id) {
    SUND_ASSIGN_OR_RETURN(auto w, store_->BeginWrite());
    SUND_RETURN_IF_ERROR(w->Put(Version(id, 1), {}));
    return w->Commit();
  }

  std::string url_, schema_, name_;
  std::unique_ptr<Store> store_;
};

// Both connections of the pool are held by reads that wait for a table lock taken from outside:
// a third operation waits the pool's wait (200 ms here, 30 s by default), then answers
// Unavailable; the held reads finish once the lock goes.
// Verifies: REQ-STO-015
TEST_F(PostgresStoreTest, AnOperationWaitsForAFreeConnectionThenAnswersUnavailable) {
  ASSERT_NO_FATAL_FAILURE(OpenStore(200ms));
  ASSERT_TRUE(Write("a").ok());
  // The lock is held in a transaction, where pg_stat_activity would not change (it is read
  // once per transaction): another connection watches.
  auto locker = Admin();
  auto monitor = Admin();
  ASSERT_NE(locker, nullptr);
  ASSERT_NE(monitor, nullptr);
  ASSERT_TRUE(locker->Exec("BEGIN; LOCK TABLE resource IN ACCESS EXCLUSIVE MODE").ok());

  std::vector<StatusCode> held(2, StatusCode::kInternal);
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < held.size(); ++i) {
    readers.emplace_back(
        [this, &held, i] { held[i] = store_->Read("Basic", "a").status().code(); });
  }
  // Both connections in use: both reads wait for the lock on the server.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (StoreBackends(*monitor, /*waiting_for_lock=*/true) < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  const std::int64_t waiting = StoreBackends(*monitor, /*waiting_for_lock=*/true);

  const auto start = std::chrono::steady_clock::now();
  auto third = store_->Read("Basic", "a");
  const auto waited = std::chrono::steady_clock::now() - start;

  // The lock goes before any check, so that the readers always finish.
  Status commit = locker->Exec("COMMIT");
  for (auto& t : readers) t.join();
  EXPECT_TRUE(commit.ok()) << commit.ToString();
  EXPECT_EQ(waiting, 2);
  EXPECT_EQ(third.status().code(), StatusCode::kUnavailable) << third.status().ToString();
  EXPECT_NE(third.status().message().find("no free connection"), std::string::npos)
      << third.status().ToString();
  const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
  EXPECT_GE(waited_ms, 200);
  EXPECT_LT(waited_ms, 10'000);
  EXPECT_EQ(held[0], StatusCode::kOk);
  EXPECT_EQ(held[1], StatusCode::kOk);
  // Free connections again: operations go on.
  EXPECT_TRUE(store_->Read("Basic", "a").ok());
}

// Every connection of the store carries the URL's application_name (the pool's and the
// listener's); one opened without it is named "sund".
// Verifies: REQ-STO-017
TEST_F(PostgresStoreTest, ConnectionsCarryTheApplicationNameOfTheUrl) {
  ASSERT_NO_FATAL_FAILURE(OpenStore(30s));
  auto admin = Admin();
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(StoreBackends(*admin), 2);  // the pooled connection and the listener
  auto rows = admin->Query("SELECT current_setting('application_name')", {});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto row = (*rows)->Next();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*rows)->Text(0), "sund");
}

// The server ends the store's connections (a restart, a failover, an administrator): they are
// replaced. Beginning a write retries on a new connection; a read is not retried, so the read
// that meets the lost connection answers Unavailable and the next one succeeds; the listener
// reconnects and changes every type stamp, since it may have missed other processes' commits.
// Verifies: REQ-STO-016
TEST_F(PostgresStoreTest, ConnectionsTheServerEndedAreReplaced) {
  ASSERT_NO_FATAL_FAILURE(OpenStore(30s));
  ASSERT_TRUE(Write("a").ok());
  ASSERT_TRUE(store_->Read("Basic", "a").ok());
  auto admin = Admin();
  ASSERT_NE(admin, nullptr);
  auto stamp = store_->TypeStamp("Consent");
  ASSERT_TRUE(stamp.ok());

  EXPECT_EQ(KillStoreConnections(*admin), 2);  // the pooled connection and the listener
  Status write = Write("b");
  EXPECT_TRUE(write.ok()) << write.ToString();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (*store_->TypeStamp("Consent") == *stamp && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(*store_->TypeStamp("Consent"), *stamp) << "the listener did not reconnect";

  EXPECT_EQ(KillStoreConnections(*admin), 2);
  auto lost = store_->Read("Basic", "a");
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable) << lost.status().ToString();
  auto again = store_->Read("Basic", "b");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->version, 1);
}

}  // namespace
}  // namespace sund::storage
