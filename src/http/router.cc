#include "http/router.h"

#include <algorithm>

namespace sund::http {

namespace {

bool PrefixMatches(std::string_view prefix, std::string_view path) {
  if (prefix == "/" || prefix.empty()) return true;
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/' || prefix.back() == '/';
}

}  // namespace

void Router::Add(std::string method, std::string path_prefix, Handler handler, bool runs_inline) {
  Route route{std::move(method), std::move(path_prefix), std::move(handler), runs_inline};
  auto pos = std::find_if(routes_.begin(), routes_.end(),
                          [&](const Route& r) { return r.prefix.size() < route.prefix.size(); });
  routes_.insert(pos, std::move(route));
}

const Router::Route* Router::Find(const Request& req, bool* path_matched) const {
  *path_matched = false;
  std::size_t matched_length = 0;
  const Route* get_fallback = nullptr;
  for (const Route& r : routes_) {
    if (*path_matched && r.prefix.size() < matched_length) break;  // only the longest prefix
    if (!PrefixMatches(r.prefix, req.path)) continue;
    *path_matched = true;
    matched_length = r.prefix.size();
    if (r.method.empty() || r.method == req.method) return &r;
    if (req.method == "HEAD" && r.method == "GET" && get_fallback == nullptr) get_fallback = &r;
  }
  return get_fallback;
}

Response Router::Handle(Request& req) const {
  bool path_matched = false;
  const Route* route = Find(req, &path_matched);
  if (route != nullptr) return route->handler(req);
  if (!path_matched) return JsonResponse(404, R"({"error":"not found"})");
  Response r = JsonResponse(405, R"({"error":"method not allowed"})");
  std::string allow;
  std::size_t matched_length = std::string::npos;
  for (const Route& candidate : routes_) {
    if (!PrefixMatches(candidate.prefix, req.path)) continue;
    if (matched_length == std::string::npos) matched_length = candidate.prefix.size();
    if (candidate.prefix.size() != matched_length) break;
    if (!allow.empty()) allow += ", ";
    allow += candidate.method;
  }
  r.headers.Add("Allow", std::move(allow));
  return r;
}

bool Router::RunsInline(const Request& req) const {
  bool path_matched = false;
  const Route* route = Find(req, &path_matched);
  // Error answers are cheap; they run inline.
  return route == nullptr || route->runs_inline;
}

}  // namespace sund::http
