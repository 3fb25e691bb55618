#include "fhir/validate.h"

#include <cctype>
#include <string>

#include "core/time.h"

namespace sund::fhir {
namespace {

constexpr int kMaxDepth = 64;

bool IsIntegerType(std::string_view t) {
  return t == "integer" || t == "positiveInt" || t == "unsignedInt" || t == "integer64";
}

bool IsStringType(std::string_view t) {
  return t == "string" || t == "code" || t == "uri" || t == "url" || t == "canonical" ||
         t == "id" || t == "markdown" || t == "oid" || t == "uuid" || t == "base64Binary" ||
         t == "xhtml" || t == "date" || t == "dateTime" || t == "instant" || t == "time";
}

bool IsPrimitive(const Model& model, std::string_view t) {
  if (t == "boolean" || t == "decimal" || IsIntegerType(t) || IsStringType(t)) return true;
  const TypeDef* def = model.FindType(t);
  return def != nullptr && def->kind == TypeKind::kPrimitive;
}

bool ValidTime(std::string_view s) {
  // hh:mm:ss(.fff)?
  if (s.size() < 8 || s[2] != ':' || s[5] != ':') return false;
  for (int i : {0, 1, 3, 4, 6, 7}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  if (s.size() > 8) {
    if (s[8] != '.' || s.size() == 9) return false;
    for (std::size_t i = 9; i < s.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    }
  }
  return (s[0] - '0') * 10 + (s[1] - '0') < 24 && (s[3] - '0') * 10 + (s[4] - '0') < 60 &&
         (s[6] - '0') * 10 + (s[7] - '0') < 61;
}

class Validator {
 public:
  explicit Validator(const Model& model) : model_(model) {}

  Status Resource(const rapidjson::Value& v, const std::string& path, int depth) {
    if (!v.IsObject()) return Bad(path, "a resource must be a JSON object");
    std::string_view type = json::GetString(v, "resourceType");
    if (type.empty()) return Bad(path, "resourceType is missing");
    if (!model_.IsResourceType(type)) return Bad(path, "unknown resource type");
    std::string p = path.empty() ? std::string(type) : path;
    return Object(v, type, p, depth, true);
  }

 private:
  Status Bad(const std::string& path, std::string_view why) {
    return InvalidArgument(path + ": " + std::string(why));
  }

  Status Primitive(const rapidjson::Value& v, std::string_view type, const std::string& path) {
    if (v.IsNull()) return Bad(path, "null is only allowed inside arrays with extensions");
    if (type == "boolean") return v.IsBool() ? Status::Ok() : Bad(path, "must be true or false");
    if (type == "decimal") return v.IsNumber() ? Status::Ok() : Bad(path, "must be a JSON number");
    if (IsIntegerType(type)) {
      if (!v.IsInt64()) return Bad(path, "must be an integer");
      if (type == "positiveInt" && v.GetInt64() < 1) return Bad(path, "must be positive");
      if (type == "unsignedInt" && v.GetInt64() < 0) return Bad(path, "must not be negative");
      return Status::Ok();
    }
    if (!v.IsString()) return Bad(path, "must be a JSON string");
    std::string_view s = json::View(v);
    if (s.empty()) return Bad(path, "must not be empty");
    if (type == "date" || type == "dateTime" || type == "instant") {
      if (!ParseFhirDate(s).ok()) return Bad(path, "not a valid " + std::string(type));
      if (type == "date" && s.size() > 10) return Bad(path, "a date has no time");
      if (type == "instant" && (s.size() < 20 || s.find('T') == std::string_view::npos)) {
        return Bad(path, "an instant needs seconds and a time zone");
      }
      if (type == "dateTime" && s.size() > 10 && s.size() < 20) {
        return Bad(path, "a dateTime with a time needs seconds and a time zone");
      }
      return Status::Ok();
    }
    if (type == "time") return ValidTime(s) ? Status::Ok() : Bad(path, "not a valid time");
    if (type == "id") {
      if (s.size() > 64) return Bad(path, "an id has at most 64 characters");
      for (char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
          return Bad(path, "an id has only letters, digits, '-' and '.'");
        }
      }
    }
    if (type == "code" && (std::isspace(static_cast<unsigned char>(s.front())) ||
                           std::isspace(static_cast<unsigned char>(s.back())))) {
      return Bad(path, "a code has no leading or trailing whitespace");
    }
    return Status::Ok();
  }

  // A value of `type` (complex, backbone or primitive) at `path`.
  Status Value(const rapidjson::Value& v, std::string_view type, const std::string& path,
               int depth) {
    if (type == "Resource" || (model_.IsResourceType(type) && type != "Bundle.entry")) {
      return Resource(v, path, depth + 1);
    }
    if (IsPrimitive(model_, type)) return Primitive(v, type, path);
    if (!v.IsObject()) return Bad(path, "must be a JSON object");
    return Object(v, type, path, depth + 1, false);
  }

  // The `_name` sibling of a primitive element holds its id and extensions (json.html#primitive):
  // an Element object for a single value; for a repeating element an array of Element objects
  // or nulls, as long as the value array when that is present.
  Status ExtensionSibling(const rapidjson::Value& parent, const rapidjson::Value& v,
                          const ElementDef& el, std::string_view element_type,
                          std::string_view name, const std::string& path, int depth) {
    if (!IsPrimitive(model_, element_type)) {
      return Bad(path, "only primitive elements have an extension sibling");
    }
    if (!el.is_array) {
      if (!v.IsObject()) return Bad(path, "extension sibling must be an object");
      return Object(v, "Element", path, depth + 1, false);
    }
    if (!v.IsArray()) return Bad(path, "extension sibling of a repeating element must be an array");
    const rapidjson::Value* values = json::Find(parent, name);
    if (values != nullptr && values->IsArray() && values->Size() != v.Size()) {
      return Bad(path, "extension sibling must have as many items as the element");
    }
    for (const auto& item : v.GetArray()) {
      if (item.IsNull()) continue;
      if (!item.IsObject()) return Bad(path, "extension sibling items must be objects or null");
      SUND_RETURN_IF_ERROR(Object(item, "Element", path, depth + 1, false));
    }
    return Status::Ok();
  }

  Status Object(const rapidjson::Value& v, std::string_view type, const std::string& path,
                int depth, bool is_resource) {
    if (depth > kMaxDepth) return Bad(path, "nested too deeply");
    if (v.ObjectEmpty()) return Bad(path, "must not be an empty object");
    const TypeDef* def = model_.FindType(type);
    if (def == nullptr) return Status::Ok();  // a type the model does not describe
    for (const auto& m : v.GetObject()) {
      std::string_view key = json::View(m.name);
      if (is_resource && key == "resourceType") continue;
      bool extension_sibling = !key.empty() && key[0] == '_';
      std::string_view name = extension_sibling ? key.substr(1) : key;
      const ElementDef* el = model_.FindElement(type, name);
      std::string_view element_type;
      if (el != nullptr && !el->is_choice) {
        element_type = el->types.empty() ? std::string_view() : std::string_view(el->types[0]);
      } else {
        // A choice element: the key is the stem plus a type name ("valueQuantity").
        el = nullptr;
        for (std::size_t cut = name.size(); cut > 0; --cut) {
          if (!std::isupper(static_cast<unsigned char>(name[cut - 1]))) continue;
          const ElementDef* stem = model_.FindElement(type, name.substr(0, cut - 1));
          if (stem == nullptr || !stem->is_choice) continue;
          std::string_view suffix = name.substr(cut - 1);
          for (const auto& t : stem->types) {
            if (t.size() == suffix.size() &&
                std::toupper(static_cast<unsigned char>(t[0])) == suffix[0] &&
                std::string_view(t).substr(1) == suffix.substr(1)) {
              el = stem;
              element_type = t;
            }
          }
          if (el != nullptr) break;
        }
      }
      std::string child = path + "." + std::string(name);
      if (el == nullptr) return Bad(child, "unknown element");
      if (extension_sibling) {
        SUND_RETURN_IF_ERROR(ExtensionSibling(v, m.value, *el, element_type, name, child, depth));
        continue;
      }
      if (el->is_array) {
        if (!m.value.IsArray()) return Bad(child, "must be an array");
        if (m.value.Empty()) return Bad(child, "must not be an empty array");
        for (const auto& item : m.value.GetArray()) {
          if (item.IsNull() && IsPrimitive(model_, element_type)) continue;
          SUND_RETURN_IF_ERROR(Value(item, element_type, child, depth));
        }
      } else {
        if (m.value.IsArray()) return Bad(child, "must not be an array");
        SUND_RETURN_IF_ERROR(Value(m.value, element_type, child, depth));
      }
    }
    return Status::Ok();
  }

  const Model& model_;
};

}  // namespace

Status ValidateResource(const Model& model, const rapidjson::Value& resource) {
  return Validator(model).Resource(resource, "", 0);
}

}  // namespace sund::fhir
