// A store's numbering of search parameters (its table search_param), shared by both SQL
// backends: (type, code) -> sp for the search compiler, and per resource type, definition ->
// sp for the write path. Internal to src/storage.
// Thread-safety: filled once while the store opens, read-only afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/model.h"
#include "storage/internal/search_sql.h"

namespace sund::storage::sql {

class SpIds {
 public:
  SpIds() = default;
  SpIds(const SpIds&) = delete;  // lookup() refers to this object
  SpIds& operator=(const SpIds&) = delete;

  void Add(std::string type, std::string code, std::int64_t sp);
  bool Has(const std::string& type, const std::string& code) const;
  // -1 when the type has no such parameter. Resource-level parameters searched across all types
  // (type "") are the "Resource" rows.
  std::int64_t Get(std::string_view type, std::string_view code) const;
  const SpLookup& lookup() const { return lookup_; }
  // Fills the per-type definition maps from the model; after the last Add.
  void IndexModel();
  // Definition -> sp of `type`'s parameters, or null for a type without any.
  const std::unordered_map<const fhir::SearchParamDef*, std::int64_t>* ForType(
      const std::string& type) const;

 private:
  std::unordered_map<std::string, std::int64_t> by_key_;  // "type\0code"
  std::unordered_map<std::string, std::unordered_map<const fhir::SearchParamDef*, std::int64_t>>
      by_def_;
  SpLookup lookup_ = [this](std::string_view t, std::string_view c) { return Get(t, c); };
};

// The (type, definition) pairs a store's search_param table holds: every type's parameters of
// the model and, as type "Resource", the resource-level ones.
std::vector<std::pair<std::string, const fhir::SearchParamDef*>> ModelSearchParams();

}  // namespace sund::storage::sql
