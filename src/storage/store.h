// The Store: where FHIR resource versions and their search indexes live.
//
// Backends (storage/sqlite, later storage/postgres) implement this interface; the API and the
// importer use only it. Each version is kept as its canonical JSON bytes and served as stored.
// Writes happen in a WriteTransaction: everything in it commits or nothing does (one database
// transaction per request, Bundle or import batch). Schema and durability: docs/storage.md.
// Thread-safety: a Store is safe to use from many threads; a WriteTransaction belongs to one
// thread at a time, and at most one is open per Store (writers are serialised).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/search_index.h"
#include "fhir/search_query.h"

namespace sund::storage {

struct ResourceVersion {
  std::string type;
  std::string id;
  std::int64_t version = 0;
  std::int64_t last_updated_us = 0;
  bool deleted = false;
  std::string method;  // "POST", "PUT", "PATCH", "DELETE": how this version was made
  std::string json;    // canonical JSON; empty for a delete
};

struct HistoryQuery {
  std::string type;                      // "" for all types
  std::string id;                        // "" for all ids of the type
  std::optional<std::int64_t> since_us;  // versions updated at or after
  std::optional<std::int64_t> at_us;     // the version current at this time (per resource)
  int count = 20;
  std::optional<std::int64_t> before_vid;  // paging cursor from HistoryPage::next_vid
  // The change feed (subscriptions): versions written after this cursor, oldest first, in the
  // order their transactions committed (HistoryPage::last_vid is the next cursor; 0 starts at
  // the beginning). Not combined with before_vid.
  std::optional<std::int64_t> after_vid;
  // Only versions of resources now in this Patient's compartment (patient-context access).
  std::string compartment_patient;
  // Only versions of resources whose current state the Consents let the caller see
  // (fhir::SearchQuery::ConsentFilter); versions of deleted resources of the compartment's types
  // are then left out, as their patients are no longer known.
  fhir::SearchQuery::ConsentFilter consent;
};

struct HistoryPage {
  std::vector<ResourceVersion> versions;  // newest first (after_vid: oldest first)
  std::optional<std::int64_t> next_vid;   // cursor for the next page
  std::int64_t last_vid = 0;  // the vid of the last version here (0: none): the next after_vid
};

struct SearchHit {
  std::string type;
  std::string id;
  std::string json;
};

struct SearchPage {
  std::vector<SearchHit> matches;
  std::vector<SearchHit> includes;  // from _include/_revinclude, without duplicates
  bool has_more = false;            // another page exists
  std::int64_t next_cursor = 0;     // for the default order: SearchQuery::cursor of the next page
  std::optional<std::int64_t> prev_cursor;  // and of the previous page (0: the first page)
  std::optional<std::int64_t> total;        // only when asked (_total=accurate) or _summary=count
};

// Bulk export: the resources of one type as they stood at a change-feed position (a snapshot
// that later writes do not change, and that a restarted export can return to), in key order.
struct SnapshotQuery {
  std::string type;
  std::int64_t as_of_vid = 0;  // the snapshot: Store::LastVid() when the export started
  std::int64_t after_rid = 0;  // resume cursor: SnapshotPage::next_rid (0: from the start)
  // Only resources whose version in the snapshot was written at or after this time (_since).
  std::optional<std::int64_t> since_us;
  // Non-empty: only Patients with these ids and resources in their compartments (Group export;
  // membership is the resources' current references).
  std::vector<std::string> patients;
  // Only Patients and resources in some Patient's compartment (a Patient-level export of all
  // patients, without listing them). Ignored when `patients` is given.
  bool any_patient = false;
  // Criteria (a _typeFilter of the same type), tested on the resources' current index rows, and
  // the Consents' filter (fhir::SearchQuery::ConsentFilter); only these fields of it are used.
  fhir::SearchQuery filter;
  int count = 1000;
};

struct SnapshotPage {
  std::vector<ResourceVersion> versions;  // the version current at the snapshot, not deleted
  std::optional<std::int64_t> next_rid;   // cursor for the next page; none after the last
};

class WriteTransaction {
 public:
  virtual ~WriteTransaction() = default;  // rolls back unless committed

  // The current version of a resource as this transaction sees it; NotFound if never created
  // (a deleted resource is returned with deleted = true).
  virtual Result<ResourceVersion> Read(std::string_view type, std::string_view id) = 0;
  // Ids of current, non-deleted resources matching `query` (for conditional interactions),
  // at most `limit`.
  virtual Result<std::vector<std::string>> FindIds(const fhir::SearchQuery& query, int limit) = 0;
  // Stores a new version (create, update or delete) and replaces the resource's index entries.
  // `v.version` must be the current version + 1 (1 for a new resource). Conflict otherwise.
  virtual Status Put(const ResourceVersion& v, std::vector<fhir::IndexEntry> index) = 0;
  virtual Status Commit() = 0;
  // A nested savepoint, so one part of a larger transaction (a Bundle in an import batch) can be
  // undone alone: Savepoint(), then ReleaseSavepoint() to keep or RollbackToSavepoint() to undo.
  virtual Status Savepoint() = 0;
  virtual Status ReleaseSavepoint() = 0;
  virtual Status RollbackToSavepoint() = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The current version; NotFound if the resource never existed. A deleted resource is
  // returned with deleted = true (the API answers 410).
  virtual Result<ResourceVersion> Read(std::string_view type, std::string_view id) = 0;
  // One version; NotFound if there is no such version.
  virtual Result<ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                              std::int64_t version) = 0;
  virtual Result<HistoryPage> History(const HistoryQuery& query) = 0;
  virtual Result<SearchPage> Search(const fhir::SearchQuery& query) = 0;
  // All current resources in a patient's compartment (for Patient/[id]/$everything): the
  // resources that reference `patient_id` through the given reference parameters, plus the
  // resources those reference (one level, other patients excluded); the patient first, then in
  // the order they were created, up to `limit`.
  virtual Result<std::vector<SearchHit>> Everything(std::string_view patient_id, int limit) = 0;

  // Whether the current, undeleted type/id lies in the compartment of Patient `patient`
  // (CompartmentDefinition/patient): the point check behind patient-context reads.
  virtual Result<bool> InPatientCompartment(std::string_view type, std::string_view id,
                                            std::string_view patient) = 0;
  // Read, limited to the compartment of Patient `patient` in the same query: kNotFound for a
  // resource outside it, or deleted (patient-context reads, one query instead of two).
  virtual Result<ResourceVersion> ReadInPatientCompartment(std::string_view type,
                                                           std::string_view id,
                                                           std::string_view patient) = 0;

  // The newest committed version's feed position (HistoryPage::last_vid's numbering; 0 when
  // empty): a snapshot that SnapshotQuery::as_of_vid names.
  virtual Result<std::int64_t> LastVid() = 0;
  // One page of a snapshot (SnapshotQuery).
  virtual Result<SnapshotPage> Snapshot(const SnapshotQuery& query) = 0;

  // Opens the single write transaction; waits for another writer to finish.
  virtual Result<std::unique_ptr<WriteTransaction>> BeginWrite() = 0;

  // A value that changes whenever a resource of `type` is created, updated or deleted (and
  // seldom otherwise), valid for the life of this Store: the consent gate reads it for
  // "Consent" on every request, so it must cost no more than a lock. A new value is visible
  // once the commit that wrote the type has returned, never before its data is.
  virtual Result<std::string> TypeStamp(std::string_view type) = 0;

  // Resources per type (current, not deleted), for /metrics and the import summary.
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> CountByType() = 0;
};

}  // namespace sund::storage
