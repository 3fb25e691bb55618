// Query-string and percent-encoding helpers for application/x-www-form-urlencoded data and
// request paths (RFC 3986 section 2.1; WHATWG URL "application/x-www-form-urlencoded").
//
// Decoding is lenient: a '%' not followed by two hex digits is kept literally, never an error,
// so that outside input cannot make these fail. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sund::http {

// Splits "a=1&b=x+y&a=%32" into {{"a","1"},{"b","x y"},{"a","2"}}: '+' is a space, %XX is decoded,
// order and repeats are kept, empty pieces ("a=1&&b") are skipped, and a piece without '='
// yields an empty value.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`). Invalid escapes stay as they are.
std::string PercentDecode(std::string_view s, bool plus_is_space);
// As PercentDecode, appending to `*out` (lets a caller reuse a buffer).
void AppendPercentDecoded(std::string_view s, bool plus_is_space, std::string* out);

// Encodes every byte outside RFC 3986 "unreserved" (ALPHA / DIGIT / "-" / "." / "_" / "~") as %XX
// with upper-case hex digits; suitable for a path segment or a query name or value.
std::string PercentEncode(std::string_view s);

}  // namespace sund::http
