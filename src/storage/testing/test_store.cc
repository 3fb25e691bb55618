#include "storage/testing/test_store.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <functional>

#include "storage/sqlite/sqlite_store.h"

namespace sund::storage::testing {
namespace {

// Forwards to the store it owns and removes its data when destroyed.
class OwnedStore final : public Store {
 public:
  OwnedStore(std::unique_ptr<Store> store, std::function<void()> cleanup)
      : store_(std::move(store)), cleanup_(std::move(cleanup)) {}
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
  return InvalidArgument("unknown test backend '" + backend + "'");
}

}  // namespace sund::storage::testing
