#include "http/endpoint.h"

#include <gtest/gtest.h>

namespace sund::http {
namespace {

// Verifies: REQ-HTTP-042
TEST(EndpointTest, PlaceholderTakesOneNonEmptySegment) {
  EXPECT_TRUE(PathMatches("/fhir/{type}/{id}", "/fhir/Patient/p1"));
  EXPECT_TRUE(PathMatches("/fhir/Patient/{id}/$everything", "/fhir/Patient/p1/$everything"));
  EXPECT_FALSE(PathMatches("/fhir/{type}/{id}", "/fhir/Patient"));
  EXPECT_FALSE(PathMatches("/fhir/{type}/{id}", "/fhir/Patient/p1/_history"));
  EXPECT_FALSE(PathMatches("/fhir/{type}/{id}", "/fhir/Patient/"));
  EXPECT_FALSE(PathMatches("/fhir/{type}", "/fhir//"));
}

// Verifies: REQ-HTTP-042
TEST(EndpointTest, LiteralSegmentsMatchExactly) {
  EXPECT_TRUE(PathMatches("/", "/"));
  EXPECT_TRUE(PathMatches("/oauth2/token", "/oauth2/token"));
  EXPECT_FALSE(PathMatches("/oauth2/token", "/oauth2/tokens"));
  EXPECT_FALSE(PathMatches("/oauth2/token", "/oauth2/token/"));
  EXPECT_FALSE(PathMatches("/fhir", "/fhirx"));
  EXPECT_FALSE(PathMatches("/app/", "/app"));
  EXPECT_TRUE(IsExactPath("/fhir/metadata"));
  EXPECT_FALSE(IsExactPath("/fhir/{type}"));
}

}  // namespace
}  // namespace sund::http
