// What each home-monitoring device delivered, for the municipality's welfare-technology
// reporting (issue #5): per device and UTC day the payloads and measurements received, the
// first and last time, the longest silence between two payloads; per device the last time seen
// and the last battery level. Kept in DATA/iomt.db beside the dead letters; the gateway records
// every payload it could read (device identified), filed or refused.
//
// Report() turns it into rows for `GET /iomt/v1/reports/devices` (JSON or CSV): the devices'
// value (use per day) and maintenance (battery, silence), and the citizens' adherence to their
// measurement plan. Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::storage::sqlite {
class Connection;
}

namespace sund::iomt {

struct DeviceActivity {
  std::string device;
  std::int64_t time_ms = 0;  // the payload's time (its newest measurement's)
  int measurements = 0;      // accepted
  std::optional<double> battery;
};

struct DeviceReport {
  std::string device;
  std::int64_t last_seen_ms = 0;
  std::optional<double> battery;    // the last level reported
  std::int64_t battery_ms = 0;      // when
  int days_reported = 0;            // days of the period with at least one payload
  int days_meeting_plan = 0;        // days with at least the plan's payloads
  std::int64_t payloads = 0;        // in the period
  std::int64_t measurements = 0;    // in the period
  std::int64_t longest_gap_ms = 0;  // the longest silence in the period, up to now
};

class DeviceLog {
 public:
  static Result<std::unique_ptr<DeviceLog>> Open(const std::string& path);
  ~DeviceLog();
  // One transaction for the batch.
  Status Record(const std::vector<DeviceActivity>& batch);
  // Every device seen, for the `days` UTC days up to and including today (now_ms), with the days
  // on which it delivered at least `plan_per_day` payloads; the longest gap includes the silence
  // from the last payload until now.
  Result<std::vector<DeviceReport>> Report(std::int64_t now_ms, int days, int plan_per_day);

 private:
  DeviceLog() = default;
  std::mutex mu_;
  std::unique_ptr<storage::sqlite::Connection> conn_;
};

// DATA/iomt.db with its schema (dead letters and device activity), migrated.
Result<std::unique_ptr<storage::sqlite::Connection>> OpenIomtDb(const std::string& path);

}  // namespace sund::iomt
