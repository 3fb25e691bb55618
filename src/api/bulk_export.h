// BulkExport: FHIR Bulk Data Access (Bulk Data IG 2.0) `$export` for `sund serve`: system-level
// (`GET /fhir/$export`), all patients (`GET /fhir/Patient/$export`) and a Group's members
// (`GET /fhir/Group/ID/$export`), run as asynchronous jobs that write NDJSON files into a folder
// per job, following FHIR's asynchronous request pattern:
//
//   kick-off  (GET, or POST with a Parameters body; Prefer: respond-async)
//             -> 202 Accepted, Content-Location: BASE/$export-status/JOB
//   GET    BASE/$export-status/JOB   202 + X-Progress + Retry-After while it runs, 200 with the
//                                    completion manifest, 500 + OperationOutcome when it failed
//   DELETE BASE/$export-status/JOB   cancels a running job or deletes a finished one (202)
//   GET    BASE/$export-file/JOB/NAME  an output file (application/fhir+ndjson)
//
// Consistency: every job exports a snapshot, the store's change-feed position when it was
// kicked off (storage::Store::LastVid, SnapshotQuery): writes after the kick-off never show, and
// a job resumed after a restart returns to the same position. Durability: the job's state
// (job.json: request, snapshot, per type the resume cursor and the files with their counts and
// sizes) is replaced atomically after each page of output has been written and fsync'ed; on
// Open, unfinished jobs resume from their last recorded state (a file longer than recorded is
// cut back, unrecorded files are removed), or fail with a reason when that is impossible.
// Formats, folder layout and the consistency model: docs/bulk-data.md.
//
// Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html, https://hl7.org/fhir/R4/async.html.
// Thread-safety: every method may be called from any thread; jobs run on the service's own
// worker threads (BulkExportOptions::workers), never on the caller's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/consent_gate.h"
#include "consent/engine.h"
#include "core/status.h"
#include "core/time.h"
#include "http/message.h"
#include "storage/store.h"

namespace sund::api {

class AccessGuard;

// Passed to BulkExportOptions::after_checkpoint after each durable checkpoint of a job.
struct ExportCheckpoint {
  std::string job_id;
  int number = 0;    // 1 for a job's first checkpoint (counted per run of the job)
  std::string type;  // the type being exported
  std::string file;  // path of the file written last ("" if none yet)
};

struct BulkExportOptions {
  storage::Store* store = nullptr;
  std::string dir;                 // one folder per job, created when missing
  ConsentGate* consent = nullptr;  // null: no Consents apply
  const Clock* clock = nullptr;    // null: the system clock
  int workers = 1;                 // jobs that run at the same time
  // A file holds at most this many resources; a new one is started once it holds this many
  // bytes (a page may carry it past).
  std::int64_t max_file_resources = 100'000;
  std::int64_t max_file_bytes = std::int64_t{64} << 20;
  int page_size = 1000;  // resources per Store::Snapshot page (and per checkpoint at most)
  // Tests: called on the worker after each checkpoint. Returning false abandons the job there,
  // as a killed process would: nothing more is written, and its state stays as checkpointed.
  std::function<bool(const ExportCheckpoint&)> after_checkpoint;
};

enum class ExportLevel { kSystem, kPatient, kGroup };

// A parsed kick-off request.
struct ExportRequest {
  ExportLevel level = ExportLevel::kSystem;
  std::string group_id;            // kGroup
  std::vector<std::string> types;  // the types to export, in this order (never empty)
  std::optional<std::int64_t> since_us;
  // _typeFilter: (type, search query without the "Type?"), at most one per type.
  std::vector<std::pair<std::string, std::string>> type_filters;
  std::string request_url;  // the kick-off request as the client sent it (the manifest's)
};

// Who kicked a job off: only the same owner may see it.
struct ExportCaller {
  std::string owner;
  // The caller as the consent engine saw it at the kick-off; none: no Consents apply.
  std::optional<consent::Request> consent;
  bool requires_token = false;  // the manifest's requiresAccessToken
};

enum class ExportState { kQueued, kRunning, kCompleted, kFailed };

struct ExportOutputFile {
  std::string type;
  std::string name;  // file name in the job's folder
  std::int64_t count = 0;
};

// A job as its owner sees it.
struct ExportStatus {
  ExportState state = ExportState::kQueued;
  std::string progress;  // X-Progress text while queued or running
  Status error;          // kFailed: why
  std::int64_t transaction_time_us = 0;
  std::string request_url;
  bool requires_token = false;
  std::vector<std::string> types;
  std::vector<ExportOutputFile> output;  // kCompleted
};

class BulkExport {
 public:
  // Creates `options.dir` when missing, loads the jobs found there and resumes the unfinished
  // ones, and starts the workers. Internal when the folder cannot be created or read.
  static Result<std::unique_ptr<BulkExport>> Open(BulkExportOptions options);
  // Stops the workers after the page they are on; running jobs stay resumable.
  ~BulkExport();
  BulkExport(const BulkExport&) = delete;
  BulkExport& operator=(const BulkExport&) = delete;

  // --- The HTTP surface (FhirApi routes /fhir/$export... here, after authentication) ---

  // Kick-off at `level` (`group_id` for kGroup). `base` is the FHIR base URL. The guard's token
  // must grant system/ read and search on every exported type (403 otherwise).
  http::Response KickOff(const http::Request& req, ExportLevel level, std::string_view group_id,
                         std::string_view base, const AccessGuard& guard);
  // GET (status) or DELETE (cancel, delete) of BASE/$export-status/ID.
  http::Response StatusRequest(const http::Request& req, std::string_view id, std::string_view base,
                               const AccessGuard& guard);
  // GET of BASE/$export-file/ID/NAME. Adds the patients whose data the file holds to the
  // guard's trail (the audit record of the download).
  http::Response Download(const http::Request& req, std::string_view id, std::string_view name,
                          const AccessGuard& guard);

  // --- The same as values (tests, and the HTTP surface above) ---

  // Takes the snapshot (Store::LastVid) and queues the job; returns its id. InvalidArgument when
  // a _typeFilter's criteria cannot be run; Unavailable when shutting down.
  Result<std::string> Start(ExportRequest request, ExportCaller caller);
  // NotFound for an unknown job, a deleted one, or another owner's.
  Result<ExportStatus> Poll(std::string_view id, std::string_view owner);
  // Cancels a queued or running job, or deletes a finished one with its files. NotFound as Poll.
  Status Delete(std::string_view id, std::string_view owner);
  // Blocks until no job is queued or running (tests).
  void WaitIdle();
  // The folder of a job's files.
  std::string JobDir(std::string_view id) const;

 private:
  struct Impl;
  explicit BulkExport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::api
