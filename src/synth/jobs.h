// Synthetic data as an asynchronous operation of `sund serve`, for authorised researchers: they
// send a cohort spec and a privacy budget and get back a differentially private model and
// synthetic rows (CSV) or synthetic FHIR patients, never the real rows. The pattern is FHIR's
// asynchronous request pattern as the Bulk Data IG uses it
// (https://hl7.org/fhir/R4/async.html):
//
//   POST /fhir/$synthesize            Prefer: respond-async; a Parameters resource:
//        cohort (valueString, the spec as JSON; docs/synth.md), epsilon and delta (valueDecimal;
//        defaults 1 and 1e-6), rows (valueInteger; default 1000), _outputFormat (valueString:
//        text/csv, the default, or application/fhir+json for Bundles)
//     -> 202 Accepted, Content-Location: ORIGIN/synth/v1/jobs/ID (409 while the caller has
//        max_jobs_per_caller jobs queued or running)
//   GET  /synth/v1/jobs/ID             202 + X-Progress + Retry-After while it runs; 200 with
//        the manifest (JSON: transactionTime, request, output [{type, url}], privacy,
//        extraction counts) when done; the error's status and OperationOutcome when it failed
//   GET  /synth/v1/jobs/ID/files/NAME  a result file
//   DELETE /synth/v1/jobs/ID           cancels (a running job stops at its next step) and deletes
//
// Who may: `authorize` (wired by apps/sund: a bearer token carrying the scope `sund/synth`,
// which only an administrator mints, as a data-access decision) names the caller; a job is
// visible to the caller that started it only. The cohort's patients are those the consent engine
// permits for research (the spec's research policy). Results live under `dir/ID/` and the job
// list in memory: a restart forgets the jobs (their files stay until deleted). With an audit log,
// every POST is recorded (who: the person and the client `identify` names; what: the operation
// $synthesize for research, purpose HRESCH; the answer's status) before its answer is sent; when
// the record cannot be written the answer becomes 503 and a job it started is deleted.
//
// Thread-safety: Handle may be called from many threads; jobs run one at a time on the
// service's own thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "audit/record.h"
#include "core/status.h"
#include "http/endpoint.h"
#include "http/message.h"

namespace sund::audit {
class AuditLog;
}
namespace sund::storage {
class Store;
}

namespace sund::synth {

struct JobServiceOptions {
  storage::Store* store = nullptr;
  std::string dir;  // results, one folder per job
  // Returns the caller's identity, or kUnauthenticated / kPermissionDenied.
  std::function<Result<std::string>(const http::Request&)> authorize;
  // The platform's one mapping of a Status to an HTTP error with an OperationOutcome (api/).
  std::function<http::Response(const Status&)> error_response;
  std::function<std::int64_t()> now_ms;  // default: the system clock
  std::uint64_t max_rows = 1'000'000;
  // Jobs one caller may have queued or running at once; a further kick-off is refused with
  // kConflict (409) until one finishes or is deleted, so that one caller cannot hold the single
  // worker for everyone. 0: no limit.
  std::size_t max_jobs_per_caller = 4;
  // The tamper-evident audit log (audit/log.h), which must outlive the service; null: nothing is
  // recorded (--insecure-dev).
  audit::AuditLog* audit = nullptr;
  // The caller as the audit record names them: the person (user_id; "" for a service's own
  // token) and the OAuth client (client_id) of the request's token, or an empty Actor when it
  // carries no valid token. The service sets the role ("researcher"). Null: an empty Actor.
  std::function<audit::Actor(const http::Request&)> identify;
};

class JobService {
 public:
  explicit JobService(JobServiceOptions options);
  ~JobService();  // stops the worker after the running job's current step
  JobService(const JobService&) = delete;
  JobService& operator=(const JobService&) = delete;

  // True for the kick-off and every path below /synth/v1/jobs/ (Handle answers 404 for what
  // is not a route of Endpoints()).
  static bool Handles(std::string_view path);
  // The routes above (family "synth").
  static std::span<const http::Endpoint> Endpoints();
  http::Response Handle(const http::Request& req);

  // Blocks until no job is queued or running (tests).
  void WaitIdle();

 private:
  struct Impl;
  // Handle without the audit record; `started` is set to the id of a job the request queued.
  http::Response Route(const http::Request& req, std::string& started);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::synth
