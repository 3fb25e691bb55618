#include "core/time.h"

#include <chrono>
#include <cstdio>

namespace sund {

std::int64_t SystemClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const SystemClock& SystemClock::Get() {
  static const SystemClock clock;
  return clock;
}

std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

namespace {

void CivilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool IsLeap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[pos]; false if not digits.
bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

constexpr std::int64_t kMsPerDay = 86'400'000;

}  // namespace

Result<DateRange> ParseFhirDate(std::string_view s) {
  auto bad = [&] { return InvalidArgument("invalid date/dateTime"); };
  int year = 0, month = 1, day = 1;
  if (!Digits(s, 0, 4, year)) return bad();
  if (s.size() == 4) {
    std::int64_t lo = DaysFromCivil(year, 1, 1) * kMsPerDay;
    std::int64_t hi = DaysFromCivil(year + 1, 1, 1) * kMsPerDay - 1;
    return DateRange{lo, hi};
  }
  if (s[4] != '-' || !Digits(s, 5, 2, month) || month < 1 || month > 12) return bad();
  if (s.size() == 7) {
    std::int64_t lo = DaysFromCivil(year, month, 1) * kMsPerDay;
    std::int64_t hi = lo + static_cast<std::int64_t>(DaysInMonth(year, month)) * kMsPerDay - 1;
    return DateRange{lo, hi};
  }
  if (s.size() < 10 || s[7] != '-' || !Digits(s, 8, 2, day) || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, month)) {
    return bad();
  }
  std::int64_t day_ms = DaysFromCivil(year, month, day) * kMsPerDay;
  if (s.size() == 10) return DateRange{day_ms, day_ms + kMsPerDay - 1};
  if (s[10] != 'T') return bad();
  int hour = 0, minute = 0, second = 0, ms = 0;
  std::size_t pos = 11;
  if (!Digits(s, pos, 2, hour) || hour > 23 || pos + 2 >= s.size() || s[pos + 2] != ':' ||
      !Digits(s, pos + 3, 2, minute) || minute > 59) {
    return bad();
  }
  pos += 5;
  std::int64_t precision_ms = 60'000;
  if (pos < s.size() && s[pos] == ':') {
    if (!Digits(s, pos + 1, 2, second) || second > 60) return bad();
    pos += 3;
    precision_ms = 1000;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      std::size_t start = pos;
      int scale = 100;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        ms += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return bad();
      precision_ms = 1;
    }
  }
  std::int64_t offset_ms = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh = 0, om = 0;
      if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !Digits(s, pos + 4, 2, om) || oh > 14 || om > 59) {
        return bad();
      }
      offset_ms = (oh * 60 + om) * 60'000LL * (s[pos] == '-' ? -1 : 1);
      pos += 6;
    } else {
      return bad();
    }
  }
  if (pos != s.size()) return bad();
  std::int64_t lo = day_ms + ((hour * 60 + minute) * 60 + second) * 1000LL + ms - offset_ms;
  return DateRange{lo, lo + precision_ms - 1};
}

std::string FormatInstant(std::int64_t micros) {
  std::int64_t ms = micros / 1000;
  std::int64_t days = ms / kMsPerDay;
  std::int64_t rem = ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y),
                m, d, static_cast<int>(rem / 3'600'000), static_cast<int>(rem / 60'000 % 60),
                static_cast<int>(rem / 1000 % 60), static_cast<int>(rem % 1000));
  return buf;
}

std::string FormatHttpDate(std::int64_t micros) {
  static constexpr const char* kWeekdays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t secs = micros / 1'000'000;
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02d:%02d:%02d GMT",
                kWeekdays[((days % 7) + 7) % 7], d, kMonths[m - 1], static_cast<long long>(y),
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                static_cast<int>(rem % 60));
  return buf;
}

Result<std::int64_t> ParseHttpDate(std::string_view s) {
  // "Thu, 04 Mar 2021 10:00:00 GMT"
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int d = 0, y = 0, hh = 0, mm = 0, ss = 0;
  if (s.size() != 29 || s.substr(25) != " GMT" || !Digits(s, 5, 2, d) || !Digits(s, 12, 4, y) ||
      !Digits(s, 17, 2, hh) || !Digits(s, 20, 2, mm) || !Digits(s, 23, 2, ss)) {
    return InvalidArgument("invalid HTTP date");
  }
  std::size_t mi = kMonths.find(s.substr(8, 3));
  if (mi == std::string_view::npos || mi % 3 != 0) return InvalidArgument("invalid HTTP date");
  std::int64_t days = DaysFromCivil(y, static_cast<unsigned>(mi / 3 + 1), d);
  return ((days * 86400) + hh * 3600 + mm * 60 + ss) * 1'000'000;
}

}  // namespace sund
