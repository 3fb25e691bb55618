#include "fhir/resource.h"

#include "core/json_preserve.h"
#include "core/time.h"
#include "fhir/model.h"

namespace sund::fhir {

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<rapidjson::Document> ParseJson(std::string_view body) {
  rapidjson::Document doc;
  SUND_RETURN_IF_ERROR(json::ParsePreservingNumbers(body, doc));
  return doc;
}

Result<rapidjson::Document> ParseResource(std::string_view body) {
  SUND_ASSIGN_OR_RETURN(rapidjson::Document doc, ParseJson(body));
  if (!doc.IsObject()) return InvalidArgument("a resource must be a JSON object");
  std::string_view type = json::GetString(doc, "resourceType");
  if (type.empty()) return InvalidArgument("resourceType is missing");
  if (!Model::R4().IsResourceType(type)) {
    return InvalidArgument("unknown resource type '" + std::string(type) + "'");
  }
  return doc;
}

std::string_view ResourceType(const rapidjson::Value& resource) {
  return json::GetString(resource, "resourceType");
}

std::string_view ResourceId(const rapidjson::Value& resource) {
  return json::GetString(resource, "id");
}

void StampResource(rapidjson::Document& doc, std::string_view id, std::int64_t version,
                   std::int64_t last_updated_micros) {
  auto& a = doc.GetAllocator();
  rapidjson::Value id_value(id.data(), static_cast<rapidjson::SizeType>(id.size()), a);
  auto it = doc.FindMember("id");
  if (it != doc.MemberEnd()) {
    it->value = id_value;
  } else {
    // Keep resourceType first and id second, as FHIR JSON examples do.
    rapidjson::Value copy(rapidjson::kObjectType);
    for (auto& m : doc.GetObject()) {
      bool is_type = m.name == "resourceType";  // checked before AddMember moves the name out
      copy.AddMember(m.name, m.value, a);
      if (is_type) copy.AddMember("id", id_value, a);
    }
    static_cast<rapidjson::Value&>(doc).Swap(copy);
  }
  std::string version_text = std::to_string(version);
  std::string updated = FormatInstant(last_updated_micros);
  auto meta_it = doc.FindMember("meta");
  if (meta_it == doc.MemberEnd() || !meta_it->value.IsObject()) {
    if (meta_it != doc.MemberEnd()) doc.RemoveMember(meta_it);
    // Place meta right after id.
    rapidjson::Value copy(rapidjson::kObjectType);
    bool placed = false;
    rapidjson::Value meta(rapidjson::kObjectType);
    for (auto& m : doc.GetObject()) {
      bool is_id = m.name == "id";
      copy.AddMember(m.name, m.value, a);
      if (!placed && is_id) {
        copy.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), a);
        placed = true;
      }
    }
    if (!placed) copy.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), a);
    static_cast<rapidjson::Value&>(doc).Swap(copy);
    meta_it = doc.FindMember("meta");
  }
  rapidjson::Value& meta = meta_it->value;
  meta.RemoveMember("versionId");
  meta.RemoveMember("lastUpdated");
  rapidjson::Value rebuilt(rapidjson::kObjectType);
  rebuilt.AddMember("versionId", rapidjson::Value(version_text.c_str(), a), a);
  rebuilt.AddMember("lastUpdated", rapidjson::Value(updated.c_str(), a), a);
  for (auto& m : meta.GetObject()) rebuilt.AddMember(m.name, m.value, a);
  meta.Swap(rebuilt);
}

std::string CanonicalJson(const rapidjson::Value& resource) {
  return json::SerializePreservingNumbers(resource);
}

}  // namespace sund::fhir
