// FHIRPath: a subset of the FHIRPath language (http://hl7.org/fhirpath/N1/, FHIR R4 flavour)
// evaluated over RapidJSON resources and typed by the R4 model (fhir/model.h).
//
// Used by search-parameter extraction (every R4 SearchParameter expression compiles and runs),
// validation and subscriptions. What the subset covers, and the official test-suite results,
// are in docs/fhirpath.md. Choice elements navigate by their stem (`Observation.value` finds
// `valueQuantity` and reports type Quantity); primitive extensions are read from the `_name`
// sibling; resolve() does not load anything: it returns an item typed by the reference's
// target type (or the contained resource for "#id"), so `where(resolve() is Patient)` works.
//
// Thread-safety: a compiled FhirPath is immutable; copies share the syntax tree, and Evaluate
// may run concurrently on any number of threads. Evaluation never throws and never aborts on
// input: errors (a function applied to a collection of several items, a regular expression that
// does not compile, an unknown element of a known type ...) come back as a Status.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace sund::fhir {

namespace fhirpath_internal {
struct Node;
}  // namespace fhirpath_internal

// A computed quantity (System.Quantity): value and unit (a UCUM code, or a calendar duration
// word such as "year", "day").
struct PathQuantity {
  double value = 0;
  std::string unit;
  bool operator==(const PathQuantity& o) const { return value == o.value && unit == o.unit; }
};

// One item of a result collection.
struct PathValue {
  // The JSON node in the evaluated document when the item came from data: the object for
  // complex types and resources, the JSON primitive for primitives. nullptr for computed values,
  // for a primitive that has only an extension (see extension_node), and for resolve()'s
  // placeholders of resources that are not contained.
  const rapidjson::Value* node = nullptr;
  // FHIR type name ("Quantity", "CodeableConcept", "Reference", "dateTime", "string", "code",
  // "Patient.contact", "Patient"), or for computed values "System.Boolean", "System.Integer",
  // "System.Decimal", "System.String", "System.Date", "System.DateTime", "System.Time",
  // "System.Quantity".
  std::string type;
  // Computed payload (node == nullptr): bool for System.Boolean, int64_t for System.Integer,
  // double for System.Decimal, std::string for System.String and for System.Date / DateTime /
  // Time (ISO 8601 text without the '@'), PathQuantity for System.Quantity. resolve() puts the
  // reference text here.
  std::variant<std::monostate, bool, std::int64_t, double, std::string, PathQuantity> value;
  // For primitives from data: the "_name" sibling object holding id/extension, if any.
  const rapidjson::Value* extension_node = nullptr;
};

// The text of a primitive item, data or computed, as FHIRPath's toString() gives it ("true",
// "12", "1.5", "2020-01-02", "5 'mg'"); nullopt for complex items.
std::optional<std::string> PathValueToString(const PathValue& v);

struct EvaluateOptions {
  // now()/today()/timeOfDay() use this instant (ISO 8601 dateTime with offset) when set, the
  // system clock otherwise.
  std::optional<std::string> now;
  // %name variables beyond the built-in %resource, %rootResource, %context, %ucum, %sct, %loinc.
  std::map<std::string, std::vector<PathValue>, std::less<>> variables;
};

class FhirPath {
 public:
  // Parses an expression. InvalidArgument with the character position on a syntax error.
  static Result<FhirPath> Compile(std::string_view expression);

  // Evaluates with `resource` (a JSON object with resourceType) as context and %resource.
  Result<std::vector<PathValue>> Evaluate(const rapidjson::Value& resource) const;
  Result<std::vector<PathValue>> Evaluate(const rapidjson::Value& resource,
                                          const EvaluateOptions& options) const;
  // Evaluates with `focus` as the context item (e.g. a composite search parameter's component
  // expression on the composite's items); `resource` is %resource and serves resolve("#id").
  Result<std::vector<PathValue>> EvaluateOn(const std::vector<PathValue>& focus,
                                            const rapidjson::Value& resource,
                                            const EvaluateOptions& options = {}) const;

  const std::string& expression() const { return expression_; }

 private:
  FhirPath(std::shared_ptr<const fhirpath_internal::Node> root, std::string expression)
      : root_(std::move(root)), expression_(std::move(expression)) {}
  // Shared, immutable syntax tree: copies are cheap and safe to use from several threads.
  std::shared_ptr<const fhirpath_internal::Node> root_;
  std::string expression_;
};

}  // namespace sund::fhir
