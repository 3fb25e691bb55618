#include "http/router.h"

#include <gtest/gtest.h>

namespace sund::http {
namespace {

Handler Answer(std::string text) {
  return [text](Request&) {
    Response r;
    r.body = text;
    return r;
  };
}

Request Make(std::string method, std::string path) {
  Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  return req;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add("GET", "/healthz", Answer("health"), /*runs_inline=*/true);
    router_.Add("GET", "/fhir", Answer("fhir-get"));
    router_.Add("POST", "/fhir", Answer("fhir-post"));
    router_.Add("", "/fhir/metadata", Answer("metadata"), /*runs_inline=*/true);
  }
  Router router_;
};

// Verifies: REQ-HTTP-043
TEST_F(RouterTest, LongestPrefixAndMethodWin) {
  Request req = Make("GET", "/fhir/Patient/1");
  EXPECT_EQ(router_.Handle(req).body, "fhir-get");
  req = Make("POST", "/fhir");
  EXPECT_EQ(router_.Handle(req).body, "fhir-post");
  req = Make("DELETE", "/fhir/metadata");
  EXPECT_EQ(router_.Handle(req).body, "metadata");
  req = Make("HEAD", "/healthz");
  EXPECT_EQ(router_.Handle(req).body, "health");
}

// Verifies: REQ-HTTP-043
TEST_F(RouterTest, PrefixEndsAtSegmentBoundary) {
  Request req = Make("GET", "/fhirx");
  EXPECT_EQ(router_.Handle(req).status, 404);
  req = Make("GET", "/healthz/deep");
  EXPECT_EQ(router_.Handle(req).body, "health");
}

// Verifies: REQ-HTTP-044
TEST_F(RouterTest, WrongMethodGets405WithAllow) {
  Request req = Make("PUT", "/fhir/Patient/1");
  Response r = router_.Handle(req);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.Get("Allow"), "GET, POST");
  EXPECT_EQ(r.headers.Get("Content-Type"), "application/json");
}

// Verifies: REQ-HTTP-045
TEST_F(RouterTest, RunsInlineFollowsTheRoute) {
  EXPECT_TRUE(router_.RunsInline(Make("GET", "/healthz")));
  EXPECT_FALSE(router_.RunsInline(Make("GET", "/fhir/Patient")));
  EXPECT_TRUE(router_.RunsInline(Make("GET", "/fhir/metadata")));
  EXPECT_TRUE(router_.RunsInline(Make("GET", "/nowhere")));
}

}  // namespace
}  // namespace sund::http
