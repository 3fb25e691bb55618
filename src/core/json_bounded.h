// Parsing JSON from outside with a bound on its nesting (issue #11): RapidJSON's DOM parser
// recurses once per level, so deeply nested input could exhaust the stack and kill the
// process. Use json::ParseBounded instead of Document::Parse for request bodies, tokens, files
// and peers' messages. (FHIR resources go through fhir::ParseJson, which has the same limit.)
#pragma once

#include <algorithm>
#include <string_view>

#include "core/json.h"

namespace sund::json {
// The deepest nesting JSON from outside may have (FHIR's own parser, fhir::ParseJson, has the
// same limit).
inline constexpr int kMaxDepth = 100;

// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not
// count); it stops counting past `limit`. Malformed text gives some number; the parser then
// reports the error.
inline int NestingDepth(std::string_view text, int limit = kMaxDepth) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Document::Parse for JSON from outside (a request body, a file, a peer's message): text nested
// deeper than kMaxDepth is refused before RapidJSON's recursive parser sees it, so it cannot
// exhaust the stack, neither there nor in code that walks the document. A refusal leaves
// doc.HasParseError() true, as any malformed text does.
template <unsigned Flags = rapidjson::kParseDefaultFlags>
void ParseBounded(rapidjson::Document& doc, std::string_view text) {
  if (NestingDepth(text) > kMaxDepth) {
    doc.Parse("");  // kParseErrorDocumentEmpty: the callers' "not valid JSON"
    return;
  }
  doc.Parse<Flags>(text.data(), text.size());
}

}  // namespace sund::json
