// What `sund iomt gateway` reads from a remote Sund (remote.h), with the server's answers made
// up here. RemoteConsents with the gateway around it: gateway_test.cc.
#include "iomt/remote.h"

#include <gtest/gtest.h>

#include <string>

namespace sund::iomt {
namespace {

// The resources of a search answer, in order, without the server's OperationOutcome entries.
// Verifies: REQ-IOMT-073
TEST(ReadSearchsetTest, ReadsTheMatchesOfASearchset) {
  auto hits = ReadSearchset(
      R"({"resourceType":"Bundle","type":"searchset","entry":[)"
      R"({"resource":{"resourceType":"Consent","id":"c-1","status":"active"},)"
      R"("search":{"mode":"match"}},)"
      R"({"resource":{"resourceType":"OperationOutcome","id":"oo-1"},"search":{"mode":"outcome"}},)"
      R"({"fullUrl":"urn:uuid:no-resource"},)"
      R"({"resource":{"resourceType":"Consent","id":"c-2","status":"inactive"}}]})");
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].type, "Consent");
  EXPECT_EQ((*hits)[0].id, "c-1");
  EXPECT_EQ((*hits)[0].json, R"({"resourceType":"Consent","id":"c-1","status":"active"})");
  EXPECT_EQ((*hits)[1].id, "c-2");

  auto none = ReadSearchset(R"({"resourceType":"Bundle","type":"searchset","total":0})");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

// An answer that is not a Bundle (a proxy's error page, an OperationOutcome, cut-off JSON) is an
// error, not an empty search: for Consents, "no Consents" would let the base policy permit what
// a withdrawn consent denies.
// Verifies: REQ-IOMT-073
TEST(ReadSearchsetTest, AnAnswerThatIsNotABundleIsUnavailable) {
  for (const char* body :
       {"<html><body>Bad gateway</body></html>", "",
        R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]})",
        R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":)",
        R"({"resourceType":"Bundle","type":"searchset","entry":{"resource":{}}})", "[]"}) {
    auto hits = ReadSearchset(body);
    ASSERT_FALSE(hits.ok()) << body;
    EXPECT_EQ(hits.status().code(), StatusCode::kUnavailable) << body;
  }
}

}  // namespace
}  // namespace sund::iomt
