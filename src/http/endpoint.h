// Endpoint: one entry of an HTTP surface's catalogue, a method and a path pattern that `sund
// serve` answers, with the family it belongs to (fhir, operation, oauth, iomt, synth,
// subscription, export, audit, portal, ops). Every module that serves HTTP exposes its
// catalogue (`Endpoints()`), taken from the table its dispatch uses where it dispatches by
// path, so that an endpoint cannot be served without appearing there; `sund endpoints` prints
// the union and the access-control matrix (tests/e2e/access-matrix.test.mjs) must name each one.
//
// A path pattern is literal segments and `{name}` placeholders, each standing for one non-empty
// segment: "/oauth2/token", "/fhir/{type}/{id}/_history/{vid}". Plain data; thread-safe.
#pragma once

#include <string_view>

namespace sund::http {

struct Endpoint {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;    // a pattern, see above
  std::string_view family;

  friend constexpr bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Whether `path` fits `pattern` segment by segment (a `{name}` segment takes any non-empty one).
constexpr bool PathMatches(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    std::string_view want = pattern.substr(0, pattern.find('/'));
    std::string_view got = path.substr(0, path.find('/'));
    bool placeholder = want.size() >= 2 && want.front() == '{' && want.back() == '}';
    if (placeholder ? got.empty() : want != got) return false;
    pattern.remove_prefix(want.size());
    path.remove_prefix(got.size());
  }
  return true;
}

// Whether the pattern holds no placeholder (the dispatch can compare it with a path as is).
constexpr bool IsExactPath(std::string_view pattern) {
  return pattern.find('{') == std::string_view::npos;
}

}  // namespace sund::http
