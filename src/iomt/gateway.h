// The IoMT gateway inside `sund serve` (issue #5): device payloads (measurement.h) in, FHIR
// Observations out, every refusal kept in the dead-letter store (dead_letters.h).
//
// For one payload: parse and check each measurement; find the Device whose identifier is
// `urn:sund:device|<device>` in the store, and its DeviceUseStatements (assignment.h); file each
// measurement under the patient who had the device at its time; write all Observations of the
// payload in one FHIR transaction of conditional creates on their identifier, so a payload sent
// twice (or through two gateways) is stored once; dead-letter every refused measurement, and
// the whole payload when it is unusable.
//
// A patient who withdrew consent to home monitoring (may_collect) has their measurements
// refused with reason no-consent.
//
// HTTP (Handle): `POST /iomt/v1/measurements` (one payload; answer: what was filed and what was
// refused, with reasons), `GET /iomt/v1/rejected?_count=N&before=ID` (the dead letters,
// newest first) and `GET /iomt/v1/reports/devices` (device_log.h; JSON or CSV). Who may call is the
// caller's `authorize` (sund serve: a system/ token that may create Observations, or read them for
// the dead letters). MQTT (mqtt_ingest.h) hands it batches of messages (IngestBatch). Not yet:
// mapping templates (src/iomt/README.md). Thread-safety: Ingest, IngestBatch and Handle may be
// called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/log.h"
#include "core/status.h"
#include "core/time.h"
#include "http/endpoint.h"
#include "http/message.h"
#include "iomt/assignment.h"
#include "iomt/dead_letters.h"
#include "iomt/device_log.h"
#include "iomt/mapping.h"
#include "iomt/measurement.h"
#include "storage/store.h"

namespace sund::iomt {

inline constexpr std::string_view kDeviceIdSystem = "urn:sund:device";
inline constexpr std::string_view kObservationIdSystem = "urn:sund:iomt";

// A device's FHIR resources: the Devices with its identifier (0, 1 or, wrongly, several) and,
// when there is one, the DeviceUseStatements naming it (JSON).
struct DeviceResources {
  std::vector<storage::SearchHit> devices;
  std::vector<std::string> uses;
};

struct GatewayOptions {
  // Devices and DeviceUseStatements, in the store (sund serve: looked up again whenever one of
  // them changed) ...
  storage::Store* store = nullptr;
  // ... or through `find_device` (sund iomt gateway: the FHIR API of a remote Sund), trusted for
  // `device_ttl`.
  std::function<Result<DeviceResources>(const std::string& device)> find_device;
  std::chrono::seconds device_ttl{60};
  DeadLetters* dead_letters = nullptr;
  // What each device delivered (welfare-technology reports). Null: not recorded, no reports.
  DeviceLog* device_log = nullptr;
  // Vendor payloads into Sund's (mapping.h); a payload no template matches is read as Sund's.
  const Mappings* mappings = nullptr;
  // Writes a FHIR transaction Bundle (JSON); returns the response Bundle (JSON).
  std::function<Result<std::string>(std::string bundle)> write;
  // Who the caller is when the request may ingest (`write`) or read the dead letters; else the
  // status to answer (401, 403).
  std::function<Result<audit::Actor>(const http::Request& req, bool write)> authorize;
  // Called after a payload's (or a batch's) Observations were written, with the patients they
  // belong to, for scoring in line (the integration tests; sund serve scores from the store's
  // change feed instead, monitor::ScoreFromFeed). Its error is logged; the measurements stay
  // filed.
  std::function<Status(const std::vector<std::string>& patients)> on_filed;
  // Every ingestion and every listing of the dead letters is recorded here before it is
  // answered (503 when the record cannot be written). Null: not audited (tests).
  audit::AuditLog* audit = nullptr;
  // Whether the patient's Consents permit collecting `observation` (FHIR JSON) from the device
  // (sund serve: ConsentGate::AllowsCollection; sund iomt gateway: RemoteConsents, remote.h).
  // Empty: no consent check. An error fails the payload (503: nothing filed).
  std::function<Result<bool>(const std::string& patient, std::string_view observation,
                             std::string_view device_id)>
      may_collect;
  const Clock* clock = nullptr;  // the system clock when null
  std::int64_t max_clock_skew_ms = 5 * 60 * 1000;
  // A larger payload is refused whole (oversized); 1,000 measurements take about 100 KiB.
  std::size_t max_payload_bytes = 256 << 10;
};

struct IngestResult {
  std::string device;
  std::vector<std::string> patients;  // Patient ids of the measurements filed
  int accepted = 0;                   // measurements filed (a blood pressure pair counts two)
  int stored = 0;                     // Observations created now
  int duplicates = 0;  // Observations that were stored before (the payload was resent)
  std::vector<Refused> refused;
};

// One payload as it arrived.
struct Incoming {
  std::string_view payload;
  // The device that sent it, when the transport knows (MQTT: the topic's device, which the
  // broker's ACL ties to the user that authenticated); a payload naming another device is
  // refused (wrong-device). Empty over HTTP, where a system/ client sends for any device.
  std::string_view sender;
};

// What a gateway has taken since it started (sund serve's /metrics).
struct GatewayStats {
  std::int64_t payloads = 0;           // payloads handled, readable or not
  std::int64_t rejected_payloads = 0;  // unusable as a whole (dead-lettered)
  std::int64_t filed = 0;              // measurements filed (IngestResult::accepted)
  std::int64_t refused = 0;            // single measurements refused (dead-lettered)
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);

  // InvalidArgument for an unusable payload (dead-lettered as a whole). Another error when the
  // store or the dead-letter store failed: nothing was filed, the device should send again.
  Result<IngestResult> Ingest(std::string_view payload);
  // Several payloads filed in one transaction (MQTT batches: one commit for many messages).
  // One result per payload, in order, InvalidArgument for an unusable one (dead-lettered). An
  // error for the whole call when the store or the dead-letter store failed: nothing was filed,
  // every payload should come again.
  Result<std::vector<Result<IngestResult>>> IngestBatch(const std::vector<Incoming>& payloads);

  GatewayStats stats() const;

  // True for /iomt/v1/ paths.
  static bool Handles(std::string_view path);
  // The routes Handle answers (family "iomt"): POST /iomt/v1/measurements, GET
  // /iomt/v1/rejected and GET /iomt/v1/reports/devices (404 without a device log); any other
  // /iomt/v1/ path is 404, another method 405.
  static std::span<const http::Endpoint> Endpoints();
  http::Response Handle(const http::Request& req);

 private:
  // A device as the store knows it: its Device id and assignment history, or why it has none.
  struct KnownDevice {
    std::string id;
    std::optional<DeviceAssignments> assignments;
    std::string problem;  // when no assignments: why
  };
  Result<KnownDevice> LookUp(const std::string& device);
  // GET /iomt/v1/reports/devices, and the patients it names (for the audit record).
  std::pair<http::Response, std::vector<std::string>> DeviceReportResponse(
      const http::Request& req);

  GatewayOptions options_;
  // Devices looked up, valid while no Device or DeviceUseStatement changes (store TypeStamps).
  std::mutex devices_mu_;
  std::string devices_stamp_;
  std::map<std::string, KnownDevice, std::less<>> devices_;
  std::int64_t devices_filled_us_ = 0;  // find_device: when the cache was emptied last
  std::atomic<std::int64_t> payloads_{0}, rejected_payloads_{0}, filed_{0}, refused_{0};
};

}  // namespace sund::iomt
