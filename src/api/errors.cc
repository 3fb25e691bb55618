#include "api/errors.h"

#include "core/json.h"
#include "core/log.h"
#include "fhir/json_writer.h"

namespace sund::api {

int HttpStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kMethodNotAllowed:
      return 405;
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kGone:
      return 410;
    case StatusCode::kPreconditionFailed:
      return 412;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kUnsupportedMedia:
      return 415;
    case StatusCode::kUnprocessable:
      return 422;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kNotImplemented:
      return 501;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string HttpStatusLine(int status) {
  const char* reason = "";
  switch (status) {
    case 200:
      reason = "OK";
      break;
    case 201:
      reason = "Created";
      break;
    case 204:
      reason = "No Content";
      break;
    case 304:
      reason = "Not Modified";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 401:
      reason = "Unauthorized";
      break;
    case 403:
      reason = "Forbidden";
      break;
    case 404:
      reason = "Not Found";
      break;
    case 405:
      reason = "Method Not Allowed";
      break;
    case 409:
      reason = "Conflict";
      break;
    case 410:
      reason = "Gone";
      break;
    case 412:
      reason = "Precondition Failed";
      break;
    case 413:
      reason = "Payload Too Large";
      break;
    case 415:
      reason = "Unsupported Media Type";
      break;
    case 422:
      reason = "Unprocessable Entity";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    case 501:
      reason = "Not Implemented";
      break;
    case 503:
      reason = "Service Unavailable";
      break;
    default:
      break;
  }
  return std::to_string(status) + " " + reason;
}

namespace {

const char* IssueType(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return "invalid";
    case StatusCode::kNotFound:
      return "not-found";
    case StatusCode::kMethodNotAllowed:
      return "not-supported";
    case StatusCode::kConflict:
      return "conflict";
    case StatusCode::kGone:
      return "deleted";
    case StatusCode::kPreconditionFailed:
      return "conflict";
    case StatusCode::kTooLarge:
      return "too-costly";
    case StatusCode::kUnsupportedMedia:
      return "not-supported";
    case StatusCode::kUnprocessable:
      return "processing";
    case StatusCode::kUnauthenticated:
      return "login";
    case StatusCode::kPermissionDenied:
      return "forbidden";
    case StatusCode::kUnavailable:
      return "transient";
    case StatusCode::kNotImplemented:
      return "not-supported";
    default:
      return "exception";
  }
}

}  // namespace

std::string OperationOutcomeJson(const Status& status) {
  const char* severity = status.code() == StatusCode::kInternal ? "fatal" : "error";
  return fhir::OutcomeJson(severity, IssueType(status.code()), status.message());
}

http::Response OperationOutcomeResponse(const Status& status) {
  http::Response r;
  r.status = HttpStatus(status.code());
  r.headers.Set("Content-Type", "application/fhir+json; charset=utf-8");
  r.body = OperationOutcomeJson(status);
  // The server's own failures reach the operator's log (status messages carry no patient data).
  if (r.status >= 500) log::Warn("fhir: answered {}: {}", r.status, status.message());
  return r;
}

}  // namespace sund::api
