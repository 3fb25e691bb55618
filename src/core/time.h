// Time for Sund: an injectable Clock, FHIR date/dateTime/instant parsing into ranges, and the
// text forms FHIR and HTTP need.
//
// FHIR dates carry their precision ("2021", "2021-03", "2021-03-04T10:00:00+01:00"); search
// compares ranges (FHIR R4 search, 3.1.1.4.2 "date"), so ParseFhirDate returns the inclusive range
// [lo, hi] in milliseconds since the Unix epoch (UTC) that the text covers. Values without a time
// zone are taken as UTC. Thread-safety: free functions are pure; SystemClock is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sund {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch.
  virtual std::int64_t NowMicros() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowMicros() const override;
  static const SystemClock& Get();
};

struct DateRange {
  std::int64_t lo_ms = 0;  // first millisecond covered
  std::int64_t hi_ms = 0;  // last millisecond covered (inclusive)
};

// Parses a FHIR date, dateTime or instant ("2021", "2021-03", "2021-03-04",
// "2021-03-04T10:00", "2021-03-04T10:00:00.123+02:00", "...Z"). InvalidArgument otherwise.
Result<DateRange> ParseFhirDate(std::string_view text);

// "2021-03-04T10:00:00.123Z" (FHIR instant, millisecond precision, UTC) from microseconds.
std::string FormatInstant(std::int64_t micros);
// "Thu, 04 Mar 2021 10:00:00 GMT" (RFC 7231 HTTP-date) from microseconds.
std::string FormatHttpDate(std::int64_t micros);
// Parses an HTTP-date (IMF-fixdate only). InvalidArgument otherwise.
Result<std::int64_t> ParseHttpDate(std::string_view text);

// Days since 1970-01-01 for a civil date (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d);

}  // namespace sund
