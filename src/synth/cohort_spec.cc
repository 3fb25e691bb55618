// Cohort specs: reading (JSON and YAML through one small tree), writing, dates and the schema.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "core/file_reader.h"
#include "core/json_bounded.h"
#include "core/json_pretty.h"
#include "core/time.h"
#include "synth/cohort.h"
#include "synth/internal/dates.h"

namespace sund::synth {
namespace {

// The parsed document, whichever syntax it came in. Scalars keep their text; `quoted` tells a
// JSON string or quoted YAML scalar from a number written bare.
struct Node {
  enum class Kind : std::uint8_t { kNull, kScalar, kSeq, kMap };
  Kind kind = Kind::kNull;
  std::string text;
  bool quoted = false;
  std::vector<Node> items;                         // kSeq
  std::vector<std::pair<std::string, Node>> keys;  // kMap, in document order

  // Defined below, where Node is complete (clang with libstdc++ refuses the implicit ones while
  // pair<string, Node> is incomplete).
  Node();
  Node(const Node&);
  Node(Node&&) noexcept;
  Node& operator=(const Node&);
  Node& operator=(Node&&) noexcept;
  ~Node();
};
Node::Node() = default;
Node::Node(const Node&) = default;
Node::Node(Node&&) noexcept = default;
Node& Node::operator=(const Node&) = default;
Node& Node::operator=(Node&&) noexcept = default;
Node::~Node() = default;

Status SpecError(const std::string& path, std::string_view what) {
  return InvalidArgument("cohort spec: " + path + ": " + std::string(what));
}

Result<Node> FromJson(const rapidjson::Value& v, const std::string& path) {
  Node n;
  if (v.IsNull()) return n;
  if (v.IsString()) {
    n.kind = Node::Kind::kScalar;
    n.text = std::string(json::View(v));
    n.quoted = true;
  } else if (v.IsBool() || v.IsNumber()) {
    n.kind = Node::Kind::kScalar;
    n.text = json::Serialize(v);
  } else if (v.IsArray()) {
    n.kind = Node::Kind::kSeq;
    int i = 0;
    for (const auto& item : v.GetArray()) {
      SUND_ASSIGN_OR_RETURN(Node c, FromJson(item, path + "[" + std::to_string(i++) + "]"));
      n.items.push_back(std::move(c));
    }
  } else if (v.IsObject()) {
    n.kind = Node::Kind::kMap;
    std::set<std::string, std::less<>> seen;
    for (const auto& m : v.GetObject()) {
      std::string key(json::View(m.name));
      std::string child = path.empty() ? key : path + "." + key;
      if (!seen.insert(key).second) return SpecError(child, "given twice");
      SUND_ASSIGN_OR_RETURN(Node c, FromJson(m.value, child));
      n.keys.emplace_back(std::move(key), std::move(c));
    }
  }
  return n;
}

Result<Node> FromYaml(const YAML::Node& y, const std::string& path) {
  Node n;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return n;
    case YAML::NodeType::Scalar:
      n.kind = Node::Kind::kScalar;
      n.text = y.Scalar();
      n.quoted = y.Tag() == "!";  // a quoted scalar is always a string
      return n;
    case YAML::NodeType::Sequence: {
      n.kind = Node::Kind::kSeq;
      int i = 0;
      for (const auto& item : y) {
        SUND_ASSIGN_OR_RETURN(Node c, FromYaml(item, path + "[" + std::to_string(i++) + "]"));
        n.items.push_back(std::move(c));
      }
      return n;
    }
    case YAML::NodeType::Map: {
      n.kind = Node::Kind::kMap;
      std::set<std::string, std::less<>> seen;
      for (const auto& kv : y) {
        if (!kv.first.IsScalar())
          return SpecError(path.empty() ? "(root)" : path, "keys must be text");
        std::string key = kv.first.Scalar();
        std::string child = path.empty() ? key : path + "." + key;
        if (!seen.insert(key).second) return SpecError(child, "given twice");
        SUND_ASSIGN_OR_RETURN(Node c, FromYaml(kv.second, child));
        n.keys.emplace_back(std::move(key), std::move(c));
      }
      return n;
    }
  }
  return n;
}

Result<Node> ParseTree(std::string_view text) {
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return InvalidArgument("cohort spec: empty");
  if (text[first] == '{') {
    if (json::NestingDepth(text) > json::kMaxDepth) {
      return InvalidArgument("cohort spec: nested deeper than " + std::to_string(json::kMaxDepth) +
                             " levels");
    }
    rapidjson::Document doc;
    json::ParseBounded<rapidjson::kParseFullPrecisionFlag>(doc, text);
    if (doc.HasParseError()) {
      return InvalidArgument("cohort spec: not valid JSON at offset " +
                             std::to_string(doc.GetErrorOffset()) + ": " +
                             rapidjson::GetParseError_En(doc.GetParseError()));
    }
    return FromJson(doc, "");
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return FromYaml(root, "");
  } catch (const YAML::Exception& e) {
    return InvalidArgument("cohort spec: not valid YAML (line " + std::to_string(e.mark.line + 1) +
                           ")");
  }
}

// --- Reading fields. --------------------------------------------------------------------------

// A mapping's fields, each looked up at most once; Finish() rejects the keys nobody asked for.
class Fields {
 public:
  Fields(const Node& map, std::string path) : map_(map), path_(std::move(path)) {}

  const Node* Get(std::string_view key) {
    used_.insert(std::string(key));
    for (const auto& [k, v] : map_.keys) {
      if (k == key) return v.kind == Node::Kind::kNull ? nullptr : &v;
    }
    return nullptr;
  }
  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  Status Finish() const {
    for (const auto& [k, v] : map_.keys) {
      if (used_.count(k) == 0) return SpecError(Path(k), "unknown key");
    }
    return Status::Ok();
  }

  Result<std::optional<std::string>> OptString(std::string_view key) {
    const Node* n = Get(key);
    if (n == nullptr) return std::optional<std::string>();
    if (n->kind != Node::Kind::kScalar) return SpecError(Path(key), "must be text");
    return std::optional<std::string>(n->text);
  }
  Result<std::string> String(std::string_view key) {
    SUND_ASSIGN_OR_RETURN(auto s, OptString(key));
    if (!s || s->empty()) return SpecError(Path(key), "is required");
    return *s;
  }
  Result<std::optional<double>> OptNumber(std::string_view key) {
    const Node* n = Get(key);
    if (n == nullptr) return std::optional<double>();
    double v = 0;
    const std::string& t = n->text;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (n->kind != Node::Kind::kScalar || n->quoted || t.empty() || ec != std::errc() ||
        p != t.data() + t.size() || !std::isfinite(v)) {
      return SpecError(Path(key), "must be a number");
    }
    return std::optional<double>(v);
  }
  Result<std::optional<int>> OptInt(std::string_view key, int lo, int hi) {
    SUND_ASSIGN_OR_RETURN(auto v, OptNumber(key));
    if (!v) return std::optional<int>();
    if (*v != std::floor(*v) || *v < lo || *v > hi) {
      return SpecError(Path(key), "must be a whole number from " + std::to_string(lo) + " to " +
                                      std::to_string(hi));
    }
    return std::optional<int>(static_cast<int>(*v));
  }
  // A list of non-empty text scalars; empty when absent.
  Result<std::vector<std::string>> Strings(std::string_view key) {
    const Node* n = Get(key);
    std::vector<std::string> out;
    if (n == nullptr) return out;
    if (n->kind != Node::Kind::kSeq) return SpecError(Path(key), "must be a list");
    for (std::size_t i = 0; i < n->items.size(); ++i) {
      const Node& item = n->items[i];
      std::string p = Path(key) + "[" + std::to_string(i) + "]";
      if (item.kind != Node::Kind::kScalar || item.text.empty()) {
        return SpecError(p, "must be non-empty text");
      }
      out.push_back(item.text);
    }
    return out;
  }

 private:
  const Node& map_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

Result<std::int64_t> ParseDay(const std::string& text, const std::string& path) {
  std::optional<std::int64_t> d;
  if (text.size() == 10) d = ParseDays(text);
  if (!d) return SpecError(path, "must be a date YYYY-MM-DD");
  return *d;
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

constexpr std::string_view kRegionFields[] = {"state", "district", "city", "postalCode", "country"};

std::optional<FeatureType> ParseFeatureType(std::string_view s) {
  for (FeatureType t : {FeatureType::kSex, FeatureType::kAge, FeatureType::kAgeBand,
                        FeatureType::kRegion, FeatureType::kCondition, FeatureType::kObservation,
                        FeatureType::kMedication, FeatureType::kEncounterCount}) {
    if (FeatureTypeName(t) == s) return t;
  }
  return std::nullopt;
}

bool IsNumeric(const Feature& f) {
  return f.type == FeatureType::kAge || f.type == FeatureType::kObservation ||
         f.type == FeatureType::kEncounterCount;
}

// "codes" (a list) or "code" (one); one of them is required.
Status ReadCodes(Fields& f, Feature& feature) {
  SUND_ASSIGN_OR_RETURN(feature.codes, f.Strings("codes"));
  SUND_ASSIGN_OR_RETURN(auto one, f.OptString("code"));
  if (one) {
    if (!feature.codes.empty()) return SpecError(f.Path("code"), "give code or codes, not both");
    if (one->empty()) return SpecError(f.Path("code"), "must be non-empty text");
    feature.codes.push_back(*one);
  }
  if (feature.codes.empty()) return SpecError(f.Path("codes"), "must be a non-empty list");
  return Status::Ok();
}

Result<Feature> ReadFeature(const Node& n, const std::string& path) {
  if (n.kind != Node::Kind::kMap) return SpecError(path, "must be a mapping");
  Fields f(n, path);
  Feature feature;
  SUND_ASSIGN_OR_RETURN(std::string type, f.String("type"));
  std::optional<FeatureType> t = ParseFeatureType(type);
  if (!t) {
    return SpecError(f.Path("type"),
                     "must be sex, age, age_band, region, condition, observation, medication or "
                     "encounter_count");
  }
  feature.type = *t;
  SUND_ASSIGN_OR_RETURN(auto name, f.OptString("name"));
  bool default_name = feature.type == FeatureType::kSex || feature.type == FeatureType::kAge ||
                      feature.type == FeatureType::kAgeBand || feature.type == FeatureType::kRegion;
  if (!name && !default_name) return SpecError(f.Path("name"), "is required");
  feature.name = name ? *name : std::string(type);
  if (!ValidName(feature.name)) {
    return SpecError(f.Path("name"), "must be 1-64 letters, digits, '_', '-' or '.'");
  }
  switch (feature.type) {
    case FeatureType::kSex:
      break;
    case FeatureType::kAge: {
      SUND_ASSIGN_OR_RETURN(auto max, f.OptInt("max", 1, 150));
      feature.max = max ? *max : 110;
      break;
    }
    case FeatureType::kAgeBand: {
      const Node* edges = f.Get("edges");
      if (edges == nullptr || edges->kind != Node::Kind::kSeq || edges->items.empty()) {
        return SpecError(f.Path("edges"), "must be a non-empty list of ages");
      }
      for (std::size_t i = 0; i < edges->items.size(); ++i) {
        const Node& e = edges->items[i];
        int v = -1;
        auto [p, ec] = std::from_chars(e.text.data(), e.text.data() + e.text.size(), v);
        std::string ep = f.Path("edges") + "[" + std::to_string(i) + "]";
        if (e.kind != Node::Kind::kScalar || e.quoted || ec != std::errc() ||
            p != e.text.data() + e.text.size() || v < 0 || v > 150) {
          return SpecError(ep, "must be a whole number of years from 0 to 150");
        }
        if (!feature.edges.empty() && v <= feature.edges.back()) {
          return SpecError(ep, "edges must increase");
        }
        feature.edges.push_back(v);
      }
      break;
    }
    case FeatureType::kRegion: {
      SUND_ASSIGN_OR_RETURN(feature.field, f.String("field"));
      if (std::find(std::begin(kRegionFields), std::end(kRegionFields), feature.field) ==
          std::end(kRegionFields)) {
        return SpecError(f.Path("field"), "must be state, district, city, postalCode or country");
      }
      SUND_ASSIGN_OR_RETURN(feature.categories, f.Strings("categories"));
      if (feature.categories.empty()) {
        return SpecError(f.Path("categories"), "must be a non-empty list");
      }
      std::set<std::string> seen;
      for (std::size_t i = 0; i < feature.categories.size(); ++i) {
        std::string lower = feature.categories[i];
        for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        std::string cp = f.Path("categories") + "[" + std::to_string(i) + "]";
        if (lower == "other") return SpecError(cp, "\"other\" is added by itself");
        if (!seen.insert(lower).second) return SpecError(cp, "given twice");
      }
      break;
    }
    case FeatureType::kCondition:
    case FeatureType::kMedication: {
      SUND_ASSIGN_OR_RETURN(feature.system, f.String("system"));
      SUND_RETURN_IF_ERROR(ReadCodes(f, feature));
      SUND_ASSIGN_OR_RETURN(auto display, f.OptString("display"));
      if (display) feature.display = *display;
      if (feature.type == FeatureType::kCondition) {
        SUND_ASSIGN_OR_RETURN(auto match, f.OptString("match"));
        if (match && *match == "onset") {
          feature.match = ConditionMatch::kOnset;
        } else if (match && *match != "active") {
          return SpecError(f.Path("match"), "must be active or onset");
        }
      }
      break;
    }
    case FeatureType::kObservation: {
      SUND_ASSIGN_OR_RETURN(auto system, f.OptString("system"));
      feature.system = system ? *system : std::string(kLoincSystem);
      SUND_RETURN_IF_ERROR(ReadCodes(f, feature));
      SUND_ASSIGN_OR_RETURN(auto display, f.OptString("display"));
      if (display) feature.display = *display;
      SUND_ASSIGN_OR_RETURN(auto category, f.OptString("category"));
      if (category) feature.category = *category;
      SUND_ASSIGN_OR_RETURN(std::string summary, f.String("summary"));
      bool known = false;
      for (Summary s :
           {Summary::kLatest, Summary::kMean, Summary::kMin, Summary::kMax, Summary::kCount}) {
        if (SummaryName(s) == summary) {
          feature.summary = s;
          known = true;
        }
      }
      if (!known) return SpecError(f.Path("summary"), "must be latest, mean, min, max or count");
      if (feature.summary == Summary::kCount) {
        SUND_ASSIGN_OR_RETURN(auto max, f.OptInt("max", 1, 100000));
        if (!max) return SpecError(f.Path("max"), "is required (the largest count kept)");
        feature.max = *max;
        break;
      }
      SUND_ASSIGN_OR_RETURN(feature.unit, f.String("unit"));
      SUND_ASSIGN_OR_RETURN(auto min, f.OptNumber("min"));
      SUND_ASSIGN_OR_RETURN(auto max, f.OptNumber("max"));
      if (!min) return SpecError(f.Path("min"), "is required (the public range of the values)");
      if (!max) return SpecError(f.Path("max"), "is required (the public range of the values)");
      if (*max <= *min) return SpecError(f.Path("max"), "must be greater than min");
      feature.min = *min;
      feature.max = *max;
      SUND_ASSIGN_OR_RETURN(auto decimals, f.OptInt("decimals", 0, 6));
      if (decimals) feature.decimals = *decimals;
      break;
    }
    case FeatureType::kEncounterCount: {
      SUND_ASSIGN_OR_RETURN(auto max, f.OptInt("max", 1, 100000));
      if (!max) return SpecError(f.Path("max"), "is required (the largest count kept)");
      feature.max = *max;
      SUND_ASSIGN_OR_RETURN(feature.classes, f.Strings("class"));
      SUND_ASSIGN_OR_RETURN(auto ts, f.OptString("type_system"));
      SUND_ASSIGN_OR_RETURN(feature.type_codes, f.Strings("type_codes"));
      if (ts) feature.type_system = *ts;
      if (feature.type_codes.empty() != feature.type_system.empty()) {
        return SpecError(f.Path("type_codes"), "type_system and type_codes go together");
      }
      break;
    }
  }
  if (IsNumeric(feature)) {
    SUND_ASSIGN_OR_RETURN(auto bins, f.OptInt("bins", 2, 1000));
    if (bins) feature.bins = *bins;
  }
  SUND_RETURN_IF_ERROR(f.Finish());
  return feature;
}

Result<CohortSpec> ReadSpec(const Node& root) {
  if (root.kind != Node::Kind::kMap) return SpecError("(root)", "must be a mapping");
  Fields f(root, "");
  CohortSpec spec;
  SUND_ASSIGN_OR_RETURN(auto name, f.OptString("name"));
  if (name) spec.name = *name;
  SUND_ASSIGN_OR_RETURN(auto ref, f.OptString("reference_date"));
  if (ref) {
    SUND_ASSIGN_OR_RETURN(std::int64_t day, ParseDay(*ref, "reference_date"));
    spec.reference_day = day;
  }

  const Node* period = f.Get("period");
  if (period == nullptr) return SpecError("period", "is required");
  if (period->kind != Node::Kind::kMap) return SpecError("period", "must be a mapping");
  {
    Fields p(*period, "period");
    SUND_ASSIGN_OR_RETURN(auto from, p.OptString("from"));
    SUND_ASSIGN_OR_RETURN(auto to, p.OptString("to"));
    SUND_ASSIGN_OR_RETURN(auto years, p.OptInt("years", 1, 200));
    SUND_ASSIGN_OR_RETURN(auto months, p.OptInt("months", 1, 2400));
    SUND_ASSIGN_OR_RETURN(auto days, p.OptInt("days", 1, 100000));
    SUND_RETURN_IF_ERROR(p.Finish());
    int relative = (years ? 1 : 0) + (months ? 1 : 0) + (days ? 1 : 0);
    if (relative > 1 || (relative == 1 && (from || to))) {
      return SpecError("period", "give from and to, or one of years, months, days");
    }
    if (relative == 1) {
      spec.period_years = years.value_or(0);
      spec.period_months = months.value_or(0);
      spec.period_days = days.value_or(0);
    } else {
      if (!from || !to) return SpecError("period", "needs from and to (or years, months, days)");
      SUND_ASSIGN_OR_RETURN(spec.from_day, ParseDay(*from, "period.from"));
      SUND_ASSIGN_OR_RETURN(spec.to_day, ParseDay(*to, "period.to"));
      if (spec.to_day < spec.from_day) return SpecError("period", "from is after to");
    }
  }

  if (const Node* pop = f.Get("population"); pop != nullptr) {
    if (pop->kind != Node::Kind::kMap) return SpecError("population", "must be a mapping");
    Fields p(*pop, "population");
    SUND_ASSIGN_OR_RETURN(auto vital, p.OptString("vital_status"));
    if (vital) {
      if (*vital == "alive") {
        spec.vital_status = VitalStatus::kAlive;
      } else if (*vital == "deceased") {
        spec.vital_status = VitalStatus::kDeceased;
      } else if (*vital != "any") {
        return SpecError("population.vital_status", "must be any, alive or deceased");
      }
    }
    SUND_ASSIGN_OR_RETURN(spec.min_age, p.OptInt("min_age", 0, 150));
    SUND_ASSIGN_OR_RETURN(spec.max_age, p.OptInt("max_age", 0, 150));
    SUND_RETURN_IF_ERROR(p.Finish());
    if (spec.min_age && spec.max_age && *spec.max_age < *spec.min_age) {
      return SpecError("population.max_age", "is below min_age");
    }
  }

  if (const Node* c = f.Get("consent"); c != nullptr) {
    if (c->kind != Node::Kind::kMap) return SpecError("consent", "must be a mapping");
    Fields p(*c, "consent");
    SUND_ASSIGN_OR_RETURN(auto research, p.OptString("research"));
    SUND_RETURN_IF_ERROR(p.Finish());
    if (research) {
      std::optional<consent::ResearchPolicy> r = consent::ParseResearchPolicy(*research);
      if (!r) return SpecError("consent.research", "must be opt-in or opt-out");
      spec.research = *r;
    }
  }

  const Node* features = f.Get("features");
  if (features == nullptr || features->kind != Node::Kind::kSeq || features->items.empty()) {
    return SpecError("features", "must be a non-empty list");
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < features->items.size(); ++i) {
    std::string path = "features[" + std::to_string(i) + "]";
    SUND_ASSIGN_OR_RETURN(Feature feature, ReadFeature(features->items[i], path));
    if (!names.insert(feature.name).second) {
      return SpecError(path + ".name", "another feature has this name");
    }
    spec.features.push_back(std::move(feature));
  }
  SUND_RETURN_IF_ERROR(f.Finish());
  return spec;
}

// --- Writing. ---------------------------------------------------------------------------------

void Key(json::PrettyWriter& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
void Str(json::PrettyWriter& w, std::string_view k, std::string_view v) {
  Key(w, k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void StrList(json::PrettyWriter& w, std::string_view k, const std::vector<std::string>& v) {
  Key(w, k);
  w.StartArray();
  for (const auto& s : v) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}
void Num(json::PrettyWriter& w, std::string_view k, double v) {
  Key(w, k);
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    w.Int64(static_cast<std::int64_t>(v));
  } else {
    w.Double(v);
  }
}

}  // namespace

std::string_view FeatureTypeName(FeatureType t) {
  switch (t) {
    case FeatureType::kSex:
      return "sex";
    case FeatureType::kAge:
      return "age";
    case FeatureType::kAgeBand:
      return "age_band";
    case FeatureType::kRegion:
      return "region";
    case FeatureType::kCondition:
      return "condition";
    case FeatureType::kObservation:
      return "observation";
    case FeatureType::kMedication:
      return "medication";
    case FeatureType::kEncounterCount:
      return "encounter_count";
  }
  return "?";
}

std::string_view SummaryName(Summary s) {
  switch (s) {
    case Summary::kLatest:
      return "latest";
    case Summary::kMean:
      return "mean";
    case Summary::kMin:
      return "min";
    case Summary::kMax:
      return "max";
    case Summary::kCount:
      return "count";
  }
  return "?";
}

std::vector<std::string> Feature::BandLabels() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (i + 1 < edges.size()) {
      out.push_back(std::to_string(edges[i]) + "-" + std::to_string(edges[i + 1] - 1));
    } else {
      out.push_back(std::to_string(edges[i]) + "+");
    }
  }
  return out;
}

Result<CohortSpec> ParseCohortSpec(std::string_view text) {
  SUND_ASSIGN_OR_RETURN(Node root, ParseTree(text));
  return ReadSpec(root);
}

Result<CohortSpec> ReadCohortSpecFile(const std::string& path) {
  auto text = ReadFileDecompressed(path);
  if (!text.ok()) return NotFound("cannot read the cohort spec " + path);
  return ParseCohortSpec(*text);
}

std::string CohortSpecToJson(const CohortSpec& spec) {
  rapidjson::StringBuffer sb;
  json::PrettyWriter w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  if (!spec.name.empty()) Str(w, "name", spec.name);
  if (spec.reference_day) Str(w, "reference_date", FormatDays(*spec.reference_day));
  Key(w, "period");
  w.StartObject();
  if (spec.period_years > 0) {
    Num(w, "years", spec.period_years);
  } else if (spec.period_months > 0) {
    Num(w, "months", spec.period_months);
  } else if (spec.period_days > 0) {
    Num(w, "days", spec.period_days);
  } else {
    Str(w, "from", FormatDays(spec.from_day));
    Str(w, "to", FormatDays(spec.to_day));
  }
  w.EndObject();
  Key(w, "population");
  w.StartObject();
  Str(w, "vital_status",
      spec.vital_status == VitalStatus::kAlive      ? "alive"
      : spec.vital_status == VitalStatus::kDeceased ? "deceased"
                                                    : "any");
  if (spec.min_age) Num(w, "min_age", *spec.min_age);
  if (spec.max_age) Num(w, "max_age", *spec.max_age);
  w.EndObject();
  Key(w, "consent");
  w.StartObject();
  Str(w, "research", consent::ResearchPolicyName(spec.research));
  w.EndObject();
  Key(w, "features");
  w.StartArray();
  for (const Feature& f : spec.features) {
    w.StartObject();
    Str(w, "type", FeatureTypeName(f.type));
    Str(w, "name", f.name);
    switch (f.type) {
      case FeatureType::kSex:
        break;
      case FeatureType::kAge:
        Num(w, "max", f.max);
        break;
      case FeatureType::kAgeBand:
        Key(w, "edges");
        w.StartArray();
        for (int e : f.edges) w.Int(e);
        w.EndArray();
        break;
      case FeatureType::kRegion:
        Str(w, "field", f.field);
        StrList(w, "categories", f.categories);
        break;
      case FeatureType::kCondition:
      case FeatureType::kMedication:
        Str(w, "system", f.system);
        StrList(w, "codes", f.codes);
        if (!f.display.empty()) Str(w, "display", f.display);
        if (f.type == FeatureType::kCondition) {
          Str(w, "match", f.match == ConditionMatch::kOnset ? "onset" : "active");
        }
        break;
      case FeatureType::kObservation:
        Str(w, "system", f.system);
        StrList(w, "codes", f.codes);
        if (!f.display.empty()) Str(w, "display", f.display);
        if (!f.category.empty()) Str(w, "category", f.category);
        Str(w, "summary", SummaryName(f.summary));
        if (f.summary == Summary::kCount) {
          Num(w, "max", f.max);
        } else {
          Str(w, "unit", f.unit);
          Num(w, "min", f.min);
          Num(w, "max", f.max);
          Num(w, "decimals", f.decimals);
        }
        break;
      case FeatureType::kEncounterCount:
        Num(w, "max", f.max);
        if (!f.classes.empty()) StrList(w, "class", f.classes);
        if (!f.type_codes.empty()) {
          Str(w, "type_system", f.type_system);
          StrList(w, "type_codes", f.type_codes);
        }
        break;
    }
    if (IsNumeric(f) && f.bins != 32) Num(w, "bins", f.bins);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

CohortSpec ResolveDates(const CohortSpec& spec, std::int64_t now_ms) {
  CohortSpec out = spec;
  if (!out.reference_day) out.reference_day = internal::FloorDiv(now_ms, internal::kMsPerDay);
  std::int64_t ref = *out.reference_day;
  if (spec.period_years > 0) {
    out.from_day = internal::AddMonths(ref, -12 * spec.period_years);
  } else if (spec.period_months > 0) {
    out.from_day = internal::AddMonths(ref, -spec.period_months);
  } else if (spec.period_days > 0) {
    out.from_day = ref - spec.period_days;
  }
  if (spec.period_years > 0 || spec.period_months > 0 || spec.period_days > 0) {
    out.to_day = ref;
    out.period_years = out.period_months = out.period_days = 0;
  }
  return out;
}

Schema CohortSchema(const CohortSpec& spec) {
  Schema schema;
  for (const Feature& f : spec.features) {
    Column c;
    c.name = f.name;
    c.bins = f.bins;
    switch (f.type) {
      case FeatureType::kSex:
        c.categories = {"female", "male", "other", "unknown"};
        break;
      case FeatureType::kAgeBand:
        c.categories = f.BandLabels();
        break;
      case FeatureType::kRegion:
        c.categories = f.categories;
        c.categories.push_back("other");
        break;
      case FeatureType::kCondition:
      case FeatureType::kMedication:
        c.categories = {"0", "1"};
        break;
      case FeatureType::kAge:
      case FeatureType::kEncounterCount:
        c.kind = ColumnKind::kInteger;
        c.lower = 0;
        c.upper = f.max;
        break;
      case FeatureType::kObservation:
        if (f.summary == Summary::kCount) {
          c.kind = ColumnKind::kInteger;
          c.lower = 0;
          c.upper = f.max;
        } else {
          c.kind = ColumnKind::kContinuous;
          c.lower = f.min;
          c.upper = f.max;
          c.decimals = f.decimals;
          c.missing = true;
        }
        break;
    }
    schema.columns.push_back(std::move(c));
  }
  return schema;
}

}  // namespace sund::synth
