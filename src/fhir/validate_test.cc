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

// A primitive's `_name` sibling holds only its id and extensions, shaped like the value: an
// object for one value, an array of objects or nulls as long as the values for a repeating one.
// Verifies: REQ-FHIR-057, REQ-FHIR-014
TEST(ValidateTest, ChecksExtensionSiblingsOfPrimitives) {
  EXPECT_TRUE(Check(R"({"resourceType":"Patient","name":[{"given":["Test","Tester"],
      "_given":[null,{"extension":[{"url":"http://example.org/ext","valueString":"x"}]}]}]})")
                  .ok());
  EXPECT_TRUE(Check(R"({"resourceType":"Patient","_gender":{"id":"g1"}})").ok());
  EXPECT_TRUE(Check(R"({"resourceType":"Patient","name":[{"_given":[{"id":"a"},null]}]})").ok());

  Status s = Check(R"({"resourceType":"Patient","name":[{"given":["Test","Tester"],
      "_given":[1,2]}]})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Patient.name.given"), std::string::npos) << s.message();
  s = Check(R"({"resourceType":"Patient","_birthDate":{"colour":"secret-value"}})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Patient.birthDate.colour"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("secret-value"), std::string::npos);

  const char* kRejected[] = {
      // not an object / an array, as the element's cardinality asks
      R"({"resourceType":"Patient","gender":"female","_gender":"x"})",
      R"({"resourceType":"Patient","_gender":[{"id":"g1"}]})",
      R"({"resourceType":"Patient","name":[{"given":["Test"],"_given":{"id":"a"}}]})",
      // not as many items as the values
      R"({"resourceType":"Patient","name":[{"given":["Test","Tester"],"_given":[{"id":"a"}]}]})",
      // the content of an Element
      R"({"resourceType":"Patient","_birthDate":{"extension":{"url":"http://example.org/ext"}}})",
      R"({"resourceType":"Patient","_birthDate":{"extension":[{"url":1}]}})",
      R"({"resourceType":"Patient","_birthDate":{}})",
      // only primitives have one
      R"({"resourceType":"Patient","_name":[{"id":"n1"}]})",
      R"({"resourceType":"Patient","_maritalStatus":{"id":"m1"}})",
  };
  for (const char* json : kRejected) {
    EXPECT_EQ(Check(json).code(), StatusCode::kInvalidArgument) << json;
  }
}

}  // namespace
}  // namespace sund::fhir
