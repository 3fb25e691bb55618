// The one place where Status codes become HTTP statuses and FHIR OperationOutcomes
// (STYLE.md, Errors). Spec: FHIR R4 operationoutcome.html, http.html (status codes).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "http/message.h"

namespace sund::api {

int HttpStatus(StatusCode code);
// "404 Not Found" (Bundle.entry.response.status form).
std::string HttpStatusLine(int status);
// An OperationOutcome with one issue; severity error, the FHIR issue type for the code, and the
// status message as diagnostics (messages never carry patient data, see STYLE.md).
std::string OperationOutcomeJson(const Status& status);
// The HTTP answer for `status`: its HTTP status and OperationOutcomeJson as application/fhir+json.
http::Response OperationOutcomeResponse(const Status& status);

}  // namespace sund::api
