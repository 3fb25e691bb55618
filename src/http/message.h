// HTTP message types shared by the server, the client and their callers: Headers, Request and
// Response, free of any Boost type so that modules including them do not compile Beast.
//
// Headers keeps fields in arrival order, allows repeats and compares names case-insensitively
// (RFC 9110 section 5.1). Thread-safety: plain values; a Request is touched by one thread at a
// time (the server hands it to exactly one handler call).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sund::http {

class Headers {
 public:
  Headers() = default;

  // Appends a field, keeping any earlier field of the same name (Set-Cookie, Link, ...).
  void Add(std::string name, std::string value);
  // Replaces every field named `name` with one field (appended if there was none).
  void Set(std::string name, std::string value);
  // Removes every field named `name`; returns how many were removed.
  std::size_t Remove(std::string_view name);
  // The value of the first field named `name`, or "" if there is none.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return fields_; }
  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  void Clear() { fields_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// ASCII case-insensitive comparison, as HTTP field names and tokens want.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // "GET", exactly as received
  std::string target;  // raw request target "/fhir/Patient?name=x"
  std::string path;    // percent-decoded path without the query: "/fhir/Patient"
  std::string query;   // raw query after '?', not decoded ("" if none)
  Headers headers;
  std::string body;
  std::string remote_address;  // peer IP address, without the port
  bool secure = false;         // arrived over TLS
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
};

// A response with a JSON body (application/json): the server's and the router's own errors.
Response JsonResponse(int status, std::string_view body);

}  // namespace sund::http
