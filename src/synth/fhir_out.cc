#include "synth/fhir_out.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/json.h"
#include "core/splitmix.h"
#include "synth/internal/dates.h"
#include "synth/model.h"

namespace sund::synth {
namespace {

using internal::AddMonths;
using internal::AgeYears;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view kActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
constexpr std::string_view kObsCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kUcum = "http://unitsofmeasure.org";

// The LOINC codes of the FHIR R4 vital-signs profiles (observation-vitalsigns).
constexpr std::string_view kVitalSigns[] = {
    "85353-1", "9279-1",  "8867-4",  "2708-6", "59408-5", "8310-5", "8302-2", "9843-4",
    "29463-7", "39156-5", "85354-9", "8480-6", "8462-4",  "8478-0", "3150-0", "3151-8"};

constexpr const char* kGivenFemale[] = {"Alma",  "Ida",    "Clara", "Freja",  "Karla", "Agnes",
                                        "Ella",  "Olivia", "Asta",  "Esther", "Lærke", "Ingrid",
                                        "Marie", "Signe",  "Vera",  "Nora",   "Liva",  "Johanne"};
constexpr const char* kGivenMale[] = {"Oscar",  "William",  "Carl",   "Emil",   "Noah",  "Aksel",
                                      "Alfred", "Valdemar", "Arthur", "Viggo",  "Felix", "Magnus",
                                      "Johan",  "Storm",    "Theo",   "Malthe", "Anton", "Elias"};
constexpr const char* kGivenNeutral[] = {"Robin", "Kim", "Alex", "Sam", "Charlie", "Nikita"};
constexpr const char* kFamilyStart[] = {"Al",  "Bren", "Cor", "Dal", "Eg",  "Fen", "Gal", "Hol",
                                        "Is",  "Jor",  "Kal", "Lun", "Mor", "Nor", "Ol",  "Pil",
                                        "Ras", "Sol",  "Tor", "Ul",  "Vin", "Wes", "Yr",  "Zan"};
constexpr const char* kFamilyEnd[] = {"berg", "dahl", "feld", "gaard", "holm", "lund",
                                      "mark", "rup",  "sen",  "strup", "toft", "vang",
                                      "ved",  "wick", "by",   "skov"};

const char* ClassDisplay(std::string_view code) {
  if (code == "AMB") return "ambulatory";
  if (code == "EMER") return "emergency";
  if (code == "IMP") return "inpatient encounter";
  if (code == "ACUTE") return "inpatient acute";
  if (code == "NONAC") return "inpatient non-acute";
  if (code == "OBSENC") return "observation encounter";
  if (code == "PRENC") return "pre-admission";
  if (code == "SS") return "short stay";
  if (code == "VR") return "virtual";
  if (code == "HH") return "home health";
  return nullptr;
}

// Seeded, the same on every platform, with the draws the writer needs.
class Rng : public SplitMix64 {
 public:
  using SplitMix64::SplitMix64;
  // Uniform in [lo, hi] (inclusive); lo when hi < lo.
  std::int64_t Between(std::int64_t lo, std::int64_t hi) {
    if (hi <= lo) return lo;
    auto span = static_cast<unsigned __int128>(static_cast<std::uint64_t>(hi - lo) + 1);
    return lo + static_cast<std::int64_t>((span * Next()) >> 64);
  }
  template <typename T, std::size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Between(0, static_cast<std::int64_t>(N) - 1)];
  }
  std::string Uuid() {
    std::uint64_t a = Next(), b = Next();
    a = (a & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
    b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                  static_cast<unsigned>(b >> 48),
                  static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
    return std::string("urn:uuid:") + buf;
  }
};

std::uint64_t Mix(std::uint64_t seed, std::uint64_t number) {
  return SplitMix64::StreamSeed(seed, number);
}

void Key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
void Str(Writer& w, std::string_view k, std::string_view v) {
  Key(w, k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void Coding(Writer& w, std::string_view system, std::string_view code, std::string_view display) {
  w.StartObject();
  Str(w, "system", system);
  Str(w, "code", code);
  if (!display.empty()) Str(w, "display", display);
  w.EndObject();
}
// {"coding":[{system, code, display}], "text": text}
void Concept(Writer& w, std::string_view key, std::string_view system, std::string_view code,
             std::string_view display, std::string_view text) {
  Key(w, key);
  w.StartObject();
  Key(w, "coding");
  w.StartArray();
  Coding(w, system, code, display);
  w.EndArray();
  if (!text.empty()) Str(w, "text", text);
  w.EndObject();
}
void Reference(Writer& w, std::string_view key, std::string_view url) {
  Key(w, key);
  w.StartObject();
  Str(w, "reference", url);
  w.EndObject();
}

std::string DateTime(std::int64_t day, std::int64_t seconds_of_day) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", static_cast<int>(seconds_of_day / 3600),
                static_cast<int>(seconds_of_day / 60 % 60), static_cast<int>(seconds_of_day % 60));
  return FormatDays(day) + buf;
}

// One event: a day and a time of day (working hours, UTC).
struct Event {
  std::int64_t day = 0;
  std::int64_t second = 0;
  std::string Text(std::int64_t shift) const { return DateTime(day + shift, second); }
};

std::string WrapEntries(const std::string& entries) {
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

}  // namespace

struct FhirWriter::Patient {
  std::vector<std::optional<double>> values;  // per feature: category index or number
};

Result<FhirWriter> FhirWriter::Create(const CohortSpec& spec,
                                      const std::vector<std::string>& header,
                                      FhirWriterOptions options) {
  FhirWriter w;
  if (!spec.resolved() && options.now_ms <= 0) {
    return InvalidArgument(
        "the cohort spec has relative dates and FhirWriterOptions::now_ms is not set");
  }
  w.spec_ = spec.resolved() ? spec : ResolveDates(spec, options.now_ms);
  if (w.spec_.to_day < w.spec_.from_day) return InvalidArgument("cohort spec: the period is empty");
  w.schema_ = CohortSchema(w.spec_);
  if (options.run.empty()) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "syn%llx", static_cast<unsigned long long>(options.seed));
    options.run = buf;
  }
  if (options.max_shift_days < 0) return InvalidArgument("max_shift_days must not be negative");
  w.options_ = std::move(options);
  w.width_ = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (header[i] == header[j]) {
        return InvalidArgument("the column '" + header[i] + "' is named twice");
      }
    }
  }
  // The class each encounter_count feature writes: its first, or for one without a filter the
  // first common class no feature filters on (so that filtered counts do not grow).
  std::set<std::string> filtered;
  for (const Feature& f : w.spec_.features) filtered.insert(f.classes.begin(), f.classes.end());
  std::string free_class = "AMB";
  for (const char* c : {"AMB", "VR", "HH", "SS", "OBSENC", "PRENC"}) {
    if (filtered.count(c) == 0) {
      free_class = c;
      break;
    }
  }
  for (const Feature& f : w.spec_.features) {
    w.encounter_class_.push_back(f.classes.empty() ? free_class : f.classes.front());
  }
  for (const Feature& f : w.spec_.features) {
    auto it = std::find(header.begin(), header.end(), f.name);
    w.column_of_feature_.push_back(it == header.end() ? -1 : static_cast<int>(it - header.begin()));
  }
  return w;
}

Status FhirWriter::ReadRow(const std::vector<std::string>& row, std::size_t row_number,
                           Patient& p) const {
  if (row.size() != width_) {
    return InvalidArgument("row " + std::to_string(row_number) + " has " +
                           std::to_string(row.size()) + " fields, the header " +
                           std::to_string(width_));
  }
  p.values.assign(spec_.features.size(), std::nullopt);
  for (std::size_t i = 0; i < spec_.features.size(); ++i) {
    if (column_of_feature_[i] < 0) continue;
    const Column& c = schema_.columns[i];
    auto v = ParseValue(c, row[static_cast<std::size_t>(column_of_feature_[i])]);
    if (!v.ok()) {
      return InvalidArgument("row " + std::to_string(row_number) + ": " + v.status().message());
    }
    if (*v && c.kind != ColumnKind::kCategorical) **v = std::clamp(**v, c.lower, c.upper);
    p.values[i] = *v;
  }
  return Status::Ok();
}

Result<std::size_t> FhirWriter::AppendPatient(const std::vector<std::string>& row,
                                              std::size_t row_number, std::uint64_t number,
                                              std::string& out) const {
  Patient p;
  SUND_RETURN_IF_ERROR(ReadRow(row, row_number, p));
  const std::int64_t ref = *spec_.reference_day;
  const std::int64_t shift_max = options_.max_shift_days;
  std::size_t resources = 0;
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartArray();
  Rng rng(Mix(options_.seed, number));

  // Sex, age range and birth date.
  std::string gender = rng.Between(0, 1) == 0 ? "female" : "male";
  std::int64_t age_lo = spec_.min_age.value_or(0);
  std::int64_t age_hi = spec_.max_age.value_or(90);
  for (std::size_t i = 0; i < spec_.features.size(); ++i) {
    const Feature& f = spec_.features[i];
    if (!p.values[i]) continue;
    auto v = static_cast<std::int64_t>(*p.values[i]);
    if (f.type == FeatureType::kSex) {
      gender = schema_.columns[i].categories[static_cast<std::size_t>(v)];
    } else if (f.type == FeatureType::kAge) {
      age_lo = age_hi = v;
    } else if (f.type == FeatureType::kAgeBand) {
      auto band = static_cast<std::size_t>(v);
      std::int64_t lo = f.edges[band];
      std::int64_t hi = band + 1 < f.edges.size() ? f.edges[band + 1] - 1 : lo + 20;
      if (spec_.max_age && band + 1 == f.edges.size()) {
        hi = std::max(lo, static_cast<std::int64_t>(*spec_.max_age));
      }
      age_lo = std::max(age_lo, lo);
      age_hi = std::min(age_hi, hi);
      if (age_hi < age_lo) age_lo = age_hi = lo;
    }
  }
  if (age_hi < age_lo) age_hi = age_lo;
  // Born after ref - (age_hi + 1) years and no later than ref - age_lo years.
  const std::int64_t birth_lo = AddMonths(ref, -12 * (age_hi + 1)) + 1;
  const std::int64_t birth_hi = AddMonths(ref, -12 * age_lo);
  std::int64_t birth = rng.Between(birth_lo, birth_hi);

  // Event dates, within the period and not before birth.
  const std::int64_t window_lo = std::max(spec_.from_day, birth);
  const bool has_window = window_lo <= spec_.to_day;
  std::int64_t first_event = spec_.to_day, last_event = spec_.from_day;
  auto event = [&]() {
    Event e{rng.Between(window_lo, spec_.to_day), rng.Between(7 * 3600, 19 * 3600)};
    first_event = std::min(first_event, e.day);
    last_event = std::max(last_event, e.day);
    return e;
  };

  struct Item {
    std::size_t feature;
    Event when;
    std::optional<double> value;
  };
  std::vector<Item> items;
  // Observations grouped by their first code: as many as a count column says, at least one
  // per value column with a value; values taken in turn from the group's value columns.
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < spec_.features.size(); ++i) {
    const Feature& f = spec_.features[i];
    if (!has_window || !p.values[i]) continue;
    auto v = static_cast<std::int64_t>(*p.values[i]);
    if ((f.type == FeatureType::kCondition || f.type == FeatureType::kMedication) && v == 1) {
      items.push_back({i, event(), std::nullopt});
    } else if (f.type == FeatureType::kObservation) {
      groups[f.system + "|" + f.codes.front()].push_back(i);
    }
  }
  // Encounters: the features with a class or type filter first; each then writes as many as
  // its count exceeds the encounters already written that it counts itself, so that a row
  // whose general count covers its specific ones reads back as it was.
  std::vector<std::size_t> encounter_order;
  for (std::size_t i = 0; i < spec_.features.size(); ++i) {
    if (spec_.features[i].type == FeatureType::kEncounterCount && has_window && p.values[i]) {
      encounter_order.push_back(i);
    }
  }
  std::stable_sort(
      encounter_order.begin(), encounter_order.end(), [this](std::size_t a, std::size_t b) {
        auto filtered = [this](std::size_t i) {
          return !spec_.features[i].classes.empty() || !spec_.features[i].type_codes.empty();
        };
        return filtered(a) && !filtered(b);
      });
  std::vector<std::size_t> encounters_written;  // the feature that wrote each
  for (std::size_t i : encounter_order) {
    const Feature& f = spec_.features[i];
    std::int64_t already = 0;
    for (std::size_t by : encounters_written) {
      const Feature& g = spec_.features[by];
      bool cls_ok = f.classes.empty() || std::find(f.classes.begin(), f.classes.end(),
                                                   encounter_class_[by]) != f.classes.end();
      bool type_ok = f.type_codes.empty() ||
                     (!g.type_codes.empty() && g.type_system == f.type_system &&
                      std::find(f.type_codes.begin(), f.type_codes.end(), g.type_codes.front()) !=
                          f.type_codes.end());
      if (cls_ok && type_ok) ++already;
    }
    auto n = static_cast<std::int64_t>(*p.values[i]);
    for (std::int64_t k = already; k < n; ++k) {
      items.push_back({i, event(), std::nullopt});
      encounters_written.push_back(i);
    }
  }
  for (const auto& [code, members] : groups) {
    std::int64_t count = 0;
    std::vector<std::pair<std::size_t, double>> values;
    for (std::size_t i : members) {
      if (spec_.features[i].summary == Summary::kCount) {
        count = std::max(count, static_cast<std::int64_t>(*p.values[i]));
      } else {
        values.emplace_back(i, *p.values[i]);
      }
    }
    std::int64_t n = std::max(count, static_cast<std::int64_t>(values.size()));
    for (std::int64_t k = 0; k < n; ++k) {
      if (values.empty()) {
        items.push_back({members.front(), event(), std::nullopt});
      } else {
        const auto& [i, v] = values[static_cast<std::size_t>(k) % values.size()];
        items.push_back({i, event(), v});
      }
    }
  }
  // One shift for all of the patient's dates, keeping age and events where the row puts them.
  std::int64_t shift_lo = std::max(-shift_max, birth_lo - birth);
  std::int64_t shift_hi = std::min(shift_max, birth_hi - birth);
  if (!items.empty()) {
    shift_lo = std::max(shift_lo, spec_.from_day - first_event);
    shift_hi = std::min(shift_hi, spec_.to_day - last_event);
  }
  const std::int64_t shift =
      rng.Between(std::min<std::int64_t>(shift_lo, 0), std::max<std::int64_t>(shift_hi, 0));

  // The Patient.
  const std::string patient_url = rng.Uuid();
  auto begin_entry = [&](const std::string& url, std::string_view type) {
    w.StartObject();
    Str(w, "fullUrl", url);
    Key(w, "resource");
    w.StartObject();
    Str(w, "resourceType", type);
    Key(w, "meta");
    w.StartObject();
    Key(w, "tag");
    w.StartArray();
    Coding(w, kActReason, "HTEST", "test health data");
    w.EndArray();
    w.EndObject();
  };
  auto end_entry = [&](std::string_view type) {
    w.EndObject();  // resource
    Key(w, "request");
    w.StartObject();
    Str(w, "method", "POST");
    Str(w, "url", type);
    w.EndObject();
    w.EndObject();
    ++resources;
  };
  begin_entry(patient_url, "Patient");
  char id[64];
  std::snprintf(id, sizeof id, "%s-%06llu", options_.run.c_str(),
                static_cast<unsigned long long>(number));
  Key(w, "identifier");
  w.StartArray();
  w.StartObject();
  Str(w, "system", options_.identifier_system);
  Str(w, "value", id);
  w.EndObject();
  w.EndArray();
  Key(w, "active");
  w.Bool(true);
  Key(w, "name");
  w.StartArray();
  w.StartObject();
  Str(w, "use", "official");
  std::string family = rng.Pick(kFamilyStart);
  family += rng.Pick(kFamilyEnd);
  Str(w, "family", family);
  Key(w, "given");
  w.StartArray();
  const char* given = gender == "female" ? rng.Pick(kGivenFemale)
                      : gender == "male" ? rng.Pick(kGivenMale)
                                         : rng.Pick(kGivenNeutral);
  w.String(given);
  w.EndArray();
  w.EndObject();
  w.EndArray();
  Str(w, "gender", gender);
  Str(w, "birthDate", FormatDays(birth + shift));
  bool address = false;
  for (std::size_t i = 0; i < spec_.features.size(); ++i) {
    const Feature& f = spec_.features[i];
    if (f.type != FeatureType::kRegion || !p.values[i]) continue;
    auto c = static_cast<std::size_t>(*p.values[i]);
    if (c >= f.categories.size()) continue;  // "other"
    if (!address) {
      Key(w, "address");
      w.StartArray();
      w.StartObject();
      Str(w, "use", "home");
      address = true;
    }
    Str(w, f.field, f.categories[c]);
  }
  if (address) {
    w.EndObject();
    w.EndArray();
  }
  end_entry("Patient");

  // The clinical resources, in feature order.
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.feature < b.feature; });
  for (const Item& item : items) {
    const Feature& f = spec_.features[item.feature];
    const std::string when = item.when.Text(shift);
    const std::string& code = f.codes.empty() ? f.name : f.codes.front();
    const std::string_view text = f.display.empty() ? std::string_view(f.name) : f.display;
    switch (f.type) {
      case FeatureType::kCondition:
        begin_entry(rng.Uuid(), "Condition");
        Concept(w, "clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "active", "", "");
        Concept(w, "verificationStatus",
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "", "");
        Key(w, "category");
        w.StartArray();
        w.StartObject();
        Key(w, "coding");
        w.StartArray();
        Coding(w, "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
               "Problem List Item");
        w.EndArray();
        w.EndObject();
        w.EndArray();
        Concept(w, "code", f.system, code, f.display, text);
        Reference(w, "subject", patient_url);
        Str(w, "onsetDateTime", when);
        Str(w, "recordedDate", when);
        end_entry("Condition");
        break;
      case FeatureType::kObservation: {
        begin_entry(rng.Uuid(), "Observation");
        Str(w, "status", "final");
        std::string category = f.category;
        if (category.empty()) {
          bool vital = f.system == kLoincSystem &&
                       std::find(std::begin(kVitalSigns), std::end(kVitalSigns), code) !=
                           std::end(kVitalSigns);
          category = vital ? "vital-signs" : "laboratory";
        }
        Key(w, "category");
        w.StartArray();
        w.StartObject();
        Key(w, "coding");
        w.StartArray();
        Coding(w, kObsCategory, category, "");
        w.EndArray();
        w.EndObject();
        w.EndArray();
        Concept(w, "code", f.system, code, f.display, text);
        Reference(w, "subject", patient_url);
        Str(w, "effectiveDateTime", when);
        Str(w, "issued", item.when.Text(shift).substr(0, 19) + ".000Z");
        if (item.value) {
          Key(w, "valueQuantity");
          w.StartObject();
          Key(w, "value");
          double scale = std::pow(10.0, f.decimals);
          double v = std::round(*item.value * scale) / scale;
          if (f.decimals == 0) {
            w.Int64(static_cast<std::int64_t>(v));
          } else {
            w.Double(v);
          }
          Str(w, "unit", f.unit);
          Str(w, "system", kUcum);
          Str(w, "code", f.unit);
          w.EndObject();
        }
        end_entry("Observation");
        break;
      }
      case FeatureType::kMedication:
        begin_entry(rng.Uuid(), "MedicationStatement");
        Str(w, "status", "active");
        Concept(w, "medicationCodeableConcept", f.system, code, f.display, text);
        Reference(w, "subject", patient_url);
        Str(w, "effectiveDateTime", when);
        Str(w, "dateAsserted", when);
        end_entry("MedicationStatement");
        break;
      case FeatureType::kEncounterCount: {
        begin_entry(rng.Uuid(), "Encounter");
        Str(w, "status", "finished");
        const std::string& cls = encounter_class_[item.feature];
        Key(w, "class");
        const char* display = ClassDisplay(cls);
        Coding(w, kActCode, cls, display != nullptr ? display : "");
        if (!f.type_codes.empty()) {
          Key(w, "type");
          w.StartArray();
          w.StartObject();
          Key(w, "coding");
          w.StartArray();
          Coding(w, f.type_system, f.type_codes.front(), "");
          w.EndArray();
          w.EndObject();
          w.EndArray();
        }
        Reference(w, "subject", patient_url);
        Key(w, "period");
        w.StartObject();
        Str(w, "start", when);
        Event end_time = item.when;
        end_time.second += 15 * 60 * rng.Between(1, 6);
        Str(w, "end", end_time.Text(shift));
        w.EndObject();
        end_entry("Encounter");
        break;
      }
      default:
        break;
    }
  }
  w.EndArray();
  // The entries without the array's brackets, after a comma when `out` has entries already.
  if (resources > 0) {
    if (!out.empty()) out.push_back(',');
    out.append(sb.GetString() + 1, sb.GetSize() - 2);
  }
  return resources;
}

Result<GeneratedBundle> FhirWriter::Bundle(const std::vector<std::vector<std::string>>& rows,
                                           std::size_t begin, std::size_t end,
                                           std::uint64_t first_number) const {
  GeneratedBundle out;
  std::string entries;
  end = std::min(end, rows.size());
  for (std::size_t r = begin; r < end; ++r) {
    SUND_ASSIGN_OR_RETURN(std::size_t n,
                          AppendPatient(rows[r], r + 1, first_number + (r - begin), entries));
    out.resources += n;
    ++out.patients;
  }
  out.json = WrapEntries(entries);
  return out;
}

BundleFiles::BundleFiles(const FhirWriter& writer, std::string dir, std::size_t patients_per_file,
                         std::size_t max_entries_per_file)
    : writer_(writer),
      dir_(std::move(dir)),
      per_file_(std::max<std::size_t>(1, patients_per_file)),
      max_entries_(std::max<std::size_t>(1, max_entries_per_file)) {}

Status BundleFiles::Flush() {
  if (in_file_ == 0) return Status::Ok();
  if (summary_.files == 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Internal("cannot create the folder " + dir_);
  }
  char name[40];
  std::snprintf(name, sizeof name, "synthetic-%06zu.json", summary_.files + 1);
  std::filesystem::path path = std::filesystem::path(dir_) / name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  std::string json = WrapEntries(entries_);
  f.write(json.data(), static_cast<std::streamsize>(json.size()));
  f.close();
  if (!f) return Internal("cannot write " + path.string() + " (disk full?)");
  ++summary_.files;
  entries_.clear();
  in_file_ = entries_in_file_ = 0;
  return Status::Ok();
}

Status BundleFiles::Add(const std::vector<std::string>& row) {
  std::size_t number = summary_.patients + 1;
  patient_.clear();
  SUND_ASSIGN_OR_RETURN(std::size_t n, writer_.AppendPatient(row, number, number, patient_));
  if (n > max_entries_) {
    return InvalidArgument("row " + std::to_string(number) + " makes " + std::to_string(n) +
                           " resources, more than a Bundle may hold (lower the counts' max)");
  }
  if (in_file_ == per_file_ || entries_in_file_ + n > max_entries_) SUND_RETURN_IF_ERROR(Flush());
  if (!entries_.empty()) entries_.push_back(',');
  entries_ += patient_;
  ++in_file_;
  entries_in_file_ += n;
  ++summary_.patients;
  summary_.resources += n;
  return Status::Ok();
}

Result<WriteBundlesSummary> BundleFiles::Finish() {
  SUND_RETURN_IF_ERROR(Flush());
  if (summary_.files == 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Internal("cannot create the folder " + dir_);
  }
  return summary_;
}

Result<WriteBundlesSummary> WriteFhirBundles(const FhirWriter& writer, const CsvTable& rows,
                                             const std::string& dir, std::size_t patients_per_file,
                                             std::size_t max_entries_per_file) {
  if (patients_per_file == 0 || max_entries_per_file == 0) {
    return InvalidArgument("patients_per_file and max_entries_per_file must be positive");
  }
  BundleFiles files(writer, dir, patients_per_file, max_entries_per_file);
  for (const auto& row : rows.rows) SUND_RETURN_IF_ERROR(files.Add(row));
  return files.Finish();
}

Result<WriteBundlesSummary> WriteSyntheticPatients(
    const Model& model, std::uint64_t rows, std::uint64_t seed, const std::string& dir,
    const std::function<void(std::uint64_t)>& progress, const std::function<bool()>& cancelled) {
  if (model.cohort.empty()) {
    return InvalidArgument("synthetic FHIR patients need a model fitted on a cohort");
  }
  SUND_ASSIGN_OR_RETURN(CohortSpec spec, ParseCohortSpec(model.cohort));
  std::vector<std::string> header;
  for (const auto& c : model.schema.columns) header.push_back(c.name);
  FhirWriterOptions wo;
  wo.seed = seed;
  SUND_ASSIGN_OR_RETURN(FhirWriter writer, FhirWriter::Create(spec, header, wo));
  Sampler sampler(model, seed);
  BundleFiles files(writer, dir);
  std::vector<std::uint32_t> codes;
  std::vector<std::string> row(header.size());
  for (std::uint64_t r = 0; r < rows; ++r) {
    sampler.DrawCodes(codes);
    for (std::size_t c = 0; c < row.size(); ++c) {
      row[c].clear();
      sampler.AppendValue(c, codes[c], row[c], /*csv=*/false);
    }
    SUND_RETURN_IF_ERROR(files.Add(row));
    if ((r + 1) % 100 == 0 || r + 1 == rows) {
      if (progress) progress(r + 1);
      if (cancelled && cancelled()) return Status(StatusCode::kUnavailable, "cancelled");
    }
  }
  return files.Finish();
}

}  // namespace sund::synth
