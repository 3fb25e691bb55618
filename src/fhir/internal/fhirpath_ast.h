// FHIRPath syntax tree and parser (private to src/fhir; the API is fhir/fhirpath.h).
//
// Grammar: http://hl7.org/fhirpath/N1/grammar.html. The tree is immutable once parsed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::fhir::fhirpath_internal {

enum class NodeKind : std::uint8_t {
  kEmpty,     // {}
  kBoolean,   // true / false
  kString,    // 'text'
  kInteger,   // 12
  kDecimal,   // 1.5
  kDate,      // @2020-01-02        (text without '@')
  kDateTime,  // @2020-01-02T10:00
  kTime,      // @T10:00
  kQuantity,  // 5 'mg', 3 days     (text = unit, number = value)
  kMember,    // [target.]name
  kFunction,  // [target.]name(args)
  kThis,      // $this
  kIndex,     // $index
  kTotal,     // $total
  kVariable,  // %name
  kIndexer,   // target[index]
  kUnary,     // - target, + target
  kBinary,    // left op right
  kTypeOp,    // target is T, target as T
};

struct Node {
  NodeKind kind = NodeKind::kEmpty;
  std::string text;  // member/function/variable name, operator, literal text, type name, unit
  bool boolean = false;
  std::int64_t integer = 0;
  double number = 0;
  int position = 0;                         // character offset in the expression, for messages
  std::unique_ptr<Node> target;             // the input (left of '.'), or left operand
  std::unique_ptr<Node> right;              // right operand / index
  std::vector<std::unique_ptr<Node>> args;  // function arguments
};

// Parses a whole expression. InvalidArgument("FHIRPath syntax error at N: ...") on failure.
Result<std::unique_ptr<Node>> Parse(std::string_view expression);

// The type name written in a type specifier argument (is(T), as(T), ofType(T)): "Patient",
// "FHIR.Patient", "System.String"; empty when the node is not a (qualified) identifier.
std::string TypeNameOf(const Node& node);

}  // namespace sund::fhir::fhirpath_internal
