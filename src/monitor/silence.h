// Patients who stopped reporting (issue #5, "a patient who has not reported for N hours raises
// an alert too"). A patient is monitored while a DeviceUseStatement of theirs is active (status
// active, no end or an end in the future); one whose newest vital-signs Observation is older
// than N hours (or who has none since the use began, N hours ago) gets an alert (alert.h):
// Flag code urn:sund:no-report|no-report, identifiers urn:sund:no-report-flag and
// urn:sund:no-report-alert keyed by the patient and the time of their last measurement, so one
// silence raises one alert however often it is checked, and the next silence a new one.
// SilenceWatch checks on a background thread. Thread-safety: CheckSilence is reentrant.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "core/time.h"
#include "storage/store.h"

namespace sund::monitor {

struct SilenceOptions {
  storage::Store* store = nullptr;
  // Writes a FHIR transaction Bundle (JSON); returns the response Bundle (JSON).
  std::function<Result<std::string>(std::string bundle)> write;
  std::int64_t after_ms = 24LL * 3600 * 1000;  // N hours
  const Clock* clock = nullptr;                // the system clock when null
};

struct SilenceResult {
  int monitored = 0;  // patients with an active device use
  int silent = 0;     // of them, not reporting for N hours
};

Result<SilenceResult> CheckSilence(const SilenceOptions& options);

class SilenceWatch {
 public:
  SilenceWatch(SilenceOptions options, std::chrono::milliseconds every);
  ~SilenceWatch();

 private:
  SilenceOptions options_;
  std::chrono::milliseconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sund::monitor
