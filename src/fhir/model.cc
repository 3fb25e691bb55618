#include "fhir/model.h"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/json.h"
#include "core/status.h"
#include "fhir/embedded_data.h"

namespace sund::fhir {

namespace {

// Transparent hashing so that lookups by string_view do not allocate.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Element flags in the data file (data/README.md).
constexpr int kFlagChoice = 1;
constexpr int kFlagArray = 2;
constexpr int kFlagSummary = 4;
constexpr int kFlagRequired = 8;

std::vector<std::string> SplitBar(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  while (true) {
    std::size_t bar = s.find('|', start);
    out.emplace_back(s.substr(start, bar == std::string_view::npos ? bar : bar - start));
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return out;
}

std::string Str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
}

bool ParseSearchParamType(std::string_view s, SearchParamType* out) {
  static constexpr std::pair<std::string_view, SearchParamType> kTypes[] = {
      {"number", SearchParamType::kNumber},       {"date", SearchParamType::kDate},
      {"string", SearchParamType::kString},       {"token", SearchParamType::kToken},
      {"reference", SearchParamType::kReference}, {"composite", SearchParamType::kComposite},
      {"quantity", SearchParamType::kQuantity},   {"uri", SearchParamType::kUri},
      {"special", SearchParamType::kSpecial},
  };
  for (const auto& [name, type] : kTypes) {
    if (name == s) {
      *out = type;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view SearchParamTypeName(SearchParamType t) {
  switch (t) {
    case SearchParamType::kNumber:
      return "number";
    case SearchParamType::kDate:
      return "date";
    case SearchParamType::kString:
      return "string";
    case SearchParamType::kToken:
      return "token";
    case SearchParamType::kReference:
      return "reference";
    case SearchParamType::kComposite:
      return "composite";
    case SearchParamType::kQuantity:
      return "quantity";
    case SearchParamType::kUri:
      return "uri";
    case SearchParamType::kSpecial:
      return "special";
  }
  return "unknown";
}

struct Model::Index {
  StringMap<TypeDef> types;
  // type name -> element name -> position in TypeDef::elements.
  StringMap<StringMap<std::size_t>> elements;
  StringMap<const SearchParamDef*> by_url;
  // resource type -> applicable parameters (own, Resource, DomainResource), definition order.
  StringMap<std::vector<const SearchParamDef*>> by_type;
  StringMap<StringMap<const SearchParamDef*>> by_type_code;
  StringMap<std::vector<std::string>> patient_compartment;
};

const Model& Model::R4() {
  static const Model* const kModel = new Model();
  return *kModel;
}

Model::~Model() { delete index_; }

Model::Model() : index_(new Index) {
  std::string_view data = embedded::R4Definitions();
  rapidjson::Document doc;
  doc.Parse(data.data(), data.size());
  SUND_CHECK(!doc.HasParseError() && doc.IsObject());
  const rapidjson::Value* types = json::Find(doc, "types");
  const rapidjson::Value* params = json::Find(doc, "searchParams");
  SUND_CHECK(types != nullptr && types->IsArray() && params != nullptr && params->IsArray());

  // Own elements per type, as in the file.
  StringMap<TypeDef> own;
  for (const auto& t : types->GetArray()) {
    SUND_CHECK(t.IsArray() && t.Size() == 5 && t[4].IsArray());
    TypeDef def;
    def.name = Str(t[0]);
    std::string kind = Str(t[1]);
    def.kind = kind == "p"   ? TypeKind::kPrimitive
               : kind == "r" ? TypeKind::kResource
               : kind == "b" ? TypeKind::kBackbone
                             : TypeKind::kComplex;
    def.base = Str(t[2]);
    def.is_abstract = t[3].IsInt() && t[3].GetInt() != 0;
    for (const auto& e : t[4].GetArray()) {
      SUND_CHECK(e.IsArray() && e.Size() == 3 && e[2].IsInt());
      ElementDef el;
      el.name = Str(e[0]);
      el.types = SplitBar(Str(e[1]));
      int flags = e[2].GetInt();
      el.is_choice = (flags & kFlagChoice) != 0;
      el.is_array = (flags & kFlagArray) != 0;
      el.in_summary = (flags & kFlagSummary) != 0;
      el.required = (flags & kFlagRequired) != 0;
      def.elements.push_back(std::move(el));
    }
    if (def.kind == TypeKind::kResource && !def.is_abstract) resource_types_.push_back(def.name);
    std::string name = def.name;
    own.emplace(std::move(name), std::move(def));
  }
  std::sort(resource_types_.begin(), resource_types_.end());

  // Flatten inheritance: base elements first, then own (a redefinition replaces the base's).
  std::function<const TypeDef&(const std::string&, int)> flatten =
      [&](const std::string& name, int depth) -> const TypeDef& {
    auto done = index_->types.find(name);
    if (done != index_->types.end()) return done->second;
    auto it = own.find(name);
    SUND_CHECK(it != own.end() && depth < 32);
    TypeDef def = it->second;
    if (!def.base.empty() && own.count(def.base) != 0) {
      const TypeDef& base = flatten(def.base, depth + 1);
      std::vector<ElementDef> merged = base.elements;
      for (auto& el : def.elements) {
        auto same = std::find_if(merged.begin(), merged.end(),
                                 [&](const ElementDef& m) { return m.name == el.name; });
        if (same != merged.end()) {
          *same = std::move(el);
        } else {
          merged.push_back(std::move(el));
        }
      }
      def.elements = std::move(merged);
    }
    auto& lookup = index_->elements[name];
    for (std::size_t i = 0; i < def.elements.size(); ++i) lookup.emplace(def.elements[i].name, i);
    return index_->types.emplace(name, std::move(def)).first->second;
  };
  for (const auto& [name, def] : own) flatten(name, 0);

  search_params_.reserve(params->Size());
  for (const auto& p : params->GetArray()) {
    SUND_CHECK(p.IsArray() && p.Size() == 9 && p[8].IsArray());
    SearchParamDef def;
    def.url = Str(p[0]);
    def.code = Str(p[1]);
    SUND_CHECK(ParseSearchParamType(Str(p[2]), &def.type));
    def.base = SplitBar(Str(p[3]));
    def.expression = Str(p[4]);
    def.target = SplitBar(Str(p[5]));
    def.modifiers = SplitBar(Str(p[6]));
    def.comparators = SplitBar(Str(p[7]));
    for (const auto& c : p[8].GetArray()) {
      SUND_CHECK(c.IsArray() && c.Size() == 2);
      def.components.push_back({Str(c[0]), Str(c[1])});
    }
    search_params_.push_back(std::move(def));
  }
  // search_params_ no longer grows: pointers into it are stable from here on.
  for (const auto& def : search_params_) {
    index_->by_url.emplace(def.url, &def);
    for (const auto& base : def.base) {
      if (base == "Resource" || base == "DomainResource") {
        for (const auto& rt : resource_types_) {
          if (IsA(rt, base)) index_->by_type[rt].push_back(&def);
        }
      } else {
        index_->by_type[base].push_back(&def);
      }
    }
  }
  for (const auto& [type, list] : index_->by_type) {
    auto& codes = index_->by_type_code[type];
    for (const SearchParamDef* def : list) codes.emplace(def->code, def);
  }
  if (const rapidjson::Value* comp = json::Find(doc, "patientCompartment");
      comp != nullptr && comp->IsArray()) {
    for (const auto& c : comp->GetArray()) {
      SUND_CHECK(c.IsArray() && c.Size() == 2 && c[1].IsArray());
      std::vector<std::string> codes;
      for (const auto& code : c[1].GetArray()) codes.push_back(Str(code));
      compartment_types_.push_back(Str(c[0]));
      index_->patient_compartment.emplace(Str(c[0]), std::move(codes));
    }
  }
}

const std::vector<std::string>& Model::PatientCompartmentParams(
    std::string_view resource_type) const {
  static const std::vector<std::string> kNone;
  auto it = index_->patient_compartment.find(resource_type);
  return it == index_->patient_compartment.end() ? kNone : it->second;
}

bool Model::IsResourceType(std::string_view name) const {
  return std::binary_search(resource_types_.begin(), resource_types_.end(), name);
}

const TypeDef* Model::FindType(std::string_view name) const {
  auto it = index_->types.find(name);
  return it == index_->types.end() ? nullptr : &it->second;
}

const ElementDef* Model::FindElement(std::string_view type, std::string_view element) const {
  auto t = index_->types.find(type);
  if (t == index_->types.end()) return nullptr;
  auto e = index_->elements.find(type);
  if (e == index_->elements.end()) return nullptr;
  auto pos = e->second.find(element);
  if (pos == e->second.end()) return nullptr;
  return &t->second.elements[pos->second];
}

bool Model::IsA(std::string_view type, std::string_view ancestor) const {
  std::string_view current = type;
  for (int depth = 0; depth < 32 && !current.empty(); ++depth) {
    if (current == ancestor) return true;
    const TypeDef* def = FindType(current);
    if (def == nullptr) return false;
    current = def->base;
  }
  return false;
}

std::vector<const SearchParamDef*> Model::SearchParams(std::string_view resource_type) const {
  auto it = index_->by_type.find(resource_type);
  if (it == index_->by_type.end()) return {};
  return it->second;
}

const SearchParamDef* Model::FindSearchParam(std::string_view resource_type,
                                             std::string_view code) const {
  auto t = index_->by_type_code.find(resource_type);
  if (t == index_->by_type_code.end()) return nullptr;
  auto it = t->second.find(code);
  return it == t->second.end() ? nullptr : it->second;
}

const SearchParamDef* Model::FindSearchParamByUrl(std::string_view url) const {
  auto it = index_->by_url.find(url);
  return it == index_->by_url.end() ? nullptr : it->second;
}

}  // namespace sund::fhir
