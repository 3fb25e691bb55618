// The Store's read queries, written once for both SQL backends over sql::Connection: current
// and versioned reads, history and the change feed, search with includes and keyset paging,
// $everything, compartment checks, export snapshots and counts. The backends own connections,
// writes and schema; they call these for every read. Internal to src/storage.
// Thread-safety: stateless; each call uses the connection it is given.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/search_query.h"
#include "storage/internal/search_sql.h"
#include "storage/internal/sql.h"
#include "storage/store.h"

namespace sund::storage::sql {

Result<ResourceVersion> ReadCurrent(Connection& c, std::string_view type, std::string_view id);
Result<ResourceVersion> ReadVersion(Connection& c, std::string_view type, std::string_view id,
                                    std::int64_t version);
Result<HistoryPage> History(Connection& c, const HistoryQuery& q);
Result<bool> InPatientCompartment(Connection& c, std::string_view type, std::string_view id,
                                  std::string_view patient);
Result<ResourceVersion> ReadInPatientCompartment(Connection& c, std::string_view type,
                                                 std::string_view id, std::string_view patient);
// A search; `ids_only` leaves SearchHit::json empty and skips includes (conditional
// interactions), `limit_override` > 0 replaces q.count.
Result<SearchPage> Search(Connection& c, const SpLookup& sp, const fhir::SearchQuery& q,
                          bool ids_only, int limit_override);
Result<std::vector<SearchHit>> Everything(Connection& c, std::string_view patient_id, int limit);
Result<std::int64_t> LastVid(Connection& c);
Result<SnapshotPage> Snapshot(Connection& c, const SpLookup& sp, const SnapshotQuery& q);
Result<std::vector<std::pair<std::string, std::int64_t>>> CountByType(Connection& c);

}  // namespace sund::storage::sql
