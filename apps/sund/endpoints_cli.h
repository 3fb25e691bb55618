// `sund endpoints [--json]`: the HTTP endpoints `sund serve` answers, as the union of the modules'
// catalogues (http/endpoint.h) and the few routes serve wires itself (the portals at /app/ and
// the redirect of /). The access-control matrix (tests/e2e/access-matrix.test.mjs) reads it and
// fails when an endpoint has no row there.
#pragma once

#include <vector>

#include "http/endpoint.h"

namespace CLI {
class App;
}

// Every endpoint of `sund serve`, in the order the server tries its handlers.
std::vector<sund::http::Endpoint> ServeEndpoints();

// Registers `sund endpoints` on the app; it prints from its callback (a tab-separated line per
// endpoint: method, path, family; with --json an array of {method, path, family}).
void AddEndpointsCommand(CLI::App& app);
