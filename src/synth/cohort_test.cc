#include "synth/cohort.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/file_reader.h"
#include "core/time.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "storage/store.h"
#include "synth/fhir_out.h"
#include "synth/internal/dates.h"
#include "synth/internal/test_store.h"

namespace sund::synth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSnomed[] = "http://snomed.info/sct";
constexpr char kRxNorm[] = "http://www.nlm.nih.gov/research/umls/rxnorm";

std::int64_t Ms(const char* date) {
  auto r = ParseFhirDate(date);
  EXPECT_TRUE(r.ok()) << date;
  return r.ok() ? r->lo_ms : 0;
}

const std::int64_t kNow = Ms("2024-06-01T12:00:00Z");

// --- Specs. ---------------------------------------------------------------------------------

const char kSpec[] = R"({
  "name": "test",
  "reference_date": "2024-01-01",
  "period": {"from": "2020-01-01", "to": "2023-12-31"},
  "population": {"vital_status": "alive"},
  "consent": {"research": "opt-out"},
  "features": [
    {"type": "sex"},
    {"type": "age", "max": 100},
    {"type": "age_band", "edges": [0, 18, 65]},
    {"type": "region", "field": "state", "categories": ["Hovedstaden", "Sjælland"]},
    {"type": "condition", "name": "diabetes", "system": "http://snomed.info/sct",
     "codes": ["44054006"]},
    {"type": "condition", "name": "hypertension", "system": "http://snomed.info/sct",
     "code": "59621000"},
    {"type": "observation", "name": "hba1c", "code": "4548-4", "summary": "latest", "unit": "%",
     "min": 3, "max": 15},
    {"type": "observation", "name": "hba1c_mean", "code": "4548-4", "summary": "mean",
     "unit": "%", "min": 3, "max": 15, "decimals": 2},
    {"type": "observation", "name": "glucose", "code": "2339-0", "summary": "max",
     "unit": "mg/dL", "min": 40, "max": 400, "decimals": 0},
    {"type": "observation", "name": "systolic", "code": "8480-6", "summary": "mean",
     "unit": "mm[Hg]", "min": 70, "max": 220, "decimals": 0},
    {"type": "observation", "name": "bp_count", "code": "85354-9", "summary": "count", "max": 5},
    {"type": "medication", "name": "metformin",
     "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "codes": ["860975"]},
    {"type": "encounter_count", "name": "encounters", "max": 3},
    {"type": "encounter_count", "name": "emergency", "class": ["EMER"], "max": 5}
  ]
})";

// The same spec in YAML (codes unquoted where YAML would read them as numbers).
const char kSpecYaml[] = R"(
name: test
reference_date: "2024-01-01"
period: {from: 2020-01-01, to: 2023-12-31}
population:
  vital_status: alive
consent:
  research: opt-out
features:
  - type: sex
  - {type: age, max: 100}
  - type: age_band
    edges: [0, 18, 65]
  - type: region
    field: state
    categories: [Hovedstaden, Sjælland]
  - {type: condition, name: diabetes, system: "http://snomed.info/sct", codes: [44054006]}
  - {type: condition, name: hypertension, system: "http://snomed.info/sct", code: 59621000}
  - {type: observation, name: hba1c, code: 4548-4, summary: latest, unit: "%", min: 3, max: 15}
  - {type: observation, name: hba1c_mean, code: 4548-4, summary: mean, unit: "%", min: 3,
     max: 15, decimals: 2}
  - {type: observation, name: glucose, code: 2339-0, summary: max, unit: mg/dL, min: 40,
     max: 400, decimals: 0}
  - {type: observation, name: systolic, code: 8480-6, summary: mean, unit: "mm[Hg]", min: 70,
     max: 220, decimals: 0}
  - {type: observation, name: bp_count, code: 85354-9, summary: count, max: 5}
  - type: medication
    name: metformin
    system: http://www.nlm.nih.gov/research/umls/rxnorm
    codes: ["860975"]
  - {type: encounter_count, name: encounters, max: 3}
  - {type: encounter_count, name: emergency, class: [EMER], max: 5}
)";

CohortSpec SpecOrDie(std::string_view text) {
  auto spec = ParseCohortSpec(text);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : CohortSpec{};
}

// Verifies: REQ-SYNTH-035
TEST(CohortSpecTest, ReadsEveryFeatureType) {
  CohortSpec spec = SpecOrDie(kSpec);
  EXPECT_EQ(spec.name, "test");
  EXPECT_EQ(spec.reference_day, ParseDays("2024-01-01"));
  EXPECT_EQ(spec.from_day, *ParseDays("2020-01-01"));
  EXPECT_EQ(spec.to_day, *ParseDays("2023-12-31"));
  EXPECT_EQ(spec.vital_status, VitalStatus::kAlive);
  EXPECT_EQ(spec.research, consent::ResearchPolicy::kOptOut);
  ASSERT_EQ(spec.features.size(), 14u);
  EXPECT_EQ(spec.features[0].name, "sex");
  EXPECT_EQ(spec.features[2].BandLabels(), (std::vector<std::string>{"0-17", "18-64", "65+"}));
  EXPECT_THAT(spec.features[5].codes, ElementsAre("59621000"));
  EXPECT_EQ(spec.features[6].system, kLoincSystem);
  EXPECT_EQ(spec.features[7].summary, Summary::kMean);
  EXPECT_EQ(spec.features[7].decimals, 2);
  EXPECT_EQ(spec.features[10].summary, Summary::kCount);
  EXPECT_EQ(spec.features[10].max, 5);
  EXPECT_THAT(spec.features[13].classes, ElementsAre("EMER"));
  EXPECT_TRUE(spec.resolved());
}

// Verifies: REQ-SYNTH-035
TEST(CohortSpecTest, YamlReadsAsJson) {
  CohortSpec json = SpecOrDie(kSpec);
  CohortSpec yaml = SpecOrDie(kSpecYaml);
  EXPECT_EQ(CohortSpecToJson(yaml), CohortSpecToJson(json));
}

// Verifies: REQ-SYNTH-035
TEST(CohortSpecTest, JsonFormRoundTrips) {
  CohortSpec spec = SpecOrDie(kSpec);
  std::string text = CohortSpecToJson(spec);
  CohortSpec again = SpecOrDie(text);
  EXPECT_EQ(CohortSpecToJson(again), text);
  CohortSpec relative = SpecOrDie(R"({"period": {"months": 18}, "features": [{"type": "sex"}]})");
  EXPECT_THAT(CohortSpecToJson(relative), HasSubstr("\"months\": 18"));
  EXPECT_EQ(CohortSpecToJson(SpecOrDie(CohortSpecToJson(relative))), CohortSpecToJson(relative));
}

// Verifies: REQ-SYNTH-035
TEST(CohortSpecTest, ExampleFileParses) {
  std::filesystem::path example =
      std::filesystem::path(SUND_SOURCE_DIR) / "examples/synth/cohort.json";
  if (!std::filesystem::exists(example)) GTEST_SKIP() << "no " << example;
  auto spec = ReadCohortSpecFile(example.string());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_GT(spec->features.size(), 20u);
}

// Verifies: REQ-SYNTH-037
TEST(CohortSpecTest, ResolvesRelativeDates) {
  CohortSpec spec = SpecOrDie(R"({"reference_date": "2021-03-31", "period": {"months": 1},
                                  "features": [{"type": "sex"}]})");
  EXPECT_FALSE(spec.resolved());
  CohortSpec r = ResolveDates(spec, kNow);
  EXPECT_TRUE(r.resolved());
  EXPECT_EQ(FormatDays(r.from_day), "2021-02-28");
  EXPECT_EQ(FormatDays(r.to_day), "2021-03-31");

  CohortSpec years = SpecOrDie(R"({"period": {"years": 2}, "features": [{"type": "sex"}]})");
  CohortSpec ry = ResolveDates(years, kNow);
  EXPECT_EQ(FormatDays(*ry.reference_day), "2024-06-01");
  EXPECT_EQ(FormatDays(ry.from_day), "2022-06-01");
  EXPECT_EQ(FormatDays(ry.to_day), "2024-06-01");

  CohortSpec days = SpecOrDie(R"({"period": {"days": 30}, "reference_date": "2020-03-01",
                                  "features": [{"type": "sex"}]})");
  EXPECT_EQ(FormatDays(ResolveDates(days, kNow).from_day), "2020-01-31");
}

// Verifies: REQ-SYNTH-038
TEST(CohortSpecTest, SchemaDomainsComeFromTheSpec) {
  Schema s = CohortSchema(SpecOrDie(kSpec));
  EXPECT_FALSE(s.from_data);
  ASSERT_EQ(s.columns.size(), 14u);
  EXPECT_THAT(s.columns[0].categories, ElementsAre("female", "male", "other", "unknown"));
  EXPECT_EQ(s.columns[1].kind, ColumnKind::kInteger);
  EXPECT_EQ(s.columns[1].upper, 100);
  EXPECT_THAT(s.columns[2].categories, ElementsAre("0-17", "18-64", "65+"));
  EXPECT_THAT(s.columns[3].categories, ElementsAre("Hovedstaden", "Sjælland", "other"));
  EXPECT_THAT(s.columns[4].categories, ElementsAre("0", "1"));
  EXPECT_EQ(s.columns[6].kind, ColumnKind::kContinuous);
  EXPECT_EQ(s.columns[6].lower, 3);
  EXPECT_EQ(s.columns[6].upper, 15);
  EXPECT_EQ(s.columns[6].decimals, 1);
  EXPECT_TRUE(s.columns[6].missing);
  EXPECT_EQ(s.columns[10].kind, ColumnKind::kInteger);
  EXPECT_EQ(s.columns[10].upper, 5);
  EXPECT_FALSE(s.columns[10].missing);
  EXPECT_EQ(s.columns[12].upper, 3);
  // The schema reads back through the schema format.
  auto parsed = ParseSchema(SchemaToJson(s));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->columns.size(), 14u);
}

struct BadSpec {
  const char* name;
  const char* text;
  const char* error;
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

// Verifies: REQ-SYNTH-036
TEST_P(BadSpecTest, IsRefusedWithAClearMessage) {
  auto spec = ParseCohortSpec(GetParam().text);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(GetParam().error));
  EXPECT_THAT(spec.status().message(), HasSubstr("cohort spec"));
}

#define FEATURES(f) R"({"period": {"years": 1}, "features": [)" f "]}"

INSTANTIATE_TEST_SUITE_P(
    Table, BadSpecTest,
    ::testing::Values(
        BadSpec{"empty", "  ", "empty"}, BadSpec{"bad_json", R"({"period": )", "not valid JSON"},
        BadSpec{"bad_yaml", "period: [1,\nfeatures: {", "not valid YAML (line"},
        BadSpec{"not_a_mapping", "[1, 2]", "(root): must be a mapping"},
        BadSpec{"no_period", R"({"features": [{"type": "sex"}]})", "period: is required"},
        BadSpec{"period_both", R"({"period": {"from": "2020-01-01", "to": "2021-01-01",
                                              "years": 2}, "features": [{"type": "sex"}]})",
                "give from and to, or one of"},
        BadSpec{"period_half", R"({"period": {"from": "2020-01-01"},
                                  "features": [{"type": "sex"}]})",
                "needs from and to"},
        BadSpec{"period_reversed", R"({"period": {"from": "2021-01-01", "to": "2020-01-01"},
                                      "features": [{"type": "sex"}]})",
                "from is after to"},
        BadSpec{"bad_date", R"({"period": {"from": "2020-13-01", "to": "2021-01-01"},
                               "features": [{"type": "sex"}]})",
                "period.from: must be a date YYYY-MM-DD"},
        BadSpec{"bad_reference", R"({"reference_date": "soon", "period": {"years": 1},
                                    "features": [{"type": "sex"}]})",
                "reference_date: must be a date"},
        BadSpec{"negative_years", R"({"period": {"years": -1}, "features": [{"type": "sex"}]})",
                "period.years: must be a whole number"},
        BadSpec{"unknown_key", R"({"period": {"years": 1}, "feature": [],
                                  "features": [{"type": "sex"}]})",
                "feature: unknown key"},
        BadSpec{"unknown_feature_key", FEATURES(R"({"type": "sex", "unit": "%"})"),
                "features[0].unit: unknown key"},
        BadSpec{"no_features", R"({"period": {"years": 1}, "features": []})",
                "features: must be a non-empty list"},
        BadSpec{"unknown_type", FEATURES(R"({"type": "procedure", "name": "x"})"),
                "features[0].type: must be sex, age"},
        BadSpec{"duplicate_name", FEATURES(R"({"type": "sex"}, {"type": "sex"})"),
                "features[1].name: another feature has this name"},
        BadSpec{"bad_name", FEATURES(R"({"type": "sex", "name": "a,b"})"),
                "features[0].name: must be 1-64 letters"},
        BadSpec{"condition_without_name",
                FEATURES(R"({"type": "condition", "system": "s", "codes": ["1"]})"),
                "features[0].name: is required"},
        BadSpec{"condition_without_system",
                FEATURES(R"({"type": "condition", "name": "c", "codes": ["1"]})"),
                "features[0].system: is required"},
        BadSpec{"condition_without_codes",
                FEATURES(R"({"type": "condition", "name": "c", "system": "s", "codes": []})"),
                "features[0].codes: must be a non-empty list"},
        BadSpec{"code_and_codes", FEATURES(R"({"type": "condition", "name": "c", "system": "s",
                                              "codes": ["1"], "code": "2"})"),
                "give code or codes, not both"},
        BadSpec{"bad_match", FEATURES(R"({"type": "condition", "name": "c", "system": "s",
                                         "codes": ["1"], "match": "ever"})"),
                "features[0].match: must be active or onset"},
        BadSpec{"observation_without_range",
                FEATURES(R"({"type": "observation", "name": "o", "code": "1-8",
                             "summary": "latest", "unit": "%"})"),
                "features[0].min: is required"},
        BadSpec{"observation_empty_range",
                FEATURES(R"({"type": "observation", "name": "o", "code": "1-8",
                             "summary": "mean", "unit": "%", "min": 5, "max": 5})"),
                "features[0].max: must be greater than min"},
        BadSpec{"observation_quoted_number",
                FEATURES(R"({"type": "observation", "name": "o", "code": "1-8",
                             "summary": "mean", "unit": "%", "min": "1", "max": 5})"),
                "features[0].min: must be a number"},
        BadSpec{"observation_without_unit",
                FEATURES(R"({"type": "observation", "name": "o", "code": "1-8",
                             "summary": "max", "min": 1, "max": 5})"),
                "features[0].unit: is required"},
        BadSpec{"observation_bad_summary",
                FEATURES(R"({"type": "observation", "name": "o", "code": "1-8",
                             "summary": "median", "unit": "%", "min": 1, "max": 5})"),
                "features[0].summary: must be latest, mean, min, max or count"},
        BadSpec{"count_without_max", FEATURES(R"({"type": "observation", "name": "o", "code": "1-8",
                             "summary": "count"})"),
                "features[0].max: is required"},
        BadSpec{"encounters_without_max", FEATURES(R"({"type": "encounter_count", "name": "e"})"),
                "features[0].max: is required"},
        BadSpec{"encounter_type_half",
                FEATURES(R"({"type": "encounter_count", "name": "e", "max": 3,
                             "type_codes": ["1"]})"),
                "type_system and type_codes go together"},
        BadSpec{"edges_not_increasing", FEATURES(R"({"type": "age_band", "edges": [0, 18, 18]})"),
                "features[0].edges[2]: edges must increase"},
        BadSpec{"edges_missing", FEATURES(R"({"type": "age_band"})"),
                "features[0].edges: must be a non-empty list"},
        BadSpec{"region_bad_field",
                FEATURES(R"({"type": "region", "field": "street", "categories": ["a"]})"),
                "features[0].field: must be state, district"},
        BadSpec{"region_without_categories", FEATURES(R"({"type": "region", "field": "state"})"),
                "features[0].categories: must be a non-empty list"},
        BadSpec{"region_other_category",
                FEATURES(R"({"type": "region", "field": "state", "categories": ["Other"]})"),
                "\"other\" is added by itself"},
        BadSpec{"bad_research_policy", R"({"period": {"years": 1}, "consent": {"research": "yes"},
                                          "features": [{"type": "sex"}]})",
                "consent.research: must be opt-in or opt-out"},
        BadSpec{"bad_vital_status", R"({"period": {"years": 1},
                                       "population": {"vital_status": "living"},
                                       "features": [{"type": "sex"}]})",
                "population.vital_status: must be any, alive or deceased"},
        BadSpec{"ages_reversed", R"({"period": {"years": 1},
                                    "population": {"min_age": 50, "max_age": 40},
                                    "features": [{"type": "sex"}]})",
                "population.max_age: is below min_age"},
        BadSpec{"duplicate_key", R"({"period": {"years": 1}, "period": {"years": 2},
                                    "features": [{"type": "sex"}]})",
                "period: given twice"}),
    [](const ::testing::TestParamInfo<BadSpec>& info) { return std::string(info.param.name); });

#undef FEATURES

// --- Dates. ---------------------------------------------------------------------------------

// Verifies: REQ-SYNTH-037
TEST(CohortDatesTest, CivilDatesRoundTripAndAgesCountBirthdays) {
  for (std::int64_t d = -800'000; d <= 800'000; d += 17) {
    internal::Civil c = internal::CivilFromDays(d);
    ASSERT_EQ(DaysFromCivil(c.year, c.month, c.day), d);
  }
  auto day = [](const char* s) { return *ParseDays(s); };
  EXPECT_EQ(internal::AgeYears(day("1960-05-10"), day("2024-05-09")), 63);
  EXPECT_EQ(internal::AgeYears(day("1960-05-10"), day("2024-05-10")), 64);
  EXPECT_EQ(internal::AgeYears(day("2000-02-29"), day("2021-02-28")), 20);
  EXPECT_EQ(internal::AgeYears(day("2000-02-29"), day("2021-03-01")), 21);
  EXPECT_EQ(internal::AgeYears(day("1900-01-01"), day("1899-12-31")), -1);
  EXPECT_EQ(FormatDays(internal::AddMonths(day("2020-01-31"), 1)), "2020-02-29");
  EXPECT_EQ(FormatDays(internal::AddMonths(day("2020-02-29"), -12)), "2019-02-28");
  EXPECT_EQ(FormatDays(internal::AddMonths(day("1969-12-15"), 1)), "1970-01-15");
}

// --- Extraction from a small store. -----------------------------------------------------------

std::string Patient(const std::string& id, const std::string& extra) {
  return R"({"resourceType":"Patient","id":")" + id + R"(")" + extra + "}";
}

std::string Ref(const std::string& patient) {
  return R"("subject":{"reference":"Patient/)" + patient + R"("})";
}

std::string Condition(const std::string& id, const std::string& patient, const std::string& code,
                      const std::string& extra) {
  return R"({"resourceType":"Condition","id":")" + id + R"(",)" + Ref(patient) +
         R"(,"code":{"coding":[{"system":"http://snomed.info/sct","code":")" + code + R"("}]})" +
         extra + "}";
}

std::string Quantity(double value, const std::string& unit) {
  return R"("valueQuantity":{"value":)" + std::to_string(value) + R"(,"unit":")" + unit +
         R"(","system":"http://unitsofmeasure.org","code":")" + unit + R"("})";
}

std::string Obs(const std::string& id, const std::string& patient, const std::string& code,
                const std::string& when, const std::string& value,
                const std::string& status = "final") {
  return R"({"resourceType":"Observation","id":")" + id + R"(","status":")" + status +
         R"(","code":{"coding":[{"system":"http://loinc.org","code":")" + code + R"("}]},)" +
         Ref(patient) + R"(,"effectiveDateTime":")" + when + R"(")" +
         (value.empty() ? "" : "," + value) + "}";
}

std::string BloodPressure(const std::string& id, const std::string& patient,
                          const std::string& when, int systolic, int diastolic) {
  auto component = [](const char* code, int v) {
    return R"({"code":{"coding":[{"system":"http://loinc.org","code":")" + std::string(code) +
           R"("}]},)" + Quantity(v, "mm[Hg]") + "}";
  };
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},)" +
         Ref(patient) + R"(,"effectiveDateTime":")" + when + R"(","component":[)" +
         component("8480-6", systolic) + "," + component("8462-4", diastolic) + "]}";
}

std::string Encounter(const std::string& id, const std::string& patient, const std::string& cls,
                      const std::string& start, const std::string& end) {
  return R"({"resourceType":"Encounter","id":")" + id +
         R"(","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":")" +
         cls + R"("},)" + Ref(patient) + R"(,"period":{"start":")" + start + R"(","end":")" + end +
         R"("}})";
}

std::string ResearchConsent(const std::string& id, const std::string& patient,
                            const std::string& provision, const std::string& scope = "research") {
  return R"({"resourceType":"Consent","id":")" + id +
         R"(","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":")" +
         scope +
         R"("}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/)" +
         patient + R"("})" + (provision.empty() ? "" : R"(,"provision":)" + provision) + "}";
}

// Seven patients (see each for what it tests). Under the opt-out spec p1, p2 and p6 are
// extracted; p3 denies research, p7's research Consent is unreadable, p4 has died and p5 has no
// birth date. Under opt-in only p2 and p6 (the two research permits) are.
std::vector<std::string> TestResources() {
  const std::string rx = kRxNorm;
  return {
      // p1: no research Consent (a patient-privacy deny does not decide research).
      Patient("p1", R"(,"gender":"female","birthDate":"1960-05-10","address":[{"use":"old",)"
                    R"("state":"Sjælland"},{"use":"home","state":"hovedstaden","city":"K"}])"),
      ResearchConsent("privacy-p1", "p1", R"({"type":"deny"})", "patient-privacy"),
      Condition("c1", "p1", "44054006", R"(,"onsetDateTime":"2015-03-01")"),
      Obs("o1", "p1", "4548-4", "2021-03-01", Quantity(6.5, "%")),
      Obs("o2", "p1", "4548-4", "2023-02-01T10:00:00+01:00", Quantity(7.2, "%")),
      Obs("o3", "p1", "4548-4", "2023-06-01", Quantity(14, "%"), "entered-in-error"),
      Obs("o4", "p1", "2339-0", "2022-01-01", Quantity(7.0, "mmol/L")),  // not convertible
      Obs("o5", "p1", "2339-0", "2022-06-01", Quantity(1.1, "g/L")),     // 110 mg/dL
      BloodPressure("bp1", "p1", "2021-05-05", 130, 80),
      BloodPressure("bp2", "p1", "2022-05-05", 140, 90),
      BloodPressure("bp3", "p1", "2019-05-05", 200, 120),  // before the period
      R"({"resourceType":"MedicationRequest","id":"m1","status":"active","intent":"order",)"
      R"("medicationCodeableConcept":{"coding":[{"system":")" +
          rx + R"(","code":"860975"}]},)" + Ref("p1") + R"(,"authoredOn":"2022-01-01"})",
      Encounter("e1", "p1", "AMB", "2020-02-01T09:00:00Z", "2020-02-01T10:00:00Z"),
      Encounter("e2", "p1", "AMB", "2021-02-01T09:00:00Z", "2021-02-01T10:00:00Z"),
      Encounter("e3", "p1", "AMB", "2022-02-01T09:00:00Z", "2022-02-01T10:00:00Z"),
      Encounter("e4", "p1", "EMER", "2023-02-01T09:00:00Z", "2023-02-01T10:00:00Z"),
      Encounter("e5", "p1", "AMB", "2019-02-01T09:00:00Z", "2019-02-01T10:00:00Z"),

      // p2: research permit; hypertension over before the period, refuted diabetes,
      // metformin through a Medication resource.
      Patient("p2",
              R"(,"gender":"male","birthDate":"1990-01-01","address":[{"state":"Sjælland"}])"),
      ResearchConsent("r-p2", "p2", R"({"type":"permit"})"),
      Condition("c2", "p2", "59621000",
                R"(,"onsetDateTime":"2010-01-01","abatementDateTime":"2018-01-01")"),
      Condition("c3", "p2", "44054006",
                R"(,"verificationStatus":{"coding":[{"system":)"
                R"("http://terminology.hl7.org/CodeSystem/condition-ver-status",)"
                R"("code":"refuted"}]},"onsetDateTime":"2021-01-01")"),
      R"({"resourceType":"Medication","id":"med-metformin","code":{"coding":[{"system":")" + rx +
          R"(","code":"860975"}]}})",
      R"({"resourceType":"MedicationRequest","id":"m2","status":"completed","intent":"order",)"
      R"("medicationReference":{"reference":"Medication/med-metformin"},)" +
          Ref("p2") + R"(,"authoredOn":"2021-07-01"})",
      Obs("o6", "p2", "4548-4", "2022-03-01", Quantity(5.4, "%")),

      // p3: research deny.
      Patient("p3", R"(,"gender":"female","birthDate":"2010-02-01")"),
      ResearchConsent("r-p3", "p3", R"({"type":"deny"})"),
      Condition("c4", "p3", "44054006", R"(,"onsetDateTime":"2021-01-01")"),

      // p4: died before the reference date.
      Patient("p4", R"(,"gender":"male","birthDate":"1940-01-01","deceasedDateTime":"2022-05-01")"),

      // p5: no birth date.
      Patient("p5", R"(,"gender":"other")"),

      // p6: research permit except diabetes; an HbA1c after the period; an encounter that
      // overlaps the period's start.
      Patient("p6", R"(,"birthDate":"1980-07-15","address":[{"city":"Odense"}])"),
      ResearchConsent("r-p6", "p6",
                      R"({"type":"permit","provision":[{"type":"deny","code":[{"coding":[{)"
                      R"("system":"http://snomed.info/sct","code":"44054006"}]}]}]})"),
      Condition("c5", "p6", "44054006", R"(,"onsetDateTime":"2021-01-01")"),
      Obs("o7", "p6", "4548-4", "2024-03-01", Quantity(8.1, "%")),
      Encounter("e6", "p6", "AMB", "2019-12-31T09:00:00Z", "2020-01-02T10:00:00Z"),

      // p7: an active research Consent without a provision does not parse: fail closed.
      Patient("p7", R"(,"gender":"female","birthDate":"1975-01-01")"),
      ResearchConsent("r-p7", "p7", ""),
  };
}

class CohortExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = testing::OpenStoreIn(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    Status s = testing::PutAll(*store_, TestResources());
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  ExtractedTable Extract(const CohortSpec& spec) {
    ExtractOptions o;
    o.now_ms = kNow;
    auto t = ExtractCohort(*store_, spec, o);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : ExtractedTable{};
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
};

using Row = std::vector<std::string>;
const Row kP1 = {"female", "63",  "18-64", "Hovedstaden", "1", "0", "7.2",
                 "6.85",   "110", "135",   "2",           "1", "3", "1"};
const Row kP2 = {"male", "34", "18-64", "Sjælland", "0", "0", "5.4",
                 "5.40", "",   "",      "0",        "1", "0", "0"};
const Row kP6 = {"unknown", "43", "18-64", "other", "0", "0", "", "", "", "", "0", "0", "1", "0"};

// Verifies: REQ-SYNTH-039, REQ-SYNTH-041, REQ-SYNTH-043, REQ-SYNTH-044, REQ-SYNTH-045
TEST_F(CohortExtractTest, OptOutTakesAllButThoseWhoDeny) {
  ExtractedTable t = Extract(SpecOrDie(kSpec));
  EXPECT_THAT(t.table.header,
              ElementsAre("sex", "age", "age_band", "region", "diabetes", "hypertension", "hba1c",
                          "hba1c_mean", "glucose", "systolic", "bp_count", "metformin",
                          "encounters", "emergency"));
  EXPECT_THAT(t.table.rows, ElementsAre(kP1, kP2, kP6));
  EXPECT_EQ(t.stats.patients_seen, 7);
  EXPECT_EQ(t.stats.excluded_by_consent, 2);     // p3 denies, p7 unreadable
  EXPECT_EQ(t.stats.excluded_by_population, 2);  // p4 deceased, p5 no birth date
  EXPECT_EQ(t.stats.extracted, 3);
  EXPECT_EQ(t.stats.consents_unreadable, 1);
  EXPECT_EQ(t.stats.resources_withheld, 1);  // p6's diabetes
  EXPECT_EQ(t.stats.values_skipped, 1);      // glucose in mmol/L
  EXPECT_GT(t.stats.resources_read, 20);
  EXPECT_EQ(t.schema.columns.size(), 14u);
  EXPECT_TRUE(t.spec.resolved());
  // Every value parses in its column.
  for (const Row& row : t.table.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      EXPECT_TRUE(ParseValue(t.schema.columns[i], row[i]).ok()) << t.table.header[i];
    }
  }
}

// Verifies: REQ-SYNTH-040, REQ-SYNTH-045
TEST_F(CohortExtractTest, OptInTakesOnlyThoseWhoPermit) {
  CohortSpec spec = SpecOrDie(kSpec);
  spec.research = consent::ResearchPolicy::kOptIn;
  ExtractedTable t = Extract(spec);
  EXPECT_THAT(t.table.rows, ElementsAre(kP2, kP6));
  EXPECT_EQ(t.stats.patients_seen, 7);
  EXPECT_EQ(t.stats.excluded_by_consent, 5);
  EXPECT_EQ(t.stats.excluded_by_population, 0);
  EXPECT_EQ(t.stats.extracted, 2);
}

// Verifies: REQ-SYNTH-042
TEST_F(CohortExtractTest, PopulationFilterAndAgeAtDeath) {
  CohortSpec spec = SpecOrDie(kSpec);
  spec.vital_status = VitalStatus::kAny;
  spec.min_age = 40;
  ExtractedTable t = Extract(spec);
  // p2 (34) is too young; p4 is in, aged 82 at death; p5 has no birth date.
  ASSERT_EQ(t.table.rows.size(), 3u);
  EXPECT_EQ(t.table.rows[0], kP1);
  EXPECT_THAT(t.table.rows[1], ElementsAre("male", "82", "65+", "other", "0", "0", "", "", "", "",
                                           "0", "0", "0", "0"));
  EXPECT_EQ(t.table.rows[2], kP6);
  EXPECT_EQ(t.stats.excluded_by_population, 2);

  spec.min_age.reset();
  spec.vital_status = VitalStatus::kDeceased;
  EXPECT_EQ(Extract(spec).table.rows.size(), 1u);
}

// Verifies: REQ-SYNTH-042
TEST_F(CohortExtractTest, WithoutAgeFeaturesABirthDateIsNotNeeded) {
  CohortSpec spec = SpecOrDie(R"({"reference_date": "2024-01-01", "period": {"years": 4},
      "consent": {"research": "opt-out"}, "features": [{"type": "sex"}]})");
  ExtractedTable t = Extract(spec);
  // p1, p2, p4 (alive or not: any), p5 (no birth date), p6.
  EXPECT_THAT(t.table.rows,
              ElementsAre(Row{"female"}, Row{"male"}, Row{"male"}, Row{"other"}, Row{"unknown"}));
}

// Verifies: REQ-SYNTH-043
TEST_F(CohortExtractTest, OnsetMatchNeedsTheOnsetInThePeriod) {
  CohortSpec spec = SpecOrDie(R"({"reference_date": "2024-01-01",
      "period": {"from": "2020-01-01", "to": "2023-12-31"}, "consent": {"research": "opt-out"},
      "features": [{"type": "condition", "name": "dm", "system": "http://snomed.info/sct",
                    "codes": ["44054006"], "match": "onset"},
                   {"type": "condition", "name": "dm_active", "system": "http://snomed.info/sct",
                    "codes": ["44054006"]}]})");
  ExtractedTable t = Extract(spec);
  // p1 (onset 2015, still active), p2 (refuted), p4, p5, p6 (withheld).
  EXPECT_THAT(t.table.rows, ElementsAre(Row{"0", "1"}, Row{"0", "0"}, Row{"0", "0"}, Row{"0", "0"},
                                        Row{"0", "0"}));
}

// Verifies: REQ-SYNTH-046
TEST_F(CohortExtractTest, NeedsTheTime) {
  auto t = ExtractCohort(*store_, SpecOrDie(kSpec), ExtractOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-SYNTH-046
TEST(CohortEmptyStoreTest, GivesAHeaderAndNoRows) {
  testing::TempDir dir;
  auto store = testing::OpenStoreIn(dir.path());
  ASSERT_TRUE(store.ok());
  ExtractOptions o;
  o.now_ms = kNow;
  auto t = ExtractCohort(**store, SpecOrDie(kSpec), o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->table.header.size(), 14u);
  EXPECT_TRUE(t->table.rows.empty());
  EXPECT_EQ(t->stats.patients_seen, 0);
}

// Verifies: REQ-SYNTH-047
TEST_F(CohortExtractTest, ReportsProgress) {
  ExtractOptions o;
  o.now_ms = kNow;
  o.page_size = 2;  // many pages
  std::uint64_t reported = 0;
  int calls = 0;
  o.progress = [&](std::uint64_t n) {
    reported += n;
    ++calls;
  };
  auto t = ExtractCohort(*store_, SpecOrDie(kSpec), o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_THAT(t->table.rows, ElementsAre(kP1, kP2, kP6));  // paging changes nothing
  EXPECT_EQ(reported, static_cast<std::uint64_t>(t->stats.resources_read));
  EXPECT_GE(calls, 1);
}

// A FHIR server's search API over the store, as RestSource sees it.
class FakeServer {
 public:
  explicit FakeServer(storage::Store& store) : store_(store) {}

  static std::string Decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  Result<std::string> Get(const std::string& url) {
    ++requests_;
    const std::string base = "http://fhir.test/fhir/";
    if (url.rfind(base, 0) != 0) return NotFound("unknown URL");
    std::string rest = url.substr(base.size());
    std::size_t q = rest.find('?');
    std::string path = rest.substr(0, q);
    if (path.find('/') != std::string::npos) {
      auto v = store_.Read(path.substr(0, path.find('/')), path.substr(path.find('/') + 1));
      if (!v.ok()) return v.status();
      return v->json;
    }
    std::vector<std::pair<std::string, std::string>> params;
    std::string query = q == std::string::npos ? "" : rest.substr(q + 1);
    std::string without_cursor;
    for (std::size_t pos = 0; pos <= query.size();) {
      std::size_t amp = query.find('&', pos);
      if (amp == std::string::npos) amp = query.size();
      std::string piece = query.substr(pos, amp - pos);
      pos = amp + 1;
      if (piece.empty()) continue;
      std::size_t eq = piece.find('=');
      params.emplace_back(Decode(piece.substr(0, eq)), Decode(piece.substr(eq + 1)));
      if (params.back().first != "_cursor") without_cursor += "&" + piece;
    }
    auto search = fhir::ParseSearch(fhir::Model::R4(), path, params, true);
    if (!search.ok()) return search.status();
    auto page = store_.Search(*search);
    if (!page.ok()) return page.status();
    std::string out = R"({"resourceType":"Bundle","type":"searchset","entry":[)";
    for (std::size_t i = 0; i < page->matches.size(); ++i) {
      if (i > 0) out += ",";
      out += R"({"search":{"mode":"match"},"resource":)" + page->matches[i].json + "}";
    }
    out += "]";
    if (page->has_more) {
      out += R"(,"link":[{"relation":"next","url":")" + base + path + "?" +
             without_cursor.substr(1) + "&_cursor=" + std::to_string(page->next_cursor) + R"("}])";
    }
    return out + "}";
  }

  int requests() const { return requests_; }

 private:
  storage::Store& store_;
  int requests_ = 0;
};

// Verifies: REQ-SYNTH-041, REQ-SYNTH-048
TEST_F(CohortExtractTest, RestSourceGivesTheSameTable) {
  FakeServer server(*store_);
  auto source =
      RestSource("http://fhir.test/fhir/", [&](const std::string& url) { return server.Get(url); });
  ExtractOptions o;
  o.now_ms = kNow;
  o.page_size = 3;
  auto t = ExtractCohort(*source, SpecOrDie(kSpec), o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_THAT(t->table.rows, ElementsAre(kP1, kP2, kP6));
  EXPECT_EQ(t->stats.resources_withheld, 1);
  EXPECT_GT(server.requests(), 10);  // paged
}

// Verifies: REQ-SYNTH-048
TEST_F(CohortExtractTest, RestSourceErrorsNameTheTypeNotTheUrl) {
  auto source = RestSource("http://fhir.test/fhir", [](const std::string&) -> Result<std::string> {
    return Status(StatusCode::kUnavailable, "connection refused");
  });
  ExtractOptions o;
  o.now_ms = kNow;
  auto t = ExtractCohort(*source, SpecOrDie(kSpec), o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(t.status().message(), HasSubstr("reading Consent (page 1): connection refused"));
  EXPECT_THAT(t.status().message(), Not(HasSubstr("fhir.test")));
}

}  // namespace
}  // namespace sund::synth
