// FHIRPath values: system-value view of items, dates and times, quantities, equality and
// ordering (http://hl7.org/fhirpath/N1/#literals, #equality, #comparison). Private to src/fhir.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fhir/fhirpath.h"

namespace sund::fhir::fhirpath_internal {

// A date, dateTime or time with its precision.
struct DateTimeValue {
  enum Precision : int { kYear = 1, kMonth, kDay, kHour, kMinute, kSecond, kMillisecond };
  bool time_only = false;
  int precision = 0;
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0;
  bool has_tz = false;
  bool zulu = false;
  int tz_minutes = 0;
};

std::optional<DateTimeValue> ParseDateTime(std::string_view text, bool time_only);
std::string FormatDateTime(const DateTimeValue& v);
// -1/0/1; nullopt when the values differ only below the precision of one of them.
std::optional<int> CompareDateTime(const DateTimeValue& a, const DateTimeValue& b);
// Date arithmetic with a calendar or UCUM time quantity; nullopt for other units.
std::optional<DateTimeValue> AddDuration(const DateTimeValue& v, double amount,
                                         std::string_view unit);

// The system-value view of an item (data primitives map to their system type).
struct SystemValue {
  enum class Kind : std::uint8_t {
    kNone,
    kBoolean,
    kInteger,
    kDecimal,
    kString,
    kDate,
    kDateTime,
    kTime,
    kQuantity,
    kObject
  };
  Kind kind = Kind::kNone;
  bool boolean = false;
  std::int64_t integer = 0;
  double decimal = 0;
  std::string string;  // strings, and date/time text
  PathQuantity quantity;
};

SystemValue ToSystem(const PathValue& v);
// Converts `q` to `unit` when both are known, related units (mg -> g, min -> s); nullopt else.
std::optional<double> ConvertQuantity(const PathQuantity& q, std::string_view unit);
std::string FormatDecimal(double d);

// FHIRPath '=' on two items: nullopt when the answer is empty (date precisions differ).
std::optional<bool> ItemEquals(const PathValue& a, const PathValue& b);
// FHIRPath '~' on two items.
bool ItemEquivalent(const PathValue& a, const PathValue& b);
// Ordering for '<' etc.: -1/0/1, nullopt when unknown (precision), error for incomparable kinds.
Result<std::optional<int>> ItemCompare(const PathValue& a, const PathValue& b);

}  // namespace sund::fhir::fhirpath_internal
