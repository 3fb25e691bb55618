#include "core/json.h"

#include <gtest/gtest.h>

#include <string>

#include "core/json_bounded.h"

namespace sund::json {
namespace {

// Verifies: REQ-CORE-006
TEST(JsonTest, NestingDepthCountsArraysAndObjectsButNotStrings) {
  EXPECT_EQ(NestingDepth("1"), 0);
  EXPECT_EQ(NestingDepth("{}"), 1);
  EXPECT_EQ(NestingDepth(R"({"a":[{"b":[1,2]},[]]})"), 4);
  EXPECT_EQ(NestingDepth(R"({"a":"[[[[{{{{\"[["})"), 1);    // brackets in strings, an escaped quote
  EXPECT_EQ(NestingDepth(std::string(1000, '['), 10), 11);  // stops counting past the limit
}

// Issue #11: a request body of 1 MB of '[' crashed the recursive parser (stack overflow) in
// the OAuth registration, JWT, $synthesize, $export and federated-learning parsers.
// Verifies: REQ-CORE-007
TEST(JsonTest, ParseBoundedRefusesDeepNestingWithoutRecursing) {
  rapidjson::Document doc;
  ParseBounded(doc, std::string(1 << 20, '['));
  EXPECT_TRUE(doc.HasParseError());
  std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  ParseBounded(doc, ok);
  EXPECT_FALSE(doc.HasParseError());
  ParseBounded(doc, "[" + ok + "]");
  EXPECT_TRUE(doc.HasParseError());
  ParseBounded<rapidjson::kParseFullPrecisionFlag>(doc, R"({"x":0.1})");
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(doc["x"].GetDouble(), 0.1);
}

}  // namespace
}  // namespace sund::json
