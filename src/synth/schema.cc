#include "synth/schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "core/file_reader.h"
#include "core/json_bounded.h"
#include "core/json_pretty.h"
#include "core/time.h"

namespace sund::synth {
namespace {

bool ParseInt(std::string_view s, double& out) {
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (std::size_t j = i; j < s.size(); ++j) {
    if (s[j] < '0' || s[j] > '9') return false;
  }
  if (s.size() - i > 15) return false;  // beyond exact doubles: not an integer column
  long long v = 0;
  if (s[0] == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = static_cast<double>(v);
  return true;
}

// A finite decimal number ("1.5", "-2e3", ".5"); sets the digits after the point.
bool ParseNumber(std::string_view s, double& out, int& decimals) {
  if (s.empty()) return false;
  if (s[0] == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(out)) return false;
  auto dot = s.find('.');
  decimals = 0;
  if (dot != std::string_view::npos) {
    std::size_t e = s.find_first_of("eE", dot);
    decimals = static_cast<int>((e == std::string_view::npos ? s.size() : e) - dot - 1);
  }
  return true;
}

bool ValidUtf8(std::string_view s, std::size_t& bad_at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4)) {
      bad_at = i;
      return false;
    }
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        bad_at = i;
        return false;
      }
    }
    // Overlong 3-byte forms and UTF-16 surrogates.
    if (len == 3 && ((c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xED && p[i + 1] >= 0xA0))) {
      bad_at = i;
      return false;
    }
    if (len == 4 && ((c == 0xF0 && p[i + 1] < 0x90) || (c == 0xF4 && p[i + 1] >= 0x90))) {
      bad_at = i;
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

std::string_view ColumnKindName(ColumnKind k) {
  switch (k) {
    case ColumnKind::kCategorical:
      return "categorical";
    case ColumnKind::kInteger:
      return "integer";
    case ColumnKind::kContinuous:
      return "continuous";
    case ColumnKind::kDate:
      return "date";
  }
  return "categorical";
}

std::optional<ColumnKind> ParseColumnKind(std::string_view name) {
  for (auto k : {ColumnKind::kCategorical, ColumnKind::kInteger, ColumnKind::kContinuous,
                 ColumnKind::kDate}) {
    if (ColumnKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::optional<std::size_t> Schema::Find(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::int64_t> ParseDays(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  if (text.size() > 10 && text[10] != 'T' && text[10] != ' ') return std::nullopt;
  auto digits = [&](std::size_t from, std::size_t n, unsigned& v) {
    v = 0;
    for (std::size_t i = from; i < from + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + static_cast<unsigned>(text[i] - '0');
    }
    return true;
  };
  unsigned y, m, d;
  if (!digits(0, 4, y) || !digits(5, 2, m) || !digits(8, 2, d)) return std::nullopt;
  static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return std::nullopt;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && d == 29 && !leap) return std::nullopt;
  return DaysFromCivil(y, m, d);
}

std::string FormatDays(std::int64_t z) {
  // Inverse of DaysFromCivil (Howard Hinnant's civil_from_days).
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

Result<Schema> InferSchema(const CsvTable& table, const InferOptions& options) {
  if (table.rows.empty()) return InvalidArgument("the table has a header but no rows");
  Schema schema;
  schema.from_data = true;
  for (std::size_t c = 0; c < table.header.size(); ++c) {
    Column col;
    col.name = table.header[c];
    col.bins = options.bins;
    bool all_int = true, all_num = true, all_date = true;
    double lo = INFINITY, hi = -INFINITY;
    double dlo = INFINITY, dhi = -INFINITY;
    int decimals = 0;
    std::size_t present = 0;
    std::set<std::string_view> distinct;
    bool too_many = false;
    for (const auto& row : table.rows) {
      std::string_view v = row[c];
      if (v.empty()) {
        col.missing = true;
        continue;
      }
      ++present;
      double x;
      int dec = 0;
      if (all_int && !ParseInt(v, x)) all_int = false;
      if (all_num) {
        if (ParseNumber(v, x, dec)) {
          lo = std::min(lo, x);
          hi = std::max(hi, x);
          decimals = std::max(decimals, dec);
        } else {
          all_num = all_int = false;
        }
      }
      if (all_date) {
        if (auto d = ParseDays(v)) {
          dlo = std::min(dlo, static_cast<double>(*d));
          dhi = std::max(dhi, static_cast<double>(*d));
        } else {
          all_date = false;
        }
      }
      if (!too_many) {
        distinct.insert(v);
        if (distinct.size() > options.max_categories) too_many = true;
      }
    }
    if (present == 0) {
      return InvalidArgument("column '" + col.name +
                             "' has no values: drop it, or give its type in a schema file");
    }
    // Numbers that take a few values scattered over a wider range (a score in steps of 10, a
    // dose of 0, 0.5 or 1) are those values, not a range: categories in numeric order.
    bool few = all_num && !too_many && distinct.size() <= options.few_values &&
               !(all_int && hi - lo + 1 <= 2.0 * static_cast<double>(distinct.size()));
    if (few) {
      col.kind = ColumnKind::kCategorical;
      col.categories.assign(distinct.begin(), distinct.end());
      std::sort(col.categories.begin(), col.categories.end(),
                [](const std::string& a, const std::string& b) {
                  return std::strtod(a.c_str(), nullptr) < std::strtod(b.c_str(), nullptr);
                });
    } else if (all_int) {
      col.kind = ColumnKind::kInteger;
      col.lower = lo;
      col.upper = hi;
    } else if (all_num) {
      col.kind = ColumnKind::kContinuous;
      col.lower = lo;
      col.upper = hi;
      col.decimals = std::min(decimals, 6);
    } else if (all_date) {
      col.kind = ColumnKind::kDate;
      col.lower = dlo;
      col.upper = dhi;
    } else {
      if (too_many) {
        return InvalidArgument("column '" + col.name + "' has more than " +
                               std::to_string(options.max_categories) +
                               " distinct values: an identifier or free text? Drop it from the "
                               "schema, or raise --max-categories");
      }
      col.kind = ColumnKind::kCategorical;
      col.categories.assign(distinct.begin(), distinct.end());
    }
    schema.columns.push_back(std::move(col));
  }
  return schema;
}

Result<Schema> ParseSchema(std::string_view json_text) {
  rapidjson::Document doc;
  json::ParseBounded(doc, json_text);
  if (doc.HasParseError() || !doc.IsObject()) {
    return InvalidArgument("the schema is not a JSON object");
  }
  Schema schema;
  const rapidjson::Value* cols = json::Find(doc, "columns");
  if (cols == nullptr) {
    // Private-PGM's domain file: {"name": size, ...}, integer codes 0..size-1.
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      Column col;
      col.name = std::string(json::View(it->name));
      if (!it->value.IsInt() || it->value.GetInt() < 1 || it->value.GetInt() > 1000000) {
        return InvalidArgument("schema: the domain size of '" + col.name +
                               "' is not a positive integer");
      }
      col.kind = ColumnKind::kInteger;
      col.lower = 0;
      col.upper = it->value.GetInt() - 1;
      col.bins = it->value.GetInt();
      schema.columns.push_back(std::move(col));
    }
    if (schema.columns.empty()) return InvalidArgument("the schema names no columns");
    return schema;
  }
  if (!cols->IsArray() || cols->Empty()) {
    return InvalidArgument("schema: \"columns\" must be a non-empty array");
  }
  for (const auto& v : cols->GetArray()) {
    Column col;
    col.name = std::string(json::GetString(v, "name"));
    if (col.name.empty()) return InvalidArgument("schema: a column without a \"name\"");
    if (schema.Find(col.name)) return InvalidArgument("schema: column '" + col.name + "' twice");
    auto kind = ParseColumnKind(json::GetString(v, "type"));
    if (!kind) {
      return InvalidArgument("schema: column '" + col.name +
                             "' needs \"type\": categorical, integer, continuous or date");
    }
    col.kind = *kind;
    if (const auto* m = json::Find(v, "missing"); m != nullptr && m->IsBool()) {
      col.missing = m->GetBool();
    }
    if (const auto* b = json::Find(v, "bins"); b != nullptr) {
      if (!b->IsInt() || b->GetInt() < 2 || b->GetInt() > 100000) {
        return InvalidArgument("schema: \"bins\" of '" + col.name + "' must be 2..100000");
      }
      col.bins = b->GetInt();
    }
    if (col.kind == ColumnKind::kCategorical) {
      const auto* cats = json::Find(v, "categories");
      if (cats == nullptr || !cats->IsArray() || cats->Empty()) {
        return InvalidArgument("schema: categorical column '" + col.name +
                               "' needs a non-empty \"categories\" array");
      }
      std::set<std::string> seen;
      for (const auto& c : cats->GetArray()) {
        if (!c.IsString()) {
          return InvalidArgument("schema: the categories of '" + col.name + "' must be strings");
        }
        std::string s(json::View(c));
        if (s.empty() || !seen.insert(s).second) {
          return InvalidArgument("schema: empty or repeated category in '" + col.name + "'");
        }
        col.categories.push_back(std::move(s));
      }
      schema.columns.push_back(std::move(col));
      continue;
    }
    auto bound = [&](const char* key, double& out) -> Status {
      const auto* b = json::Find(v, key);
      if (b == nullptr) {
        return InvalidArgument("schema: column '" + col.name + "' needs \"" + key + "\"");
      }
      if (col.kind == ColumnKind::kDate) {
        auto d = b->IsString() ? ParseDays(json::View(*b)) : std::nullopt;
        if (!d) {
          return InvalidArgument("schema: \"" + std::string(key) + "\" of date column '" +
                                 col.name + "' must be YYYY-MM-DD");
        }
        out = static_cast<double>(*d);
      } else {
        if (!b->IsNumber()) {
          return InvalidArgument("schema: \"" + std::string(key) + "\" of '" + col.name +
                                 "' must be a number");
        }
        out = b->GetDouble();
      }
      return Status::Ok();
    };
    SUND_RETURN_IF_ERROR(bound("min", col.lower));
    SUND_RETURN_IF_ERROR(bound("max", col.upper));
    if (!(col.lower <= col.upper)) {
      return InvalidArgument("schema: \"min\" of '" + col.name + "' is above its \"max\"");
    }
    if (col.kind == ColumnKind::kInteger) {
      col.lower = std::floor(col.lower);
      col.upper = std::floor(col.upper);
    }
    if (const auto* d = json::Find(v, "decimals"); d != nullptr && d->IsInt()) {
      col.decimals = std::clamp(d->GetInt(), 0, 9);
    }
    schema.columns.push_back(std::move(col));
  }
  return schema;
}

namespace {

template <typename W>
void WriteSchema(const Schema& schema, W& w) {
  w.StartObject();
  w.Key("columns");
  w.StartArray();
  for (const auto& c : schema.columns) {
    w.StartObject();
    w.Key("name");
    w.String(c.name.c_str(), static_cast<rapidjson::SizeType>(c.name.size()));
    w.Key("type");
    std::string_view k = ColumnKindName(c.kind);
    w.String(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    if (c.kind == ColumnKind::kCategorical) {
      w.Key("categories");
      w.StartArray();
      for (const auto& s : c.categories) {
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
      }
      w.EndArray();
    } else if (c.kind == ColumnKind::kDate) {
      w.Key("min");
      w.String(FormatDays(static_cast<std::int64_t>(c.lower)).c_str());
      w.Key("max");
      w.String(FormatDays(static_cast<std::int64_t>(c.upper)).c_str());
    } else {
      w.Key("min");
      w.Double(c.lower);
      w.Key("max");
      w.Double(c.upper);
      if (c.kind == ColumnKind::kContinuous) {
        w.Key("decimals");
        w.Int(c.decimals);
      }
    }
    if (c.kind != ColumnKind::kCategorical) {
      w.Key("bins");
      w.Int(c.bins);
    }
    w.Key("missing");
    w.Bool(c.missing);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string SchemaToJson(const Schema& schema, bool pretty) {
  rapidjson::StringBuffer buf;
  if (pretty) {
    json::PrettyWriter w(buf);
    w.SetIndent(' ', 2);
    w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
    WriteSchema(schema, w);
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
  }
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  WriteSchema(schema, w);
  return std::string(buf.GetString(), buf.GetSize());
}

Result<std::vector<std::size_t>> MapColumns(const CsvTable& table, const Schema& schema) {
  std::vector<std::size_t> out;
  for (const auto& c : schema.columns) {
    auto i = table.Column(c.name);
    if (!i)
      return InvalidArgument("the table has no column '" + c.name + "' (named in the schema)");
    out.push_back(*i);
  }
  return out;
}

Result<std::optional<double>> ParseValue(const Column& column, std::string_view text) {
  if (text.empty()) return std::optional<double>();
  double x = 0;
  int dec = 0;
  switch (column.kind) {
    case ColumnKind::kCategorical: {
      // Linear for small domains; callers with large domains build their own index.
      for (std::size_t i = 0; i < column.categories.size(); ++i) {
        if (column.categories[i] == text) return std::optional<double>(static_cast<double>(i));
      }
      return InvalidArgument("column '" + column.name + "': a value not among its categories");
    }
    case ColumnKind::kInteger:
      if (ParseInt(text, x)) return std::optional<double>(x);
      if (ParseNumber(text, x, dec) && x == std::floor(x)) return std::optional<double>(x);
      return InvalidArgument("column '" + column.name + "': a value that is not an integer");
    case ColumnKind::kContinuous:
      if (ParseNumber(text, x, dec)) return std::optional<double>(x);
      return InvalidArgument("column '" + column.name + "': a value that is not a number");
    case ColumnKind::kDate:
      if (auto d = ParseDays(text)) return std::optional<double>(static_cast<double>(*d));
      return InvalidArgument("column '" + column.name + "': a value that is not a YYYY-MM-DD date");
  }
  return InvalidArgument("column '" + column.name + "': unknown kind");
}

void AppendValue(const Column& column, double value, std::string& out, bool csv) {
  char buf[64];
  switch (column.kind) {
    case ColumnKind::kCategorical: {
      auto i = static_cast<std::size_t>(value);
      if (i >= column.categories.size()) return;
      if (csv) {
        AppendCsvField(out, column.categories[i]);
      } else {
        out += column.categories[i];
      }
      return;
    }
    case ColumnKind::kInteger: {
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value));
      out.append(buf, p);
      return;
    }
    case ColumnKind::kContinuous: {
      auto [p, ec] =
          std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, column.decimals);
      out.append(buf, p);
      return;
    }
    case ColumnKind::kDate:
      out += FormatDays(static_cast<std::int64_t>(std::floor(value)));
      return;
  }
}

Result<CsvTable> ReadCsvFile(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(path));
  std::size_t bad = 0;
  if (!ValidUtf8(text, bad)) {
    std::size_t line =
        1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + bad, '\n'));
    return InvalidArgument(path + ": line " + std::to_string(line) +
                           " is not UTF-8 (convert the file, e.g. iconv -f latin1 -t utf-8)");
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return InvalidArgument(path + ": the file is empty");
  }
  SUND_ASSIGN_OR_RETURN(CsvTable table, ParseCsv(text));
  if (table.rows.empty()) return InvalidArgument(path + ": the file has a header but no rows");
  return table;
}

}  // namespace sund::synth
