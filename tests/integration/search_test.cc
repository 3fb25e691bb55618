// FHIR R4 search through the HTTP API (search.html), at the boundaries of each parameter type,
// modifier and prefix, on a small data set written once per suite: the expected matches follow
// from the data below and the spec, never from what the server answered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "api_fixture.h"

namespace sund::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// The data set. Patients (in creation order):
//   pat-smith     Smith, John    male    1980-05-15  urn:mrn|A1  GP doc1  org1  Oslo
//   pat-smithson  Smithson, Jane female  1975        urn:mrn|A2, urn:other|B2
//   pat-muller    Müller, Anna   female  1990-03     NOSYS (no system)
//   pat-jones     Jones, John Paul male  1980-05-16  GP doc2
//   pat-anon      (nothing but the id)
// Observations: code, subject, effective, value
//   obs-w1  loinc|29463-7 "Body weight"       pat-smith    2020-01-01T10:00:00Z       80 kg
//   obs-w2  loinc|29463-7 "Body weight"       pat-jones    2020-01-15                 72.5 kg
//   obs-hr  loinc|8867-4  "Heart rate"        pat-smith    2020-02                    60 /min
//   obs-y   loinc|8310-5  "Body temperature"  pat-smithson 2021                       37 Cel
//   obs-mg  urn:local|drug                    pat-muller   1990-06-01                 5.4 mg
//   obs-g   urn:local|drug                    pat-muller   2020-01-01T11:00:00+01:00  0.0054 g
//   obs-id  urn:local|note   subject by identifier urn:mrn|A2 only
//   obs-ps  urn:local|shared  Patient/shared (no such resource)
//   obs-gs  urn:local|shared  Group/shared
// RiskAssessment ra1..ra6 with probability 99.4, 99.6, 100, 100.4, 100.6, 101.
// ValueSet vs1 http://acme.org/fhir/ValueSet/colors, vs2 .../colors-extended,
//   vs3 http://other.org/ValueSet/x.
class SearchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite() {
    client_.reset();
    stack_.reset();
  }

  // Ids of every match of `query` (written unencoded, "Type?name=value&..."), over all pages.
  static std::vector<std::string> Ids(std::string_view query) {
    std::vector<std::string> ids;
    for (const auto& ref : client_->AllMatches("/fhir/" + EncodeQuery(query))) {
      ids.push_back(ref.substr(ref.find('/') + 1));
    }
    return ids;
  }
  static ApiResponse Search(std::string_view query, const http::Headers& h = {}) {
    return client_->Get("/fhir/" + EncodeQuery(query), h);
  }
  static std::string LastUpdated(std::string_view ref) {
    ApiResponse r = client_->Get("/fhir/" + std::string(ref));
    return std::string(json::GetString(r.json["meta"], "lastUpdated"));
  }

  static std::unique_ptr<FhirStack> stack_;
  static std::unique_ptr<ApiClient> client_;
};

std::unique_ptr<FhirStack> SearchTest::stack_;
std::unique_ptr<ApiClient> SearchTest::client_;

void SearchTest::SetUpTestSuite() {
  stack_ = std::make_unique<FhirStack>();
  Status s = stack_->Start();
  ASSERT_TRUE(s.ok()) << s.ToString();
  client_ = std::make_unique<ApiClient>(stack_->port());
  auto put = [](std::string ref, std::string body) {
    std::string type = ref.substr(0, ref.find('/'));
    std::string id = ref.substr(ref.find('/') + 1);
    body = R"({"resourceType":")" + type + R"(","id":")" + id + "\"," + body + "}";
    ApiResponse r = client_->Put("/fhir/" + ref, body);
    ASSERT_EQ(r.status, 201) << ref << ": " << r.body;
  };
  put("Organization/org1", R"("name":"Acme Health")");
  put("Practitioner/doc1", R"("name":[{"family":"House"}])");
  put("Practitioner/doc2", R"("name":[{"family":"Grey"}])");
  put("Group/shared", R"("type":"person","actual":true)");
  put("Patient/pat-smith", R"("name":[{"family":"Smith","given":["John"]}],"gender":"male",
      "birthDate":"1980-05-15","identifier":[{"system":"urn:mrn","value":"A1"}],"active":true,
      "generalPractitioner":[{"reference":"Practitioner/doc1"}],
      "managingOrganization":{"reference":"Organization/org1"},"address":[{"city":"Oslo"}],
      "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">John</div>"},
      "photo":[{"contentType":"image/png","url":"http://example.org/p.png"}],
      "contact":[{"name":{"family":"Smith"}}])");
  put("Patient/pat-smithson", R"("name":[{"family":"Smithson","given":["Jane"]}],"gender":"female",
      "birthDate":"1975","identifier":[{"system":"urn:mrn","value":"A2"},
      {"system":"urn:other","value":"B2"}])");
  put("Patient/pat-muller", R"("name":[{"family":"Müller","given":["Anna"]}],"gender":"female",
      "birthDate":"1990-03","identifier":[{"value":"NOSYS"}])");
  put("Patient/pat-jones", R"("name":[{"family":"Jones","given":["John","Paul"]}],"gender":"male",
      "birthDate":"1980-05-16","generalPractitioner":[{"reference":"Practitioner/doc2"}])");
  put("Patient/pat-anon", R"("meta":{"tag":[{"system":"urn:tag","code":"anon"}]})");
  put("Encounter/enc1", R"("status":"finished","class":{"code":"AMB"},
      "subject":{"reference":"Patient/pat-smith"})");
  auto obs = [&](std::string id, std::string code, std::string subject, std::string effective,
                 std::string value) {
    std::string body = R"("status":"final","code":)" + code;
    if (!subject.empty()) body += R"(,"subject":)" + subject;
    if (!effective.empty()) body += "," + effective;
    if (!value.empty()) body += R"(,"valueQuantity":)" + value;
    put("Observation/" + id, body);
  };
  const std::string weight =
      R"({"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"}],"text":"Body weight"})";
  const std::string ucum = R"("system":"http://unitsofmeasure.org")";
  obs("obs-w1", weight, R"({"reference":"Patient/pat-smith"})",
      R"("effectiveDateTime":"2020-01-01T10:00:00Z","encounter":{"reference":"Encounter/enc1"})",
      R"({"value":80,"unit":"kg",)" + ucum + R"(,"code":"kg"})");
  obs("obs-w2", weight, R"({"reference":"Patient/pat-jones"})",
      R"("effectiveDateTime":"2020-01-15")",
      R"({"value":72.5,"unit":"kg",)" + ucum + R"(,"code":"kg"})");
  obs("obs-hr",
      R"({"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]})",
      R"({"reference":"Patient/pat-smith"})", R"("effectiveDateTime":"2020-02")",
      R"({"value":60,"unit":"/min",)" + ucum + R"(,"code":"/min"})");
  obs("obs-y",
      R"({"coding":[{"system":"http://loinc.org","code":"8310-5","display":"Body temperature"}]})",
      R"({"reference":"Patient/pat-smithson"})", R"("effectiveDateTime":"2021")",
      R"({"value":37,"unit":"C",)" + ucum + R"(,"code":"Cel"})");
  obs("obs-mg", R"({"coding":[{"system":"urn:local","code":"drug"}]})",
      R"({"reference":"Patient/pat-muller"})", R"("effectiveDateTime":"1990-06-01")",
      R"({"value":5.4,"unit":"mg",)" + ucum + R"(,"code":"mg"})");
  obs("obs-g", R"({"coding":[{"system":"urn:local","code":"drug"}]})",
      R"({"reference":"Patient/pat-muller"})", R"("effectiveDateTime":"2020-01-01T11:00:00+01:00")",
      R"({"value":0.0054,"unit":"g",)" + ucum + R"(,"code":"g"})");
  obs("obs-id", R"({"coding":[{"system":"urn:local","code":"note"}]})",
      R"({"identifier":{"system":"urn:mrn","value":"A2"}})", "", "");
  obs("obs-ps", R"({"coding":[{"system":"urn:local","code":"shared"}]})",
      R"({"reference":"Patient/shared"})", "", "");
  obs("obs-gs", R"({"coding":[{"system":"urn:local","code":"shared"}]})",
      R"({"reference":"Group/shared"})", "", "");
  const char* probabilities[] = {"99.4", "99.6", "100", "100.4", "100.6", "101"};
  for (int i = 0; i < 6; ++i) {
    put("RiskAssessment/ra" + std::to_string(i + 1),
        R"("status":"final","subject":{"reference":"Patient/pat-smith"},
        "prediction":[{"probabilityDecimal":)" +
            std::string(probabilities[i]) + "}]");
  }
  put("ValueSet/vs1", R"("url":"http://acme.org/fhir/ValueSet/colors","status":"active")");
  put("ValueSet/vs2", R"("url":"http://acme.org/fhir/ValueSet/colors-extended","status":"active")");
  put("ValueSet/vs3", R"("url":"http://other.org/ValueSet/x","status":"active")");
}

// ---- string ----

// Verifies: REQ-API-050
TEST_F(SearchTest, StringDefaultIsCaseAndAccentInsensitivePrefix) {
  EXPECT_THAT(Ids("Patient?family=smith"), UnorderedElementsAre("pat-smith", "pat-smithson"));
  EXPECT_THAT(Ids("Patient?family=SMITHS"), UnorderedElementsAre("pat-smithson"));
  EXPECT_THAT(Ids("Patient?family=muller"), UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?name=MÜLL"), UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?given=paul"), UnorderedElementsAre("pat-jones"));
  EXPECT_THAT(Ids("Patient?family=mith"), IsEmpty());  // a prefix, not a substring
  EXPECT_THAT(Ids("Patient?address-city=oslo"), UnorderedElementsAre("pat-smith"));
}

// Verifies: REQ-API-050
TEST_F(SearchTest, StringExactAndContains) {
  EXPECT_THAT(Ids("Patient?family:exact=Smith"), UnorderedElementsAre("pat-smith"));
  EXPECT_THAT(Ids("Patient?family:exact=smith"), IsEmpty());
  EXPECT_THAT(Ids("Patient?family:exact=Smit"), IsEmpty());
  EXPECT_THAT(Ids("Patient?family:exact=Müller"), UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?family:contains=MITH"),
              UnorderedElementsAre("pat-smith", "pat-smithson"));
  EXPECT_THAT(Ids("Patient?family:contains=son"), UnorderedElementsAre("pat-smithson"));
  EXPECT_THAT(Ids("Patient?name:contains=ohn"), UnorderedElementsAre("pat-smith", "pat-jones"));
  EXPECT_THAT(Ids("Patient?family:contains=%"), IsEmpty());  // LIKE wildcards are literal
}

// ---- token ----

// Verifies: REQ-API-051
TEST_F(SearchTest, TokenCodeSystemAndBothForms) {
  EXPECT_THAT(Ids("Patient?identifier=A2"), UnorderedElementsAre("pat-smithson"));
  EXPECT_THAT(Ids("Patient?identifier=urn:mrn|A2"), UnorderedElementsAre("pat-smithson"));
  EXPECT_THAT(Ids("Patient?identifier=urn:other|A2"), IsEmpty());  // system and code together
  EXPECT_THAT(Ids("Patient?identifier=urn:mrn|"),
              UnorderedElementsAre("pat-smith", "pat-smithson"));
  EXPECT_THAT(Ids("Patient?identifier=|NOSYS"), UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?identifier=|A1"), IsEmpty());  // A1 has a system
  EXPECT_THAT(Ids("Patient?identifier=NOSYS"), UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?gender=male"), UnorderedElementsAre("pat-smith", "pat-jones"));
  EXPECT_THAT(Ids("Patient?gender=MALE"), IsEmpty());  // codes are case-sensitive
  EXPECT_THAT(Ids("Observation?code=http://loinc.org|29463-7"),
              UnorderedElementsAre("obs-w1", "obs-w2"));
  EXPECT_THAT(Ids("Patient?active=true"), UnorderedElementsAre("pat-smith"));
  EXPECT_THAT(Ids("Patient?_tag=urn:tag|anon"), UnorderedElementsAre("pat-anon"));
}

// Verifies: REQ-API-051
TEST_F(SearchTest, TokenNotIncludesResourcesWithoutTheElement) {
  EXPECT_THAT(Ids("Patient?gender:not=male"),
              UnorderedElementsAre("pat-smithson", "pat-muller", "pat-anon"));
  EXPECT_THAT(Ids("Patient?identifier:not=urn:mrn|A1"),
              UnorderedElementsAre("pat-smithson", "pat-muller", "pat-jones", "pat-anon"));
}

// Verifies: REQ-API-051
TEST_F(SearchTest, TokenTextSearchesDisplayAndText) {
  EXPECT_THAT(Ids("Observation?code:text=body"), UnorderedElementsAre("obs-w1", "obs-w2", "obs-y"));
  EXPECT_THAT(Ids("Observation?code:text=HEART"), UnorderedElementsAre("obs-hr"));
  EXPECT_THAT(Ids("Observation?code:text=29463"), IsEmpty());
}

// ---- reference ----

// Verifies: REQ-API-052
TEST_F(SearchTest, ReferenceByTypeAndIdIdOnlyTypeModifierAndIdentifier) {
  EXPECT_THAT(Ids("Observation?subject=Patient/pat-smith"),
              UnorderedElementsAre("obs-w1", "obs-hr"));
  EXPECT_THAT(Ids("Observation?subject=pat-smith"), UnorderedElementsAre("obs-w1", "obs-hr"));
  EXPECT_THAT(Ids("Observation?patient=pat-jones"), UnorderedElementsAre("obs-w2"));
  EXPECT_THAT(Ids("Observation?subject=shared"), UnorderedElementsAre("obs-ps", "obs-gs"));
  EXPECT_THAT(Ids("Observation?subject:Patient=shared"), UnorderedElementsAre("obs-ps"));
  EXPECT_THAT(Ids("Observation?subject:Group=shared"), UnorderedElementsAre("obs-gs"));
  EXPECT_THAT(Ids("Observation?subject=Group/shared"), UnorderedElementsAre("obs-gs"));
  EXPECT_THAT(Ids("Observation?subject:identifier=urn:mrn|A2"), UnorderedElementsAre("obs-id"));
  EXPECT_THAT(Ids("Observation?subject=Patient/pat-smith/_history/1"),
              UnorderedElementsAre("obs-w1", "obs-hr"));
  EXPECT_THAT(Ids("Observation?encounter=Encounter/enc1"), UnorderedElementsAre("obs-w1"));
}

// ---- date (search.html#date: ranges compared by prefix) ----

// Verifies: REQ-API-053
TEST_F(SearchTest, DateEqualityAtEachPrecision) {
  EXPECT_THAT(Ids("Observation?date=2020"),
              UnorderedElementsAre("obs-w1", "obs-w2", "obs-hr", "obs-g"));
  EXPECT_THAT(Ids("Observation?date=2020-01"), UnorderedElementsAre("obs-w1", "obs-w2", "obs-g"));
  EXPECT_THAT(Ids("Observation?date=2020-01-01"), UnorderedElementsAre("obs-w1", "obs-g"));
  EXPECT_THAT(Ids("Observation?date=2020-01-01T10:00:00Z"),
              UnorderedElementsAre("obs-w1", "obs-g"));
  EXPECT_THAT(Ids("Observation?date=2020-01-01T11:00:00+01:00"),
              UnorderedElementsAre("obs-w1", "obs-g"));
  EXPECT_THAT(Ids("Observation?date=2020-01-01T10:00:01Z"), IsEmpty());
  // The year 2021 is not contained in any month of it.
  EXPECT_THAT(Ids("Observation?date=2021-06"), IsEmpty());
  EXPECT_THAT(Ids("Observation?date=2021"), UnorderedElementsAre("obs-y"));
  EXPECT_THAT(Ids("Patient?birthdate=1980-05"), UnorderedElementsAre("pat-smith", "pat-jones"));
  EXPECT_THAT(Ids("Patient?birthdate=1980-05-15"), UnorderedElementsAre("pat-smith"));
  EXPECT_THAT(Ids("Patient?birthdate=1975-06"), IsEmpty());
}

// Verifies: REQ-API-053
TEST_F(SearchTest, DatePrefixesAtDayBoundary) {
  EXPECT_THAT(Ids("Observation?date=gt2020-01-15"), UnorderedElementsAre("obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?date=ge2020-01-15"),
              UnorderedElementsAre("obs-w2", "obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?date=lt2020-01-15"),
              UnorderedElementsAre("obs-w1", "obs-g", "obs-mg"));
  EXPECT_THAT(Ids("Observation?date=le2020-01-15"),
              UnorderedElementsAre("obs-w1", "obs-g", "obs-mg", "obs-w2"));
  EXPECT_THAT(Ids("Observation?date=sa2020-01-15"), UnorderedElementsAre("obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?date=eb2020-01-15"),
              UnorderedElementsAre("obs-w1", "obs-g", "obs-mg"));
  EXPECT_THAT(Ids("Observation?date=ne2020-01-15"),
              UnorderedElementsAre("obs-w1", "obs-g", "obs-mg", "obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?date=eq2020-01-15"), UnorderedElementsAre("obs-w2"));
}

// Verifies: REQ-API-053
TEST_F(SearchTest, DatePrefixesAtSecondAndYearBoundaries) {
  EXPECT_THAT(Ids("Observation?date=lt2020-01-01T10:00:00Z"), UnorderedElementsAre("obs-mg"));
  EXPECT_THAT(Ids("Observation?date=le2020-01-01T10:00:00Z"),
              UnorderedElementsAre("obs-mg", "obs-w1", "obs-g"));
  EXPECT_THAT(Ids("Observation?date=gt2020-01-01T10:00:00Z"),
              UnorderedElementsAre("obs-w2", "obs-hr", "obs-y"));
  // A millisecond inside obs-w1's second: the range above it still overlaps that second.
  EXPECT_THAT(Ids("Observation?date=ge2020-01-01T10:00:00.001Z"),
              UnorderedElementsAre("obs-w1", "obs-g", "obs-w2", "obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?date=gt2020-01-01T10:00:00.999Z"),
              UnorderedElementsAre("obs-w2", "obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?date=2020-01-01T10:00:00.500Z"), IsEmpty());
  EXPECT_THAT(Ids("Observation?date=gt2020"), UnorderedElementsAre("obs-y"));
  EXPECT_THAT(Ids("Observation?date=ge2021"), UnorderedElementsAre("obs-y"));
  EXPECT_THAT(Ids("Observation?date=lt2021"),
              UnorderedElementsAre("obs-w1", "obs-w2", "obs-hr", "obs-g", "obs-mg"));
  EXPECT_THAT(Ids("Observation?date=le2020"),
              UnorderedElementsAre("obs-w1", "obs-w2", "obs-hr", "obs-g", "obs-mg"));
  // A range value against a month: 1975 starts before 1975-06 and ends after it.
  EXPECT_THAT(Ids("Patient?birthdate=lt1975-06"), UnorderedElementsAre("pat-smithson"));
  EXPECT_THAT(Ids("Patient?birthdate=gt1975-06"),
              UnorderedElementsAre("pat-smithson", "pat-smith", "pat-jones", "pat-muller"));
  EXPECT_THAT(Ids("Patient?birthdate=gt1980-05-15"),
              UnorderedElementsAre("pat-jones", "pat-muller"));
}

// Verifies: REQ-API-053
TEST_F(SearchTest, DateApproximately) {
  // ap: overlap widened by 10% of the distance to now (search.html#prefix); 1990 is decades away.
  std::vector<std::string> ap = Ids("Observation?date=ap2020-01-15");
  for (const char* id : {"obs-w1", "obs-w2", "obs-g", "obs-hr"}) {
    EXPECT_NE(std::find(ap.begin(), ap.end(), id), ap.end()) << id;
  }
  EXPECT_EQ(std::find(ap.begin(), ap.end(), "obs-mg"), ap.end());
  // 1975-06 is about fifty years ago: ±5 years around it reaches 1980 but not 1990.
  std::vector<std::string> born = Ids("Patient?birthdate=ap1975-06");
  EXPECT_NE(std::find(born.begin(), born.end(), "pat-smithson"), born.end());
  EXPECT_EQ(std::find(born.begin(), born.end(), "pat-muller"), born.end());
}

// ---- number and quantity ----

// Verifies: REQ-API-054
TEST_F(SearchTest, NumberPrefixesAndImplicitPrecision) {
  EXPECT_THAT(Ids("RiskAssessment?probability=100"), UnorderedElementsAre("ra2", "ra3", "ra4"));
  EXPECT_THAT(Ids("RiskAssessment?probability=100.0"), UnorderedElementsAre("ra3"));
  EXPECT_THAT(Ids("RiskAssessment?probability=100.4"), UnorderedElementsAre("ra4"));
  EXPECT_THAT(Ids("RiskAssessment?probability=gt100"), UnorderedElementsAre("ra4", "ra5", "ra6"));
  EXPECT_THAT(Ids("RiskAssessment?probability=ge100"),
              UnorderedElementsAre("ra3", "ra4", "ra5", "ra6"));
  EXPECT_THAT(Ids("RiskAssessment?probability=lt100"), UnorderedElementsAre("ra1", "ra2"));
  EXPECT_THAT(Ids("RiskAssessment?probability=le100"), UnorderedElementsAre("ra1", "ra2", "ra3"));
  EXPECT_THAT(Ids("RiskAssessment?probability=ne100"), UnorderedElementsAre("ra1", "ra5", "ra6"));
  EXPECT_THAT(Ids("RiskAssessment?probability=ap100"),
              UnorderedElementsAre("ra1", "ra2", "ra3", "ra4", "ra5", "ra6"));
  EXPECT_THAT(Ids("RiskAssessment?probability=ap101.5"),
              UnorderedElementsAre("ra1", "ra2", "ra3", "ra4", "ra5", "ra6"));
  EXPECT_THAT(Ids("RiskAssessment?probability=ap120"), IsEmpty());
}

// Verifies: REQ-API-055
TEST_F(SearchTest, QuantityWithAndWithoutUnits) {
  EXPECT_THAT(Ids("Observation?value-quantity=80|http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w1"));
  EXPECT_THAT(Ids("Observation?value-quantity=80||kg"), UnorderedElementsAre("obs-w1"));
  EXPECT_THAT(Ids("Observation?value-quantity=80"), UnorderedElementsAre("obs-w1"));
  EXPECT_THAT(Ids("Observation?value-quantity=gt75|http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w1"));
  // Every mass below 75 kg, whatever its unit: 72.5 kg, 5.4 mg, 0.0054 g.
  EXPECT_THAT(Ids("Observation?value-quantity=lt75|http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w2", "obs-mg", "obs-g"));
  EXPECT_THAT(Ids("Observation?value-quantity=ge72.5|http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w1", "obs-w2"));
  EXPECT_THAT(Ids("Observation?value-quantity=72|http://unitsofmeasure.org|kg"), IsEmpty());
  EXPECT_THAT(Ids("Observation?value-quantity=72.5|http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w2"));
  EXPECT_THAT(Ids("Observation?value-quantity=60|http://unitsofmeasure.org|/min"),
              UnorderedElementsAre("obs-hr"));
  EXPECT_THAT(Ids("Observation?value-quantity=5.4"), UnorderedElementsAre("obs-mg"));
}

// Verifies: REQ-API-055
TEST_F(SearchTest, QuantityConvertsUcumUnits) {
  // 5.4 mg is 0.0054 g: either spelling finds both.
  EXPECT_THAT(Ids("Observation?value-quantity=5.4|http://unitsofmeasure.org|mg"),
              UnorderedElementsAre("obs-mg", "obs-g"));
  EXPECT_THAT(Ids("Observation?value-quantity=0.0054|http://unitsofmeasure.org|g"),
              UnorderedElementsAre("obs-mg", "obs-g"));
  EXPECT_THAT(Ids("Observation?value-quantity=5400|http://unitsofmeasure.org|ug"),
              UnorderedElementsAre("obs-mg", "obs-g"));
  EXPECT_THAT(Ids("Observation?value-quantity=80000|http://unitsofmeasure.org|g"),
              UnorderedElementsAre("obs-w1"));
  EXPECT_THAT(Ids("Observation?value-quantity=gt5|http://unitsofmeasure.org|mg"),
              UnorderedElementsAre("obs-mg", "obs-g", "obs-w1", "obs-w2"));
  EXPECT_THAT(Ids("Observation?value-quantity=lt0.006|http://unitsofmeasure.org|g"),
              UnorderedElementsAre("obs-mg", "obs-g"));
  // Celsius to kelvin goes through an offset: 37 Cel = 310.15 K.
  EXPECT_THAT(Ids("Observation?value-quantity=310.15|http://unitsofmeasure.org|K"),
              UnorderedElementsAre("obs-y"));
}

// ---- uri ----

// Verifies: REQ-API-056
TEST_F(SearchTest, UriExactBelowAndAbove) {
  EXPECT_THAT(Ids("ValueSet?url=http://acme.org/fhir/ValueSet/colors"),
              UnorderedElementsAre("vs1"));
  EXPECT_THAT(Ids("ValueSet?url=http://acme.org/fhir/ValueSet"), IsEmpty());
  EXPECT_THAT(Ids("ValueSet?url:below=http://acme.org/fhir/"), UnorderedElementsAre("vs1", "vs2"));
  EXPECT_THAT(Ids("ValueSet?url:above=http://acme.org/fhir/ValueSet/colors/v2"),
              UnorderedElementsAre("vs1"));
  EXPECT_THAT(Ids("ValueSet?url:above=http://other.org/ValueSet/x"), UnorderedElementsAre("vs3"));
}

// ---- :missing, OR, AND, _id, _lastUpdated ----

// Verifies: REQ-API-057
TEST_F(SearchTest, Missing) {
  EXPECT_THAT(Ids("Patient?birthdate:missing=true"), UnorderedElementsAre("pat-anon"));
  EXPECT_THAT(Ids("Patient?gender:missing=false"),
              UnorderedElementsAre("pat-smith", "pat-smithson", "pat-muller", "pat-jones"));
  EXPECT_THAT(Ids("Observation?value-quantity:missing=true"),
              UnorderedElementsAre("obs-id", "obs-ps", "obs-gs"));
  EXPECT_THAT(Ids("Observation?subject:missing=true"), IsEmpty());
  EXPECT_THAT(Ids("Patient?general-practitioner:missing=false"),
              UnorderedElementsAre("pat-smith", "pat-jones"));
  EXPECT_EQ(Search("Patient?gender:missing=maybe").status, 400);
}

// Verifies: REQ-API-058
TEST_F(SearchTest, OrWithCommaAndWithRepetition) {
  EXPECT_THAT(Ids("Patient?gender=male,female"),
              UnorderedElementsAre("pat-smith", "pat-smithson", "pat-muller", "pat-jones"));
  EXPECT_THAT(Ids("Patient?name=john&name=jones"), UnorderedElementsAre("pat-jones"));
  EXPECT_THAT(Ids("Patient?given=john&family=smith"), UnorderedElementsAre("pat-smith"));
  EXPECT_THAT(Ids("Patient?gender=male,female&birthdate=ge1980"),
              UnorderedElementsAre("pat-smith", "pat-jones", "pat-muller"));
  EXPECT_THAT(Ids("Observation?code=http://loinc.org|8867-4,urn:local|drug&date=2020"),
              UnorderedElementsAre("obs-hr", "obs-g"));
  // An escaped comma is part of the value, not a separator.
  EXPECT_THAT(Ids("Patient?family=smith\\,x"), IsEmpty());
}

// Verifies: REQ-API-059
TEST_F(SearchTest, IdAndLastUpdated) {
  EXPECT_THAT(Ids("Patient?_id=pat-smith,pat-jones"),
              UnorderedElementsAre("pat-smith", "pat-jones"));
  EXPECT_THAT(Ids("Patient?_id=nobody"), IsEmpty());
  // Patients were written in the order smith, smithson, muller, jones, anon, each in its own ms.
  std::string muller = LastUpdated("Patient/pat-muller");
  EXPECT_THAT(Ids("Patient?_lastUpdated=gt" + muller),
              UnorderedElementsAre("pat-jones", "pat-anon"));
  EXPECT_THAT(Ids("Patient?_lastUpdated=le" + muller),
              UnorderedElementsAre("pat-smith", "pat-smithson", "pat-muller"));
  EXPECT_THAT(Ids("Patient?_lastUpdated=" + muller), UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?_lastUpdated=lt2000-01-01"), IsEmpty());
}

// ---- _sort and paging ----

// Verifies: REQ-API-069
TEST_F(SearchTest, SortBySeveralKeysAndDescending) {
  EXPECT_THAT(Ids("Patient?_sort=family"),
              ElementsAre("pat-jones", "pat-muller", "pat-smith", "pat-smithson", "pat-anon"));
  EXPECT_THAT(Ids("Patient?_sort=-birthdate"),
              ElementsAre("pat-muller", "pat-jones", "pat-smith", "pat-smithson", "pat-anon"));
  EXPECT_THAT(Ids("Patient?_sort=gender,-birthdate"),
              ElementsAre("pat-muller", "pat-smithson", "pat-jones", "pat-smith", "pat-anon"));
  EXPECT_THAT(Ids("Patient?_sort=-_lastUpdated"),
              ElementsAre("pat-anon", "pat-jones", "pat-muller", "pat-smithson", "pat-smith"));
  EXPECT_THAT(Ids("Patient?_sort=_id"),
              ElementsAre("pat-anon", "pat-jones", "pat-muller", "pat-smith", "pat-smithson"));
  EXPECT_THAT(Ids("Observation?code=http://loinc.org|29463-7&_sort=-value-quantity"),
              ElementsAre("obs-w1", "obs-w2"));
}

// Verifies: REQ-API-070
TEST_F(SearchTest, PagingThroughNextLinksHasNoDuplicatesOrGaps) {
  std::vector<std::string> all = Ids("Observation?_count=100&_sort=_id");
  ASSERT_EQ(all.size(), 9u);
  for (int count : {1, 2, 3, 4, 9, 10}) {
    int pages = 0;
    auto paged = client_->AllMatches(
        "/fhir/" + EncodeQuery("Observation?_sort=_id&_count=" + std::to_string(count)), 100,
        &pages);
    std::vector<std::string> ids;
    for (const auto& r : paged) ids.push_back(r.substr(r.find('/') + 1));
    EXPECT_EQ(ids, all) << "_count=" << count;
    EXPECT_EQ(pages, std::max(1, (9 + count - 1) / count)) << "_count=" << count;
  }
  // Unsorted paging still covers everything exactly once.
  auto unsorted = Ids("Observation?_count=2");
  EXPECT_EQ(std::set<std::string>(unsorted.begin(), unsorted.end()),
            std::set<std::string>(all.begin(), all.end()));
  EXPECT_EQ(unsorted.size(), all.size());
  // A page past the end is empty and has no next link.
  ApiResponse past = Search("Observation?_count=5&_offset=50");
  ASSERT_EQ(past.status, 200);
  EXPECT_THAT(EntryRefs(past.json), IsEmpty());
  EXPECT_EQ(LinkUrl(past.json, "next"), "");
}

// ---- _include, _revinclude ----

// Verifies: REQ-API-073
TEST_F(SearchTest, IncludeAndIterate) {
  ApiResponse r = Search("Observation?code=http://loinc.org|29463-7&_include=Observation:subject");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryRefs(r.json, "match"),
              UnorderedElementsAre("Observation/obs-w1", "Observation/obs-w2"));
  EXPECT_THAT(EntryRefs(r.json, "include"),
              UnorderedElementsAre("Patient/pat-smith", "Patient/pat-jones"));

  // Without :iterate the Patient include does not apply to included Patients.
  ApiResponse flat = Search(
      "Observation?code=http://loinc.org|29463-7"
      "&_include=Observation:subject&_include=Patient:general-practitioner");
  EXPECT_THAT(EntryRefs(flat.json, "include"),
              UnorderedElementsAre("Patient/pat-smith", "Patient/pat-jones"));
  ApiResponse it = Search(
      "Observation?code=http://loinc.org|29463-7"
      "&_include=Observation:subject"
      "&_include:iterate=Patient:general-practitioner");
  EXPECT_THAT(EntryRefs(it.json, "include"),
              UnorderedElementsAre("Patient/pat-smith", "Patient/pat-jones", "Practitioner/doc1",
                                   "Practitioner/doc2"));
  // A target type narrows the include.
  ApiResponse typed =
      Search("Observation?code=urn:local|shared&_include=Observation:subject:Group");
  EXPECT_THAT(EntryRefs(typed.json, "include"), UnorderedElementsAre("Group/shared"));
  // An included resource that is also a match appears once, as a match.
  ApiResponse self = Search(
      "Patient?_id=pat-smith&_include=Patient:general-practitioner"
      "&_include=Patient:organization");
  EXPECT_THAT(EntryRefs(self.json, "match"), ElementsAre("Patient/pat-smith"));
  EXPECT_THAT(EntryRefs(self.json, "include"),
              UnorderedElementsAre("Practitioner/doc1", "Organization/org1"));
}

// Verifies: REQ-API-074
TEST_F(SearchTest, RevIncludeAndIterate) {
  ApiResponse r = Search(
      "Patient?_id=pat-smith&_revinclude=Observation:subject"
      "&_revinclude=Encounter:subject");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryRefs(r.json, "match"), ElementsAre("Patient/pat-smith"));
  EXPECT_THAT(EntryRefs(r.json, "include"),
              UnorderedElementsAre("Observation/obs-w1", "Observation/obs-hr", "Encounter/enc1"));
  ApiResponse it = Search(
      "Practitioner?_id=doc1&_revinclude=Patient:general-practitioner"
      "&_revinclude:iterate=Observation:subject");
  EXPECT_THAT(
      EntryRefs(it.json, "include"),
      UnorderedElementsAre("Patient/pat-smith", "Observation/obs-w1", "Observation/obs-hr"));
  EXPECT_EQ(Search("Patient?_revinclude=*").status, 400);
}

// ---- chains and _has ----

// Verifies: REQ-API-060
TEST_F(SearchTest, ChainedParameters) {
  EXPECT_THAT(Ids("Observation?subject:Patient.name=smith"),
              UnorderedElementsAre("obs-w1", "obs-hr", "obs-y"));
  EXPECT_THAT(Ids("Observation?patient.family=jones"), UnorderedElementsAre("obs-w2"));
  EXPECT_THAT(Ids("Observation?subject.family=jones"), UnorderedElementsAre("obs-w2"));
  EXPECT_THAT(Ids("Observation?subject:Patient.identifier=urn:mrn|A2"),
              UnorderedElementsAre("obs-y"));
  EXPECT_THAT(Ids("Observation?subject:Patient.general-practitioner.family=house"),
              UnorderedElementsAre("obs-w1", "obs-hr"));
  EXPECT_THAT(Ids("Observation?subject:Patient.birthdate=lt1980"), UnorderedElementsAre("obs-y"));
  EXPECT_THAT(Ids("Encounter?subject:Patient.organization.name=acme"),
              UnorderedElementsAre("enc1"));
}

// Verifies: REQ-API-060
TEST_F(SearchTest, ReverseChainHas) {
  EXPECT_THAT(Ids("Patient?_has:Observation:subject:code=29463-7"),
              UnorderedElementsAre("pat-smith", "pat-jones"));
  EXPECT_THAT(Ids("Patient?_has:Observation:patient:code=http://loinc.org|8310-5"),
              UnorderedElementsAre("pat-smithson"));
  EXPECT_THAT(Ids("Patient?_has:Observation:subject:date=1990"),
              UnorderedElementsAre("pat-muller"));
  EXPECT_THAT(Ids("Patient?_has:Observation:subject:code=8867-4&gender=male"),
              UnorderedElementsAre("pat-smith"));
  EXPECT_THAT(Ids("Practitioner?_has:Patient:general-practitioner:family=jones"),
              UnorderedElementsAre("doc2"));
  EXPECT_EQ(Search("Patient?_has:Observation:code:code=x").status, 400);
}

// ---- result shapes ----

// Verifies: REQ-API-068
TEST_F(SearchTest, SummaryCountTrueAndData) {
  ApiResponse count = Search("Patient?gender=female&_summary=count");
  ASSERT_EQ(count.status, 200);
  EXPECT_EQ(count.json["total"].GetInt(), 2);
  EXPECT_FALSE(count.json.HasMember("entry") && count.json["entry"].Size() > 0);

  ApiResponse t = Search("Patient?_id=pat-smith&_summary=true");
  ASSERT_EQ(t.status, 200);
  const auto& p = t.json["entry"][0]["resource"];
  EXPECT_TRUE(p.HasMember("name"));
  EXPECT_TRUE(p.HasMember("birthDate"));
  EXPECT_FALSE(p.HasMember("photo"));
  EXPECT_FALSE(p.HasMember("contact"));
  EXPECT_FALSE(p.HasMember("text"));
  EXPECT_THAT(json::Serialize(p["meta"]), HasSubstr("SUBSETTED"));

  ApiResponse d = Search("Patient?_id=pat-smith&_summary=data");
  const auto& pd = d.json["entry"][0]["resource"];
  EXPECT_FALSE(pd.HasMember("text"));
  EXPECT_TRUE(pd.HasMember("photo"));
  EXPECT_TRUE(pd.HasMember("contact"));
}

// Verifies: REQ-API-067
TEST_F(SearchTest, Elements) {
  ApiResponse r = Search("Patient?_id=pat-smith&_elements=gender,birthDate");
  ASSERT_EQ(r.status, 200);
  const auto& p = r.json["entry"][0]["resource"];
  EXPECT_EQ(json::GetString(p, "id"), "pat-smith");
  EXPECT_EQ(json::GetString(p, "gender"), "male");
  EXPECT_EQ(json::GetString(p, "birthDate"), "1980-05-15");
  EXPECT_FALSE(p.HasMember("name"));
  EXPECT_FALSE(p.HasMember("identifier"));
  EXPECT_THAT(json::Serialize(p["meta"]), HasSubstr("SUBSETTED"));
  // Choice elements are named by their stem.
  ApiResponse o = Search("Observation?_id=obs-w1&_elements=value");
  const auto& ob = o.json["entry"][0]["resource"];
  EXPECT_TRUE(ob.HasMember("valueQuantity"));
  EXPECT_FALSE(ob.HasMember("subject"));
}

// Verifies: REQ-API-072
TEST_F(SearchTest, TotalAccurateWithPaging) {
  ApiResponse r = Search("Observation?date=2020&_total=accurate&_count=1");
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.json.HasMember("total"));
  EXPECT_EQ(r.json["total"].GetInt(), 4);
  EXPECT_EQ(EntryRefs(r.json).size(), 1u);
  EXPECT_NE(LinkUrl(r.json, "next"), "");
  // Without _total the server may leave it out, but never gets it wrong.
  ApiResponse n = Search("Observation?date=2020");
  if (n.json.HasMember("total")) {
    EXPECT_EQ(n.json["total"].GetInt(), 4);
  }
}

// Verifies: REQ-API-064
TEST_F(SearchTest, PostSearchEqualsGet) {
  ApiResponse r =
      client_->Post("/fhir/Patient/_search", "family=smith&gender=male",
                    MakeHeaders({{"Content-Type", "application/x-www-form-urlencoded"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryRefs(r.json), ElementsAre("Patient/pat-smith"));
}

// Verifies: REQ-API-061
TEST_F(SearchTest, CompositeParameters) {
  // code-value-quantity pairs a code with a value of the same Observation.
  EXPECT_THAT(Ids("Observation?code-value-quantity=http://loinc.org|29463-7$gt75|"
                  "http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w1"));
  EXPECT_THAT(Ids("Observation?code-value-quantity=http://loinc.org|29463-7$lt75|"
                  "http://unitsofmeasure.org|kg"),
              UnorderedElementsAre("obs-w2"));
  EXPECT_THAT(Ids("Observation?code-value-quantity=http://loinc.org|8867-4$gt75|"
                  "http://unitsofmeasure.org|kg"),
              IsEmpty());
  EXPECT_THAT(Ids("Observation?code-value-quantity=urn:local|drug$5.4|"
                  "http://unitsofmeasure.org|mg"),
              UnorderedElementsAre("obs-mg", "obs-g"));
  // One component only is a malformed composite value.
  EXPECT_EQ(Search("Observation?code-value-quantity=http://loinc.org|29463-7").status, 400);
}

// Verifies: REQ-API-062
TEST_F(SearchTest, SearchOnDeletedOrUpdatedResourcesSeesOnlyCurrentVersions) {
  // Written and removed in this test, so the shared data stays as documented above.
  ASSERT_EQ(client_
                ->Put("/fhir/Patient/tmp-1",
                      R"({"resourceType":"Patient","id":"tmp-1",
                             "name":[{"family":"Zeta"}]})")
                .status,
            201);
  EXPECT_THAT(Ids("Patient?family=zeta"), ElementsAre("tmp-1"));
  ASSERT_EQ(client_
                ->Put("/fhir/Patient/tmp-1",
                      R"({"resourceType":"Patient","id":"tmp-1","name":[{"family":"Yota"}]})")
                .status,
            200);
  EXPECT_THAT(Ids("Patient?family=zeta"), IsEmpty());
  EXPECT_THAT(Ids("Patient?family=yota"), ElementsAre("tmp-1"));
  ASSERT_EQ(client_->Delete("/fhir/Patient/tmp-1").status, 204);
  EXPECT_THAT(Ids("Patient?family=yota"), IsEmpty());
  EXPECT_THAT(Ids("Patient?_id=tmp-1"), IsEmpty());
}

}  // namespace
}  // namespace sund::itest

namespace sund::itest {
namespace {

// Keyset paging (no _sort): next links carry _cursor; walking forward and back gives the same
// pages, and a resource created while paging appears at the end, never shifting earlier pages.
// Verifies: REQ-API-071
TEST_F(SearchTest, CursorPagingIsStableAndWalksBack) {
  ApiResponse first = Search("Observation?_count=3");
  ASSERT_EQ(first.status, 200);
  std::string next = LinkUrl(first.json, "next");
  ASSERT_THAT(next, HasSubstr("_cursor="));
  EXPECT_EQ(LinkUrl(first.json, "previous"), "");
  ApiResponse second = client_->Get(next.substr(next.find("/fhir/")));
  ASSERT_EQ(second.status, 200);
  auto a = EntryRefs(first.json);
  auto b = EntryRefs(second.json);
  ASSERT_EQ(a.size(), 3u);
  for (const auto& ref : b) EXPECT_EQ(std::count(a.begin(), a.end(), ref), 0) << ref;
  std::string prev = LinkUrl(second.json, "previous");
  ASSERT_NE(prev, "");
  ApiResponse back = client_->Get(prev.substr(prev.find("/fhir/")));
  EXPECT_EQ(EntryRefs(back.json), a);
  EXPECT_EQ(Search("Observation?_cursor=-1").status, 400);
}

// A search across all types (GET /fhir?...) applies every parameter, not only _id.
// Verifies: REQ-API-063
TEST_F(SearchTest, SystemLevelSearchAppliesParameters) {
  ApiResponse r = Search("?identifier=urn:mrn|A1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryRefs(r.json), ElementsAre("Patient/pat-smith"));
  ApiResponse none = Search("?identifier=urn:mrn|no-such");
  EXPECT_THAT(EntryRefs(none.json), IsEmpty());
}

}  // namespace
}  // namespace sund::itest
