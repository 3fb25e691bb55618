#include "fhir/subset.h"

#include <algorithm>

#include "core/json.h"
#include "core/json_preserve.h"
#include "fhir/model.h"

namespace sund::fhir {

std::string SubsetResource(std::string_view json, SummaryMode summary,
                           const std::vector<std::string>& elements) {
  bool by_elements = !elements.empty();
  if (!by_elements && (summary == SummaryMode::kNone || summary == SummaryMode::kFalse)) {
    return std::string(json);
  }
  rapidjson::Document doc;
  if (!json::ParsePreservingNumbers(json, doc).ok() || !doc.IsObject()) return std::string(json);
  std::string type(json::GetString(doc, "resourceType"));
  const Model& model = Model::R4();
  auto keep = [&](std::string_view key) -> bool {
    if (key == "resourceType" || key == "id" || key == "meta") return true;
    std::string_view base = key;
    if (!base.empty() && base[0] == '_') base.remove_prefix(1);
    if (by_elements) {
      for (const auto& e : elements) {
        if (e == base) return true;
        // choice elements: "value" keeps valueQuantity
        const ElementDef* def = model.FindElement(type, e);
        if (def != nullptr && def->is_choice && base.substr(0, e.size()) == e) return true;
      }
      const ElementDef* def = model.FindElement(type, base);
      return def != nullptr && def->required;
    }
    switch (summary) {
      case SummaryMode::kData:
        return base != "text";
      case SummaryMode::kText: {
        if (base == "text") return true;
        const ElementDef* def = model.FindElement(type, base);
        return def != nullptr && def->required;
      }
      case SummaryMode::kTrue: {
        const ElementDef* def = model.FindElement(type, base);
        if (def == nullptr) {
          // choice element keys: find the stem
          for (std::size_t i = base.size(); i > 0; --i) {
            if (std::isupper(static_cast<unsigned char>(base[i - 1]))) {
              def = model.FindElement(type, base.substr(0, i - 1));
              if (def != nullptr) break;
            }
          }
        }
        return def != nullptr && (def->in_summary || def->required);
      }
      default:
        return true;
    }
  };
  rapidjson::Value out(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  for (auto& m : doc.GetObject()) {
    if (keep(json::View(m.name))) out.AddMember(m.name, m.value, a);
  }
  // Mark as subsetted (meta.tag SUBSETTED from v3 ObservationValue).
  auto meta = out.FindMember("meta");
  if (meta == out.MemberEnd()) {
    out.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), a);
    meta = out.FindMember("meta");
  }
  if (meta->value.IsObject()) {
    auto tags = meta->value.FindMember("tag");
    if (tags == meta->value.MemberEnd() || !tags->value.IsArray()) {
      if (tags != meta->value.MemberEnd()) meta->value.RemoveMember(tags);
      meta->value.AddMember("tag", rapidjson::Value(rapidjson::kArrayType), a);
      tags = meta->value.FindMember("tag");
    }
    rapidjson::Value tag(rapidjson::kObjectType);
    tag.AddMember("system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", a);
    tag.AddMember("code", "SUBSETTED", a);
    tag.AddMember("display", "Resource encoded in summary mode", a);
    tags->value.PushBack(tag, a);
  }
  return json::SerializePreservingNumbers(out);
}

}  // namespace sund::fhir
