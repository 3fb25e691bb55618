// Compiles a parsed FHIR search (fhir::SearchQuery) into parameterised SQL over the index tables
// (docs/storage.md), in either backend's dialect. Values are always bound, never spliced into the
// SQL text; only table/column names chosen by this code and placeholders appear in it.
// Thread-safety: stateless apart from the immutable search-parameter id map.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/search_query.h"
#include "storage/internal/sql.h"

namespace sund::storage::sql {

// (resource type, parameter code) -> sp id, or -1 when the type has no such parameter.
using SpLookup = std::function<std::int64_t(std::string_view type, std::string_view code)>;

struct SqlFragment {
  std::string sql;
  std::vector<Param> params;
};

// "(alias is Patient `patient` or references it through a Patient-compartment parameter)":
// the membership test of CompartmentDefinition/patient for the resource aliased `alias`, with
// the compartment's parameters in table compartment_sp (CompartmentSpIds, schema migration 3).
// `per_candidate`: checked per candidate row through the rid index (when other criteria drive
// the query), else the patient's references drive it.
std::string CompartmentClause(Dialect d, std::string_view alias, const std::string& patient,
                              std::vector<Param>& params, bool per_candidate = true);

// The consent test of fhir::SearchQuery::ConsentFilter for the resource aliased `alias`, checked
// per candidate row. `filter.active` must be true.
std::string ConsentClause(Dialect d, std::string_view alias,
                          const fhir::SearchQuery::ConsentFilter& filter,
                          std::vector<Param>& params);
// The sp ids of the Patient compartment's parameters, over all types.
std::vector<std::int64_t> CompartmentSpIds(const SpLookup& lookup);

class SearchSql {
 public:
  SearchSql(Dialect dialect, SpLookup lookup, std::int64_t now_ms)
      : dialect_(dialect), sp_(std::move(lookup)), now_ms_(now_ms) {}

  // "r.type = ? AND r.deleted = 0 AND ..." for resources aliased `r`.
  Result<SqlFragment> Where(const fhir::SearchQuery& q);
  // Only `criteria` on `type` for resources aliased `r` ("TRUE AND ..."), each checked per
  // candidate: for a query whose other terms the caller writes (the export snapshot).
  Result<SqlFragment> CriteriaOnly(std::string_view type,
                                   const std::vector<fhir::SearchCriterion>& criteria);
  // "ORDER BY ..." (always ends with r.rid for a total order).
  Result<SqlFragment> OrderBy(const fhir::SearchQuery& q);

 private:
  // `drive`: the criterion's index lookup produces the candidate set (an IN list); otherwise it
  // is checked per candidate through the table's rid index (EXISTS).
  Result<std::string> Criterion(const fhir::SearchCriterion& c, std::string_view type,
                                const std::string& alias, std::vector<Param>& params,
                                bool drive = true);
  Result<std::string> ValueClause(const fhir::SearchCriterion& c, const fhir::SearchValue& v,
                                  std::string_view type, std::vector<Param>& params);
  std::string NextAlias();

  Dialect dialect_;
  SpLookup sp_;
  std::int64_t now_ms_;
  int alias_counter_ = 0;
};

}  // namespace sund::storage::sql
