// Router: a small method + path-prefix dispatcher for simple HTTP surfaces (/healthz, /metrics,
// static files). The FHIR API has its own router in src/api; this one knows nothing of FHIR.
//
// A route matches when its prefix equals the request path or is followed in it by '/' (so
// "/fhir" matches "/fhir" and "/fhir/Patient" but not "/fhirx"; "/" matches everything). The
// longest matching prefix wins; among its routes the one with the request's method (or "" for
// any method) is called. A path with no route gets 404 and one whose routes lack the method 405
// with an `Allow` header, both with a small JSON body. HEAD falls back to a GET route.
// Thread-safety: build it with Add() before the server starts, then Handle() and RunsInline()
// may be called concurrently (they only read).
#pragma once

#include <string>
#include <vector>

#include "http/server.h"

namespace sund::http {

class Router {
 public:
  // Adds a route. `runs_inline` marks handlers cheap enough for the network thread.
  void Add(std::string method, std::string path_prefix, Handler handler, bool runs_inline = false);

  Response Handle(Request& req) const;
  bool RunsInline(const Request& req) const;

 private:
  struct Route {
    std::string method;
    std::string prefix;
    Handler handler;
    bool runs_inline = false;
  };
  // The route for `req`, or nullptr; `*path_matched` says whether some route matched the path.
  const Route* Find(const Request& req, bool* path_matched) const;

  std::vector<Route> routes_;  // longest prefix first
};

}  // namespace sund::http
