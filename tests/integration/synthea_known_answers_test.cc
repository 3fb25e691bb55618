// Known answers on the Synthea population (120 patients, 92,114 resources) through the HTTP API:
// the data is imported once per test binary with api::Import, then every count is checked over
// HTTP. The expected numbers come from tests/integration/known_answers.py, which computes them
// from the bundles alone (see README.md); synthea_known_answers.inc is its output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "api/importer.h"
#include "api_fixture.h"

namespace sund::itest {
namespace {

#include "synthea_known_answers.inc"

using ::testing::ElementsAreArray;

class SyntheaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* data = std::getenv("SUND_TEST_DATA");
    if (data == nullptr || *data == '\0') {
      skip_reason_ = "SUND_TEST_DATA is not set; it must name the folder holding synthea/";
      return;
    }
    std::filesystem::path dir = std::filesystem::path(data) / "synthea";
    if (!std::filesystem::is_directory(dir)) {
      skip_reason_ = "no Synthea data at " + dir.string();
      return;
    }
    stack_ = std::make_unique<FhirStack>();
    Status s = stack_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    api::ImportOptions o;
    o.progress = false;
    auto summary = api::Import(stack_->engine(), {dir.string()}, o);
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    EXPECT_EQ(summary->failed_files, 0);
    for (const auto& e : summary->errors) ADD_FAILURE() << "import: " << e;
    client_ = std::make_unique<ApiClient>(stack_->port());
  }
  static void TearDownTestSuite() {
    client_.reset();
    stack_.reset();
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_NE(client_, nullptr) << "the import failed";
  }

  static std::int64_t Count(std::string_view query) { return client_->Count(EncodeQuery(query)); }
  static ApiResponse Search(std::string_view query) {
    return client_->Get("/fhir/" + EncodeQuery(query));
  }
  // The server id of the patient with the test SSN.
  static std::string SsnPatientId() {
    ApiResponse r = Search("Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655");
    auto refs = EntryRefs(r.json);
    EXPECT_EQ(refs.size(), 1u);
    return refs.empty() ? std::string() : refs[0].substr(refs[0].find('/') + 1);
  }

  static std::unique_ptr<FhirStack> stack_;
  static std::unique_ptr<ApiClient> client_;
  static std::string skip_reason_;
};

std::unique_ptr<FhirStack> SyntheaTest::stack_;
std::unique_ptr<ApiClient> SyntheaTest::client_;
std::string SyntheaTest::skip_reason_;

// Verifies: REQ-API-075, REQ-API-076
TEST_F(SyntheaTest, ResourceCountsPerType) {
  auto counts = stack_->store().CountByType();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  std::int64_t total = 0;
  for (const auto& [type, n] : *counts) total += n;
  EXPECT_EQ(total, kTotalResources);
  EXPECT_EQ(total, 92'114);
  std::vector<std::pair<std::string, std::int64_t>> expected;
  for (const auto& [type, n] : kTypeCounts) expected.emplace_back(std::string(type), n);
  EXPECT_THAT(*counts, ElementsAreArray(expected));
  // The same over HTTP.
  EXPECT_EQ(Count("Observation"), 42'929);
  EXPECT_EQ(Count("Patient"), 120);
  for (const auto& [type, n] : kTypeCounts) EXPECT_EQ(Count(type), n) << type;
}

// Verifies: REQ-API-060, REQ-API-075
TEST_F(SyntheaTest, CountsFromTheBrief) {
  EXPECT_EQ(Count("Observation?code=http://loinc.org|8310-5"), 512);
  EXPECT_EQ(Count("Observation?code=http://loinc.org|72514-3"), 1'368);
  EXPECT_EQ(Count("Observation?code=http://loinc.org|29463-7"), 1'634);
  EXPECT_EQ(Count("Patient?gender=female"), 64);
  EXPECT_EQ(Count("Patient?gender=male"), 56);
  EXPECT_EQ(Count("Observation?subject:Patient.identifier=http://hl7.org/fhir/sid/us-ssn|"
                  "999-82-5655"),
            1'277);
}

// Verifies: REQ-API-075
TEST_F(SyntheaTest, KnownCountsOverEveryParameterType) {
  for (const auto& [query, expected] : kCounts) {
    EXPECT_EQ(Count(query), expected) << query;
  }
}

// Verifies: REQ-API-072
TEST_F(SyntheaTest, TotalAccurateAgreesWithSummaryCount) {
  for (std::string_view q : {"Observation?code=http://loinc.org|8310-5", "Patient?gender=female",
                             "Encounter?date=2015"}) {
    ApiResponse r = Search(std::string(q) + "&_total=accurate&_count=1");
    ASSERT_EQ(r.status, 200) << q;
    ASSERT_TRUE(r.json.HasMember("total")) << q;
    EXPECT_EQ(r.json["total"].GetInt64(), Count(q)) << q;
    EXPECT_EQ(EntryRefs(r.json).size(), 1u) << q;
  }
}

// Verifies: REQ-API-052, REQ-API-075
TEST_F(SyntheaTest, ReferenceByServerId) {
  std::string id = SsnPatientId();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Count("Encounter?subject=Patient/" + id), kEncountersOfSsnPatient);
  EXPECT_EQ(Count("Encounter?patient=" + id), kEncountersOfSsnPatient);
  EXPECT_EQ(Count("Observation?subject=Patient/" + id), 1'277);
  EXPECT_EQ(Count("Observation?patient=" + id + "&code=http://loinc.org|8310-5"),
            kTemperaturesOfSsnPatient);
}

// Verifies: REQ-API-073, REQ-API-074
TEST_F(SyntheaTest, IncludeAndRevInclude) {
  ApiResponse inc = Search(
      "Observation?code=http://loinc.org|8310-5&subject:Patient.identifier="
      "http://hl7.org/fhir/sid/us-ssn|999-82-5655&_include=Observation:subject&_count=1000");
  ASSERT_EQ(inc.status, 200);
  EXPECT_EQ(static_cast<std::int64_t>(EntryRefs(inc.json, "match").size()),
            kTemperaturesOfSsnPatient);
  auto included = EntryRefs(inc.json, "include");
  ASSERT_EQ(included.size(), 1u);
  EXPECT_EQ(included[0], "Patient/" + SsnPatientId());

  ApiResponse rev = Search(
      "Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655"
      "&_revinclude=Encounter:patient");
  ASSERT_EQ(rev.status, 200);
  EXPECT_EQ(EntryRefs(rev.json, "match").size(), 1u);
  auto encounters = EntryRefs(rev.json, "include");
  EXPECT_EQ(static_cast<std::int64_t>(encounters.size()), kEncountersOfSsnPatient);
  EXPECT_EQ(std::set<std::string>(encounters.begin(), encounters.end()).size(), encounters.size());
}

// Verifies: REQ-API-069, REQ-API-070
TEST_F(SyntheaTest, SortByBirthDateAcrossPages) {
  std::vector<std::string> births;
  std::string next = "/fhir/Patient?_sort=birthdate&_count=25";
  int pages = 0;
  while (!next.empty() && pages < 20) {
    ApiResponse r = client_->Get(next);
    ASSERT_EQ(r.status, 200);
    ++pages;
    for (const auto& e : r.json["entry"].GetArray()) {
      births.emplace_back(json::GetString(e["resource"], "birthDate"));
    }
    next = LinkUrl(r.json, "next");
  }
  EXPECT_EQ(pages, 5);
  std::vector<std::string> expected(std::begin(kBirthDatesAscending),
                                    std::end(kBirthDatesAscending));
  EXPECT_EQ(births, expected);
  ApiResponse youngest = Search("Patient?_sort=-birthdate&_count=1");
  ASSERT_EQ(EntryRefs(youngest.json).size(), 1u);
  EXPECT_EQ(json::GetString(youngest.json["entry"][0]["resource"], "birthDate"), expected.back());
}

// Verifies: REQ-API-070
TEST_F(SyntheaTest, PagingCoversEveryMatchOnce) {
  struct Case {
    std::string query;
    int count;
    std::int64_t expected;
  };
  for (const Case& c :
       {Case{"Observation?code=http://loinc.org|8310-5", 100, 512},
        Case{"Observation?code=http://loinc.org|29463-7", 1000, 1'634},
        Case{"Patient?gender=female", 7, 64}, Case{"Patient?_sort=-_lastUpdated", 50, 120}}) {
    int pages = 0;
    auto refs = client_->AllMatches(
        "/fhir/" + EncodeQuery(c.query + "&_count=" + std::to_string(c.count)), 100, &pages);
    EXPECT_EQ(static_cast<std::int64_t>(refs.size()), c.expected) << c.query;
    EXPECT_EQ(std::set<std::string>(refs.begin(), refs.end()).size(), refs.size()) << c.query;
    EXPECT_EQ(pages, (c.expected + c.count - 1) / c.count) << c.query;
  }
}

// Verifies: REQ-API-038
TEST_F(SyntheaTest, PatientEverything) {
  std::string id = SsnPatientId();
  ApiResponse r = client_->Get("/fhir/Patient/" + id + "/$everything");
  ASSERT_EQ(r.status, 200);
  auto refs = EntryRefs(r.json, "");
  ASSERT_FALSE(refs.empty());
  EXPECT_EQ(refs[0], "Patient/" + id);
  std::int64_t observations = 0, encounters = 0;
  for (const auto& ref : refs) {
    observations += ref.rfind("Observation/", 0) == 0;
    encounters += ref.rfind("Encounter/", 0) == 0;
  }
  EXPECT_EQ(observations, 1'277);
  EXPECT_EQ(encounters, kEncountersOfSsnPatient);
}

}  // namespace
}  // namespace sund::itest
