#include "iomt/mapping.h"

#include <cmath>
#include <set>

#include "core/json.h"
#include "core/json_bounded.h"
#include "core/time.h"
#include "fhir/json_writer.h"

namespace sund::iomt {
namespace {

// RFC 6901: "" is the whole document; "/a/0/b~1c" walks members and array indexes.
const rapidjson::Value* Resolve(const rapidjson::Value& root, std::string_view pointer) {
  const rapidjson::Value* v = &root;
  while (!pointer.empty()) {
    if (pointer[0] != '/') return nullptr;
    pointer.remove_prefix(1);
    std::size_t end = pointer.find('/');
    std::string token(pointer.substr(0, end));
    pointer = end == std::string_view::npos ? std::string_view() : pointer.substr(end);
    for (std::size_t i; (i = token.find("~1")) != std::string::npos;) token.replace(i, 2, "/");
    for (std::size_t i; (i = token.find("~0")) != std::string::npos;) token.replace(i, 2, "~");
    if (v->IsObject()) {
      v = json::Find(*v, token);
    } else if (v->IsArray()) {
      if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos) {
        return nullptr;
      }
      std::size_t i = std::stoul(token);
      if (i >= v->Size()) return nullptr;
      v = &(*v)[static_cast<rapidjson::SizeType>(i)];
    } else {
      return nullptr;
    }
    if (v == nullptr) return nullptr;
  }
  return v;
}

bool ValidPointer(std::string_view p) { return p.empty() || p[0] == '/'; }

std::string ScalarText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(json::View(v));
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsNumber()) return json::Serialize(v);
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  return "";
}

}  // namespace

Result<Mappings> Mappings::Parse(std::string_view text) {
  rapidjson::Document doc;
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsObject()) {
    return InvalidArgument("mapping templates: not a JSON object");
  }
  const rapidjson::Value* list = json::Find(doc, "templates");
  if (list == nullptr || !list->IsArray()) {
    return InvalidArgument("mapping templates: no \"templates\" array");
  }
  Mappings out;
  std::set<std::string> names;
  for (const auto& t : list->GetArray()) {
    if (!t.IsObject()) return InvalidArgument("mapping templates: a template is not an object");
    Template m;
    m.name = std::string(json::GetString(t, "name"));
    auto bad = [&m](const std::string& why) {
      return InvalidArgument("mapping template '" + m.name + "': " + why);
    };
    if (m.name.empty()) return InvalidArgument("mapping templates: a template has no name");
    if (!names.insert(m.name).second) return bad("the name is used twice");
    const rapidjson::Value* match = json::Find(t, "match");
    if (match == nullptr || !match->IsObject()) return bad("no \"match\" object");
    m.match_path = std::string(json::GetString(*match, "path"));
    if (m.match_path.empty() || !ValidPointer(m.match_path)) return bad("match.path is no pointer");
    if (const rapidjson::Value* eq = json::Find(*match, "equals"); eq != nullptr) {
      m.match_equals = ScalarText(*eq);
    }
    m.device_path = std::string(json::GetString(t, "device"));
    if (m.device_path.empty() || !ValidPointer(m.device_path))
      return bad("\"device\" is no pointer");
    if (const rapidjson::Value* time = json::Find(t, "time"); time != nullptr) {
      if (!time->IsObject()) return bad("\"time\" is not an object");
      m.time_path = std::string(json::GetString(*time, "path"));
      if (!ValidPointer(m.time_path)) return bad("time.path is no pointer");
      std::string_view format = json::GetString(*time, "format");
      if (format.empty() || format == "instant") {
        m.time_format = TimeFormat::kInstant;
      } else if (format == "epoch-s") {
        m.time_format = TimeFormat::kEpochSeconds;
      } else if (format == "epoch-ms") {
        m.time_format = TimeFormat::kEpochMillis;
      } else {
        return bad("time.format is not instant, epoch-s or epoch-ms");
      }
    }
    m.battery_path = std::string(json::GetString(t, "battery"));
    m.each_path = std::string(json::GetString(t, "each"));
    if (!ValidPointer(m.battery_path) || !ValidPointer(m.each_path)) {
      return bad("\"battery\" or \"each\" is no pointer");
    }
    const rapidjson::Value* values = json::Find(t, "values");
    if (values == nullptr || !values->IsArray() || values->Empty()) return bad("no \"values\"");
    std::set<Kind> kinds;
    for (const auto& v : values->GetArray()) {
      if (!v.IsObject()) return bad("a value is not an object");
      Value x;
      x.path = std::string(json::GetString(v, "path"));
      if (x.path.empty() || !ValidPointer(x.path)) return bad("a value's path is no pointer");
      const rapidjson::Value* code = json::Find(v, "code");
      if (code == nullptr || !code->IsObject()) return bad(x.path + " has no code");
      x.system = std::string(json::GetString(*code, "system"));
      x.code = std::string(json::GetString(*code, "code"));
      x.kind = FindKind(x.system, x.code);
      if (x.kind == nullptr)
        return bad(x.path + ": no known measurement for " + x.system + "|" + x.code);
      x.unit = std::string(json::GetString(v, "unit"));
      if (!ToCanonical(*x.kind, 1, x.unit).ok()) {
        return bad(x.path + ": unit '" + x.unit + "' does not fit " + std::string(x.kind->name) +
                   " (" + std::string(x.kind->unit) + ")");
      }
      if (const rapidjson::Value* r = json::Find(v, "required"); r != nullptr && r->IsBool()) {
        x.required = r->GetBool();
      }
      if (!kinds.insert(x.kind->kind).second) {
        return bad(std::string(x.kind->name) + " is mapped twice");
      }
      m.values.push_back(std::move(x));
    }
    if (kinds.contains(Kind::kSystolicPressure) != kinds.contains(Kind::kDiastolicPressure)) {
      return bad("blood pressure needs both a systolic and a diastolic value");
    }
    out.templates_.push_back(std::move(m));
  }
  return out;
}

Result<std::optional<std::string>> Mappings::Apply(std::string_view payload) const {
  if (templates_.empty()) return std::optional<std::string>();
  rapidjson::Document doc;
  json::ParseBounded(doc, payload);
  if (doc.HasParseError() || !doc.IsObject()) return std::optional<std::string>();
  const Template* t = nullptr;
  for (const Template& c : templates_) {
    const rapidjson::Value* v = Resolve(doc, c.match_path);
    if (v != nullptr && (!c.match_equals || ScalarText(*v) == *c.match_equals)) {
      t = &c;
      break;
    }
  }
  if (t == nullptr) return std::optional<std::string>();
  auto bad = [t](const std::string& why) {
    return InvalidArgument("mapping template '" + t->name + "': " + why);
  };
  const rapidjson::Value* device = Resolve(doc, t->device_path);
  if (device == nullptr || ScalarText(*device).empty())
    return bad("no device at " + t->device_path);
  std::vector<const rapidjson::Value*> readings;
  if (t->each_path.empty()) {
    readings.push_back(&doc);
  } else {
    const rapidjson::Value* each = Resolve(doc, t->each_path);
    if (each == nullptr || !each->IsArray()) return bad("no array at " + t->each_path);
    for (const auto& e : each->GetArray()) readings.push_back(&e);
  }
  // A reading's time: at time.path within the reading, else within the payload.
  auto time_of = [&](const rapidjson::Value& reading) -> Result<std::optional<std::string>> {
    if (t->time_path.empty()) return std::optional<std::string>();
    const rapidjson::Value* v = Resolve(reading, t->time_path);
    if (v == nullptr) v = Resolve(doc, t->time_path);
    if (v == nullptr) return bad("no time at " + t->time_path);
    if (t->time_format == TimeFormat::kInstant) {
      if (!v->IsString()) return bad("the time is not a string");
      return std::optional<std::string>(std::string(json::View(*v)));
    }
    if (!v->IsNumber()) return bad("the time is not a number");
    double n = v->GetDouble();
    if (!std::isfinite(n)) return bad("the time is not a number");
    auto us = static_cast<std::int64_t>(
        std::llround(n * (t->time_format == TimeFormat::kEpochSeconds ? 1e6 : 1e3)));
    return std::optional<std::string>(FormatInstant(us));
  };

  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("device");
  fhir::WriteString(w, ScalarText(*device));
  if (!t->battery_path.empty()) {
    if (const rapidjson::Value* b = Resolve(doc, t->battery_path); b != nullptr) {
      w.Key("battery");
      b->Accept(w);  // checked by ParsePayload
    }
  }
  w.Key("measurements");
  w.StartArray();
  for (const rapidjson::Value* reading : readings) {
    SUND_ASSIGN_OR_RETURN(std::optional<std::string> time, time_of(*reading));
    for (const Value& x : t->values) {
      const rapidjson::Value* v = Resolve(*reading, x.path);
      if (v == nullptr || v->IsNull()) {
        if (x.required) return bad("no value at " + x.path);
        continue;
      }
      if (!v->IsNumber()) return bad("the value at " + x.path + " is not a number");
      w.StartObject();
      w.Key("code");
      w.StartObject();
      w.Key("system");
      fhir::WriteString(w, x.system);
      w.Key("code");
      fhir::WriteString(w, x.code);
      w.EndObject();
      w.Key("value");
      w.Double(v->GetDouble());
      w.Key("unit");
      fhir::WriteString(w, x.unit);
      if (time) {
        w.Key("time");
        fhir::WriteString(w, *time);
      }
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return std::optional<std::string>(std::string(sb.GetString(), sb.GetSize()));
}

}  // namespace sund::iomt
