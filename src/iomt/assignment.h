// Which patient a device's measurement belongs to, at the time it was taken (issue #5): a device
// lent to one citizen and later to another files each measurement under the citizen who had it
// then. Sources, as FHIR R4 resources:
// - DeviceUseStatement with `device` = the Device, `subject` = Patient/ID and `timingPeriod`
//   (start required; no end: still in use), status active, completed or stopped (others, such
//   as entered-in-error or intended, are ignored). These are the history.
// - Device.patient: the current assignment, used only when the device has no usable
//   DeviceUseStatement at all (a simple deployment that never moves devices).
// A time that no period covers, or that periods of two different patients cover, has no patient:
// the measurement is refused with that reason rather than filed under a guess. Thread-safety:
// immutable after From().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::iomt {

struct AssignmentPeriod {
  std::string patient;  // Patient id
  std::int64_t start_ms = 0;
  std::optional<std::int64_t> end_ms;  // inclusive; nullopt: ongoing
  std::string source;                  // "DeviceUseStatement/ID" or "Device/ID"
};

// The outcome for one time: the patient, or why there is none.
struct PatientAt {
  std::optional<std::string> patient;
  std::string_view reason;  // "" with a patient; "not assigned" or "assigned to two patients"
};

class DeviceAssignments {
 public:
  // `device_json`: the Device (its `patient`, may be absent); `use_statements`: the
  // DeviceUseStatements that name it. Statements that are not JSON, name another device, or lack
  // a Patient subject or a period start are skipped. InvalidArgument when `device_json` is not a
  // Device.
  static Result<DeviceAssignments> From(std::string_view device_json,
                                        const std::vector<std::string>& use_statements);

  PatientAt At(std::int64_t time_ms) const;
  const std::vector<AssignmentPeriod>& periods() const { return periods_; }

 private:
  std::vector<AssignmentPeriod> periods_;
  std::optional<std::string> current_;  // Device.patient, when no statement is usable
};

}  // namespace sund::iomt
