// Mapping templates (issue #5): a vendor's own device payload turned into Sund's payload
// (docs/iomt.md) by a JSON template, as the open-source IoMT FHIR connector's device mapping
// templates do: which payloads a template takes (a field equal to a value, or present), where
// the device id, the time, the battery and each value are (JSON Pointers, RFC 6901), and which
// code and unit each value has. Optionally `each` names an array whose elements are readings
// of their own.
//
//   {"templates": [{
//     "name": "acme-bp",
//     "match": {"path": "/kind", "equals": "bp"},      (or {"path": "/sys"} for "present")
//     "device": "/serial",
//     "time": {"path": "/ts", "format": "epoch-s"},   (instant | epoch-s | epoch-ms)
//     "battery": "/batt",                              (optional)
//     "each": "/readings",                             (optional)
//     "values": [
//       {"path": "/sys", "code": {"system": "mdc", "code": "150021"}, "unit": "mm[Hg]"},
//       {"path": "/dia", "code": {"system": "mdc", "code": "150022"}, "unit": "mm[Hg]"},
//       {"path": "/pulse", "code": {"system": "mdc", "code": "149546"}, "unit": "/min",
//        "required": false}]}]}
//
// Templates are checked when loaded, so a mistake shows at start, not in the dead letters: a
// code no kind knows, a unit that does not fit the code's kind (a diastolic pressure in mm[Hg]
// coded as heart rate), a blood pressure half without the other, a kind twice, bad pointers.
// Thread-safety: immutable after Parse; Apply may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "iomt/measurement.h"

namespace sund::iomt {

class Mappings {
 public:
  // InvalidArgument naming the template and its mistake.
  static Result<Mappings> Parse(std::string_view json);

  // Sund's payload for a vendor payload, from the first template that matches; nullopt when
  // none does (the payload is then read as Sund's own). InvalidArgument when the matching
  // template cannot map it (a required value missing or not a number, no device, no time).
  Result<std::optional<std::string>> Apply(std::string_view payload) const;

  std::size_t size() const { return templates_.size(); }

 private:
  enum class TimeFormat { kInstant, kEpochSeconds, kEpochMillis };
  struct Value {
    std::string path;
    const KindInfo* kind = nullptr;
    std::string system;  // as the template wrote the code
    std::string code;
    std::string unit;
    bool required = true;
  };
  struct Template {
    std::string name;
    std::string match_path;
    std::optional<std::string> match_equals;  // compared with a string or a number's text
    std::string device_path;
    std::string time_path;  // empty: the reading has no time (refused by the payload check)
    TimeFormat time_format = TimeFormat::kInstant;
    std::string battery_path;
    std::string each_path;
    std::vector<Value> values;
  };
  std::vector<Template> templates_;
};

}  // namespace sund::iomt
