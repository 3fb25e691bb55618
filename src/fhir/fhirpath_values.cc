// FHIRPath values, dates and quantities (see internal/fhirpath_values.h).

#include "fhir/internal/fhirpath_values.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sund::fhir::fhirpath_internal {

namespace {

bool ReadInt(std::string_view s, std::size_t* i, int digits, int* out) {
  if (*i + digits > s.size()) return false;
  int v = 0;
  for (int k = 0; k < digits; ++k) {
    char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += digits;
  *out = v;
  return true;
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(std::int64_t z, int* y, int* m, int* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = static_cast<int>(yoe + era * 400 + (*m <= 2));
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[(m - 1) % 12];
}

// Milliseconds since the epoch of the fields (ignoring the time zone).
std::int64_t ToMillis(const DateTimeValue& v) {
  std::int64_t days = v.time_only ? 0 : DaysFromCivil(v.year, v.month, v.day);
  return ((days * 24 + v.hour) * 60 + v.minute) * 60000LL + v.second * 1000LL + v.millis;
}

void FromMillis(std::int64_t ms, DateTimeValue* v) {
  std::int64_t days = ms >= 0 ? ms / 86400000LL : -((-ms + 86399999LL) / 86400000LL);
  std::int64_t rest = ms - days * 86400000LL;
  if (!v->time_only) CivilFromDays(days, &v->year, &v->month, &v->day);
  v->hour = static_cast<int>(rest / 3600000);
  v->minute = static_cast<int>(rest / 60000 % 60);
  v->second = static_cast<int>(rest / 1000 % 60);
  v->millis = static_cast<int>(rest % 1000);
}

// Converts to UTC when it carries a time zone and a time.
DateTimeValue Normalized(const DateTimeValue& v) {
  if (!v.has_tz || v.precision < DateTimeValue::kHour || v.time_only) return v;
  DateTimeValue out = v;
  FromMillis(ToMillis(v) - v.tz_minutes * 60000LL, &out);
  out.tz_minutes = 0;
  return out;
}

struct UnitInfo {
  std::string_view unit;
  std::string_view dimension;
  double factor;
};

constexpr UnitInfo kUnits[] = {
    {"g", "g", 1},
    {"mg", "g", 1e-3},
    {"ug", "g", 1e-6},
    {"ng", "g", 1e-9},
    {"kg", "g", 1e3},
    {"[lb_av]", "g", 453.59237},
    {"m", "m", 1},
    {"cm", "m", 1e-2},
    {"mm", "m", 1e-3},
    {"km", "m", 1e3},
    {"um", "m", 1e-6},
    {"[in_i]", "m", 0.0254},
    {"L", "l", 1},
    {"l", "l", 1},
    {"mL", "l", 1e-3},
    {"ml", "l", 1e-3},
    {"dL", "l", 0.1},
    {"dl", "l", 0.1},
    {"s", "s", 1},
    {"ms", "s", 1e-3},
    {"min", "s", 60},
    {"h", "s", 3600},
    {"d", "s", 86400},
    {"wk", "s", 604800},
    {"second", "s", 1},
    {"seconds", "s", 1},
    {"millisecond", "s", 1e-3},
    {"milliseconds", "s", 1e-3},
    {"minute", "s", 60},
    {"minutes", "s", 60},
    {"hour", "s", 3600},
    {"hours", "s", 3600},
    {"day", "s", 86400},
    {"days", "s", 86400},
    {"week", "s", 604800},
    {"weeks", "s", 604800},
    {"a", "a", 1},
    {"year", "year", 1},
    {"years", "year", 1},
    {"mo", "mo", 1},
    {"month", "month", 1},
    {"months", "month", 1},
    {"1", "1", 1},
    {"%", "1", 0.01},
    {"mmol/L", "mol/l", 1e-3},
    {"mol/L", "mol/l", 1},
    {"Cel", "Cel", 1},
    {"mm[Hg]", "mm[Hg]", 1},
};

const UnitInfo* FindUnit(std::string_view unit) {
  for (const UnitInfo& u : kUnits) {
    if (u.unit == unit) return &u;
  }
  return nullptr;
}

std::string NormalizeSpace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

int DecimalPlaces(double d) {
  std::string s = FormatDecimal(d);
  std::size_t dot = s.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(s.size() - dot - 1);
}

bool IsDateKind(SystemValue::Kind k) {
  return k == SystemValue::Kind::kDate || k == SystemValue::Kind::kDateTime;
}

}  // namespace

std::optional<DateTimeValue> ParseDateTime(std::string_view s, bool time_only) {
  DateTimeValue v;
  v.time_only = time_only;
  std::size_t i = 0;
  if (!time_only) {
    if (!ReadInt(s, &i, 4, &v.year)) return std::nullopt;
    v.precision = DateTimeValue::kYear;
    if (i < s.size() && s[i] == '-') {
      ++i;
      if (!ReadInt(s, &i, 2, &v.month) || v.month < 1 || v.month > 12) return std::nullopt;
      v.precision = DateTimeValue::kMonth;
      if (i < s.size() && s[i] == '-') {
        ++i;
        if (!ReadInt(s, &i, 2, &v.day) || v.day < 1 || v.day > DaysInMonth(v.year, v.month)) {
          return std::nullopt;
        }
        v.precision = DateTimeValue::kDay;
      }
    }
    if (i < s.size() && s[i] == 'T') {
      ++i;
      if (i == s.size()) return v;
    } else {
      return i == s.size() ? std::optional<DateTimeValue>(v) : std::nullopt;
    }
  }
  if (!ReadInt(s, &i, 2, &v.hour) || v.hour > 23) return std::nullopt;
  v.precision = DateTimeValue::kHour;
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!ReadInt(s, &i, 2, &v.minute) || v.minute > 59) return std::nullopt;
    v.precision = DateTimeValue::kMinute;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!ReadInt(s, &i, 2, &v.second) || v.second > 60) return std::nullopt;
      v.precision = DateTimeValue::kSecond;
      if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t b = i;
        int ms = 0, digits = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
          if (digits < 3) ms = ms * 10 + (s[i] - '0');
          ++digits;
          ++i;
        }
        if (i == b) return std::nullopt;
        for (; digits < 3; ++digits) ms *= 10;
        v.millis = ms;
        v.precision = DateTimeValue::kMillisecond;
      }
    }
  }
  if (i < s.size() && !time_only) {
    if (s[i] == 'Z') {
      v.has_tz = v.zulu = true;
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      int sign = s[i] == '-' ? -1 : 1;
      ++i;
      int h = 0, m = 0;
      if (!ReadInt(s, &i, 2, &h) || i >= s.size() || s[i] != ':') return std::nullopt;
      ++i;
      if (!ReadInt(s, &i, 2, &m)) return std::nullopt;
      v.has_tz = true;
      v.tz_minutes = sign * (h * 60 + m);
    }
  }
  if (i != s.size()) return std::nullopt;
  return v;
}

std::string FormatDateTime(const DateTimeValue& v) {
  char buf[64];
  std::string out;
  if (!v.time_only) {
    std::snprintf(buf, sizeof(buf), "%04d", v.year);
    out += buf;
    if (v.precision >= DateTimeValue::kMonth) {
      std::snprintf(buf, sizeof(buf), "-%02d", v.month);
      out += buf;
    }
    if (v.precision >= DateTimeValue::kDay) {
      std::snprintf(buf, sizeof(buf), "-%02d", v.day);
      out += buf;
    }
    if (v.precision < DateTimeValue::kHour) return out;
    out += 'T';
  }
  std::snprintf(buf, sizeof(buf), "%02d", v.hour);
  out += buf;
  if (v.precision >= DateTimeValue::kMinute) {
    std::snprintf(buf, sizeof(buf), ":%02d", v.minute);
    out += buf;
  }
  if (v.precision >= DateTimeValue::kSecond) {
    std::snprintf(buf, sizeof(buf), ":%02d", v.second);
    out += buf;
  }
  if (v.precision >= DateTimeValue::kMillisecond) {
    std::snprintf(buf, sizeof(buf), ".%03d", v.millis);
    out += buf;
  }
  if (v.has_tz && !v.time_only) {
    if (v.zulu && v.tz_minutes == 0) {
      out += 'Z';
    } else {
      int m = std::abs(v.tz_minutes);
      std::snprintf(buf, sizeof(buf), "%c%02d:%02d", v.tz_minutes < 0 ? '-' : '+', m / 60, m % 60);
      out += buf;
    }
  }
  return out;
}

std::optional<int> CompareDateTime(const DateTimeValue& a0, const DateTimeValue& b0) {
  DateTimeValue a = a0, b = b0;
  if (a.has_tz != b.has_tz && a.precision >= DateTimeValue::kHour &&
      b.precision >= DateTimeValue::kHour) {
    return std::nullopt;  // one is local time, the other has an offset: unknown
  }
  if (a.has_tz && b.has_tz) {
    a = Normalized(a);
    b = Normalized(b);
  }
  // Seconds and milliseconds are one precision for comparison.
  auto level = [](int p) { return p == DateTimeValue::kMillisecond ? DateTimeValue::kSecond : p; };
  int common = std::min(level(a.precision), level(b.precision));
  const int av[] = {a.year, a.month, a.day, a.hour, a.minute, a.second * 1000 + a.millis};
  const int bv[] = {b.year, b.month, b.day, b.hour, b.minute, b.second * 1000 + b.millis};
  int first = a.time_only ? DateTimeValue::kHour : DateTimeValue::kYear;
  for (int p = first; p <= common; ++p) {
    if (av[p - 1] != bv[p - 1]) return av[p - 1] < bv[p - 1] ? -1 : 1;
  }
  if (level(a.precision) != level(b.precision)) return std::nullopt;
  return 0;
}

std::optional<DateTimeValue> AddDuration(const DateTimeValue& v, double amount,
                                         std::string_view unit) {
  DateTimeValue out = v;
  std::int64_t n = static_cast<std::int64_t>(amount);  // partial units are dropped
  if (unit == "year" || unit == "years") {
    out.year += static_cast<int>(n);
  } else if (unit == "month" || unit == "months") {
    std::int64_t m = out.year * 12LL + (out.month - 1) + n;
    out.year = static_cast<int>(m / 12);
    out.month = static_cast<int>(m % 12) + 1;
  } else {
    double seconds;
    if (unit == "week" || unit == "weeks" || unit == "wk") {
      seconds = 604800.0 * n;
    } else if (unit == "day" || unit == "days" || unit == "d") {
      seconds = 86400.0 * n;
    } else if (unit == "hour" || unit == "hours" || unit == "h") {
      seconds = 3600.0 * n;
    } else if (unit == "minute" || unit == "minutes" || unit == "min") {
      seconds = 60.0 * n;
    } else if (unit == "second" || unit == "seconds" || unit == "s") {
      seconds = static_cast<double>(n);
    } else if (unit == "millisecond" || unit == "milliseconds" || unit == "ms") {
      seconds = n / 1000.0;
    } else {
      return std::nullopt;
    }
    if (!v.time_only && v.precision < DateTimeValue::kDay) return out;
    if (v.precision < DateTimeValue::kHour && seconds < 86400.0 && seconds > -86400.0) return out;
    FromMillis(ToMillis(out) + static_cast<std::int64_t>(std::llround(seconds * 1000)), &out);
    return out;
  }
  if (out.precision >= DateTimeValue::kDay)
    out.day = std::min(out.day, DaysInMonth(out.year, out.month));
  return out;
}

std::string FormatDecimal(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", d);
    return buf;
  }
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  if (s.find('e') != std::string::npos) {
    std::snprintf(buf, sizeof(buf), "%.17f", d);
    s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

SystemValue ToSystem(const PathValue& v) {
  using K = SystemValue::Kind;
  SystemValue s;
  if (v.node == nullptr) {
    if (const bool* b = std::get_if<bool>(&v.value)) {
      s.kind = K::kBoolean;
      s.boolean = *b;
    } else if (const std::int64_t* i = std::get_if<std::int64_t>(&v.value)) {
      s.kind = K::kInteger;
      s.integer = *i;
    } else if (const double* d = std::get_if<double>(&v.value)) {
      s.kind = K::kDecimal;
      s.decimal = *d;
    } else if (const PathQuantity* q = std::get_if<PathQuantity>(&v.value)) {
      s.kind = K::kQuantity;
      s.quantity = *q;
    } else if (const std::string* str = std::get_if<std::string>(&v.value)) {
      s.string = *str;
      s.kind = v.type == "System.Date"       ? K::kDate
               : v.type == "System.DateTime" ? K::kDateTime
               : v.type == "System.Time"     ? K::kTime
               : v.type == "System.String"   ? K::kString
                                             : K::kObject;  // resolve() placeholders
    }
    return s;
  }
  const rapidjson::Value& n = *v.node;
  const std::string& t = v.type;
  if (n.IsBool()) {
    s.kind = K::kBoolean;
    s.boolean = n.GetBool();
  } else if (n.IsNumber()) {
    if (t == "decimal" || !(n.IsInt64())) {
      s.kind = K::kDecimal;
      s.decimal = n.GetDouble();
    } else {
      s.kind = K::kInteger;
      s.integer = n.GetInt64();
    }
  } else if (n.IsString()) {
    s.string.assign(n.GetString(), n.GetStringLength());
    s.kind = t == "date"                           ? K::kDate
             : (t == "dateTime" || t == "instant") ? K::kDateTime
             : t == "time"                         ? K::kTime
                                                   : K::kString;
    if (s.kind == K::kDate && s.string.find('T') != std::string::npos) s.kind = K::kDateTime;
  } else if (n.IsObject()) {
    s.kind = K::kObject;
    const rapidjson::Value* value = json::Find(n, "value");
    if (value != nullptr && value->IsNumber() &&
        (t == "Quantity" || t == "Age" || t == "Duration" || t == "Distance" || t == "Count" ||
         t == "SimpleQuantity" || t == "MoneyQuantity")) {
      s.kind = K::kQuantity;
      s.quantity.value = value->GetDouble();
      std::string_view code = json::GetString(n, "code");
      std::string_view unit = json::GetString(n, "unit");
      s.quantity.unit = std::string(code.empty() ? unit : code);
    }
  }
  return s;
}

std::optional<double> ConvertQuantity(const PathQuantity& q, std::string_view unit) {
  if (q.unit == unit) return q.value;
  const UnitInfo* from = FindUnit(q.unit);
  const UnitInfo* to = FindUnit(unit);
  if (from == nullptr || to == nullptr || from->dimension != to->dimension) return std::nullopt;
  return q.value * from->factor / to->factor;
}

std::optional<bool> ItemEquals(const PathValue& a, const PathValue& b) {
  using K = SystemValue::Kind;
  SystemValue x = ToSystem(a), y = ToSystem(b);
  if (x.kind == K::kObject || y.kind == K::kObject) {
    if (x.kind != y.kind) return false;
    if (a.node != nullptr && b.node != nullptr) return *a.node == *b.node;
    return a.type == b.type && a.value == b.value && a.node == b.node;
  }
  if ((x.kind == K::kInteger || x.kind == K::kDecimal) &&
      (y.kind == K::kInteger || y.kind == K::kDecimal)) {
    if (x.kind == K::kInteger && y.kind == K::kInteger) return x.integer == y.integer;
    double xd = x.kind == K::kInteger ? static_cast<double>(x.integer) : x.decimal;
    double yd = y.kind == K::kInteger ? static_cast<double>(y.integer) : y.decimal;
    // Decimals are binary doubles here: equal within rounding of the last decimal digits.
    return std::fabs(xd - yd) <= 1e-12 * std::max(1.0, std::max(std::fabs(xd), std::fabs(yd)));
  }
  if (IsDateKind(x.kind) && IsDateKind(y.kind)) {
    auto dx = ParseDateTime(x.string, false), dy = ParseDateTime(y.string, false);
    if (!dx || !dy) return x.string == y.string;
    auto c = CompareDateTime(*dx, *dy);
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (x.kind == K::kTime && y.kind == K::kTime) {
    auto dx = ParseDateTime(x.string, true), dy = ParseDateTime(y.string, true);
    if (!dx || !dy) return x.string == y.string;
    auto c = CompareDateTime(*dx, *dy);
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (x.kind != y.kind) return false;
  switch (x.kind) {
    case K::kBoolean:
      return x.boolean == y.boolean;
    case K::kString:
      return x.string == y.string;
    case K::kQuantity: {
      auto conv = ConvertQuantity(y.quantity, x.quantity.unit);
      if (!conv) return std::nullopt;
      return std::fabs(*conv - x.quantity.value) <= 1e-9 * std::max(1.0, std::fabs(*conv));
    }
    default:
      return false;
  }
}

bool ItemEquivalent(const PathValue& a, const PathValue& b) {
  using K = SystemValue::Kind;
  SystemValue x = ToSystem(a), y = ToSystem(b);
  if (x.kind == K::kString && y.kind == K::kString) {
    return NormalizeSpace(x.string) == NormalizeSpace(y.string);
  }
  if ((x.kind == K::kInteger || x.kind == K::kDecimal) &&
      (y.kind == K::kInteger || y.kind == K::kDecimal)) {
    double xd = x.kind == K::kInteger ? static_cast<double>(x.integer) : x.decimal;
    double yd = y.kind == K::kInteger ? static_cast<double>(y.integer) : y.decimal;
    int places = std::min(DecimalPlaces(xd), DecimalPlaces(yd));
    double scale = std::pow(10.0, places);
    return std::round(xd * scale) == std::round(yd * scale);
  }
  if ((IsDateKind(x.kind) && IsDateKind(y.kind)) || (x.kind == K::kTime && y.kind == K::kTime)) {
    auto r = ItemEquals(a, b);
    return r.has_value() && *r;
  }
  if (x.kind == K::kQuantity && y.kind == K::kQuantity) {
    auto r = ItemEquals(a, b);
    return r.has_value() && *r;
  }
  auto r = ItemEquals(a, b);
  return r.has_value() && *r;
}

Result<std::optional<int>> ItemCompare(const PathValue& a, const PathValue& b) {
  using K = SystemValue::Kind;
  SystemValue x = ToSystem(a), y = ToSystem(b);
  auto sign = [](double d) { return d < 0 ? -1 : d > 0 ? 1 : 0; };
  if ((x.kind == K::kInteger || x.kind == K::kDecimal) &&
      (y.kind == K::kInteger || y.kind == K::kDecimal)) {
    double xd = x.kind == K::kInteger ? static_cast<double>(x.integer) : x.decimal;
    double yd = y.kind == K::kInteger ? static_cast<double>(y.integer) : y.decimal;
    return std::optional<int>(sign(xd - yd));
  }
  if (x.kind == K::kString && y.kind == K::kString) {
    int c = x.string.compare(y.string);
    return std::optional<int>(c < 0 ? -1 : c > 0 ? 1 : 0);
  }
  if ((IsDateKind(x.kind) && IsDateKind(y.kind)) || (x.kind == K::kTime && y.kind == K::kTime)) {
    bool time = x.kind == K::kTime;
    auto dx = ParseDateTime(x.string, time), dy = ParseDateTime(y.string, time);
    if (!dx || !dy) return InvalidArgument("FHIRPath: malformed date/time value");
    return CompareDateTime(*dx, *dy);
  }
  if (x.kind == K::kQuantity && y.kind == K::kQuantity) {
    auto conv = ConvertQuantity(y.quantity, x.quantity.unit);
    if (!conv) return std::optional<int>();
    return std::optional<int>(sign(x.quantity.value - *conv));
  }
  return InvalidArgument("FHIRPath: cannot compare these values");
}

}  // namespace sund::fhir::fhirpath_internal
