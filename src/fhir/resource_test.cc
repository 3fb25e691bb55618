#include "fhir/resource.h"

#include <gtest/gtest.h>

namespace sund::fhir {
namespace {

// Verifies: REQ-FHIR-008, REQ-FHIR-009
TEST(ResourceTest, StampInsertsIdAndMetaAfterResourceType) {
  auto doc = ParseResource(R"({"resourceType":"Patient","name":[{"family":"X"}]})");
  ASSERT_TRUE(doc.ok());
  StampResource(*doc, "abc", 3, 1'614'852'000'000'000);
  EXPECT_EQ(CanonicalJson(*doc),
            R"({"resourceType":"Patient","id":"abc","meta":{"versionId":"3",)"
            R"("lastUpdated":"2021-03-04T10:00:00.000Z"},"name":[{"family":"X"}]})");
}

// Verifies: REQ-FHIR-008, REQ-FHIR-009
TEST(ResourceTest, StampKeepsClientMetaAndReplacesVersion) {
  auto doc = ParseResource(
      R"({"resourceType":"Patient","id":"old","meta":{"versionId":"9","tag":[{"code":"t"}]}})");
  ASSERT_TRUE(doc.ok());
  StampResource(*doc, "abc", 1, 0);
  EXPECT_EQ(CanonicalJson(*doc),
            R"({"resourceType":"Patient","id":"abc","meta":{"versionId":"1",)"
            R"("lastUpdated":"1970-01-01T00:00:00.000Z","tag":[{"code":"t"}]}})");
}

// Verifies: REQ-FHIR-006
TEST(ResourceTest, ParseRejectsBadInput) {
  EXPECT_EQ(ParseResource("{").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseResource("[]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseResource(R"({"id":"x"})").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseResource(R"({"resourceType":"Nope"})").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseResource(R"({"resourceType":"Patient"} x)").status().code(),
            StatusCode::kInvalidArgument);
}

// Verifies: REQ-FHIR-007
TEST(ResourceTest, IdRules) {
  EXPECT_TRUE(IsValidId("a-B.9"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
}

}  // namespace
}  // namespace sund::fhir
