#include "storage/testing/test_store.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "storage/postgres/postgres_store.h"
#include "storage/sqlite/db.h"
#include "storage/sqlite/sqlite_store.h"

namespace sund::storage::testing {
namespace {

// Forwards to the store it owns and removes its data when destroyed.
class OwnedStore final : public Store {
 public:
  using Opener = std::function<Result<std::unique_ptr<Store>>()>;
  OwnedStore(std::unique_ptr<Store> store, std::function<void()> cleanup, Opener share = {})
      : store_(std::move(store)), cleanup_(std::move(cleanup)), share_(std::move(share)) {}
  const Opener& share() const { return share_; }
  ~OwnedStore() override {
    store_.reset();
    if (cleanup_) cleanup_();
  }

  Result<ResourceVersion> Read(std::string_view type, std::string_view id) override {
    return store_->Read(type, id);
  }
  Result<ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                      std::int64_t version) override {
    return store_->ReadVersion(type, id, version);
  }
  Result<HistoryPage> History(const HistoryQuery& query) override { return store_->History(query); }
  Result<SearchPage> Search(const fhir::SearchQuery& query) override {
    return store_->Search(query);
  }
  Result<std::vector<SearchHit>> Everything(std::string_view patient_id, int limit) override {
    return store_->Everything(patient_id, limit);
  }
  Result<bool> InPatientCompartment(std::string_view type, std::string_view id,
                                    std::string_view patient) override {
    return store_->InPatientCompartment(type, id, patient);
  }
  Result<ResourceVersion> ReadInPatientCompartment(std::string_view type, std::string_view id,
                                                   std::string_view patient) override {
    return store_->ReadInPatientCompartment(type, id, patient);
  }
  Result<std::int64_t> LastVid() override { return store_->LastVid(); }
  Result<SnapshotPage> Snapshot(const SnapshotQuery& query) override {
    return store_->Snapshot(query);
  }
  Result<std::unique_ptr<WriteTransaction>> BeginWrite() override { return store_->BeginWrite(); }
  Result<std::string> TypeStamp(std::string_view type) override { return store_->TypeStamp(type); }
  Result<std::vector<std::pair<std::string, std::int64_t>>> CountByType() override {
    return store_->CountByType();
  }

 private:
  std::unique_ptr<Store> store_;
  std::function<void()> cleanup_;
  Opener share_;
};

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

Result<std::unique_ptr<Store>> OpenSqlite() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sund-store-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return Internal("mkdtemp failed");
  std::filesystem::path dir = tmpl;
  SqliteOptions o;
  o.path = (dir / "sund.db").string();
  o.cache_kib = 64 * 1024;
  auto store = OpenSqliteStore(o);
  auto cleanup = [dir] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  if (!store.ok()) {
    cleanup();
    return store.status();
  }
  return std::unique_ptr<Store>(new OwnedStore(std::move(store).value(), cleanup));
}

// A schema of its own in SUND_TEST_PG's database, dropped with the store.
Result<std::unique_ptr<Store>> OpenPostgres() {
  const char* url = std::getenv("SUND_TEST_PG");
  if (url == nullptr || *url == '\0') {
    return Status(
        StatusCode::kUnavailable,
        "SUND_TEST_PG is not set: run the tests through scripts/run-tests.sh (make test), "
        "which starts a throw-away PostgreSQL");
  }
  static std::atomic<int> counter{0};
  PostgresOptions o;
  o.url = url;
  o.schema =
      "t_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "_" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1'000'000);
  o.pool_size = 8;
  auto store = OpenPostgresStore(o);
  auto cleanup = [url = o.url, schema = o.schema] {
    Status s = DropPostgresSchema(url, schema);
    if (!s.ok()) std::fprintf(stderr, "test store: %s\n", s.ToString().c_str());
  };
  if (!store.ok()) {
    cleanup();
    return store.status();
  }
  auto share = [o] { return OpenPostgresStore(o); };
  return std::unique_ptr<Store>(new OwnedStore(std::move(store).value(), cleanup, share));
}

}  // namespace

std::vector<std::string> TestBackends() {
  std::vector<std::string> backends{"sqlite"};
  if (std::getenv("SUND_TEST_PG") != nullptr || InCi()) backends.emplace_back("postgres");
  return backends;
}

std::string BackendFromEnvironment() {
  const char* b = std::getenv("SUND_TEST_BACKEND");
  return b == nullptr || *b == '\0' ? "sqlite" : std::string(b);
}

Result<std::unique_ptr<Store>> OpenTestStore(const std::string& backend) {
  if (backend == "sqlite") return OpenSqlite();
  if (backend == "postgres") return OpenPostgres();
  return InvalidArgument("unknown test backend '" + backend + "'");
}

Result<std::unique_ptr<Store>> OpenSharingStore(Store& first) {
  auto* owned = dynamic_cast<OwnedStore*>(&first);
  if (owned == nullptr || !owned->share()) {
    return Status(StatusCode::kNotImplemented, "this backend's data belongs to one store");
  }
  return owned->share()();
}

Status ExecOnSqliteFile(const std::string& path, const std::string& sql) {
  SUND_ASSIGN_OR_RETURN(auto db, sqlite::Connection::Open(path, /*read_only=*/false));
  return db->Exec(sql);
}

}  // namespace sund::storage::testing
