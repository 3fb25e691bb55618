#include "core/json_preserve.h"

#include <gtest/gtest.h>

namespace sund::json {
namespace {

// Verifies: REQ-CORE-008
TEST(JsonPreserveTest, KeepsNumbersAsWritten) {
  rapidjson::Document d;
  ASSERT_TRUE(ParsePreservingNumbers(R"({"a":1.50,"b":[0.00010,-2,1e3,100],"c":"1.5"})", d).ok());
  EXPECT_EQ(SerializePreservingNumbers(d), R"({"a":1.50,"b":[0.00010,-2,1e3,100],"c":"1.5"})");
  ASSERT_TRUE(d["a"].IsString());
  std::string_view text;
  EXPECT_TRUE(IsPreservedNumber(d["a"], &text));
  EXPECT_EQ(text, "1.50");
  EXPECT_FALSE(IsPreservedNumber(d["c"]));
}

// Verifies: REQ-CORE-009
TEST(JsonPreserveTest, RejectsMalformedJsonAndMarkedStrings) {
  rapidjson::Document d;
  EXPECT_EQ(ParsePreservingNumbers("{\"a\":", d).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePreservingNumbers("{} x", d).code(), StatusCode::kInvalidArgument);
  // A string may not smuggle raw JSON in through the number mark.
  Status s = ParsePreservingNumbers(R"({"a":"\u0001{\"x\":1}"})", d);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-CORE-010
TEST(JsonPreserveTest, RefusesDeepNestingWithoutCrashing) {
  rapidjson::Document d;
  std::string deep(100000, '[');
  EXPECT_EQ(ParsePreservingNumbers(deep, d).code(), StatusCode::kInvalidArgument);
  std::string ok = std::string(50, '[') + std::string(50, ']');
  EXPECT_TRUE(ParsePreservingNumbers(ok, d).ok());
}

}  // namespace
}  // namespace sund::json
