// Cohort extraction: the table synth learns from, read out of a FHIR store. A cohort spec (JSON or
// YAML, format below) says which patients (those whose Consents permit research, per the consent
// engine, and a population filter) and which features (one column each) over which period;
// ExtractCohort reads the store (or a running server) and returns one row per patient, with the
// Schema of the columns. The schema's domains come from the spec, never from the data, so that
// they stay public (schema.h). Used by `sund synth fit --cohort`; fhir_out.h turns generated rows
// back into FHIR with the same spec.
//
// Spec format. A mapping with these keys (unknown keys are errors, so typos are caught):
//   name            optional label
//   reference_date  "YYYY-MM-DD": ages and vital status are taken at this date; absent: the day
//                   of the extraction (ExtractOptions::now_ms)
//   period          required: {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"} (inclusive), or one of
//                   {"years": N}, {"months": N}, {"days": N}: from N years/months/days before
//                   the reference date up to and including it
//   population      optional: {"vital_status": "any"|"alive"|"deceased" (at the reference
//                   date; default any), "min_age": N, "max_age": N (whole years at the reference
//                   date, or at death)}
//   consent         optional: {"research": "opt-in"|"opt-out"} (default opt-in): the consent
//                   engine's ResearchPolicy (consent/engine.h) for purpose HRESCH. Opt-in takes
//                   patients with an active research Consent that permits; opt-out takes all
//                   but those with one that denies. Finer rules inside research Consents
//                   (exceptions for codes, classes, periods ...) withhold single resources.
//   features        required, a non-empty list; each a mapping with "type" and "name" (the
//                   column; letters, digits, '_', '-', '.'; unique; defaults to the type for
//                   sex, age and age_band and region):
//     sex             Patient.gender -> categories female, male, other, unknown
//     age             whole years -> integer 0..max ("max", default 110; older is clamped)
//     age_band        "edges": [0, 18, 45, 65, 80] (increasing lower bounds) -> categories
//                     "0-17", "18-44", "45-64", "65-79", "80+"; a patient younger than the first
//                     edge is left out (counted with the population filter)
//     region          "field": state|district|city|postalCode|country of the patient's current
//                     address, "categories": [...] (matched ignoring ASCII case) -> those
//                     categories plus "other" (any other value, or no address)
//     condition       "system" and "codes" (or "code"): a Condition with one of them in
//                     Condition.code, "match": "active" (default: its onset..abatement overlaps
//                     the period) or "onset" (onset in the period) -> categories "0", "1".
//                     Refuted and entered-in-error Conditions do not count
//     observation     "code" or "codes" ("system" defaults to http://loinc.org), matched in
//                     Observation.code and Observation.component.code, effective in the period;
//                     "summary": latest|mean|min|max (of valueQuantity, converted to "unit", a
//                     UCUM code; values in other units that do not convert are skipped) ->
//                     continuous "min".."max" (required; values are clamped), "decimals"
//                     (default 1), empty when the patient has none; or "summary": count ->
//                     integer 0.."max". Optional "category" (vital-signs, laboratory ...; the
//                     default is vital-signs for the vital-signs profile's LOINC codes, else
//                     laboratory) and "display", used when writing FHIR
//     medication      "system" and "codes": a MedicationRequest (authoredOn in the period) or
//                     MedicationStatement (effective in the period) whose
//                     medicationCodeableConcept, or referenced Medication's code, has one of
//                     them -> categories "0", "1"
//     encounter_count Encounters overlapping the period, optionally only of "class" (a list of
//                     v3-ActCode codes such as AMB, EMER, IMP) and of "type_system"/"type_codes"
//                     -> integer 0.."max" (required; more are clamped)
//   Numeric features take an optional "bins" (default 32; see Column::bins).
// examples/synth/cohort.json is a worked example; YAML has the same structure.
//
// Privacy: the table holds no identifiers and no dates, only the features. Extraction reports
// counts (patients seen, excluded by consent, excluded by the population filter), never who.
// Errors name the spec path or the resource type, never patient data.
//
// Thread-safety: specs and tables are values; one ExtractCohort per ResourceSource at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "consent/engine.h"
#include "core/csv.h"
#include "core/json.h"
#include "core/status.h"
#include "synth/schema.h"

namespace sund::storage {
class Store;
}

namespace sund::synth {

inline constexpr std::string_view kLoincSystem = "http://loinc.org";

enum class FeatureType : std::uint8_t {
  kSex,
  kAge,
  kAgeBand,
  kRegion,
  kCondition,
  kObservation,
  kMedication,
  kEncounterCount,
};
std::string_view FeatureTypeName(FeatureType t);  // "sex", "age_band", "encounter_count" ...

enum class Summary : std::uint8_t { kLatest, kMean, kMin, kMax, kCount };
std::string_view SummaryName(Summary s);  // "latest", "mean", "min", "max", "count"

enum class ConditionMatch : std::uint8_t { kActive, kOnset };
enum class VitalStatus : std::uint8_t { kAny, kAlive, kDeceased };

// One column of the cohort table. Which members matter depends on `type` (see the format above).
struct Feature {
  FeatureType type = FeatureType::kSex;
  std::string name;
  std::string system;                   // condition, observation, medication: the code system
  std::vector<std::string> codes;       // ... their codes (the first is written by fhir_out)
  std::string display;                  // optional display of the first code (fhir_out)
  std::vector<int> edges;               // age_band: lower bounds, increasing
  std::string field;                    // region: the address element
  std::vector<std::string> categories;  // region: the named values
  ConditionMatch match = ConditionMatch::kActive;
  Summary summary = Summary::kLatest;  // observation
  std::string unit;                    // observation value summaries: UCUM code
  std::string category;                // observation: category code ("" = by code)
  double min = 0;                      // observation values: the range
  double max = 0;                      // observation values; age and counts: the upper bound
  int decimals = 1;                    // observation values
  int bins = 32;
  std::vector<std::string> classes;  // encounter_count: Encounter.class codes (empty: any)
  std::string type_system;           // encounter_count: Encounter.type filter (optional)
  std::vector<std::string> type_codes;

  // The age band labels ("0-17", ..., "80+") of `edges`.
  std::vector<std::string> BandLabels() const;
};

struct CohortSpec {
  std::string name;
  // Days since 1970-01-01. Absent reference: the day of extraction. A relative period (years,
  // months or days > 0) ends at the reference date; else [from_day, to_day].
  std::optional<std::int64_t> reference_day;
  std::int64_t from_day = 0;
  std::int64_t to_day = 0;
  int period_years = 0;
  int period_months = 0;
  int period_days = 0;
  VitalStatus vital_status = VitalStatus::kAny;
  std::optional<int> min_age;
  std::optional<int> max_age;
  consent::ResearchPolicy research = consent::ResearchPolicy::kOptIn;
  std::vector<Feature> features;

  // True when the reference date and the period are absolute dates.
  bool resolved() const {
    return reference_day.has_value() && period_years == 0 && period_months == 0 && period_days == 0;
  }
};

// Parses a spec (JSON when the text starts with '{', else YAML). InvalidArgument naming the path
// and the rule broken ("cohort spec: features[2].codes: must be a non-empty list"), for
// malformed text too (with its line for YAML).
Result<CohortSpec> ParseCohortSpec(std::string_view text);
// Reads and parses a spec file. NotFound when it cannot be read.
Result<CohortSpec> ReadCohortSpecFile(const std::string& path);
// The spec in its JSON form (what ParseCohortSpec reads back to an equal spec), pretty-printed:
// the CLI stores the resolved spec with a fitted model so that generation uses its dates.
std::string CohortSpecToJson(const CohortSpec& spec);

// The spec with absolute dates: the reference date defaults to the UTC day of `now_ms`, a
// relative period becomes [reference - N units, reference] (a month back from the 31st ends on
// the last day of the shorter month).
CohortSpec ResolveDates(const CohortSpec& spec, std::int64_t now_ms);

// The table's schema from the spec alone (public domains; Schema::from_data false), columns in
// feature order.
Schema CohortSchema(const CohortSpec& spec);

// Where extraction reads resources: a Store (offline, `--data DIR`) or a FHIR server's REST API
// (`--url BASE`).
class ResourceSource {
 public:
  using Params = std::vector<std::pair<std::string, std::string>>;
  using Visit = std::function<Status(const rapidjson::Value& resource)>;
  virtual ~ResourceSource() = default;
  // Calls `visit` for every current resource of `type` that matches the FHIR search `params`
  // (names and values as in a query string, not percent-encoded), in pages of `page_size`.
  // Returns the first error of the search or of `visit`.
  virtual Status Scan(std::string_view type, const Params& params, int page_size,
                      const Visit& visit) = 0;
  // The current resource's JSON text; NotFound when absent or deleted.
  virtual Result<std::string> Read(std::string_view type, std::string_view id) = 0;
};

// Reads `store` directly (no access control: the caller is the data controller's own tool, and
// the consent engine is applied by ExtractCohort). The store must outlive the source.
std::unique_ptr<ResourceSource> StoreSource(storage::Store& store);

// GET of an absolute URL: the response body of a 200, else an error (the CLI implements it with
// http::Client and a bearer token, and keeps the URL, which holds ids, out of its messages).
using HttpGet = std::function<Result<std::string>(const std::string& url)>;
// Reads a FHIR server at `base` ("http://host:port/fhir"): searches as base/Type?params, following
// the Bundle's "next" links. The server applies its own access control on top.
std::unique_ptr<ResourceSource> RestSource(std::string base, HttpGet get);

struct ExtractOptions {
  std::int64_t now_ms = 0;  // required: "now" for Consent periods, the default reference date
  int page_size = 1000;
  // Called every thousand resources read, and at the end, with the number read since the
  // last call (for a ProgressBar of unknown total).
  std::function<void(std::uint64_t resources)> progress;
};

struct ExtractStats {
  std::int64_t patients_seen = 0;
  std::int64_t excluded_by_consent = 0;     // research not permitted (or a Consent unreadable)
  std::int64_t excluded_by_population = 0;  // vital status, age, no birth date, below the bands
  std::int64_t extracted = 0;               // rows
  std::int64_t resources_read = 0;
  std::int64_t resources_withheld = 0;   // of included patients, denied by research Consents
  std::int64_t consents_unreadable = 0;  // research Consents that do not parse (fail closed)
  std::int64_t values_skipped = 0;       // observation values without a convertible unit
  double seconds = 0;
};

struct ExtractedTable {
  CsvTable table;
  Schema schema;
  CohortSpec spec;  // resolved (absolute dates): store it with the model
  ExtractStats stats;
};

// Extracts the cohort: one row per included patient (ordered by patient id, no identifiers), one
// column per feature. Reads the research Consents, the Patients, and only the Conditions,
// Observations, medications and Encounters that match the spec's codes and period (one search per
// resource type, paged). Errors: InvalidArgument when options.now_ms is not set or the period is
// empty; the source's errors (Unavailable, ...).
Result<ExtractedTable> ExtractCohort(ResourceSource& source, const CohortSpec& spec,
                                     const ExtractOptions& options);
Result<ExtractedTable> ExtractCohort(storage::Store& store, const CohortSpec& spec,
                                     const ExtractOptions& options);

}  // namespace sund::synth
