#include "iomt/measurement.h"

#include <gtest/gtest.h>

#include <string>

#include "core/json.h"
#include "fhir/model.h"
#include "fhir/validate.h"

namespace sund::iomt {
namespace {

// 2026-11-29T10:00:00Z
constexpr std::int64_t kNowMs = 1'795'946'400'000;

ParseOptions Now() {
  ParseOptions o;
  o.now_ms = kNowMs;
  return o;
}

// Verifies: REQ-IOMT-001
TEST(MeasurementTest, KindsAreFoundByMdcLoincOrName) {
  EXPECT_EQ(FindKind("mdc", "149530")->kind, Kind::kHeartRate);  // pulse oximeter's rate
  EXPECT_EQ(FindKind(kMdcSystem, "149546")->kind, Kind::kHeartRate);
  EXPECT_EQ(FindKind("mdc", "150021")->kind, Kind::kSystolicPressure);
  EXPECT_EQ(FindKind("mdc", "150456")->kind, Kind::kSpo2);
  EXPECT_EQ(FindKind("loinc", "8310-5")->kind, Kind::kBodyTemperature);
  EXPECT_EQ(FindKind(kLoincSystem, "29463-7")->kind, Kind::kBodyWeight);
  EXPECT_EQ(FindKind("sund", "respiration-rate")->kind, Kind::kRespirationRate);
  EXPECT_EQ(FindKind("mdc", "999999"), nullptr);
  EXPECT_EQ(FindKind("mdc", "15002x"), nullptr);
  EXPECT_EQ(FindKind("loinc", "150021"), nullptr);
  EXPECT_EQ(FindKind("http://snomed.info/sct", "8867-4"), nullptr);
  // Every kind's own codes find it again.
  for (const auto& k : Kinds()) {
    EXPECT_EQ(FindKind("mdc", std::to_string(k.mdc)), &k) << k.name;
    EXPECT_EQ(FindKind("loinc", k.loinc), &k) << k.name;
    EXPECT_EQ(&Info(k.kind), &k) << k.name;
  }
}

// Verifies: REQ-IOMT-002
TEST(MeasurementTest, UnitsConvertToTheCanonicalUnitOrAreRefused) {
  auto near = [](Result<double> r, double want) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NEAR(*r, want, 1e-6);
  };
  near(ToCanonical(Info(Kind::kBodyTemperature), 98.6, "[degF]"), 37.0);
  near(ToCanonical(Info(Kind::kBodyTemperature), 310.15, "K"), 37.0);
  near(ToCanonical(Info(Kind::kSystolicPressure), 16, "kPa"), 120.00984);
  near(ToCanonical(Info(Kind::kSpo2), 0.97, "{fraction}"), 97);
  near(ToCanonical(Info(Kind::kBloodGlucose), 180.16, "mg/dL"), 10);
  near(ToCanonical(Info(Kind::kBodyWeight), 154.3235835, "[lb_av]"), 70);
  near(ToCanonical(Info(Kind::kBodyWeight), 70500, "g"), 70.5);
  near(ToCanonical(Info(Kind::kHeartRate), 72, "{beats}/min"), 72);
  near(ToCanonical(Info(Kind::kHeartRate), 72, "/min"), 72);
  auto wrong = ToCanonical(Info(Kind::kHeartRate), 72, "kg");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("\"kg\""), std::string::npos);
  EXPECT_FALSE(ToCanonical(Info(Kind::kBodyTemperature), 37, "cel").ok());  // UCUM is exact
}

constexpr std::string_view kGood = R"({"device":"oxi-7","time":"2026-11-29T09:58:00Z",
  "measurements":[
    {"code":{"system":"mdc","code":"149530"},"value":72,"unit":"/min"},
    {"code":{"system":"mdc","code":"150456"},"value":0.96,"unit":"{fraction}"},
    {"code":{"system":"mdc","code":"150021"},"value":128,"unit":"mm[Hg]"},
    {"code":{"system":"mdc","code":"150022"},"value":84,"unit":"mm[Hg]"},
    {"code":{"system":"loinc","code":"8310-5"},"value":99.5,"unit":"[degF]",
     "time":"2026-11-29T10:57:00+01:00"}]})";

// Verifies: REQ-IOMT-002, REQ-IOMT-003
TEST(MeasurementTest, AGoodPayloadIsAcceptedWhole) {
  auto p = ParsePayload(kGood, Now());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->device, "oxi-7");
  EXPECT_TRUE(p->refused.empty()) << p->refused[0].detail;
  ASSERT_EQ(p->accepted.size(), 5u);
  EXPECT_EQ(p->accepted[0].kind, Kind::kHeartRate);
  EXPECT_EQ(p->accepted[0].mdc, 149530u);
  EXPECT_EQ(p->accepted[0].time_ms, kNowMs - 2 * 60 * 1000);
  EXPECT_DOUBLE_EQ(p->accepted[1].value, 96);
  EXPECT_NEAR(p->accepted[4].value, 37.5, 1e-9);
  EXPECT_EQ(p->accepted[4].time_ms, kNowMs - 3 * 60 * 1000);  // its own time, +01:00
}

// The bad-payload corpus: each bad measurement is refused with its reason, the good ones in
// the same payload are kept; a payload that is unusable as a whole is an error.
// Verifies: REQ-IOMT-004, REQ-IOMT-005, REQ-IOMT-006, REQ-IOMT-007, REQ-IOMT-008, REQ-IOMT-009
// Verifies: REQ-IOMT-010, REQ-IOMT-011, REQ-IOMT-012
TEST(MeasurementTest, EachBadMeasurementIsRefusedWithItsReason) {
  constexpr std::string_view kMixed = R"({"device":"d1","time":"2026-11-29T09:00:00Z",
    "measurements":[
      {"code":{"system":"mdc","code":"149530"},"value":70,"unit":"/min"},
      {"code":{"system":"mdc","code":"424242"},"value":1,"unit":"/min"},
      {"code":{"system":"mdc","code":"149530"},"value":70,"unit":"kg"},
      {"code":{"system":"mdc","code":"150456"},"value":130,"unit":"%"},
      {"code":{"system":"mdc","code":"149530"},"value":70,"unit":"/min",
       "time":"2026-11-29T11:00:00Z"},
      {"code":{"system":"mdc","code":"150021"},"value":120,"unit":"mm[Hg]"},
      {"code":{"system":"mdc","code":"150021"},"value":80,"unit":"mm[Hg]",
       "time":"2026-11-29T08:00:00Z"},
      {"code":{"system":"mdc","code":"150022"},"value":95,"unit":"mm[Hg]",
       "time":"2026-11-29T08:00:00Z"},
      {"code":"149530","value":70,"unit":"/min"},
      {"code":{"system":"mdc","code":"149530"},"value":"70","unit":"/min"},
      {"code":{"system":"mdc","code":"149530"},"value":70,"unit":"/min","time":"09:00"},
      7]})";
  auto p = ParsePayload(kMixed, Now());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->accepted.size(), 1u);
  EXPECT_EQ(p->accepted[0].kind, Kind::kHeartRate);
  std::map<int, Rejection> why;
  for (const auto& r : p->refused) {
    why[r.index] = r.reason;
    EXPECT_EQ(r.detail.find("130"), std::string::npos) << "a refusal repeats the value";
  }
  EXPECT_EQ(why.size(), 11u);
  // Nothing is dropped silently: every measurement is either accepted or refused.
  EXPECT_EQ(p->accepted.size() + p->refused.size(), 12u);
  EXPECT_EQ(why[1], Rejection::kUnknownCode);
  EXPECT_EQ(why[2], Rejection::kBadUnit);
  EXPECT_EQ(why[3], Rejection::kImpossible);
  EXPECT_EQ(why[4], Rejection::kFutureTime);
  EXPECT_EQ(why[5], Rejection::kIncomplete);  // systolic without diastolic
  EXPECT_EQ(why[6], Rejection::kImpossible);  // systolic not above diastolic: both refused
  EXPECT_EQ(why[7], Rejection::kImpossible);
  EXPECT_EQ(why[8], Rejection::kMalformed);
  EXPECT_EQ(why[9], Rejection::kMalformed);
  EXPECT_EQ(why[10], Rejection::kMalformed);
  EXPECT_EQ(why[11], Rejection::kMalformed);

  for (std::string_view bad : {std::string_view("not json"), std::string_view("[]"),
                               std::string_view(R"({"measurements":[{}]})"),
                               std::string_view(R"({"device":"d","measurements":[]})"),
                               std::string_view(R"({"device":"d","measurements":{}})"),
                               std::string_view(R"({"device":"d","time":"yesterday",
                                   "measurements":[{}]})")}) {
    EXPECT_FALSE(ParsePayload(bad, Now()).ok()) << bad;
  }
  ParseOptions small = Now();
  small.max_measurements = 2;
  auto big = ParsePayload(kGood, small);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-IOMT-014, REQ-IOMT-015, REQ-IOMT-016
TEST(MeasurementTest, ObservationsCarryBothCodesAndBloodPressureIsOne) {
  auto p = ParsePayload(kGood, Now());
  ASSERT_TRUE(p.ok());
  std::string hr = ObservationJson(p->accepted[0], "pt-1", "oxi-7");
  rapidjson::Document d;
  d.Parse(hr.data(), hr.size());
  ASSERT_FALSE(d.HasParseError()) << hr;
  EXPECT_TRUE(fhir::ValidateResource(fhir::Model::R4(), d).ok())
      << fhir::ValidateResource(fhir::Model::R4(), d).ToString();
  EXPECT_EQ(json::GetString(d, "status"), "final");
  const auto& coding = d["code"]["coding"];
  ASSERT_EQ(coding.Size(), 2u);
  EXPECT_EQ(json::GetString(coding[0], "system"), kLoincSystem);
  EXPECT_EQ(json::GetString(coding[0], "code"), "8867-4");
  EXPECT_EQ(json::GetString(coding[1], "system"), kMdcSystem);
  EXPECT_EQ(json::GetString(coding[1], "code"), "149530");
  EXPECT_EQ(json::GetString(d["category"][0]["coding"][0], "code"), "vital-signs");
  EXPECT_EQ(json::GetString(d["subject"], "reference"), "Patient/pt-1");
  EXPECT_EQ(json::GetString(d["device"], "reference"), "Device/oxi-7");
  EXPECT_EQ(json::GetString(d, "effectiveDateTime"), "2026-11-29T09:58:00.000Z");
  EXPECT_EQ(d["valueQuantity"]["value"].GetDouble(), 72);
  EXPECT_NE(hr.find(R"("value":72,)"), std::string::npos) << "numbers as written: " << hr;
  EXPECT_EQ(json::GetString(d["valueQuantity"], "code"), "/min");
  EXPECT_EQ(json::GetString(d["identifier"][0], "value"), MeasurementKey("oxi-7", p->accepted[0]));
  // The same measurement sent again: the same identifier (conditional create stores it once).
  auto again = ParsePayload(kGood, Now());
  EXPECT_EQ(ObservationJson(again->accepted[0], "pt-1", "oxi-7"), hr);

  std::string bp = ObservationJson(p->accepted[2], "pt-1", "oxi-7", &p->accepted[3]);
  rapidjson::Document b;
  b.Parse(bp.data(), bp.size());
  ASSERT_FALSE(b.HasParseError()) << bp;
  EXPECT_TRUE(fhir::ValidateResource(fhir::Model::R4(), b).ok())
      << fhir::ValidateResource(fhir::Model::R4(), b).ToString();
  EXPECT_EQ(json::GetString(b["code"]["coding"][0], "code"), "85354-9");
  EXPECT_FALSE(b.HasMember("valueQuantity"));
  ASSERT_EQ(b["component"].Size(), 2u);
  EXPECT_EQ(json::GetString(b["component"][0]["code"]["coding"][0], "code"), "8480-6");
  EXPECT_EQ(b["component"][0]["valueQuantity"]["value"].GetDouble(), 128);
  EXPECT_EQ(json::GetString(b["component"][1]["code"]["coding"][0], "code"), "8462-4");
  EXPECT_EQ(b["component"][1]["valueQuantity"]["value"].GetDouble(), 84);
  EXPECT_EQ(json::GetString(b["component"][1]["valueQuantity"], "code"), "mm[Hg]");
}

// A payload nested a million levels deep (under the 1 MiB body limit) is refused as not an
// object; before issue #11's review the recursive parser could exhaust the stack and kill sund.
// Verifies: REQ-IOMT-011
TEST(MeasurementTest, Issue11DeeplyNestedPayloadIsRefusedNotACrash) {
  std::string deep(1'000'000, '[');
  auto parsed = ParsePayload(deep, Now());
  EXPECT_FALSE(parsed.ok());
  std::string deep_object = R"({"device":"d1","measurements":)" + deep;
  EXPECT_FALSE(ParsePayload(deep_object, Now()).ok());
}

}  // namespace
}  // namespace sund::iomt
