// JSON that keeps numbers exactly as written ("1.50" stays "1.50"), for stored FHIR resources.
//
// FHIR decimals carry their precision in their text (json.html: "the number of decimal places
// is significant"); a double cannot. ParsePreservingNumbers builds a RapidJSON DOM in which every
// number is a string holding kNumberMark followed by the number's original text, and
// SerializePreservingNumbers writes those back as bare numbers. Code that needs numeric values
// (FHIRPath, validation, search extraction) parses the serialised text normally instead.
// Input strings may not start with kNumberMark (FHIR forbids control characters below U+0020
// other than tab, CR and LF in strings), so a marked string is always a number.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/json.h"
#include "core/status.h"

namespace sund::json {

inline constexpr char kNumberMark = '\x01';
// Deeper documents are refused, so that no recursive walk over a parsed document (validation,
// serialisation, reference rewriting) can exhaust the stack. FHIR resources nest far less.
inline constexpr int kMaxJsonDepth = 100;

// Parses `text` into `doc` with numbers kept as marked strings. InvalidArgument (with the
// offset) for malformed JSON, a string that starts with the number mark, or nesting deeper than
// kMaxJsonDepth.
Status ParsePreservingNumbers(std::string_view text, rapidjson::Document& doc);

// Writes `v` compactly, marked strings as bare numbers.
std::string SerializePreservingNumbers(const rapidjson::Value& v);

// True when `v` is a number kept as a marked string; `text` receives the number's text.
inline bool IsPreservedNumber(const rapidjson::Value& v, std::string_view* text = nullptr) {
  if (!v.IsString() || v.GetStringLength() < 2 || v.GetString()[0] != kNumberMark) return false;
  if (text != nullptr) *text = std::string_view(v.GetString() + 1, v.GetStringLength() - 1);
  return true;
}

}  // namespace sund::json
