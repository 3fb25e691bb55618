// Writing FHIR JSON with rapidjson's Writer: the few element shapes code keeps building by hand
// (Coding, CodeableConcept with one coding, Reference, Identifier, a one-issue
// OperationOutcome), and a transaction
// Bundle of conditional creates, which the IoMT gateway and the home-monitoring scorer write.
// Thread-safety: free functions are pure; a ConditionalCreates belongs to one thread.
#pragma once

#include <string>
#include <string_view>

#include "core/json.h"

namespace sund::fhir {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteString(JsonWriter& w, std::string_view s);
// {"system": .., "code": .. [, "display": ..]}
void WriteCoding(JsonWriter& w, std::string_view system, std::string_view code,
                 std::string_view display = {});
// {"coding": [Coding]}
void WriteConcept(JsonWriter& w, std::string_view system, std::string_view code,
                  std::string_view display = {});
// {"reference": ..}
void WriteReference(JsonWriter& w, std::string_view reference);
// {"system": .., "value": ..}
void WriteIdentifier(JsonWriter& w, std::string_view system, std::string_view value);
// An OperationOutcome with one issue (severity, FHIR issue type, diagnostics), as JSON text.
std::string OutcomeJson(std::string_view severity, std::string_view code,
                        std::string_view diagnostics);

// A transaction Bundle whose entries each POST a resource unless one with the given
// identifier exists (ifNoneExist), so that writing it twice stores everything once.
class ConditionalCreates {
 public:
  ConditionalCreates();
  // `resource`: the resource's JSON object text, which must carry the identifier itself.
  void Add(std::string_view type, std::string_view resource, std::string_view identifier_system,
           std::string_view identifier_value);
  int size() const { return entries_; }
  // The Bundle's JSON; the builder is spent.
  std::string Finish();

 private:
  rapidjson::StringBuffer buffer_;
  JsonWriter w_;
  int entries_ = 0;
};

}  // namespace sund::fhir
