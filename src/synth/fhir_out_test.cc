#include "synth/fhir_out.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/file_reader.h"
#include "core/time.h"
#include "fhir/model.h"
#include "fhir/validate.h"
#include "synth/internal/dates.h"
#include "synth/internal/test_store.h"

namespace sund::synth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Row = std::vector<std::string>;

const char kSpec[] = R"({
  "reference_date": "2024-01-01",
  "period": {"from": "2021-01-01", "to": "2023-12-31"},
  "population": {"min_age": 18},
  "consent": {"research": "opt-out"},
  "features": [
    {"type": "sex"},
    {"type": "age_band", "edges": [18, 40, 65, 80]},
    {"type": "region", "field": "district", "categories": ["Nord", "Syd"]},
    {"type": "condition", "name": "diabetes", "system": "http://snomed.info/sct",
     "codes": ["44054006", "73211009"], "display": "Diabetes"},
    {"type": "observation", "name": "hba1c", "code": "4548-4", "summary": "latest", "unit": "%",
     "min": 3, "max": 15},
    {"type": "observation", "name": "weight", "code": "29463-7", "summary": "mean",
     "unit": "kg", "min": 30, "max": 250, "decimals": 0},
    {"type": "observation", "name": "weight_count", "code": "29463-7", "summary": "count",
     "max": 6},
    {"type": "observation", "name": "glucose_count", "code": "2339-0", "summary": "count",
     "max": 6},
    {"type": "medication", "name": "metformin",
     "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "codes": ["860975"]},
    {"type": "encounter_count", "name": "encounters", "max": 20},
    {"type": "encounter_count", "name": "emergency", "class": ["EMER"], "max": 5}
  ]
})";

const std::vector<std::string> kHeader = {
    "sex",          "age_band",      "region",    "diabetes",   "hba1c",    "weight",
    "weight_count", "glucose_count", "metformin", "encounters", "emergency"};

const std::vector<Row> kRows = {
    {"female", "65-79", "Nord", "1", "7.4", "81", "3", "0", "1", "4", "1"},
    {"male", "18-39", "other", "0", "", "", "0", "2", "0", "0", "0"},
    {"other", "80+", "Syd", "0", "5.1", "60", "1", "0", "0", "7", "2"},
    {"unknown", "40-64", "Nord", "1", "12.0", "140", "5", "1", "1", "1", "0"},
};

CohortSpec Spec() {
  auto spec = ParseCohortSpec(kSpec);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : CohortSpec{};
}

FhirWriterOptions Seed(std::uint64_t seed, int max_shift_days = 90) {
  FhirWriterOptions o;
  o.seed = seed;
  o.max_shift_days = max_shift_days;
  return o;
}

FhirWriter Writer(FhirWriterOptions options = {}) {
  auto w = FhirWriter::Create(Spec(), kHeader, std::move(options));
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return std::move(w).value();
}

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError());
  return doc;
}

// Verifies: REQ-SYNTH-050, REQ-SYNTH-051
TEST(FhirWriterTest, WritesValidResourcesReferencingTheBundlesPatients) {
  FhirWriter w = Writer();
  auto b = w.Bundle(kRows, 0, kRows.size(), 1);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->patients, 4u);
  rapidjson::Document doc = Parse(b->json);
  EXPECT_EQ(json::GetString(doc, "type"), "transaction");
  ASSERT_TRUE(doc["entry"].IsArray());
  EXPECT_EQ(doc["entry"].Size(), b->resources);
  std::set<std::string> patients;
  std::map<std::string, int> types;
  std::set<std::string> urls;
  for (const auto& e : doc["entry"].GetArray()) {
    std::string url(json::GetString(e, "fullUrl"));
    EXPECT_EQ(url.rfind("urn:uuid:", 0), 0u);
    EXPECT_EQ(url.size(), 45u);
    EXPECT_TRUE(urls.insert(url).second) << "fullUrls are unique";
    const rapidjson::Value& r = e["resource"];
    std::string type(json::GetString(r, "resourceType"));
    ++types[type];
    Status valid = fhir::ValidateResource(fhir::Model::R4(), r);
    EXPECT_TRUE(valid.ok()) << type << ": " << valid.ToString();
    EXPECT_EQ(json::GetString(e["request"], "method"), "POST");
    EXPECT_EQ(json::GetString(e["request"], "url"), type);
    EXPECT_EQ(json::GetString(r["meta"]["tag"][0], "code"), "HTEST");
    if (type == "Patient") {
      patients.insert(url);
      EXPECT_EQ(json::GetString(r["identifier"][0], "system"), "urn:sund:synthetic");
      EXPECT_FALSE(json::GetString(r["name"][0], "family").empty());
    } else {
      std::string subject(json::GetString(r["subject"], "reference"));
      EXPECT_EQ(patients.count(subject), 1u) << type << " refers to a Patient of the Bundle";
    }
  }
  EXPECT_EQ(types["Patient"], 4);
  EXPECT_EQ(types["Condition"], 2);
  EXPECT_EQ(types["MedicationStatement"], 2);
  // Observations: weight max(count, 1 value) 3 + 0 + 1 + 5; HbA1c 1 + 0 + 1 + 1; glucose 0 + 2
  // + 0 + 1.
  EXPECT_EQ(types["Observation"], 9 + 3 + 3);
  // Encounters: the general count covers the emergency ones: 4 + 0 + 7 + 1.
  EXPECT_EQ(types["Encounter"], 12);
}

// Verifies: REQ-SYNTH-052
TEST(FhirWriterTest, PatientsFollowTheirRows) {
  FhirWriter w = Writer();
  auto b = w.Bundle(kRows, 0, kRows.size(), 1);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  rapidjson::Document doc = Parse(b->json);
  std::vector<const rapidjson::Value*> pats;
  for (const auto& e : doc["entry"].GetArray()) {
    if (json::GetString(e["resource"], "resourceType") == "Patient") pats.push_back(&e["resource"]);
  }
  ASSERT_EQ(pats.size(), 4u);
  const std::int64_t ref = *ParseDays("2024-01-01");
  auto age = [&](const rapidjson::Value& p) {
    return internal::AgeYears(*ParseDays(json::GetString(p, "birthDate")), ref);
  };
  EXPECT_EQ(json::GetString(*pats[0], "gender"), "female");
  EXPECT_EQ(json::GetString((*pats[0])["address"][0], "district"), "Nord");
  EXPECT_GE(age(*pats[0]), 65);
  EXPECT_LE(age(*pats[0]), 79);
  EXPECT_EQ(json::GetString(*pats[1], "gender"), "male");
  EXPECT_FALSE(pats[1]->HasMember("address"));  // "other"
  EXPECT_GE(age(*pats[1]), 18);
  EXPECT_LE(age(*pats[1]), 39);
  EXPECT_EQ(json::GetString(*pats[2], "gender"), "other");
  EXPECT_GE(age(*pats[2]), 80);
  EXPECT_EQ(json::GetString(*pats[3], "gender"), "unknown");
  EXPECT_EQ(json::GetString((*pats[0])["identifier"][0], "value"), "syn1-000001");
  EXPECT_EQ(json::GetString((*pats[3])["identifier"][0], "value"), "syn1-000004");
}

// Verifies: REQ-SYNTH-052
TEST(FhirWriterTest, AgesAndDatesStayInsideBandAndPeriod) {
  CohortSpec spec = Spec();
  FhirWriter w = Writer(Seed(7, 400));
  std::vector<Row> rows;
  const std::vector<std::string> bands = {"18-39", "40-64", "65-79", "80+"};
  for (int i = 0; i < 400; ++i) {
    rows.push_back({i % 2 ? "female" : "male", bands[i % 4], "Nord", "1", "6.0", "70", "2", "1",
                    "1", "3", "1"});
  }
  auto b = w.Bundle(rows, 0, rows.size(), 1);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  rapidjson::Document doc = Parse(b->json);
  std::map<std::string, std::int64_t> birth_of;  // patient url -> birth day
  std::int64_t shifted = 0;
  std::size_t patient = 0;
  for (const auto& e : doc["entry"].GetArray()) {
    const rapidjson::Value& r = e["resource"];
    std::string_view type = json::GetString(r, "resourceType");
    if (type == "Patient") {
      std::int64_t birth = *ParseDays(json::GetString(r, "birthDate"));
      std::int64_t age = internal::AgeYears(birth, *spec.reference_day);
      const std::string& band = bands[patient++ % 4];
      int lo = std::stoi(band.substr(0, 2));
      EXPECT_GE(age, lo) << band;
      if (band != "80+") {
        EXPECT_LE(age, std::stoi(band.substr(3))) << band;
      }
      birth_of[std::string(json::GetString(e, "fullUrl"))] = birth;
      continue;
    }
    std::string_view when = type == "Condition"   ? json::GetString(r, "onsetDateTime")
                            : type == "Encounter" ? json::GetString(r["period"], "start")
                                                  : json::GetString(r, "effectiveDateTime");
    auto t = ParseFhirDate(when);
    ASSERT_TRUE(t.ok()) << when;
    std::int64_t day = internal::FloorDiv(t->lo_ms, internal::kMsPerDay);
    EXPECT_GE(day, spec.from_day);
    EXPECT_LE(day, spec.to_day);
    EXPECT_GE(day, birth_of[std::string(json::GetString(r["subject"], "reference"))]);
    ++shifted;
  }
  EXPECT_EQ(patient, 400u);
  EXPECT_GT(shifted, 400 * 8);
}

// Verifies: REQ-SYNTH-053
TEST(FhirWriterTest, IsDeterministicPerSeedAndPatient) {
  FhirWriter a = Writer(Seed(3));
  FhirWriter b = Writer(Seed(3));
  FhirWriter c = Writer(Seed(4));
  auto all_a = a.Bundle(kRows, 0, kRows.size(), 1);
  auto all_b = b.Bundle(kRows, 0, kRows.size(), 1);
  auto all_c = c.Bundle(kRows, 0, kRows.size(), 1);
  ASSERT_TRUE(all_a.ok() && all_b.ok() && all_c.ok());
  EXPECT_EQ(all_a->json, all_b->json);
  EXPECT_NE(all_a->json, all_c->json);
  // A patient's resources do not depend on the others in the Bundle.
  auto third = a.Bundle(kRows, 2, 3, 3);
  ASSERT_TRUE(third.ok());
  std::string entries = third->json.substr(third->json.find('[') + 1);
  entries = entries.substr(0, entries.size() - 2);
  EXPECT_THAT(all_a->json, HasSubstr(entries));
}

// Verifies: REQ-SYNTH-054
TEST(FhirWriterTest, BadRowsNameRowAndColumnNotTheValue) {
  FhirWriter w = Writer();
  std::vector<Row> rows = kRows;
  rows[1][2] = "Hovedstaden-secret";
  auto b = w.Bundle(rows, 0, rows.size(), 1);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("row 2"));
  EXPECT_THAT(b.status().message(), HasSubstr("'region'"));
  EXPECT_THAT(b.status().message(), Not(HasSubstr("secret")));

  rows = kRows;
  rows[2][4] = "high";
  b = w.Bundle(rows, 0, rows.size(), 1);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("row 3: column 'hba1c'"));

  rows = kRows;
  rows[0].pop_back();
  b = w.Bundle(rows, 0, rows.size(), 1);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("row 1 has 10 fields, the header 11"));

  EXPECT_FALSE(FhirWriter::Create(Spec(), {"sex", "sex"}).ok());
}

// Verifies: REQ-SYNTH-055
TEST(FhirWriterTest, MissingColumnsAreLeftOutOrDrawn) {
  auto w = FhirWriter::Create(Spec(), {"diabetes", "unrelated"});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto b = w->Bundle({{"1", "x"}, {"0", "y"}}, 0, 2, 1);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  rapidjson::Document doc = Parse(b->json);
  std::map<std::string, int> types;
  for (const auto& e : doc["entry"].GetArray()) {
    const rapidjson::Value& r = e["resource"];
    ++types[std::string(json::GetString(r, "resourceType"))];
    if (json::GetString(r, "resourceType") == "Patient") {
      std::string_view g = json::GetString(r, "gender");
      EXPECT_TRUE(g == "female" || g == "male");
      auto age =
          internal::AgeYears(*ParseDays(json::GetString(r, "birthDate")), *ParseDays("2024-01-01"));
      EXPECT_GE(age, 18);  // the population's min_age
      EXPECT_LE(age, 90);
    }
  }
  EXPECT_EQ(types.size(), 2u);
  EXPECT_EQ(types["Patient"], 2);
  EXPECT_EQ(types["Condition"], 1);
}

// Verifies: REQ-SYNTH-056
TEST(FhirWriterTest, FilesStayUnderTheEntryLimit) {
  testing::TempDir dir;
  FhirWriter w = Writer();
  CsvTable table;
  table.header = kHeader;
  for (int i = 0; i < 12; ++i) table.rows.push_back(kRows[i % kRows.size()]);
  // Patients of 11, 3, 10 and 11 resources, at most 30 per file: 24, 25, 21, 24 and 11.
  auto written = WriteFhirBundles(w, table, (dir.path() / "out").string(), 100, 30);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->patients, 12u);
  std::size_t total = 0, files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out")) {
    auto text = ReadFileDecompressed(e.path().string());
    ASSERT_TRUE(text.ok());
    rapidjson::Document doc = Parse(*text);
    EXPECT_LE(doc["entry"].Size(), 30u);
    EXPECT_GT(doc["entry"].Size(), 0u);
    total += doc["entry"].Size();
    ++files;
  }
  EXPECT_EQ(files, written->files);
  EXPECT_EQ(total, written->resources);
  EXPECT_EQ(files, 5u);

  auto too_big = WriteFhirBundles(w, table, (dir.path() / "small").string(), 100, 10);
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), HasSubstr("row 1 makes 11 resources"));
}

// Verifies: REQ-SYNTH-057
TEST(FhirWriterTest, BundlesLoadAndReadBackAsTheirRows) {
  testing::TempDir dir;
  FhirWriter w = Writer(Seed(11));
  CsvTable table;
  table.header = kHeader;
  for (int i = 0; i < 25; ++i) table.rows.push_back(kRows[i % kRows.size()]);
  auto written = WriteFhirBundles(w, table, (dir.path() / "out").string(), 10);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->files, 3u);
  EXPECT_EQ(written->patients, 25u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / "synthetic-000001.json"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / "synthetic-000003.json"));

  auto store = testing::OpenStoreIn(dir.path());
  ASSERT_TRUE(store.ok());
  std::size_t loaded = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out")) {
    auto text = ReadFileDecompressed(e.path().string());
    ASSERT_TRUE(text.ok());
    auto n = testing::LoadBundle(**store, *text, /*validate=*/true);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    loaded += *n;
  }
  EXPECT_EQ(loaded, written->resources);

  ExtractOptions o;
  o.now_ms = 1'717'243'200'000;  // 2024-06-01
  auto back = ExtractCohort(**store, Spec(), o);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->table.header, kHeader);
  std::multiset<Row> want(table.rows.begin(), table.rows.end());
  std::multiset<Row> got(back->table.rows.begin(), back->table.rows.end());
  EXPECT_TRUE(want == got);
}

}  // namespace
}  // namespace sund::synth
