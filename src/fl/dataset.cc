#include "fl/dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <numeric>
#include <set>
#include <unordered_map>

#include "core/crypto.h"
#include "core/json.h"
#include "core/json_bounded.h"
#include "core/splitmix.h"
#include "synth/schema.h"

namespace sund::fl {
namespace {

constexpr std::size_t kMaxCategories = 1000;
constexpr int kEncodingVersion = 1;

// A numeric cell through synth's reader: nullopt when empty, an error naming the column and
// line (never the value) when not a finite number.
Result<std::optional<double>> ParseNumberCell(const std::string& column, std::string_view text,
                                              std::size_t line) {
  static const synth::Column* const kNumber = [] {
    auto* c = new synth::Column;
    c->kind = synth::ColumnKind::kContinuous;
    return c;
  }();
  auto v = synth::ParseValue(*kNumber, text);
  if (!v.ok()) {
    return InvalidArgument("column '" + column + "', line " + std::to_string(line) +
                           ": a value that is not a number");
  }
  return *v;
}

bool IsNumber(std::string_view text) {
  auto v = ParseNumberCell("", text, 0);
  return v.ok() && v->has_value();
}

// An event where the cell equals the event value, as text or as a number ("1.0" for "1").
bool EventOccurred(std::string_view cell, std::string_view event_value,
                   std::optional<double> event_number) {
  if (cell == event_value) return true;
  if (!event_number) return false;
  auto v = ParseNumberCell("", cell, 0);
  return v.ok() && v->has_value() && **v == *event_number;
}

// The table columns of the outcome (npos where not used).
struct OutcomeColumns {
  std::optional<std::size_t> target, time, event;
};

Result<std::size_t> RequireColumn(const CsvTable& table, const std::string& name) {
  auto c = table.Column(name);
  if (!c) return InvalidArgument("the table has no column '" + name + "'");
  return *c;
}

Status CheckOutcomeSpec(const FeatureSpec& spec) {
  if (spec.target.empty() && spec.time.empty() && spec.event.empty()) {
    return InvalidArgument("no outcome: set a target (binary) or a time and an event (survival)");
  }
  if (!spec.target.empty() && spec.positive.empty()) {
    return InvalidArgument("target '" + spec.target + "' needs the value that counts as positive");
  }
  if (spec.time.empty() != spec.event.empty()) {
    return InvalidArgument("a survival outcome needs both a time and an event column");
  }
  if (!spec.event.empty() && spec.event_value.empty()) {
    return InvalidArgument("event '" + spec.event + "' needs the value that marks an event");
  }
  return Status::Ok();
}

Result<OutcomeColumns> FindOutcome(const CsvTable& table, const FeatureSpec& spec) {
  OutcomeColumns out;
  if (!spec.target.empty()) {
    SUND_ASSIGN_OR_RETURN(out.target, RequireColumn(table, spec.target));
  }
  if (!spec.time.empty()) {
    SUND_ASSIGN_OR_RETURN(out.time, RequireColumn(table, spec.time));
    SUND_ASSIGN_OR_RETURN(out.event, RequireColumn(table, spec.event));
  }
  return out;
}

bool OutcomePresent(const std::vector<std::string>& row, const OutcomeColumns& oc) {
  for (const auto& c : {oc.target, oc.time, oc.event}) {
    if (c && row[*c].empty()) return false;
  }
  return true;
}

void WriteNumber(rapidjson::Writer<rapidjson::StringBuffer>& w, double v) {
  char buf[40];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back
  w.RawValue(buf, static_cast<rapidjson::SizeType>(p - buf), rapidjson::kNumberType);
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

double Normal(SplitMix64& rng) {
  // Box-Muller; 1 - U is in (0, 1].
  double u1 = 1.0 - rng.Uniform(), u2 = rng.Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1) U^(1/shape).
double Gamma(SplitMix64& rng, double shape) {
  if (shape < 1.0) {
    double u = 1.0 - rng.Uniform();
    return Gamma(rng, shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = Normal(rng), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = 1.0 - rng.Uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

template <typename T>
void Shuffle(std::vector<T>& v, SplitMix64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.Below(i)]);
}

// The label used to stratify or skew splits: the binary outcome, else the event, else none.
const std::vector<double>* SplitLabel(const Dataset& d) {
  if (d.has_binary()) return &d.y;
  if (d.has_survival()) return &d.event;
  return nullptr;
}

}  // namespace

std::vector<std::string> Encoding::ColumnNames() const {
  std::vector<std::string> out;
  for (const auto& f : features) {
    if (f.kind == FeatureKind::kNumeric) {
      out.push_back(f.name);
    } else {
      for (std::size_t k = 1; k < f.categories.size(); ++k) {
        out.push_back(f.name + "=" + f.categories[k]);
      }
    }
    if (f.missing_indicator) out.push_back(f.name + ":missing");
  }
  return out;
}

Result<Encoding> FitEncoding(const CsvTable& table, const FeatureSpec& spec) {
  SUND_RETURN_IF_ERROR(CheckOutcomeSpec(spec));
  if (spec.features.empty()) return InvalidArgument("no features");
  std::set<std::string> seen;
  std::vector<std::size_t> fcols;
  for (const auto& f : spec.features) {
    if (!seen.insert(f).second) return InvalidArgument("feature '" + f + "' is named twice");
    if (f == spec.target || f == spec.time || f == spec.event) {
      return InvalidArgument("column '" + f + "' is both a feature and the outcome");
    }
    SUND_ASSIGN_OR_RETURN(std::size_t c, RequireColumn(table, f));
    fcols.push_back(c);
  }
  for (const auto& [name, levels] : spec.levels) {
    if (!seen.count(name)) return InvalidArgument("levels given for '" + name + "', no feature");
    std::set<std::string> uniq(levels.begin(), levels.end());
    if (levels.empty() || uniq.size() != levels.size() || uniq.count("")) {
      return InvalidArgument("the levels of '" + name + "' must be non-empty and distinct");
    }
  }
  SUND_ASSIGN_OR_RETURN(OutcomeColumns oc, FindOutcome(table, spec));

  // The rows the encoding describes: those BuildDataset keeps.
  std::vector<std::size_t> kept;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    if (!OutcomePresent(row, oc)) continue;
    if (spec.drop_missing &&
        std::any_of(fcols.begin(), fcols.end(), [&](std::size_t c) { return row[c].empty(); })) {
      continue;
    }
    kept.push_back(r);
  }
  if (kept.empty()) return InvalidArgument("no row has the outcome and the features");

  Encoding enc;
  enc.spec = spec;
  enc.spec.levels.clear();
  for (std::size_t i = 0; i < fcols.size(); ++i) {
    EncodedFeature ef;
    ef.name = spec.features[i];
    const std::size_t c = fcols[i];
    std::size_t present = 0;
    bool numeric = true;
    for (std::size_t r : kept) {
      const std::string& v = table.rows[r][c];
      if (v.empty()) {
        ef.missing_indicator = true;
        continue;
      }
      ++present;
      if (numeric && !IsNumber(v)) numeric = false;
    }
    if (present == 0) return InvalidArgument("feature '" + ef.name + "' has no values");
    auto lv = spec.levels.find(ef.name);
    if (lv != spec.levels.end()) {
      ef.kind = FeatureKind::kCategorical;
      ef.categories = lv->second;
      std::set<std::string_view> known(ef.categories.begin(), ef.categories.end());
      for (std::size_t r : kept) {
        const std::string& v = table.rows[r][c];
        if (!v.empty() && !known.count(v)) {
          return InvalidArgument("feature '" + ef.name + "', line " +
                                 std::to_string(table.lines[r]) +
                                 ": a value not among the levels given");
        }
      }
    } else if (numeric) {
      double sum = 0;
      std::vector<double> values;
      for (std::size_t r : kept) {
        auto v = ParseNumberCell(ef.name, table.rows[r][c], table.lines[r]);
        if (v.ok() && v->has_value()) values.push_back(**v);
      }
      for (double v : values) sum += v;
      ef.mean = sum / static_cast<double>(values.size());
      double ss = 0;
      for (double v : values) ss += (v - ef.mean) * (v - ef.mean);
      double sd = std::sqrt(ss / static_cast<double>(values.size()));
      ef.sd = (sd > 0 && std::isfinite(sd)) ? sd : 1.0;
    } else {
      ef.kind = FeatureKind::kCategorical;
      std::set<std::string> distinct;
      for (std::size_t r : kept) {
        const std::string& v = table.rows[r][c];
        if (v.empty()) continue;
        distinct.insert(v);
        if (distinct.size() > kMaxCategories) {
          return InvalidArgument("feature '" + ef.name + "' has more than " +
                                 std::to_string(kMaxCategories) +
                                 " distinct values: an identifier or free text?");
        }
      }
      ef.categories.assign(distinct.begin(), distinct.end());
    }
    enc.features.push_back(std::move(ef));
  }
  return enc;
}

std::string EncodingToJson(const Encoding& e) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("version");
  w.Int(kEncodingVersion);
  w.Key("target");
  WriteString(w, e.spec.target);
  w.Key("positive");
  WriteString(w, e.spec.positive);
  w.Key("time");
  WriteString(w, e.spec.time);
  w.Key("event");
  WriteString(w, e.spec.event);
  w.Key("event_value");
  WriteString(w, e.spec.event_value);
  w.Key("drop_missing");
  w.Bool(e.spec.drop_missing);
  w.Key("features");
  w.StartArray();
  for (const auto& f : e.features) {
    w.StartObject();
    w.Key("name");
    WriteString(w, f.name);
    if (f.kind == FeatureKind::kNumeric) {
      w.Key("type");
      w.String("numeric");
      w.Key("mean");
      WriteNumber(w, f.mean);
      w.Key("sd");
      WriteNumber(w, f.sd);
    } else {
      w.Key("type");
      w.String("categorical");
      w.Key("categories");
      w.StartArray();
      for (const auto& c : f.categories) WriteString(w, c);
      w.EndArray();
    }
    w.Key("missing");
    w.Bool(f.missing_indicator);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

Result<Encoding> ParseEncoding(std::string_view text) {
  rapidjson::Document doc;
  json::ParseBounded<rapidjson::kParseFullPrecisionFlag>(doc, text);
  if (doc.HasParseError() || !doc.IsObject()) {
    return InvalidArgument("encoding: not a JSON object");
  }
  const auto* version = json::Find(doc, "version");
  if (version == nullptr || !version->IsInt() || version->GetInt() != kEncodingVersion) {
    return InvalidArgument("encoding: \"version\" must be 1");
  }
  Encoding e;
  auto str = [&](const char* key, std::string& out) -> Status {
    const auto* v = json::Find(doc, key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsString())
      return InvalidArgument(std::string("encoding: \"") + key + "\" not a string");
    out = std::string(json::View(*v));
    return Status::Ok();
  };
  SUND_RETURN_IF_ERROR(str("target", e.spec.target));
  SUND_RETURN_IF_ERROR(str("positive", e.spec.positive));
  SUND_RETURN_IF_ERROR(str("time", e.spec.time));
  SUND_RETURN_IF_ERROR(str("event", e.spec.event));
  SUND_RETURN_IF_ERROR(str("event_value", e.spec.event_value));
  if (const auto* dm = json::Find(doc, "drop_missing"); dm != nullptr) {
    if (!dm->IsBool()) return InvalidArgument("encoding: \"drop_missing\" must be a boolean");
    e.spec.drop_missing = dm->GetBool();
  }
  SUND_RETURN_IF_ERROR(CheckOutcomeSpec(e.spec));
  const auto* feats = json::Find(doc, "features");
  if (feats == nullptr || !feats->IsArray() || feats->Empty()) {
    return InvalidArgument("encoding: \"features\" must be a non-empty array");
  }
  std::set<std::string> names;
  for (const auto& v : feats->GetArray()) {
    EncodedFeature f;
    f.name = std::string(json::GetString(v, "name"));
    if (f.name.empty()) return InvalidArgument("encoding: a feature without a \"name\"");
    if (!names.insert(f.name).second) {
      return InvalidArgument("encoding: feature '" + f.name + "' twice");
    }
    std::string_view type = json::GetString(v, "type");
    if (type == "numeric") {
      const auto* mean = json::Find(v, "mean");
      const auto* sd = json::Find(v, "sd");
      if (mean == nullptr || !mean->IsNumber() || sd == nullptr || !sd->IsNumber()) {
        return InvalidArgument("encoding: numeric feature '" + f.name + "' needs mean and sd");
      }
      f.mean = mean->GetDouble();
      f.sd = sd->GetDouble();
      if (!std::isfinite(f.mean) || !std::isfinite(f.sd) || !(f.sd > 0)) {
        return InvalidArgument("encoding: feature '" + f.name + "' needs a finite mean, sd > 0");
      }
    } else if (type == "categorical") {
      f.kind = FeatureKind::kCategorical;
      const auto* cats = json::Find(v, "categories");
      if (cats == nullptr || !cats->IsArray() || cats->Empty() || cats->Size() > kMaxCategories) {
        return InvalidArgument("encoding: categorical feature '" + f.name +
                               "' needs 1 to 1000 \"categories\"");
      }
      std::set<std::string> uniq;
      for (const auto& c : cats->GetArray()) {
        if (!c.IsString() || c.GetStringLength() == 0 ||
            !uniq.insert(std::string(json::View(c))).second) {
          return InvalidArgument("encoding: the categories of '" + f.name +
                                 "' must be distinct non-empty strings");
        }
        f.categories.emplace_back(json::View(c));
      }
    } else {
      return InvalidArgument("encoding: feature '" + f.name +
                             "' needs \"type\" numeric or categorical");
    }
    if (const auto* m = json::Find(v, "missing"); m != nullptr) {
      if (!m->IsBool()) return InvalidArgument("encoding: \"missing\" must be a boolean");
      f.missing_indicator = m->GetBool();
    }
    if (f.name == e.spec.target || f.name == e.spec.time || f.name == e.spec.event) {
      return InvalidArgument("encoding: '" + f.name + "' is both a feature and the outcome");
    }
    e.spec.features.push_back(f.name);
    e.features.push_back(std::move(f));
  }
  return e;
}

std::string SchemaFingerprint(const Encoding& encoding) {
  return crypto::Sha256Hex(EncodingToJson(encoding));
}

std::vector<double> OriginalScale(const Encoding& encoding, const std::vector<double>& coef,
                                  bool intercept) {
  std::vector<double> out = coef;
  std::size_t j = intercept ? 1 : 0;
  for (const auto& f : encoding.features) {
    if (f.kind == FeatureKind::kNumeric) {
      SUND_CHECK(j < out.size());
      out[j] = coef[j] / f.sd;
      if (intercept) out[0] -= coef[j] * f.mean / f.sd;
      ++j;
    } else {
      j += f.categories.size() - 1;
    }
    if (f.missing_indicator) ++j;
  }
  SUND_CHECK(j == out.size());
  return out;
}

Result<CsvTable> SelectRows(const CsvTable& table,
                            const std::vector<std::pair<std::string, std::string>>& where) {
  std::vector<std::pair<std::size_t, const std::string*>> filters;
  for (const auto& [column, value] : where) {
    auto c = table.Column(column);
    if (!c) return InvalidArgument("where: the table has no column '" + column + "'");
    filters.emplace_back(*c, &value);
  }
  CsvTable out{table.header, {}, {}};
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    bool keep = true;
    for (const auto& [c, value] : filters) keep = keep && table.rows[r][c] == *value;
    if (!keep) continue;
    out.rows.push_back(table.rows[r]);
    if (r < table.lines.size()) out.lines.push_back(table.lines[r]);
  }
  return out;
}

Result<Dataset> BuildDataset(const CsvTable& table, const Encoding& encoding) {
  const FeatureSpec& spec = encoding.spec;
  SUND_RETURN_IF_ERROR(CheckOutcomeSpec(spec));
  SUND_ASSIGN_OR_RETURN(OutcomeColumns oc, FindOutcome(table, spec));
  std::vector<std::size_t> fcols;
  std::vector<std::unordered_map<std::string_view, std::size_t>> index(encoding.features.size());
  for (std::size_t i = 0; i < encoding.features.size(); ++i) {
    const auto& f = encoding.features[i];
    SUND_ASSIGN_OR_RETURN(std::size_t c, RequireColumn(table, f.name));
    fcols.push_back(c);
    for (std::size_t k = 0; k < f.categories.size(); ++k) index[i][f.categories[k]] = k;
  }

  std::optional<double> event_number;
  if (auto v = ParseNumberCell("", spec.event_value, 0); v.ok()) event_number = *v;

  Dataset d;
  d.columns = encoding.ColumnNames();
  const std::size_t p = d.cols();
  std::vector<double> row_x(p);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    const std::size_t line = table.lines[r];
    if (!OutcomePresent(row, oc)) {
      ++d.dropped_outcome;
      continue;
    }
    if (spec.drop_missing &&
        std::any_of(fcols.begin(), fcols.end(), [&](std::size_t c) { return row[c].empty(); })) {
      ++d.dropped_feature;
      continue;
    }
    std::size_t j = 0;
    for (std::size_t i = 0; i < encoding.features.size(); ++i) {
      const auto& f = encoding.features[i];
      const std::string& cell = row[fcols[i]];
      const bool missing = cell.empty();
      if (f.kind == FeatureKind::kNumeric) {
        SUND_ASSIGN_OR_RETURN(std::optional<double> v, ParseNumberCell(f.name, cell, line));
        row_x[j++] = missing ? 0.0 : (*v - f.mean) / f.sd;
      } else {
        const std::size_t width = f.categories.size() - 1;
        std::fill(row_x.begin() + static_cast<std::ptrdiff_t>(j),
                  row_x.begin() + static_cast<std::ptrdiff_t>(j + width), 0.0);
        if (!missing) {
          auto it = index[i].find(cell);
          if (it == index[i].end()) {
            return InvalidArgument("feature '" + f.name + "', line " + std::to_string(line) +
                                   ": a category the encoding does not list");
          }
          if (it->second > 0) row_x[j + it->second - 1] = 1.0;
        }
        j += width;
      }
      if (f.missing_indicator) row_x[j++] = missing ? 1.0 : 0.0;
      if (missing && !f.missing_indicator) ++d.imputed;
    }
    if (oc.time) {
      SUND_ASSIGN_OR_RETURN(std::optional<double> t,
                            ParseNumberCell(spec.time, row[*oc.time], line));
      d.time.push_back(*t);
      d.event.push_back(EventOccurred(row[*oc.event], spec.event_value, event_number) ? 1.0 : 0.0);
    }
    if (oc.target) d.y.push_back(row[*oc.target] == spec.positive ? 1.0 : 0.0);
    d.x.insert(d.x.end(), row_x.begin(), row_x.end());
    d.source.push_back(r);
    ++d.rows;
  }
  return d;
}

Dataset Subset(const Dataset& data, const std::vector<std::size_t>& rows) {
  Dataset out;
  out.columns = data.columns;
  out.rows = rows.size();
  const std::size_t p = data.cols();
  out.x.reserve(rows.size() * p);
  for (std::size_t r : rows) {
    SUND_CHECK(r < data.rows);
    out.x.insert(out.x.end(), data.x.begin() + static_cast<std::ptrdiff_t>(r * p),
                 data.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * p));
    if (data.has_binary()) out.y.push_back(data.y[r]);
    if (data.has_survival()) {
      out.time.push_back(data.time[r]);
      out.event.push_back(data.event[r]);
    }
    if (data.strata.size() == data.rows) out.strata.push_back(data.strata[r]);
    if (data.source.size() == data.rows) out.source.push_back(data.source[r]);
  }
  return out;
}

Dataset Concat(const std::vector<Dataset>& parts, bool stratify) {
  Dataset out;
  if (parts.empty()) return out;
  out.columns = parts[0].columns;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const Dataset& d = parts[k];
    SUND_CHECK(d.columns == out.columns);
    out.x.insert(out.x.end(), d.x.begin(), d.x.end());
    out.y.insert(out.y.end(), d.y.begin(), d.y.end());
    out.time.insert(out.time.end(), d.time.begin(), d.time.end());
    out.event.insert(out.event.end(), d.event.begin(), d.event.end());
    out.source.insert(out.source.end(), d.source.begin(), d.source.end());
    for (std::size_t r = 0; r < d.rows; ++r) {
      std::int32_t s =
          stratify ? static_cast<std::int32_t>(k) : (d.strata.size() == d.rows ? d.strata[r] : 0);
      out.strata.push_back(s);
    }
    out.rows += d.rows;
    out.dropped_outcome += d.dropped_outcome;
    out.dropped_feature += d.dropped_feature;
    out.imputed += d.imputed;
  }
  if (out.y.size() != out.rows) out.y.clear();
  if (out.source.size() != out.rows) out.source.clear();
  if (out.time.size() != out.rows || out.event.size() != out.rows) {
    out.time.clear();
    out.event.clear();
  }
  return out;
}

TrainTest SplitTrainTest(const Dataset& data, double test_fraction, std::uint64_t seed) {
  SplitMix64 rng(seed);
  const std::vector<double>* label = SplitLabel(data);
  std::vector<std::vector<std::size_t>> groups(label ? 2 : 1);
  for (std::size_t r = 0; r < data.rows; ++r) {
    groups[label ? ((*label)[r] > 0.5 ? 1 : 0) : 0].push_back(r);
  }
  const double f = std::clamp(test_fraction, 0.0, 1.0);
  std::vector<std::size_t> train, test;
  for (auto& g : groups) {
    Shuffle(g, rng);
    auto n_test = static_cast<std::size_t>(std::llround(f * static_cast<double>(g.size())));
    test.insert(test.end(), g.begin(), g.begin() + static_cast<std::ptrdiff_t>(n_test));
    train.insert(train.end(), g.begin() + static_cast<std::ptrdiff_t>(n_test), g.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(test.begin(), test.end());
  return {Subset(data, train), Subset(data, test)};
}

Result<std::vector<Dataset>> SplitNodes(const Dataset& data, int nodes, const SplitOptions& options,
                                        std::uint64_t seed) {
  if (nodes < 1) return InvalidArgument("split: at least one node");
  const auto n = static_cast<std::size_t>(nodes);
  if (data.rows < n * options.min_rows) {
    return InvalidArgument("split: " + std::to_string(data.rows) + " rows cannot give " +
                           std::to_string(nodes) + " nodes " + std::to_string(options.min_rows) +
                           " rows each");
  }
  SplitMix64 rng(seed);
  std::vector<std::vector<std::size_t>> assign(n);
  if (options.mode == SplitMode::kIid) {
    std::vector<std::size_t> all(data.rows);
    std::iota(all.begin(), all.end(), 0);
    Shuffle(all, rng);
    for (std::size_t i = 0; i < all.size(); ++i) assign[i % n].push_back(all[i]);
  } else {
    const std::vector<double>* label = SplitLabel(data);
    if (label == nullptr) return InvalidArgument("split: label skew needs a binary outcome");
    if (!(options.alpha > 0) || !std::isfinite(options.alpha)) {
      return InvalidArgument("split: the Dirichlet alpha must be positive");
    }
    std::vector<std::vector<std::size_t>> classes(2);
    for (std::size_t r = 0; r < data.rows; ++r) classes[(*label)[r] > 0.5 ? 1 : 0].push_back(r);
    bool ok = false;
    for (int attempt = 0; attempt < 1000 && !ok; ++attempt) {
      for (auto& a : assign) a.clear();
      for (auto& cls : classes) {
        Shuffle(cls, rng);
        std::vector<double> share(n);
        double total = 0;
        for (double& s : share) total += (s = Gamma(rng, options.alpha));
        if (!(total > 0)) {
          share.assign(n, 1.0);
          total = static_cast<double>(n);
        }
        // Cut points at the cumulative shares; the last node takes the remainder.
        double cum = 0;
        std::size_t from = 0;
        for (std::size_t k = 0; k < n; ++k) {
          cum += share[k] / total;
          std::size_t to = k + 1 == n
                               ? cls.size()
                               : std::min(cls.size(), static_cast<std::size_t>(std::floor(
                                                          cum * static_cast<double>(cls.size()))));
          to = std::max(to, from);
          assign[k].insert(assign[k].end(), cls.begin() + static_cast<std::ptrdiff_t>(from),
                           cls.begin() + static_cast<std::ptrdiff_t>(to));
          from = to;
        }
      }
      ok = std::all_of(assign.begin(), assign.end(),
                       [&](const auto& a) { return a.size() >= options.min_rows; });
    }
    if (!ok) {
      return InvalidArgument("split: no Dirichlet draw in 1000 gave every node " +
                             std::to_string(options.min_rows) +
                             " rows; raise alpha or lower the minimum");
    }
  }
  std::vector<Dataset> out;
  for (auto& a : assign) {
    std::sort(a.begin(), a.end());
    out.push_back(Subset(data, a));
  }
  return out;
}

}  // namespace sund::fl
