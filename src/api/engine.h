// The FHIR interaction engine: create, read, update, patch, delete (plain and conditional),
// history, search, and batch/transaction Bundles, over a storage::Store.
//
// The HTTP handlers (fhir_api.h) and the importer call it; later the IoMT gateway writes through
// it too. It knows nothing of HTTP: results and errors are values (Status codes become HTTP
// statuses in errors.cc). Spec: FHIR R4 http.html, bundle.html (transaction processing rules).
// Thread-safety: safe to share; writes are serialised by the Store's single write transaction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "core/time.h"
#include "fhir/search_query.h"
#include "storage/store.h"

namespace sund::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct WriteResult {
  storage::ResourceVersion version;  // the version now current (json empty for a delete)
  bool created = false;              // a new resource (201)
  bool unchanged = false;            // conditional create matched an existing resource (200)
};

struct EngineOptions {
  fhir::SearchLimits limits;
  int max_bundle_entries = 10'000;
};

// A planned transaction Bundle whose writes are deferred (see Engine::PlanTransaction).
struct DeferredBundle {
  struct Job {
    const rapidjson::Value* resource = nullptr;
    std::string type, id, method;
    std::int64_t version = 0;
    storage::ResourceVersion prepared;
    std::vector<fhir::IndexEntry> index;
    Status status;  // a validation failure found while preparing
  };
  std::unique_ptr<rapidjson::Document> doc;  // owns the resources the jobs point into
  std::vector<Job> jobs;
  bool prepared = false;
  // Resource types this Bundle writes, and types its planning looked up (conditional
  // references, updates): a later Bundle that looks up a type an earlier, unwritten one writes
  // must wait for it.
  std::vector<std::string> written_types;
  // When set, references are rewritten while preparing (off the writer's thread): fullUrl and
  // conditional reference -> "Type/id".
  std::shared_ptr<const std::unordered_map<std::string, std::string>> references;
};

// Types a transaction Bundle's planning will look up in the database; `conditional_refs`
// (optional) receives the distinct conditional references ("Patient?identifier=...") in it.
std::vector<std::string> LookupTypes(const rapidjson::Value& bundle,
                                     std::vector<std::string>* conditional_refs = nullptr);

class Engine {
 public:
  Engine(storage::Store& store, const Clock& clock, EngineOptions options = {});

  // Read: NotFound if never created; Gone (message names the version) if deleted.
  Result<storage::ResourceVersion> Read(std::string_view type, std::string_view id);
  Result<storage::ResourceVersion> VRead(std::string_view type, std::string_view id,
                                         std::string_view version);

  // Create with a server-assigned id. `if_none_exist` (query string) makes it conditional:
  // one match -> that resource, unchanged; several -> PreconditionFailed.
  Result<WriteResult> Create(std::string_view type, rapidjson::Document resource,
                             std::string_view if_none_exist = {});
  // Update (or create with the client's id). `if_match`: the version the client expects
  // (PreconditionFailed on mismatch). InvalidArgument when the body's id differs from `id`.
  Result<WriteResult> Update(std::string_view type, std::string_view id,
                             rapidjson::Document resource,
                             std::optional<std::int64_t> if_match = std::nullopt);
  // Conditional update (PUT Type?criteria): 0 matches -> create, 1 -> update, more -> 412.
  Result<WriteResult> ConditionalUpdate(std::string_view type, const QueryParams& criteria,
                                        rapidjson::Document resource,
                                        std::optional<std::int64_t> if_match = std::nullopt);
  // JSON Patch (RFC 6902) on the current version.
  Result<WriteResult> Patch(std::string_view type, std::string_view id,
                            const rapidjson::Value& patch,
                            std::optional<std::int64_t> if_match = std::nullopt);
  // Delete: a versioned tombstone. Deleting a missing or deleted resource succeeds (no-op).
  Result<WriteResult> Delete(std::string_view type, std::string_view id,
                             std::optional<std::int64_t> if_match = std::nullopt);
  // Conditional delete: deletes every match (up to a limit); returns how many.
  Result<int> ConditionalDelete(std::string_view type, const QueryParams& criteria);

  Result<storage::HistoryPage> History(const storage::HistoryQuery& q);
  Result<fhir::SearchQuery> ParseSearch(std::string_view type, const QueryParams& params,
                                        bool strict);
  Result<storage::SearchPage> Search(const fhir::SearchQuery& q);

  // One entry of a batch or transaction, as the access check sees it before anything runs.
  struct EntryView {
    std::string_view method;  // GET, POST, PUT, PATCH, DELETE
    std::string_view type;
    std::string_view id;       // "" for a type-level or conditional request
    std::string_view query;    // criteria of a conditional request or search ("" if none)
    bool conditional = false;  // ifNoneExist, or a PUT/DELETE by criteria
    const rapidjson::Value* resource = nullptr;  // POST/PUT content
  };
  // Called per entry; a failure fails a transaction as a whole and a batch entry alone.
  using EntryGuard = std::function<Status(const EntryView&)>;

  // Processes a batch or transaction Bundle; returns the response Bundle JSON. A transaction
  // is atomic: any failing entry fails the whole Bundle with that entry's status. `base` is the
  // server's FHIR base URL, for fullUrl and Location. `guard` (optional) checks every entry's
  // access before the Bundle runs.
  Result<std::string> ProcessBundle(rapidjson::Document bundle, std::string_view base,
                                    const EntryGuard& guard = nullptr);

  // For the importer: applies a transaction or batch Bundle inside `w` (a write transaction the
  // caller holds across several Bundles) under a savepoint, so a failing Bundle is undone alone.
  // Returns the number of entries written.
  Result<std::int64_t> ApplyTransaction(storage::WriteTransaction& w, rapidjson::Document bundle);

  // The import pipeline: plans a transaction Bundle inside `w` (ids assigned, references
  // resolved, versions fixed) without writing it when every entry is a plain create or update,
  // so that preparing it (PrepareDeferred, any thread) overlaps with writing the previous one
  // (WriteDeferred, the writer's thread). Bundles with other entries are written at once (under
  // a savepoint) and nullptr is returned, with *written set.
  // `conditional_refs`, when given, lists every conditional reference in the Bundle
  // (LookupTypes); the rewriting of references then moves into PrepareDeferred.
  Result<std::unique_ptr<DeferredBundle>> PlanTransaction(
      storage::WriteTransaction& w, rapidjson::Document bundle, std::int64_t* written,
      const std::vector<std::string>* conditional_refs = nullptr);
  void PrepareDeferred(DeferredBundle& d);
  Result<std::int64_t> WriteDeferred(storage::WriteTransaction& w, DeferredBundle& d);

  storage::Store& store() { return store_; }
  const EngineOptions& options() const { return options_; }

 private:
  struct Txn {
    std::unique_ptr<storage::WriteTransaction> owned;
    storage::WriteTransaction* w = nullptr;
    Status Begin(storage::Store& store) {
      SUND_ASSIGN_OR_RETURN(owned, store.BeginWrite());
      w = owned.get();
      return Status::Ok();
    }
  };
  // A version ready to be written: stamped, serialised and indexed (pure CPU work, so Bundle
  // entries are prepared in parallel before being written in order).
  struct PreparedWrite {
    storage::ResourceVersion version;
    std::vector<fhir::IndexEntry> index;
  };
  // InvalidArgument when the resource fails basic validation (fhir/validate.h).
  Result<PreparedWrite> PrepareVersion(std::string_view type, std::string id, std::int64_t version,
                                       std::string_view method, rapidjson::Document& resource);
  Result<std::string> RunBundle(Txn* outer, rapidjson::Document bundle, std::string_view base,
                                std::int64_t* written,
                                std::unique_ptr<struct DeferredBundle>* defer = nullptr,
                                const std::vector<std::string>* conditional_refs = nullptr,
                                const EntryGuard* guard = nullptr);
  Result<WriteResult> CreateIn(Txn& t, std::string_view type, rapidjson::Document& resource,
                               std::string_view if_none_exist, std::string id);
  Result<WriteResult> UpdateIn(Txn& t, std::string_view type, std::string_view id,
                               rapidjson::Document& resource, std::optional<std::int64_t> if_match,
                               std::string_view method);
  Result<WriteResult> DeleteIn(Txn& t, std::string_view type, std::string_view id);
  Result<std::vector<std::string>> Match(Txn& t, std::string_view type, const QueryParams& criteria,
                                         int limit);
  // A conditional update that matched nothing but names an id: Conflict when a current resource
  // has that id (FHIR R4, 3.1.0.4.3: it did not match the criteria, so it must not be replaced).
  Status RefuseExistingId(Txn& t, std::string_view type, std::string_view id);
  std::int64_t NextTimestamp();

  storage::Store& store_;
  const Clock& clock_;
  EngineOptions options_;
  std::atomic<std::int64_t> last_ts_{0};
};

}  // namespace sund::api
