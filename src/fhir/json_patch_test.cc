#include "fhir/json_patch.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sund::fhir {
namespace {

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

// Applies `patch` to `doc` and returns the status; `doc` is updated in place.
Status Apply(rapidjson::Document& doc, const std::string& patch) {
  rapidjson::Document p = Parse(patch);
  return ApplyJsonPatch(p, doc);
}

void ExpectJson(const rapidjson::Value& actual, const std::string& expected) {
  rapidjson::Document e = Parse(expected);
  EXPECT_TRUE(JsonDeepEqual(actual, e))
      << "got " << json::Serialize(actual) << "\nwant " << expected;
}

// Verifies: REQ-FHIR-029, REQ-FHIR-035
TEST(JsonPatchTest, OfficialFhirTestCases) {
  const char* dir = std::getenv("SUND_TEST_DATA");
  if (dir == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set";
  const std::string path = std::string(dir) + "/fhir-test-cases/json-patch-tests.json";
  std::ifstream in(path);
  if (!in) GTEST_SKIP() << path << " is missing";
  std::stringstream buf;
  buf << in.rdbuf();
  rapidjson::Document cases = Parse(buf.str());
  ASSERT_TRUE(cases.IsArray());
  int passed = 0;
  for (const auto& c : cases.GetArray()) {
    const std::string comment(json::GetString(c, "comment"));
    SCOPED_TRACE(comment);
    ASSERT_TRUE(c.HasMember("doc") && c.HasMember("patch"));
    rapidjson::Document doc;
    doc.CopyFrom(c["doc"], doc.GetAllocator());
    rapidjson::Document original;
    original.CopyFrom(c["doc"], original.GetAllocator());
    Status s = ApplyJsonPatch(c["patch"], doc);
    if (c.HasMember("error")) {
      EXPECT_FALSE(s.ok());
      EXPECT_TRUE(JsonDeepEqual(doc, original)) << "document changed by a failed patch";
    } else {
      ASSERT_TRUE(c.HasMember("expected"));
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_TRUE(JsonDeepEqual(doc, c["expected"])) << json::Serialize(doc);
    }
    if (!HasFailure()) ++passed;
  }
  EXPECT_EQ(passed, static_cast<int>(cases.Size()));
  std::printf("[ json-patch ] %d of %u official cases passed\n", passed, cases.Size());
}

// Verifies: REQ-FHIR-029, REQ-FHIR-030
TEST(JsonPatchTest, AddReplaceRemoveKeepOrder) {
  rapidjson::Document doc = Parse(R"({"a":1,"b":2,"c":3})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"remove","path":"/b"},{"op":"add","path":"/d","value":4},
                            {"op":"replace","path":"/a","value":[1,2]}])")
                  .ok());
  EXPECT_EQ(json::Serialize(doc), R"({"a":[1,2],"c":3,"d":4})");
}

// Verifies: REQ-FHIR-030
TEST(JsonPatchTest, AddExistingMemberReplacesIt) {
  rapidjson::Document doc = Parse(R"({"a":1})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"add","path":"/a","value":"x"}])").ok());
  EXPECT_EQ(json::Serialize(doc), R"({"a":"x"})");
}

// Verifies: REQ-FHIR-031, REQ-FHIR-035
TEST(JsonPatchTest, ArrayInsertAppendAndBounds) {
  rapidjson::Document doc = Parse(R"({"a":[1,2]})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"add","path":"/a/0","value":0},
                            {"op":"add","path":"/a/3","value":3},
                            {"op":"add","path":"/a/-","value":4}])")
                  .ok());
  EXPECT_EQ(json::Serialize(doc), R"({"a":[0,1,2,3,4]})");
  EXPECT_EQ(Apply(doc, R"([{"op":"add","path":"/a/6","value":9}])").code(),
            StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"add","path":"/a/01","value":9}])").code(),
            StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"remove","path":"/a/5"}])").code(), StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"remove","path":"/a/-"}])").code(), StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"replace","path":"/a/x","value":1}])").code(),
            StatusCode::kUnprocessable);
  EXPECT_EQ(json::Serialize(doc), R"({"a":[0,1,2,3,4]})");
}

// Verifies: REQ-FHIR-032
TEST(JsonPatchTest, PointerEscapes) {
  rapidjson::Document doc = Parse(R"({"a/b":1,"m~n":2,"~1":3,"":4})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"test","path":"/a~1b","value":1},
                            {"op":"test","path":"/m~0n","value":2},
                            {"op":"test","path":"/~01","value":3},
                            {"op":"test","path":"/","value":4},
                            {"op":"replace","path":"/m~0n","value":5},
                            {"op":"add","path":"/x~1y","value":6}])")
                  .ok());
  ExpectJson(doc, R"({"a/b":1,"m~n":5,"~1":3,"":4,"x/y":6})");
}

// Verifies: REQ-FHIR-033
TEST(JsonPatchTest, MalformedPatchIsInvalidArgument) {
  rapidjson::Document doc = Parse(R"({"a":1})");
  const char* bad[] = {
      R"({"op":"add","path":"/b","value":1})",      // not an array
      R"([1])",                                     // operation not an object
      R"([{"path":"/a"}])",                         // no op
      R"([{"op":"frobnicate","path":"/a"}])",       // unknown op
      R"([{"op":"remove"}])",                       // no path
      R"([{"op":"remove","path":5}])",              // path not a string
      R"([{"op":"remove","path":"a"}])",            // no leading slash
      R"([{"op":"remove","path":"/a~2"}])",         // bad escape
      R"([{"op":"remove","path":"/a~"}])",          // dangling escape
      R"([{"op":"add","path":"/b"}])",              // add without value
      R"([{"op":"replace","path":"/a"}])",          // replace without value
      R"([{"op":"test","path":"/a"}])",             // test without value
      R"([{"op":"move","path":"/b"}])",             // move without from
      R"([{"op":"copy","path":"/b","from":"x"}])",  // from with bad syntax
  };
  for (const char* p : bad) {
    EXPECT_EQ(Apply(doc, p).code(), StatusCode::kInvalidArgument) << p;
  }
  EXPECT_EQ(json::Serialize(doc), R"({"a":1})");
}

// Verifies: REQ-FHIR-033, REQ-FHIR-035
TEST(JsonPatchTest, MalformedLaterOperationAppliesNothing) {
  rapidjson::Document doc = Parse(R"({"a":1})");
  EXPECT_EQ(Apply(doc, R"([{"op":"remove","path":"/a"},{"op":"nope","path":"/a"}])").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(json::Serialize(doc), R"({"a":1})");
}

// Verifies: REQ-FHIR-034, REQ-FHIR-035
TEST(JsonPatchTest, FailureIsAtomic) {
  rapidjson::Document doc = Parse(R"({"name":[{"family":"A"}],"n":1})");
  const std::string before = json::Serialize(doc);
  // The first three operations apply; the last does not: nothing may change.
  Status s = Apply(doc, R"([{"op":"replace","path":"/n","value":2},
                            {"op":"add","path":"/name/-","value":{"family":"B"}},
                            {"op":"remove","path":"/name/0"},
                            {"op":"test","path":"/n","value":3}])");
  EXPECT_EQ(s.code(), StatusCode::kUnprocessable);
  EXPECT_EQ(json::Serialize(doc), before);
  s = Apply(doc, R"([{"op":"remove","path":"/n"},{"op":"remove","path":"/missing"}])");
  EXPECT_EQ(s.code(), StatusCode::kUnprocessable);
  EXPECT_EQ(json::Serialize(doc), before);
}

// Verifies: REQ-FHIR-036
TEST(JsonPatchTest, ErrorsNameThePathNotValues) {
  rapidjson::Document doc = Parse(R"({"secret":"Jensen"})");
  Status s = Apply(doc, R"([{"op":"test","path":"/secret","value":"Hansen"}])");
  EXPECT_EQ(s.code(), StatusCode::kUnprocessable);
  EXPECT_NE(s.message().find("/secret"), std::string::npos);
  EXPECT_EQ(s.message().find("Jensen"), std::string::npos);
  EXPECT_EQ(s.message().find("Hansen"), std::string::npos);
}

// Verifies: REQ-FHIR-037, REQ-FHIR-034
TEST(JsonPatchTest, TestDeepEqualityAndNumbers) {
  rapidjson::Document doc = Parse(R"({"v":1,"o":{"x":[1,{"y":null}],"z":true},"big":1e300})");
  EXPECT_TRUE(Apply(doc, R"([{"op":"test","path":"/v","value":1.0}])").ok());
  EXPECT_TRUE(Apply(doc, R"([{"op":"test","path":"/v","value":1}])").ok());
  EXPECT_TRUE(Apply(doc, R"([{"op":"test","path":"/big","value":1e300}])").ok());
  // Object members in another order are equal.
  EXPECT_TRUE(
      Apply(doc, R"([{"op":"test","path":"/o","value":{"z":true,"x":[1,{"y":null}]}}])").ok());
  EXPECT_TRUE(Apply(doc, R"([{"op":"test","path":"","value":
      {"big":1e300,"o":{"x":[1.0,{"y":null}],"z":true},"v":1}}])")
                  .ok());
  const char* unequal[] = {
      R"([{"op":"test","path":"/v","value":1.5}])",
      R"([{"op":"test","path":"/v","value":"1"}])",
      R"([{"op":"test","path":"/v","value":true}])",
      R"([{"op":"test","path":"/o","value":{"x":[1,{"y":null}]}}])",
      R"([{"op":"test","path":"/o","value":{"x":[{"y":null},1],"z":true}}])",
      R"([{"op":"test","path":"/o","value":{"x":[1,{"y":null}],"z":false}}])",
      R"([{"op":"test","path":"/o/x/1/y","value":0}])",
      R"([{"op":"test","path":"/nope","value":null}])",
  };
  for (const char* p : unequal) EXPECT_EQ(Apply(doc, p).code(), StatusCode::kUnprocessable) << p;
  rapidjson::Document neg = Parse("-1");
  rapidjson::Document huge = Parse("18446744073709551615");
  EXPECT_FALSE(JsonDeepEqual(neg, huge));
  EXPECT_TRUE(JsonDeepEqual(huge, huge));
}

// Verifies: REQ-FHIR-029, REQ-FHIR-034
TEST(JsonPatchTest, MoveAndCopy) {
  rapidjson::Document doc = Parse(R"({"a":{"b":[1,2]},"c":null})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"copy","from":"/a/b","path":"/c"},
                            {"op":"move","from":"/a/b/0","path":"/a/b/-"},
                            {"op":"move","from":"/c","path":"/c"}])")
                  .ok());
  ExpectJson(doc, R"({"a":{"b":[2,1]},"c":[1,2]})");
  EXPECT_EQ(Apply(doc, R"([{"op":"move","from":"/a","path":"/a/b/x"}])").code(),
            StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"move","from":"/nope","path":"/x"}])").code(),
            StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"copy","from":"/nope","path":"/x"}])").code(),
            StatusCode::kUnprocessable);
}

// Verifies: REQ-FHIR-039, REQ-FHIR-034
TEST(JsonPatchTest, WholeDocumentOperations) {
  rapidjson::Document doc = Parse(R"({"a":1})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"replace","path":"","value":{"b":2}}])").ok());
  EXPECT_EQ(json::Serialize(doc), R"({"b":2})");
  ASSERT_TRUE(Apply(doc, R"([{"op":"add","path":"","value":[1]}])").ok());
  EXPECT_EQ(json::Serialize(doc), R"([1])");
  EXPECT_EQ(Apply(doc, R"([{"op":"remove","path":""}])").code(), StatusCode::kUnprocessable);
  EXPECT_EQ(Apply(doc, R"([{"op":"add","path":"/0/x","value":1}])").code(),
            StatusCode::kUnprocessable);  // parent is a number
}

// Verifies: REQ-FHIR-038
TEST(JsonPatchTest, PatchMayBeFreedAfterApply) {
  rapidjson::Document doc = Parse(R"({})");
  {
    std::string text = R"([{"op":"add","path":"/k","value":{"s":"a long enough string value"}}])";
    rapidjson::Document patch;
    patch.ParseInsitu(text.data());
    ASSERT_TRUE(ApplyJsonPatch(patch, doc).ok());
    text.assign(text.size(), 'x');
  }
  EXPECT_EQ(json::Serialize(doc), R"({"k":{"s":"a long enough string value"}})");
}

// Verifies: REQ-FHIR-038
TEST(JsonPatchTest, EmptyPatchIsANoOp) {
  rapidjson::Document doc = Parse(R"({"a":1})");
  EXPECT_TRUE(Apply(doc, "[]").ok());
  EXPECT_EQ(json::Serialize(doc), R"({"a":1})");
}

}  // namespace
}  // namespace sund::fhir
