#include "iomt/mapping.h"

#include <gtest/gtest.h>

namespace sund::iomt {
namespace {

constexpr std::string_view kTemplates = R"({"templates": [
  {"name": "acme-bp", "match": {"path": "/kind", "equals": "bp"}, "device": "/serial",
   "time": {"path": "/ts", "format": "epoch-s"}, "battery": "/batt",
   "values": [
     {"path": "/sys", "code": {"system": "mdc", "code": "150021"}, "unit": "mm[Hg]"},
     {"path": "/dia", "code": {"system": "mdc", "code": "150022"}, "unit": "mm[Hg]"},
     {"path": "/pulse", "code": {"system": "mdc", "code": "149546"}, "unit": "/min",
      "required": false}]},
  {"name": "oxi-log", "match": {"path": "/log"}, "device": "/id",
   "time": {"path": "/at"}, "each": "/log",
   "values": [
     {"path": "/spo2", "code": {"system": "loinc", "code": "59408-5"}, "unit": "{fraction}"},
     {"path": "/hr", "code": {"system": "loinc", "code": "8867-4"}, "unit": "/min"}]}]})";

ParseOptions Now() {
  ParseOptions o;
  o.now_ms = 1'800'000'000'000;
  return o;
}

// Verifies: REQ-IOMT-027
TEST(Mapping, AVendorPayloadBecomesSundsPayload) {
  auto m = Mappings::Parse(kTemplates);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->size(), 2u);
  auto out =
      m->Apply(R"({"kind":"bp","serial":"cuff-9","ts":1795946400,"batt":55,"sys":131,"dia":82})");
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_TRUE(out->has_value());
  auto parsed = ParsePayload(**out, Now());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << **out;
  EXPECT_EQ(parsed->device, "cuff-9");
  EXPECT_EQ(parsed->battery, 55);
  ASSERT_EQ(parsed->accepted.size(), 2u);  // the optional pulse was absent
  EXPECT_EQ(parsed->accepted[0].time_ms, 1'795'946'400'000);
  EXPECT_TRUE(parsed->refused.empty());
}

// Verifies: REQ-IOMT-002, REQ-IOMT-028
TEST(Mapping, EachElementIsAReadingOfItsOwn) {
  auto m = Mappings::Parse(kTemplates);
  ASSERT_TRUE(m.ok());
  auto out = m->Apply(R"({"id":"oxi-3","log":[
      {"at":"2026-11-29T08:00:00Z","spo2":0.97,"hr":64},
      {"at":"2026-11-29T08:05:00Z","spo2":0.95,"hr":70}]})");
  ASSERT_TRUE(out.ok() && out->has_value()) << out.status().message();
  auto parsed = ParsePayload(**out, Now());
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->accepted.size(), 4u);
  EXPECT_DOUBLE_EQ(parsed->accepted[0].value, 97);  // {fraction} converted to %
  EXPECT_NE(parsed->accepted[0].time_ms, parsed->accepted[2].time_ms);
}

// Verifies: REQ-IOMT-029
TEST(Mapping, SundsOwnPayloadMatchesNoTemplate) {
  auto m = Mappings::Parse(kTemplates);
  ASSERT_TRUE(m.ok());
  auto out = m->Apply(R"({"device":"oxi-7","measurements":[]})");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->has_value());
  EXPECT_FALSE(m->Apply("not json").value().has_value());
}

// Verifies: REQ-IOMT-030
TEST(Mapping, APayloadTheTemplateCannotMapIsRefused) {
  auto m = Mappings::Parse(kTemplates);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->Apply(R"({"kind":"bp","serial":"c","ts":1,"sys":131})").ok());  // no dia
  EXPECT_FALSE(m->Apply(R"({"kind":"bp","serial":"c","ts":1,"sys":"high","dia":80})").ok());
  EXPECT_FALSE(m->Apply(R"({"kind":"bp","ts":1,"sys":131,"dia":80})").ok());  // no device
}

// Verifies: REQ-IOMT-031
TEST(Mapping, MistakesInTemplatesAreFoundWhenLoaded) {
  auto parse = [](std::string values) {
    return Mappings::Parse(R"({"templates":[{"name":"t","match":{"path":"/k"},"device":"/d",)"
                           R"("values":[)" +
                           values + "]}]}");
  };
  // A diastolic value coded as heart rate: mm[Hg] does not fit heart rate's /min.
  auto hr = parse(R"({"path":"/dia","code":{"system":"mdc","code":"149546"},"unit":"mm[Hg]"})");
  ASSERT_FALSE(hr.ok());
  EXPECT_NE(hr.status().message().find("does not fit heart-rate"), std::string::npos)
      << hr.status().message();
  EXPECT_FALSE(
      parse(R"({"path":"/x","code":{"system":"mdc","code":"424242"},"unit":"/min"})").ok());
  EXPECT_FALSE(
      parse(R"({"path":"/s","code":{"system":"mdc","code":"150021"},"unit":"mm[Hg]"})").ok());
  EXPECT_FALSE(parse(R"({"path":"/a","code":{"system":"mdc","code":"149546"},"unit":"/min"},)"
                     R"({"path":"/b","code":{"system":"loinc","code":"8867-4"},"unit":"/min"})")
                   .ok());  // heart rate twice
  EXPECT_FALSE(
      parse(R"({"path":"nope","code":{"system":"mdc","code":"149546"},"unit":"/min"})").ok());
  EXPECT_TRUE(parse(R"({"path":"/a","code":{"system":"mdc","code":"149546"},"unit":"/min"})").ok());
  EXPECT_FALSE(Mappings::Parse(R"({"templates":[{"name":"x"},{"name":"x"}]})").ok());
  EXPECT_FALSE(Mappings::Parse("[]").ok());
}

// Verifies: REQ-IOMT-029
TEST(Mapping, Issue11DeeplyNestedPayloadOrTemplateIsRefusedNotACrash) {
  std::string deep(1'000'000, '[');
  EXPECT_FALSE(Mappings::Parse(deep).ok());
  auto m = Mappings::Parse(kTemplates);
  ASSERT_TRUE(m.ok());
  auto applied = m->Apply(deep);
  ASSERT_TRUE(applied.ok());
  EXPECT_FALSE(applied->has_value());
}

}  // namespace
}  // namespace sund::iomt
