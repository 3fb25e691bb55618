#include "fhir/validate.h"

#include <gtest/gtest.h>

#include "fhir/resource.h"

namespace sund::fhir {
namespace {

Status Check(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  return ValidateResource(Model::R4(), d);
}

// Verifies: REQ-FHIR-010
TEST(ValidateTest, AcceptsAValidPatient) {
  EXPECT_TRUE(Check(R"({"resourceType":"Patient","id":"p1","active":true,
      "name":[{"family":"Testesen","given":["Test"]}],"birthDate":"1970-01-01",
      "_birthDate":{"extension":[{"url":"http://x","valueDateTime":"1970-01-01T10:00:00+01:00"}]},
      "deceasedBoolean":false,"multipleBirthInteger":2,
      "contact":[{"relationship":[{"text":"mor"}]}]})")
                  .ok());
}

// Verifies: REQ-FHIR-010
TEST(ValidateTest, AcceptsObservationWithQuantityAndContained) {
  EXPECT_TRUE(Check(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},
      "valueQuantity":{"value":37.5,"unit":"Cel","system":"http://unitsofmeasure.org","code":"Cel"},
      "effectiveDateTime":"2021-03-04T10:00:00Z",
      "contained":[{"resourceType":"Patient","id":"c1"}]})")
                  .ok());
}

// Verifies: REQ-FHIR-011, REQ-FHIR-014
TEST(ValidateTest, RejectsUnknownElementsWithoutEchoingValues) {
  Status s = Check(R"({"resourceType":"Patient","colour":"secret-value"})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Patient.colour"), std::string::npos);
  EXPECT_EQ(s.message().find("secret-value"), std::string::npos);
}

// Verifies: REQ-FHIR-011, REQ-FHIR-012, REQ-FHIR-013
TEST(ValidateTest, RejectsBadPrimitivesAndCardinality) {
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","birthDate":"not-a-date"})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","birthDate":"1970-01-01T10:00:00Z"})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","active":"yes"})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","name":{"family":"X"}})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","gender":["male"]})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","name":[]})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","gender":" male"})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Patient","multipleBirthInteger":1.5})").ok());
  EXPECT_FALSE(
      Check(R"({"resourceType":"Observation","status":"final","code":{},"valueFoo":1})").ok());
  EXPECT_FALSE(Check(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
      "effectiveDateTime":"2021-03-04T10:00"})")
                   .ok());
}

}  // namespace
}  // namespace sund::fhir
