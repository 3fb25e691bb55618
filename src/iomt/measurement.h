// The measurements the IoMT gateway accepts from home-monitoring devices (issue #5): what each
// kind is (LOINC and IEEE 11073 MDC codes, canonical UCUM unit, the units it converts from, the
// range a living body can show), the device payload (docs/iomt.md) and its turning into FHIR R4
// Observations per the vital-signs profile. Transport (MQTT, HTTP), device assignments and the
// dead-letter store build on this; nothing here does I/O. Thread-safety: all functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::iomt {

inline constexpr std::string_view kMdcSystem = "urn:iso:std:iso:11073:10101";
inline constexpr std::string_view kLoincSystem = "http://loinc.org";
inline constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";

enum class Kind : std::uint8_t {
  kHeartRate,
  kSpo2,
  kRespirationRate,
  kBodyTemperature,
  kSystolicPressure,
  kDiastolicPressure,
  kBodyWeight,
  kBloodGlucose,
};

struct KindInfo {
  Kind kind;
  std::string_view name;                   // "heart-rate" (payloads may name the kind this way too)
  std::string_view loinc;                  // the vital-signs profile's code
  std::string_view loinc_display;          //
  std::uint32_t mdc;                       // the MDC code written to Observations
  std::vector<std::uint32_t> mdc_aliases;  // more MDC codes devices send for the same thing
  std::string_view unit;                   // canonical UCUM unit
  double min;                              // physiologically possible, in the canonical unit
  double max;
};

// Every kind the gateway knows, in Kind order.
const std::vector<KindInfo>& Kinds();
const KindInfo& Info(Kind kind);
// The kind a coding names: system kMdcSystem (or "mdc") with any of its MDC codes, system
// kLoincSystem (or "loinc") with its LOINC code, or system "sund" with its name. nullptr when
// none does.
const KindInfo* FindKind(std::string_view system, std::string_view code);

// `value` in `ucum` as the kind's canonical unit: /min; % (also a 0-1 "{fraction}" or "1");
// Cel, [degF], K; mm[Hg], kPa; kg, g, [lb_av]; mmol/L, mg/dL (glucose, 18.016 mg/dL per
// mmol/L). InvalidArgument naming the unit when it does not convert.
Result<double> ToCanonical(const KindInfo& kind, double value, std::string_view ucum);

// Why a measurement was refused; the dead-letter store keeps it with the message.
enum class Rejection : std::uint8_t {
  kMalformed,      // not the documented payload (JSON, fields, types)
  kUnknownCode,    // no known kind for the coding
  kBadUnit,        // the unit does not convert to the kind's unit
  kImpossible,     // outside what a living body can show
  kFutureTime,     // later than now plus the allowed clock skew
  kIncomplete,     // blood pressure without both systolic and diastolic at one time
  kUnknownDevice,  // no Device with the payload's identifier
  kUnassigned,     // the device was not assigned to one patient at the measurement's time
  kNoConsent,      // the patient's Consents do not permit collecting it
  kWrongDevice,    // the payload names another device than the one that sent it (MQTT topic)
  kOversized,      // the payload is larger than the gateway takes
};
std::string_view RejectionName(Rejection r);  // "malformed", "unknown-code", ...

// One accepted measurement, in the canonical unit.
struct Measurement {
  Kind kind;
  double value = 0;
  std::int64_t time_ms = 0;  // effective time, ms since the Unix epoch
  std::uint32_t mdc = 0;     // the MDC code the device sent (it tells the method), else the kind's
  int index = -1;            // its position in the payload's "measurements"
};

// A refused part of a payload: which measurement (index in "measurements", -1 for the whole
// payload), why, and a short reason without the measured value.
struct Refused {
  int index = -1;
  Rejection reason = Rejection::kMalformed;
  std::string detail;
};

struct ParsedPayload {
  std::string device;             // the device's identifier as the payload names it
  std::optional<double> battery;  // percent, when the payload tells
  std::vector<Measurement> accepted;
  std::vector<Refused> refused;
};

struct ParseOptions {
  std::int64_t now_ms = 0;
  std::int64_t max_clock_skew_ms = 5 * 60 * 1000;
  std::size_t max_measurements = 1000;
};

// Reads one device payload (docs/iomt.md):
//   {"device": "ID", "time": "instant", "battery": 87, "measurements": [
//     {"code": {"system": "mdc", "code": "149530"}, "value": 72, "unit": "/min",
//      "time": "instant (optional, else the payload's)"}, ...]}
// Each measurement is checked on its own (code known, unit convertible, value possible, time
// not in the future beyond the skew); a systolic pressure without a diastolic one of the same
// time (or the reverse) is refused as incomplete. Error (kInvalidArgument) only when the
// payload as a whole is unusable: not JSON, no device (1-128 of A-Z a-z 0-9 . _ : -), no
// measurements array, too many, a battery level that is not 0-100 (optional "battery").
Result<ParsedPayload> ParsePayload(std::string_view json, const ParseOptions& options);

// The Observation for one measurement (blood pressure: the systolic and diastolic pair as one
// Observation, LOINC 85354-9 with two components), as FHIR JSON: status final, category
// vital-signs, code with both the LOINC and the MDC coding, subject Patient/`patient`, device
// Device/`device_id`, effectiveDateTime, valueQuantity in the canonical UCUM unit, and
// identifier `urn:sund:iomt|<device_id>/<kind name>/<ms>` (the same measurement sent twice gives
// the same identifier, for conditional create). `diastolic` only for kSystolicPressure.
std::string ObservationJson(const Measurement& m, std::string_view patient,
                            std::string_view device_id, const Measurement* diastolic = nullptr);

// The deterministic identifier value of a measurement from a device: "<device>/<kind>/<ms>".
std::string MeasurementKey(std::string_view device, const Measurement& m);

}  // namespace sund::iomt
