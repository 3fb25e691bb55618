#include "fhir/json_writer.h"

namespace sund::fhir {

void WriteString(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteCoding(JsonWriter& w, std::string_view system, std::string_view code,
                 std::string_view display) {
  w.StartObject();
  w.Key("system");
  WriteString(w, system);
  w.Key("code");
  WriteString(w, code);
  if (!display.empty()) {
    w.Key("display");
    WriteString(w, display);
  }
  w.EndObject();
}

void WriteConcept(JsonWriter& w, std::string_view system, std::string_view code,
                  std::string_view display) {
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  WriteCoding(w, system, code, display);
  w.EndArray();
  w.EndObject();
}

void WriteReference(JsonWriter& w, std::string_view reference) {
  w.StartObject();
  w.Key("reference");
  WriteString(w, reference);
  w.EndObject();
}

void WriteIdentifier(JsonWriter& w, std::string_view system, std::string_view value) {
  w.StartObject();
  w.Key("system");
  WriteString(w, system);
  w.Key("value");
  WriteString(w, value);
  w.EndObject();
}

std::string OutcomeJson(std::string_view severity, std::string_view code,
                        std::string_view diagnostics) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("OperationOutcome");
  w.Key("issue");
  w.StartArray();
  w.StartObject();
  w.Key("severity");
  WriteString(w, severity);
  w.Key("code");
  WriteString(w, code);
  w.Key("diagnostics");
  WriteString(w, diagnostics);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

ConditionalCreates::ConditionalCreates() : w_(buffer_) {
  w_.StartObject();
  w_.Key("resourceType");
  w_.String("Bundle");
  w_.Key("type");
  w_.String("transaction");
  w_.Key("entry");
  w_.StartArray();
}

void ConditionalCreates::Add(std::string_view type, std::string_view resource,
                             std::string_view identifier_system,
                             std::string_view identifier_value) {
  w_.StartObject();
  w_.Key("resource");
  w_.RawValue(resource.data(), resource.size(), rapidjson::kObjectType);
  w_.Key("request");
  w_.StartObject();
  w_.Key("method");
  w_.String("POST");
  w_.Key("url");
  WriteString(w_, type);
  w_.Key("ifNoneExist");
  WriteString(w_,
              "identifier=" + std::string(identifier_system) + "|" + std::string(identifier_value));
  w_.EndObject();
  w_.EndObject();
  ++entries_;
}

std::string ConditionalCreates::Finish() {
  w_.EndArray();
  w_.EndObject();
  return {buffer_.GetString(), buffer_.GetSize()};
}

}  // namespace sund::fhir
