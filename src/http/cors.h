// Cross-origin resource sharing (the Fetch standard's CORS protocol) for browser apps on other
// origins: a SMART app in a browser reads /fhir and exchanges its code at /oauth2/token from
// its own origin. Only origins that `allowed` accepts (sund serve: the origins of registered,
// unrevoked apps' redirect URIs) get CORS headers; any other cross-origin browser request is
// left without them, so the browser withholds the response from the page, and its preflight
// gets 403. Credentials (cookies) are never allowed cross-origin: apps send bearer tokens.
// Requests without Origin, or from the server's own origin, are not touched.
// Thread-safety: pure functions; `allowed` is called concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "http/message.h"

namespace sund::http {

using OriginCheck = std::function<bool(std::string_view origin)>;

// The origin ("scheme://host[:port]") of an absolute URL, "" when it has none.
std::string_view OriginOf(std::string_view url);

// For an OPTIONS preflight (Origin and Access-Control-Request-Method present) from another
// origin: the answer (204 with the CORS headers, or 403). nullopt for every other request.
std::optional<Response> CorsPreflight(const Request& req, const OriginCheck& allowed);

// Adds Access-Control-Allow-Origin (and Vary, and the headers a FHIR client reads) to the
// response of a cross-origin request from an allowed origin.
void AddCorsHeaders(const Request& req, Response& resp, const OriginCheck& allowed);

}  // namespace sund::http
