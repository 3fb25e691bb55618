// Civil-date arithmetic for cohort specs, extraction and FHIR output: days since 1970-01-01 (UTC,
// proleptic Gregorian) to and from year/month/day, months added with the day clamped to the
// month's end, and whole years of age. Private to synth. Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "core/time.h"

namespace sund::synth::internal {

inline constexpr std::int64_t kMsPerDay = 86'400'000;

// Division rounding towards negative infinity (days before 1970 stay on the right day).
constexpr std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

struct Civil {
  std::int64_t year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
};

constexpr bool IsLeap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr unsigned DaysInMonth(std::int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// The civil date of a day number: counted in 400-year eras of 146,097 days starting on March 1,
// so that the leap day falls at the end of each era-year.
constexpr Civil CivilFromDays(std::int64_t days) {
  std::int64_t z = days + 719'468;  // days since 0000-03-01
  std::int64_t era = FloorDiv(z, 146'097);
  std::int64_t doe = z - era * 146'097;                                         // [0, 146096]
  std::int64_t yoe = (doe - doe / 1'460 + doe / 36'524 - doe / 146'096) / 365;  // [0, 399]
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                   // [0, 365]
  std::int64_t mp = (5 * doy + 2) / 153;                                        // March = 0
  Civil c;
  c.day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

// `days` moved by `months` calendar months; the day of month is clamped to the target month.
inline std::int64_t AddMonths(std::int64_t days, std::int64_t months) {
  Civil c = CivilFromDays(days);
  std::int64_t index = c.year * 12 + (c.month - 1) + months;
  std::int64_t y = FloorDiv(index, 12);
  auto m = static_cast<unsigned>(index - y * 12 + 1);
  unsigned d = c.day < DaysInMonth(y, m) ? c.day : DaysInMonth(y, m);
  return DaysFromCivil(y, m, d);
}

// Whole years from `birth` to `at` (both day numbers); negative when `at` is before `birth`.
// Someone born on February 29 turns a year older on March 1 in common years.
constexpr std::int64_t AgeYears(std::int64_t birth, std::int64_t at) {
  Civil b = CivilFromDays(birth);
  Civil a = CivilFromDays(at);
  std::int64_t age = a.year - b.year;
  if (a.month < b.month || (a.month == b.month && a.day < b.day)) --age;
  return age;
}

}  // namespace sund::synth::internal
