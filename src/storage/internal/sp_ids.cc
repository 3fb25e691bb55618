#include "storage/internal/sp_ids.h"

namespace sund::storage::sql {
namespace {

std::string KeyOf(std::string_view type, std::string_view code) {
  std::string k(type);
  k += '\0';
  k += code;
  return k;
}

}  // namespace

void SpIds::Add(std::string type, std::string code, std::int64_t sp) {
  by_key_[KeyOf(type, code)] = sp;
}

bool SpIds::Has(const std::string& type, const std::string& code) const {
  return by_key_.contains(KeyOf(type, code));
}

std::int64_t SpIds::Get(std::string_view type, std::string_view code) const {
  auto it = by_key_.find(KeyOf(type, code));
  if (it != by_key_.end()) return it->second;
  if (type.empty()) {
    it = by_key_.find(KeyOf("Resource", code));
    if (it != by_key_.end()) return it->second;
  }
  return -1;
}

void SpIds::IndexModel() {
  const auto& model = fhir::Model::R4();
  for (const auto& type : model.resource_types()) {
    auto& m = by_def_[type];
    for (const auto* def : model.SearchParams(type)) {
      std::int64_t sp = Get(type, def->code);
      if (sp >= 0) m[def] = sp;
    }
  }
}

const std::unordered_map<const fhir::SearchParamDef*, std::int64_t>* SpIds::ForType(
    const std::string& type) const {
  auto it = by_def_.find(type);
  return it == by_def_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, const fhir::SearchParamDef*>> ModelSearchParams() {
  const auto& model = fhir::Model::R4();
  std::vector<std::pair<std::string, const fhir::SearchParamDef*>> out;
  for (const auto& type : model.resource_types()) {
    for (const auto* def : model.SearchParams(type)) out.emplace_back(type, def);
  }
  for (const auto& def : model.all_search_params()) {
    for (const auto& b : def.base) {
      if (b == "Resource" || b == "DomainResource") out.emplace_back("Resource", &def);
    }
  }
  return out;
}

}  // namespace sund::storage::sql
