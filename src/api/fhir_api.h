// The FHIR R4 REST API at /fhir (and /healthz, /readyz, /metrics): maps HTTP requests onto the
// Engine and formats results as FHIR JSON, Bundles and OperationOutcomes.
//
// Spec: FHIR R4 http.html (RESTful API), search.html, capabilitystatement.html. Content:
// JSON only (application/fhir+json, application/json, _format=json); XML gets 415.
// Thread-safety: Handle() may be called concurrently from any number of threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "api/consent_gate.h"
#include "api/engine.h"
#include "audit/log.h"
#include "auth/server.h"
#include "http/endpoint.h"
#include "http/message.h"

namespace sund::api {

class BulkExport;

struct ApiOptions {
  std::string base_url;  // e.g. "http://127.0.0.1:8080/fhir"; "" derives it from Host
  std::string software_version = "0.1.0";
  // The authorization server whose tokens every FHIR request must carry (SMART on FHIR); null
  // switches authorization off (`--insecure-dev`, in-process tests).
  auth::AuthServer* auth = nullptr;
  // The consent engine applied to every authenticated request (null: no Consents apply).
  ConsentGate* consent = nullptr;
  // Where every /fhir request is recorded before its response is sent (null: not audited).
  // A request whose record cannot be written durably is answered 503 (fail closed).
  audit::AuditLog* audit = nullptr;
  // Bulk Data `$export` (api/bulk_export.h): kick-off, status and file routes under /fhir, and
  // the operations in the CapabilityStatement (null: $export answers 501).
  BulkExport* bulk_export = nullptr;
  // More of /metrics (Prometheus text, whole lines) from the parts of `sund serve` that the API
  // does not know: the IoMT gateway's counters, the size of the data. Null: none.
  std::function<std::string()> extra_metrics;
  // The most resources Patient/{id}/$everything returns, the patient included (at least 1). A
  // larger record is cut, not paged: the patient and the first resources in creation order,
  // with a total that counts only those, no next link, and an OperationOutcome entry (search
  // mode "outcome") that warns of the cut.
  int everything_limit = 20'000;
};

class FhirApi {
 public:
  FhirApi(Engine& engine, ApiOptions options);
  ~FhirApi();

  http::Response Handle(http::Request& req);
  // What Handle answers, by method and path pattern (families fhir, operation, export, audit,
  // ops); `sund endpoints` prints it with the other modules' catalogues.
  static std::span<const http::Endpoint> Endpoints();
  // True for requests that are bounded point reads (may run on a network thread).
  static bool RunsInline(const http::Request& req);
  // An OperationOutcome response for errors the HTTP layer answers itself
  // (http::ServerOptions::error_response).
  static http::Response ErrorResponse(int status, std::string_view message);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::api
