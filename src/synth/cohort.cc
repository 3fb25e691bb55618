// Cohort extraction (cohort.h): research Consents first, then Patients (consent and population
// filter), then one paged search per resource type for the spec's codes and period, each
// resource folded into its patient's feature state; rows are written at the end.
#include "synth/cohort.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "consent/facts.h"
#include "consent/policy.h"
#include "core/json_bounded.h"
#include "core/time.h"
#include "fhir/ucum.h"
#include "synth/internal/dates.h"

namespace sund::synth {
namespace {

using internal::kMsPerDay;
using rapidjson::Value;

constexpr std::int64_t kMinMs = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxMs = std::numeric_limits<std::int64_t>::max();
constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";
constexpr std::string_view kResearchScope =
    "http://terminology.hl7.org/CodeSystem/consentscope|research";
constexpr std::size_t kRefsPerQuery = 100;  // Medication references per search

struct Range {
  std::int64_t lo = kMinMs;
  std::int64_t hi = kMaxMs;
  bool Overlaps(const Range& o) const { return lo <= o.hi && o.lo <= hi; }
};

std::optional<Range> DateOf(const Value* v) {
  if (v == nullptr || !v->IsString()) return std::nullopt;
  auto r = ParseFhirDate(json::View(*v));
  if (!r.ok()) return std::nullopt;
  return Range{r->lo_ms, r->hi_ms};
}

// A Period: open ends are unbounded; nullopt when neither end is a valid date.
std::optional<Range> PeriodOf(const Value* v) {
  if (v == nullptr || !v->IsObject()) return std::nullopt;
  std::optional<Range> start = DateOf(json::Find(*v, "start"));
  std::optional<Range> end = DateOf(json::Find(*v, "end"));
  if (!start && !end) return std::nullopt;
  return Range{start ? start->lo : kMinMs, end ? end->hi : kMaxMs};
}

// The time of choice[x] `base` (dateTime, instant or Period).
std::optional<Range> ChoiceTime(const Value& r, const std::string& base) {
  if (auto d = DateOf(json::Find(r, base + "DateTime"))) return d;
  if (auto d = DateOf(json::Find(r, base + "Instant"))) return d;
  return PeriodOf(json::Find(r, base + "Period"));
}

// "Patient/ID" (relative, absolute or versioned) -> ID; empty for anything else.
std::string_view PatientIdOfRef(std::string_view ref) {
  std::size_t h = ref.find("/_history/");
  if (h != std::string_view::npos) ref = ref.substr(0, h);
  std::size_t p = ref.rfind("Patient/");
  if (p == std::string_view::npos || (p > 0 && ref[p - 1] != '/')) return {};
  std::string_view id = ref.substr(p + 8);
  if (id.empty() || id.find('/') != std::string_view::npos) return {};
  return id;
}

std::string_view SubjectPatient(const Value& r) {
  for (const char* name : {"subject", "patient"}) {
    const Value* ref = json::Find(r, name);
    if (ref != nullptr) return PatientIdOfRef(json::GetString(*ref, "reference"));
  }
  return {};
}

// "Type/ID" of a reference, without base or version; empty when not a literal reference.
std::string LocalRef(std::string_view ref) {
  std::size_t h = ref.find("/_history/");
  if (h != std::string_view::npos) ref = ref.substr(0, h);
  std::size_t last = ref.rfind('/');
  if (last == std::string_view::npos || last == 0) return {};
  std::size_t prev = ref.rfind('/', last - 1);
  return std::string(prev == std::string_view::npos ? ref : ref.substr(prev + 1));
}

bool CodingIn(const Value& coding, std::string_view system, const std::vector<std::string>& codes) {
  if (json::GetString(coding, "system") != system) return false;
  std::string_view code = json::GetString(coding, "code");
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// Whether the CodeableConcept `cc` has a coding of `system` with one of `codes`.
bool ConceptHas(const Value* cc, std::string_view system, const std::vector<std::string>& codes) {
  if (cc == nullptr) return false;
  const Value* codings = json::Find(*cc, "coding");
  if (codings == nullptr || !codings->IsArray()) return false;
  for (const auto& c : codings->GetArray()) {
    if (CodingIn(c, system, codes)) return true;
  }
  return false;
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A FHIR search token value "system|code" with the search-syntax characters escaped.
std::string Token(std::string_view system, std::string_view code) {
  std::string out;
  auto append = [&out](std::string_view s) {
    for (char c : s) {
      if (c == ',' || c == '|' || c == '$' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  };
  append(system);
  out.push_back('|');
  append(code);
  return out;
}

std::string JoinTokens(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    if (!out.empty()) out.push_back(',');
    out += t;
  }
  return out;
}

// s = a * v + b converts a value in one unit to the spec's.
struct Linear {
  double a = 1;
  double b = 0;
};

std::optional<Linear> Conversion(const std::string& from, const std::string& to) {
  if (from == to) return Linear{};
  const fhir::Ucum& ucum = fhir::Ucum::Get();
  auto f0 = ucum.Canonicalize(0, from), f1 = ucum.Canonicalize(1, from),
       f2 = ucum.Canonicalize(2, from);
  auto t0 = ucum.Canonicalize(0, to), t1 = ucum.Canonicalize(1, to);
  if (!f0.ok() || !f1.ok() || !f2.ok() || !t0.ok() || !t1.ok()) return std::nullopt;
  if (f1->unit != t1->unit || f0->unit != f1->unit || t0->unit != t1->unit) return std::nullopt;
  double fs = f1->value - f0->value, ts = t1->value - t0->value;
  // Only linear units convert this way (not [pH] or decibels).
  if (ts == 0 || std::fabs(f2->value - (f0->value + 2 * fs)) > 1e-9 * std::fabs(fs) + 1e-300) {
    return std::nullopt;
  }
  return Linear{fs / ts, (f0->value - t0->value) / ts};
}

struct Accum {
  std::int64_t n = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  std::int64_t latest_ms = kMinMs;
  double latest = 0;

  void Add(double v, std::int64_t at_ms) {
    ++n;
    sum += v;
    min = std::min(min, v);
    max = std::max(max, v);
    if (n == 1 || at_ms >= latest_ms) {
      latest_ms = at_ms;
      latest = v;
    }
  }
};

struct FeatureState {
  bool flag = false;
  std::int64_t count = 0;
  Accum acc;
  std::string text;         // sex, age band, region
  std::int64_t number = 0;  // age
};

struct PatientState {
  consent::PatientPolicy policy;
  bool check_resources = false;  // research Consents with finer rules may withhold resources
  std::vector<FeatureState> features;
};

class Extraction {
 public:
  Extraction(ResourceSource& source, const CohortSpec& spec, const ExtractOptions& options)
      : source_(source),
        spec_(spec),
        options_(options),
        engine_(consent::BasePolicy::kOptIn, spec.research) {
    period_.lo = spec_.from_day * kMsPerDay;
    period_.hi = (spec_.to_day + 1) * kMsPerDay - 1;
    request_.user = consent::UserKind::kSystem;
    request_.client_id = "sund-synth";
    request_.action = consent::Action::kUse;
    request_.purpose = "HRESCH";
    request_.now_ms = options_.now_ms;
  }

  Status Run() {
    SUND_RETURN_IF_ERROR(ReadConsents());
    SUND_RETURN_IF_ERROR(ReadPatients());
    consents_.clear();
    SUND_RETURN_IF_ERROR(ReadConditions());
    SUND_RETURN_IF_ERROR(ReadObservations());
    SUND_RETURN_IF_ERROR(ReadMedications());
    SUND_RETURN_IF_ERROR(ReadEncounters());
    Flush();
    return Status::Ok();
  }

  ExtractedTable TakeTable() {
    ExtractedTable out;
    out.schema = CohortSchema(spec_);
    out.spec = spec_;
    for (const Column& c : out.schema.columns) out.table.header.push_back(c.name);
    std::vector<const std::string*> ids;
    ids.reserve(patients_.size());
    for (const auto& [id, p] : patients_) ids.push_back(&id);
    std::sort(ids.begin(), ids.end(),
              [](const std::string* a, const std::string* b) { return *a < *b; });
    std::size_t line = 1;
    for (const std::string* id : ids) {
      out.table.rows.push_back(Row(patients_.at(*id), out.schema));
      out.table.lines.push_back(++line);
    }
    stats_.extracted = static_cast<std::int64_t>(ids.size());
    out.stats = stats_;
    return out;
  }

 private:
  // Counts a resource read and reports progress now and then.
  void Count() {
    ++stats_.resources_read;
    if (++unreported_ >= 1000) Flush();
  }
  void Flush() {
    if (options_.progress && unreported_ > 0) options_.progress(unreported_);
    unreported_ = 0;
  }

  Status Scan(std::string_view type, const ResourceSource::Params& params,
              const ResourceSource::Visit& visit) {
    return source_.Scan(type, params, options_.page_size, [&](const Value& r) {
      Count();
      return visit(r);
    });
  }

  // The included patient a resource belongs to, if its research Consents let us use it.
  PatientState* Owner(const Value& r, std::string_view type) {
    std::string_view pid = SubjectPatient(r);
    if (pid.empty()) return nullptr;
    auto it = patients_.find(std::string(pid));
    if (it == patients_.end()) return nullptr;
    PatientState& p = it->second;
    if (p.check_resources && !Permitted(p, r, type)) {
      ++stats_.resources_withheld;
      return nullptr;
    }
    return &p;
  }

  bool Permitted(const PatientState& p, const Value& r, std::string_view type) const {
    consent::ResourceFacts facts = consent::ExtractFacts(r);
    facts.type = type;
    facts.id = json::GetString(r, "id");
    return engine_.Decide(p.policy, request_, facts).permitted();
  }

  Status ReadConsents() {
    return Scan("Consent", {{"scope", std::string(kResearchScope)}}, [&](const Value& r) {
      auto parsed = consent::ParseConsent(r);
      if (!parsed.ok()) {
        ++stats_.consents_unreadable;
        const Value* patient = json::Find(r, "patient");
        std::string_view pid =
            patient != nullptr ? PatientIdOfRef(json::GetString(*patient, "reference")) : "";
        if (!pid.empty()) fail_closed_.insert(std::string(pid));
        return Status::Ok();
      }
      std::string pid = parsed->patient_id;
      consents_[pid].push_back(std::move(parsed).value());
      return Status::Ok();
    });
  }

  std::vector<std::string> Related(std::string_view type, std::string_view id) {
    std::vector<std::string> out;
    auto text = source_.Read(type, id);
    if (!text.ok()) return out;
    rapidjson::Document doc;
    json::ParseBounded(doc, *text);
    if (doc.HasParseError()) return out;
    consent::ResourceFacts facts = consent::ExtractFacts(doc);
    for (std::string_view ref : facts.references) out.emplace_back(ref);
    return out;
  }

  bool NeedsAge() const {
    if (spec_.min_age || spec_.max_age) return true;
    return std::any_of(spec_.features.begin(), spec_.features.end(), [](const Feature& f) {
      return f.type == FeatureType::kAge || f.type == FeatureType::kAgeBand;
    });
  }

  // The patient's current address (not "old", not ended before the reference date).
  const Value* CurrentAddress(const Value& r) const {
    const Value* addresses = json::Find(r, "address");
    if (addresses == nullptr || !addresses->IsArray()) return nullptr;
    std::int64_t ref_ms = *spec_.reference_day * kMsPerDay;
    for (const auto& a : addresses->GetArray()) {
      if (!a.IsObject() || json::GetString(a, "use") == "old") continue;
      std::optional<Range> p = PeriodOf(json::Find(a, "period"));
      if (p && p->hi < ref_ms) continue;
      return &a;
    }
    return nullptr;
  }

  Status ReadPatients() {
    const bool needs_age = NeedsAge();
    const std::int64_t ref = *spec_.reference_day;
    consent::RelatedResolver resolver = [this](std::string_view type, std::string_view id) {
      return Related(type, id);
    };
    return Scan("Patient", {}, [&](const Value& r) -> Status {
      std::string id(json::GetString(r, "id"));
      if (id.empty()) return Status::Ok();
      ++stats_.patients_seen;
      PatientState p;
      // Consent.
      if (fail_closed_.count(id) > 0) {
        ++stats_.excluded_by_consent;
        return Status::Ok();
      }
      auto c = consents_.find(id);
      auto policy = consent::Engine::Compile(
          id, c == consents_.end() ? std::vector<consent::Consent>{} : c->second, resolver);
      if (!policy.ok() || !engine_.AllowsResearch(*policy, options_.now_ms)) {
        ++stats_.excluded_by_consent;
        return Status::Ok();
      }
      p.policy = std::move(policy).value();
      p.check_resources = p.policy.research_consents() > 0;
      if (p.check_resources && !Permitted(p, r, "Patient")) {
        ++stats_.excluded_by_consent;
        return Status::Ok();
      }
      // Population.
      std::optional<Range> birth = DateOf(json::Find(r, "birthDate"));
      std::optional<std::int64_t> birth_day;
      if (birth) birth_day = internal::FloorDiv(birth->lo, kMsPerDay);
      bool deceased = false;
      std::int64_t at = ref;
      if (const Value* b = json::Find(r, "deceasedBoolean"); b != nullptr && b->IsBool()) {
        deceased = b->GetBool();
      }
      if (std::optional<Range> d = DateOf(json::Find(r, "deceasedDateTime"))) {
        std::int64_t death_day = internal::FloorDiv(d->lo, kMsPerDay);
        if (death_day <= ref) {
          deceased = true;
          at = death_day;
        }
      }
      if ((spec_.vital_status == VitalStatus::kAlive && deceased) ||
          (spec_.vital_status == VitalStatus::kDeceased && !deceased) ||
          (birth_day && *birth_day > ref) || (needs_age && !birth_day)) {
        ++stats_.excluded_by_population;
        return Status::Ok();
      }
      std::int64_t age = birth_day ? internal::AgeYears(*birth_day, at) : 0;
      if ((spec_.min_age && age < *spec_.min_age) || (spec_.max_age && age > *spec_.max_age)) {
        ++stats_.excluded_by_population;
        return Status::Ok();
      }
      // Patient-level features.
      p.features.resize(spec_.features.size());
      for (std::size_t i = 0; i < spec_.features.size(); ++i) {
        const Feature& f = spec_.features[i];
        FeatureState& s = p.features[i];
        switch (f.type) {
          case FeatureType::kSex: {
            std::string_view g = json::GetString(r, "gender");
            s.text = g == "female" || g == "male" || g == "other" ? std::string(g) : "unknown";
            break;
          }
          case FeatureType::kAge:
            s.number = std::min<std::int64_t>(age, static_cast<std::int64_t>(f.max));
            break;
          case FeatureType::kAgeBand: {
            if (age < f.edges.front()) {
              ++stats_.excluded_by_population;
              return Status::Ok();
            }
            std::vector<std::string> labels = f.BandLabels();
            std::size_t band = 0;
            while (band + 1 < f.edges.size() && age >= f.edges[band + 1]) ++band;
            s.text = labels[band];
            break;
          }
          case FeatureType::kRegion: {
            s.text = "other";
            const Value* address = CurrentAddress(r);
            std::string_view value =
                address != nullptr ? json::GetString(*address, f.field.c_str()) : "";
            for (const std::string& c : f.categories) {
              if (!value.empty() && EqualsIgnoringAsciiCase(value, c)) s.text = c;
            }
            break;
          }
          default:
            break;
        }
      }
      patients_.emplace(std::move(id), std::move(p));
      return Status::Ok();
    });
  }

  std::vector<std::size_t> FeaturesOf(FeatureType type) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < spec_.features.size(); ++i) {
      if (spec_.features[i].type == type) out.push_back(i);
    }
    return out;
  }

  // "system|code" tokens of the features, without repeats.
  std::string TokensOf(const std::vector<std::size_t>& features) const {
    std::vector<std::string> tokens;
    std::set<std::string> seen;
    for (std::size_t i : features) {
      for (const std::string& code : spec_.features[i].codes) {
        std::string t = Token(spec_.features[i].system, code);
        if (seen.insert(t).second) tokens.push_back(std::move(t));
      }
    }
    return JoinTokens(tokens);
  }

  ResourceSource::Params DateParams(const std::string& name) const {
    return {{name, "ge" + FormatDays(spec_.from_day)}, {name, "le" + FormatDays(spec_.to_day)}};
  }

  Status ReadConditions() {
    std::vector<std::size_t> features = FeaturesOf(FeatureType::kCondition);
    if (features.empty() || patients_.empty()) return Status::Ok();
    return Scan("Condition", {{"code", TokensOf(features)}}, [&](const Value& r) {
      PatientState* p = Owner(r, "Condition");
      if (p == nullptr) return Status::Ok();
      const Value* verification = json::Find(r, "verificationStatus");
      if (ConceptHas(verification, "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                     {"refuted", "entered-in-error"})) {
        return Status::Ok();
      }
      std::optional<Range> onset = ChoiceTime(r, "onset");
      std::optional<Range> abatement = ChoiceTime(r, "abatement");
      const Value* code = json::Find(r, "code");
      for (std::size_t i : features) {
        const Feature& f = spec_.features[i];
        if (!ConceptHas(code, f.system, f.codes)) continue;
        bool in_period = false;
        if (f.match == ConditionMatch::kOnset) {
          std::optional<Range> t = onset ? onset : DateOf(json::Find(r, "recordedDate"));
          in_period = t && period_.Overlaps(Range{t->lo, t->lo});
        } else {
          Range active{onset ? onset->lo : kMinMs, abatement ? abatement->hi : kMaxMs};
          in_period = period_.Overlaps(active);
        }
        if (in_period) p->features[i].flag = true;
      }
      return Status::Ok();
    });
  }

  // One Observation value (or the presence of one, for counts) for feature i.
  void AddObservation(PatientState& p, std::size_t i, const Value& holder, const Range& when) {
    const Feature& f = spec_.features[i];
    FeatureState& s = p.features[i];
    if (f.summary == Summary::kCount) {
      ++s.count;
      return;
    }
    double v = 0;
    std::string unit;
    if (const Value* q = json::Find(holder, "valueQuantity"); q != nullptr && q->IsObject()) {
      const Value* value = json::Find(*q, "value");
      if (value == nullptr || !value->IsNumber()) return;
      v = value->GetDouble();
      std::string_view system = json::GetString(*q, "system");
      std::string_view code = json::GetString(*q, "code");
      unit = std::string(!code.empty() && (system.empty() || system == kUcumSystem)
                             ? code
                             : json::GetString(*q, "unit"));
    } else if (const Value* n = json::Find(holder, "valueInteger"); n != nullptr && n->IsInt64()) {
      v = static_cast<double>(n->GetInt64());
      unit = "1";
    } else {
      return;
    }
    if (unit.empty()) unit = "1";
    auto key = std::make_pair(i, unit);
    auto it = conversions_.find(key);
    if (it == conversions_.end()) it = conversions_.emplace(key, Conversion(unit, f.unit)).first;
    if (!it->second) {
      ++stats_.values_skipped;
      return;
    }
    double converted = it->second->a * v + it->second->b;
    if (!std::isfinite(converted)) return;
    s.acc.Add(converted, when.lo);
  }

  Status ReadObservations() {
    std::vector<std::size_t> features = FeaturesOf(FeatureType::kObservation);
    if (features.empty() || patients_.empty()) return Status::Ok();
    std::string tokens = TokensOf(features);
    auto visit = [&](bool components) {
      return [&, components](const Value& r) {
        PatientState* p = Owner(r, "Observation");
        if (p == nullptr) return Status::Ok();
        std::string_view status = json::GetString(r, "status");
        if (status == "entered-in-error" || status == "cancelled") return Status::Ok();
        std::optional<Range> when = ChoiceTime(r, "effective");
        if (!when || !period_.Overlaps(*when)) return Status::Ok();
        for (std::size_t i : features) {
          const Feature& f = spec_.features[i];
          if (!components) {
            if (ConceptHas(json::Find(r, "code"), f.system, f.codes)) {
              AddObservation(*p, i, r, *when);
            }
            continue;
          }
          const Value* list = json::Find(r, "component");
          if (list == nullptr || !list->IsArray()) continue;
          for (const auto& c : list->GetArray()) {
            if (ConceptHas(json::Find(c, "code"), f.system, f.codes)) {
              AddObservation(*p, i, c, *when);
            }
          }
        }
        return Status::Ok();
      };
    };
    ResourceSource::Params params = DateParams("date");
    params.emplace_back("code", tokens);
    SUND_RETURN_IF_ERROR(Scan("Observation", params, visit(false)));
    params.back() = {"component-code", tokens};
    return Scan("Observation", params, visit(true));
  }

  Status ReadMedications() {
    std::vector<std::size_t> features = FeaturesOf(FeatureType::kMedication);
    if (features.empty() || patients_.empty()) return Status::Ok();
    std::string tokens = TokensOf(features);
    // Medication resources with the codes, for requests and statements that reference them.
    std::map<std::string, std::vector<std::size_t>> medications;  // "Medication/id" -> features
    SUND_RETURN_IF_ERROR(Scan("Medication", {{"code", tokens}}, [&](const Value& r) {
      std::string ref = "Medication/" + std::string(json::GetString(r, "id"));
      for (std::size_t i : features) {
        const Feature& f = spec_.features[i];
        if (ConceptHas(json::Find(r, "code"), f.system, f.codes)) medications[ref].push_back(i);
      }
      return Status::Ok();
    }));
    auto visit = [&](std::string_view type) {
      return [&, type](const Value& r) {
        PatientState* p = Owner(r, type);
        if (p == nullptr) return Status::Ok();
        std::string_view status = json::GetString(r, "status");
        if (status == "entered-in-error" || status == "cancelled" || status == "draft" ||
            status == "not-taken") {
          return Status::Ok();
        }
        std::optional<Range> when;
        if (type == "MedicationRequest") {
          when = DateOf(json::Find(r, "authoredOn"));
        } else {
          when = ChoiceTime(r, "effective");
          if (!when) when = DateOf(json::Find(r, "dateAsserted"));
        }
        if (!when || !period_.Overlaps(*when)) return Status::Ok();
        const Value* med_concept = json::Find(r, "medicationCodeableConcept");
        const std::vector<std::size_t>* referenced = nullptr;
        if (const Value* ref = json::Find(r, "medicationReference"); ref != nullptr) {
          auto it = medications.find(LocalRef(json::GetString(*ref, "reference")));
          if (it != medications.end()) referenced = &it->second;
        }
        for (std::size_t i : features) {
          const Feature& f = spec_.features[i];
          bool match = ConceptHas(med_concept, f.system, f.codes) ||
                       (referenced != nullptr &&
                        std::find(referenced->begin(), referenced->end(), i) != referenced->end());
          if (match) p->features[i].flag = true;
        }
        return Status::Ok();
      };
    };
    for (auto [type, date] :
         {std::pair<std::string_view, const char*>{"MedicationRequest", "authoredon"},
          {"MedicationStatement", "effective"}}) {
      ResourceSource::Params params = DateParams(date);
      params.emplace_back("code", tokens);
      SUND_RETURN_IF_ERROR(Scan(type, params, visit(type)));
      // Those naming a Medication resource, a hundred references per search.
      std::vector<std::string> refs;
      for (const auto& [ref, f] : medications) refs.push_back(ref);
      for (std::size_t k = 0; k < refs.size(); k += kRefsPerQuery) {
        std::vector<std::string> part(
            refs.begin() + static_cast<std::ptrdiff_t>(k),
            refs.begin() + static_cast<std::ptrdiff_t>(std::min(refs.size(), k + kRefsPerQuery)));
        ResourceSource::Params by_ref = DateParams(date);
        by_ref.emplace_back("medication", JoinTokens(part));
        SUND_RETURN_IF_ERROR(Scan(type, by_ref, visit(type)));
      }
    }
    return Status::Ok();
  }

  Status ReadEncounters() {
    std::vector<std::size_t> features = FeaturesOf(FeatureType::kEncounterCount);
    if (features.empty() || patients_.empty()) return Status::Ok();
    return Scan("Encounter", DateParams("date"), [&](const Value& r) {
      PatientState* p = Owner(r, "Encounter");
      if (p == nullptr) return Status::Ok();
      std::string_view status = json::GetString(r, "status");
      if (status == "cancelled" || status == "entered-in-error") return Status::Ok();
      std::optional<Range> when = PeriodOf(json::Find(r, "period"));
      if (!when || !period_.Overlaps(*when)) return Status::Ok();
      std::string_view cls;
      if (const Value* c = json::Find(r, "class"); c != nullptr) cls = json::GetString(*c, "code");
      for (std::size_t i : features) {
        const Feature& f = spec_.features[i];
        if (!f.classes.empty() &&
            std::find(f.classes.begin(), f.classes.end(), cls) == f.classes.end()) {
          continue;
        }
        if (!f.type_codes.empty()) {
          const Value* types = json::Find(r, "type");
          bool any = false;
          if (types != nullptr && types->IsArray()) {
            for (const auto& t : types->GetArray()) {
              any = any || ConceptHas(&t, f.type_system, f.type_codes);
            }
          }
          if (!any) continue;
        }
        ++p->features[i].count;
      }
      return Status::Ok();
    });
  }

  std::vector<std::string> Row(const PatientState& p, const Schema& schema) const {
    std::vector<std::string> row(spec_.features.size());
    for (std::size_t i = 0; i < spec_.features.size(); ++i) {
      const Feature& f = spec_.features[i];
      const FeatureState& s = p.features[i];
      const Column& column = schema.columns[i];
      auto clamp = [&](double v) { return std::clamp(v, column.lower, column.upper); };
      switch (f.type) {
        case FeatureType::kSex:
        case FeatureType::kAgeBand:
        case FeatureType::kRegion:
          row[i] = s.text;
          break;
        case FeatureType::kCondition:
        case FeatureType::kMedication:
          row[i] = s.flag ? "1" : "0";
          break;
        case FeatureType::kAge:
          AppendValue(column, clamp(static_cast<double>(s.number)), row[i]);
          break;
        case FeatureType::kEncounterCount:
          AppendValue(column, clamp(static_cast<double>(s.count)), row[i]);
          break;
        case FeatureType::kObservation: {
          if (f.summary == Summary::kCount) {
            AppendValue(column, clamp(static_cast<double>(s.count)), row[i]);
            break;
          }
          if (s.acc.n == 0) break;  // missing
          double v = f.summary == Summary::kLatest ? s.acc.latest
                     : f.summary == Summary::kMean ? s.acc.sum / static_cast<double>(s.acc.n)
                     : f.summary == Summary::kMin  ? s.acc.min
                                                   : s.acc.max;
          AppendValue(column, clamp(v), row[i]);
          break;
        }
      }
    }
    return row;
  }

  ResourceSource& source_;
  const CohortSpec& spec_;
  const ExtractOptions& options_;
  consent::Engine engine_;
  consent::Request request_;
  Range period_;
  ExtractStats stats_;
  std::uint64_t unreported_ = 0;
  std::unordered_map<std::string, std::vector<consent::Consent>> consents_;
  std::unordered_set<std::string> fail_closed_;
  std::unordered_map<std::string, PatientState> patients_;
  std::map<std::pair<std::size_t, std::string>, std::optional<Linear>> conversions_;
};

}  // namespace

Result<ExtractedTable> ExtractCohort(ResourceSource& source, const CohortSpec& spec,
                                     const ExtractOptions& options) {
  auto start = std::chrono::steady_clock::now();
  if (options.now_ms <= 0) return InvalidArgument("ExtractOptions::now_ms is not set");
  CohortSpec resolved = ResolveDates(spec, options.now_ms);
  if (resolved.to_day < resolved.from_day) {
    return InvalidArgument("cohort spec: the period is empty");
  }
  if (resolved.features.empty()) return InvalidArgument("cohort spec: no features");
  if (options.page_size < 1) return InvalidArgument("page_size must be positive");
  Extraction x(source, resolved, options);
  SUND_RETURN_IF_ERROR(x.Run());
  ExtractedTable out = x.TakeTable();
  out.stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

Result<ExtractedTable> ExtractCohort(storage::Store& store, const CohortSpec& spec,
                                     const ExtractOptions& options) {
  std::unique_ptr<ResourceSource> source = StoreSource(store);
  return ExtractCohort(*source, spec, options);
}

}  // namespace sund::synth
