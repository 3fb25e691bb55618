#include "http/cors.h"

#include <string>

namespace sund::http {
namespace {

// What a FHIR or OAuth client in a browser sends and reads.
constexpr std::string_view kAllowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE";
constexpr std::string_view kAllowHeaders =
    "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, "
    "If-Modified-Since, Prefer, X-Request-Id";
constexpr std::string_view kExposeHeaders =
    "Location, Content-Location, ETag, Last-Modified, X-Request-Id, Retry-After, X-Progress";
constexpr std::string_view kMaxAge = "600";

// The request's own origin as a browser would write it (scheme from the connection).
std::string OwnOrigin(const Request& req) {
  return std::string(req.secure ? "https://" : "http://") + std::string(req.headers.Get("Host"));
}

// The Origin of a cross-origin request, "" when there is none or it is this server's.
std::string_view CrossOrigin(const Request& req) {
  std::string_view origin = req.headers.Get("Origin");
  if (origin.empty() || origin == "null" || origin == OwnOrigin(req)) return {};
  return origin;
}

void AddVary(Response& resp) {
  std::string_view vary = resp.headers.Get("Vary");
  if (vary.empty()) {
    resp.headers.Set("Vary", "Origin");
  } else if (vary.find("Origin") == std::string_view::npos) {
    resp.headers.Set("Vary", std::string(vary) + ", Origin");
  }
}

}  // namespace

std::string_view OriginOf(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos || scheme == 0) return {};
  std::size_t end = url.find_first_of("/?#", scheme + 3);
  std::string_view origin = url.substr(0, end);
  return origin.size() > scheme + 3 ? origin : std::string_view();
}

std::optional<Response> CorsPreflight(const Request& req, const OriginCheck& allowed) {
  if (req.method != "OPTIONS" || !req.headers.Has("Access-Control-Request-Method")) {
    return std::nullopt;
  }
  std::string_view origin = CrossOrigin(req);
  if (origin.empty()) return std::nullopt;
  Response r;
  AddVary(r);
  if (!allowed || !allowed(origin)) {
    r.status = 403;
    return r;
  }
  r.status = 204;
  r.headers.Set("Access-Control-Allow-Origin", std::string(origin));
  r.headers.Set("Access-Control-Allow-Methods", std::string(kAllowMethods));
  r.headers.Set("Access-Control-Allow-Headers", std::string(kAllowHeaders));
  r.headers.Set("Access-Control-Max-Age", std::string(kMaxAge));
  return r;
}

void AddCorsHeaders(const Request& req, Response& resp, const OriginCheck& allowed) {
  std::string_view origin = CrossOrigin(req);
  if (origin.empty()) return;
  AddVary(resp);
  if (!allowed || !allowed(origin)) return;
  resp.headers.Set("Access-Control-Allow-Origin", std::string(origin));
  resp.headers.Set("Access-Control-Expose-Headers", std::string(kExposeHeaders));
}

}  // namespace sund::http
