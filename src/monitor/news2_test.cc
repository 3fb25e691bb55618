#include "monitor/news2.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/json.h"
#include "fhir/model.h"
#include "fhir/validate.h"

namespace sund::monitor {
namespace {

struct Case {
  double value;
  int score;
};

// Both sides of every band boundary of the RCP 2017 chart, and the rounding of measured values
// to the chart's precision (whole numbers; temperature to one decimal).
// Verifies: REQ-MON-001, REQ-MON-008
TEST(News2Test, RespirationRateBands) {
  for (const Case& c : std::vector<Case>{{0, 3},
                                         {8, 3},
                                         {8.49, 3},
                                         {8.5, 1},
                                         {9, 1},
                                         {11, 1},
                                         {11.4, 1},
                                         {12, 0},
                                         {20, 0},
                                         {20.5, 2},
                                         {21, 2},
                                         {24, 2},
                                         {25, 3},
                                         {60, 3}}) {
    EXPECT_EQ(ScoreRespirationRate(c.value), c.score) << c.value;
  }
}

// Verifies: REQ-MON-002, REQ-MON-008
TEST(News2Test, Spo2Scale1Bands) {
  for (const Case& c : std::vector<Case>{{50, 3},
                                         {91, 3},
                                         {91.4, 3},
                                         {92, 2},
                                         {93, 2},
                                         {94, 1},
                                         {95, 1},
                                         {95.5, 0},
                                         {96, 0},
                                         {100, 0}}) {
    EXPECT_EQ(ScoreSpo2Scale1(c.value), c.score) << c.value;
  }
}

// Verifies: REQ-MON-003, REQ-MON-008
TEST(News2Test, Spo2Scale2BandsOnAirAndOnOxygen) {
  // Up to 92 % the same on air and on oxygen (the target range 88-92 scores 0).
  for (const Case& c :
       std::vector<Case>{{70, 3}, {83, 3}, {84, 2}, {85, 2}, {86, 1}, {87, 1}, {88, 0}, {92, 0}}) {
    EXPECT_EQ(ScoreSpo2Scale2(c.value, false), c.score) << c.value << " on air";
    EXPECT_EQ(ScoreSpo2Scale2(c.value, true), c.score) << c.value << " on oxygen";
    EXPECT_EQ(ScoreSpo2Scale2(c.value, std::nullopt), c.score) << c.value << " unknown";
  }
  // 93 % and above: 0 on air; on oxygen 93-94 -> 1, 95-96 -> 2, 97+ -> 3; unknown: no score.
  for (const Case& c : std::vector<Case>{{93, 0}, {97, 0}, {100, 0}}) {
    EXPECT_EQ(ScoreSpo2Scale2(c.value, false), c.score) << c.value << " on air";
  }
  for (const Case& c :
       std::vector<Case>{{92.5, 1}, {93, 1}, {94, 1}, {95, 2}, {96, 2}, {97, 3}, {100, 3}}) {
    EXPECT_EQ(ScoreSpo2Scale2(c.value, true), c.score) << c.value << " on oxygen";
  }
  EXPECT_EQ(ScoreSpo2Scale2(95, std::nullopt), std::nullopt);
}

// Verifies: REQ-MON-004
TEST(News2Test, AirOrOxygenAndConsciousness) {
  EXPECT_EQ(ScoreAirOrOxygen(false), 0);
  EXPECT_EQ(ScoreAirOrOxygen(true), 2);
  EXPECT_EQ(ScoreConsciousness(Consciousness::kAlert), 0);
  for (auto c : {Consciousness::kConfusion, Consciousness::kVoice, Consciousness::kPain,
                 Consciousness::kUnresponsive}) {
    EXPECT_EQ(ScoreConsciousness(c), 3);
  }
}

// Verifies: REQ-MON-005, REQ-MON-008
TEST(News2Test, SystolicPressureBands) {
  for (const Case& c : std::vector<Case>{{40, 3},
                                         {90, 3},
                                         {90.4, 3},
                                         {91, 2},
                                         {100, 2},
                                         {101, 1},
                                         {110, 1},
                                         {111, 0},
                                         {219, 0},
                                         {219.5, 3},
                                         {220, 3},
                                         {300, 3}}) {
    EXPECT_EQ(ScoreSystolic(c.value), c.score) << c.value;
  }
}

// Verifies: REQ-MON-006, REQ-MON-008
TEST(News2Test, PulseBands) {
  for (const Case& c : std::vector<Case>{{20, 3},
                                         {40, 3},
                                         {41, 1},
                                         {50, 1},
                                         {51, 0},
                                         {90, 0},
                                         {90.5, 1},
                                         {91, 1},
                                         {110, 1},
                                         {111, 2},
                                         {130, 2},
                                         {131, 3},
                                         {220, 3}}) {
    EXPECT_EQ(ScorePulse(c.value), c.score) << c.value;
  }
}

// Verifies: REQ-MON-007, REQ-MON-008
TEST(News2Test, TemperatureBandsToOneDecimal) {
  for (const Case& c : std::vector<Case>{{30.0, 3},
                                         {35.0, 3},
                                         {35.04, 3},
                                         {35.05, 1},
                                         {35.1, 1},
                                         {36.0, 1},
                                         {36.1, 0},
                                         {38.0, 0},
                                         {38.04, 0},
                                         {38.05, 1},
                                         {38.1, 1},
                                         {39.0, 1},
                                         {39.1, 2},
                                         {42.0, 2}}) {
    EXPECT_EQ(ScoreTemperature(c.value), c.score) << c.value;
  }
}

News2Inputs Normal() {
  News2Inputs in;
  in.respiration_rate = 16;
  in.spo2 = 97;
  in.on_oxygen = false;
  in.systolic = 125;
  in.pulse = 72;
  in.consciousness = Consciousness::kAlert;
  in.temperature = 36.8;
  return in;
}

// Totals and risk bands of hand-computed cases.
// Verifies: REQ-MON-009, REQ-MON-010
TEST(News2Test, TotalsAndRiskOfHandComputedCases) {
  auto normal = ScoreNews2(Normal());
  ASSERT_TRUE(normal.ok());
  EXPECT_TRUE(normal->complete);
  EXPECT_EQ(normal->total, 0);
  EXPECT_EQ(normal->risk, News2Risk::kLow);

  // A deteriorating Covid-19 patient at home: RR 23 (2), SpO2 93 on air (2), air (0), SBP 108
  // (1), pulse 104 (1), alert (0), 38.4 C (1): 7, high.
  News2Inputs covid = Normal();
  covid.respiration_rate = 23;
  covid.spo2 = 93;
  covid.systolic = 108;
  covid.pulse = 104;
  covid.temperature = 38.4;
  auto c = ScoreNews2(covid);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->total, 7);
  EXPECT_EQ(c->risk, News2Risk::kHigh);
  EXPECT_EQ(*c->sub[static_cast<std::size_t>(News2Parameter::kRespirationRate)], 2);
  EXPECT_EQ(*c->sub[static_cast<std::size_t>(News2Parameter::kSpo2)], 2);
  EXPECT_EQ(*c->sub[static_cast<std::size_t>(News2Parameter::kSystolicPressure)], 1);

  // One red parameter alone: new confusion, all else normal: 3, low-medium.
  News2Inputs confused = Normal();
  confused.consciousness = Consciousness::kConfusion;
  auto k = ScoreNews2(confused);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->total, 3);
  EXPECT_TRUE(k->any_three);
  EXPECT_EQ(k->risk, News2Risk::kLowMedium);

  // On oxygen (2) with SpO2 95 on scale 1 (1), pulse 112 (2): 5, medium.
  News2Inputs oxygen = Normal();
  oxygen.on_oxygen = true;
  oxygen.spo2 = 95;
  oxygen.pulse = 112;
  auto o = ScoreNews2(oxygen);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->total, 5);
  EXPECT_EQ(o->risk, News2Risk::kMedium);

  // The same saturation on scale 2 (a COPD patient's care plan): on oxygen 95 % scores 2.
  oxygen.scale = Spo2Scale::kScale2;
  auto o2 = ScoreNews2(oxygen);
  ASSERT_TRUE(o2.ok());
  EXPECT_EQ(o2->total, 6);
  EXPECT_EQ(o2->risk, News2Risk::kMedium);
  // Scale 2, 90 % on air: in the target range, 0 (scale 1 would give 3).
  News2Inputs copd = Normal();
  copd.scale = Spo2Scale::kScale2;
  copd.spo2 = 90;
  auto p = ScoreNews2(copd);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->total, 0);
  copd.scale = Spo2Scale::kScale1;
  EXPECT_EQ(ScoreNews2(copd)->total, 3);
}

// A missing parameter makes the score incomplete, never 0 for it: the total covers what is
// present and the risk is what that alone shows.
// Verifies: REQ-MON-003, REQ-MON-011
TEST(News2Test, MissingParametersGiveAnIncompleteScore) {
  News2Inputs in = Normal();
  in.temperature.reset();
  in.consciousness.reset();
  auto s = ScoreNews2(in);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->complete);
  EXPECT_EQ(s->missing, (std::vector<News2Parameter>{News2Parameter::kConsciousness,
                                                     News2Parameter::kTemperature}));
  EXPECT_FALSE(s->sub[static_cast<std::size_t>(News2Parameter::kTemperature)].has_value());

  // Scale 2 at 95 % without knowing about oxygen: SpO2 and air/oxygen both missing.
  News2Inputs unknown = Normal();
  unknown.scale = Spo2Scale::kScale2;
  unknown.spo2 = 95;
  unknown.on_oxygen.reset();
  auto u = ScoreNews2(unknown);
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->complete);
  EXPECT_EQ(u->missing,
            (std::vector<News2Parameter>{News2Parameter::kSpo2, News2Parameter::kAirOrOxygen}));

  // Already high from what is present: the floor says so.
  News2Inputs partial;
  partial.respiration_rate = 26;  // 3
  partial.pulse = 135;            // 3
  partial.systolic = 95;          // 2
  auto h = ScoreNews2(partial);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->complete);
  EXPECT_EQ(h->total, 8);
  EXPECT_EQ(h->risk, News2Risk::kHigh);

  auto none = ScoreNews2(News2Inputs{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->missing.size(), kNews2Parameters);
  EXPECT_EQ(none->risk, News2Risk::kLow);
}

// Verifies: REQ-MON-012
TEST(News2Test, ImpossibleValuesAreRefusedNamingTheParameter) {
  struct Bad {
    void (*set)(News2Inputs&);
    const char* name;
  };
  std::vector<Bad> bad = {
      {[](News2Inputs& i) { i.respiration_rate = -1; }, "respiration rate"},
      {[](News2Inputs& i) { i.spo2 = 101; }, "SpO2"},
      {[](News2Inputs& i) { i.systolic = 500; }, "systolic"},
      {[](News2Inputs& i) { i.pulse = std::numeric_limits<double>::quiet_NaN(); }, "pulse"},
      {[](News2Inputs& i) { i.temperature = std::numeric_limits<double>::infinity(); },
       "temperature"},
  };
  for (const auto& b : bad) {
    News2Inputs in = Normal();
    b.set(in);
    auto s = ScoreNews2(in);
    ASSERT_FALSE(s.ok()) << b.name;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(b.name), std::string::npos) << s.status().message();
  }
}

// The stored score: SNOMED CT code, total as valueInteger, risk, rule version, inputs and one
// component per parameter; an incomplete score carries no value, only the reason.
// Verifies: REQ-MON-013, REQ-MON-014
TEST(News2Test, ObservationOfACompleteAndAnIncompleteScore) {
  News2Inputs covid = Normal();
  covid.respiration_rate = 23;
  covid.spo2 = 93;
  covid.systolic = 108;
  covid.pulse = 104;
  covid.temperature = 38.4;
  auto score = ScoreNews2(covid);
  ASSERT_TRUE(score.ok());
  News2Context ctx;
  ctx.patient = "pt-1";
  ctx.effective_ms = 1'795'946'400'000;
  ctx.issued_ms = ctx.effective_ms + 1000;
  ctx.derived_from = {"Observation/rr", "Observation/spo2"};
  std::string json = News2ObservationJson(*score, ctx);
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_TRUE(fhir::ValidateResource(fhir::Model::R4(), d).ok())
      << fhir::ValidateResource(fhir::Model::R4(), d).ToString();
  EXPECT_EQ(json::GetString(d["code"]["coding"][0], "system"), "http://snomed.info/sct");
  EXPECT_EQ(json::GetString(d["code"]["coding"][0], "code"), "1104051000000101");
  ASSERT_TRUE(d.HasMember("valueInteger"));
  EXPECT_EQ(d["valueInteger"].GetInt(), 7);
  EXPECT_EQ(json::GetString(d["interpretation"][0]["coding"][0], "code"), "high");
  EXPECT_EQ(json::GetString(d["method"]["coding"][0], "code"), kNews2RuleVersion);
  EXPECT_EQ(json::GetString(d["subject"], "reference"), "Patient/pt-1");
  EXPECT_EQ(json::GetString(d, "effectiveDateTime"), "2026-11-29T10:00:00.000Z");
  ASSERT_EQ(d["derivedFrom"].Size(), 2u);
  ASSERT_EQ(d["component"].Size(), kNews2Parameters);
  EXPECT_EQ(json::GetString(d["component"][0]["code"]["coding"][0], "code"), "respiration-rate");
  EXPECT_EQ(d["component"][0]["valueInteger"].GetInt(), 2);

  News2Inputs partial = covid;
  partial.temperature.reset();
  auto incomplete = ScoreNews2(partial);
  ASSERT_TRUE(incomplete.ok());
  std::string ij = News2ObservationJson(*incomplete, ctx);
  rapidjson::Document p;
  p.Parse(ij.data(), ij.size());
  ASSERT_FALSE(p.HasParseError()) << ij;
  EXPECT_TRUE(fhir::ValidateResource(fhir::Model::R4(), p).ok())
      << fhir::ValidateResource(fhir::Model::R4(), p).ToString();
  EXPECT_FALSE(p.HasMember("valueInteger")) << "a partial sum must not pass for NEWS2";
  EXPECT_EQ(json::GetString(p["dataAbsentReason"], "text"),
            "incomplete NEWS2: missing temperature");
  const auto& temperature = p["component"][static_cast<int>(News2Parameter::kTemperature)];
  EXPECT_FALSE(temperature.HasMember("valueInteger"));
  EXPECT_TRUE(temperature.HasMember("dataAbsentReason"));
  EXPECT_EQ(json::GetString(p["interpretation"][0]["coding"][0], "code"), "medium");  // floor: 6
}

std::string Obs(std::string id, std::string code_system, std::string code, std::string time,
                std::string value, std::string status = "final") {
  return R"({"resourceType":"Observation","id":")" + id + R"(","status":")" + status +
         R"(","code":{"coding":[{"system":")" + code_system + R"(","code":")" + code +
         R"("}]},"effectiveDateTime":")" + time + R"(",)" + value + "}";
}
std::string Qty(double v, std::string unit) {
  return R"("valueQuantity":{"value":)" + std::to_string(v) + R"(,"code":")" + unit + R"("})";
}

// The latest value of each parameter within the window, from the codes the gateway writes and
// the Sund codes for consciousness and oxygen; older, future, unfinished or broken ones are not
// used.
// Verifies: REQ-MON-015
TEST(News2Test, InputsAreTheLatestValuesWithinTheWindow) {
  const std::int64_t now = 1'795'946'400'000;  // 2026-11-29T10:00:00Z
  const std::string loinc = "http://loinc.org";
  const std::string sund = "urn:sund:news2-parameter";
  std::vector<std::string> obs = {
      Obs("rr-old", loinc, "9279-1", "2026-11-29T08:00:00Z", Qty(18, "/min")),
      Obs("rr", loinc, "9279-1", "2026-11-29T09:30:00Z", Qty(22, "/min")),  // 2
      Obs("rr-future", loinc, "9279-1", "2026-11-29T10:30:00Z", Qty(30, "/min")),
      Obs("rr-prelim", loinc, "9279-1", "2026-11-29T09:50:00Z", Qty(30, "/min"), "preliminary"),
      Obs("spo2", loinc, "59408-5", "2026-11-29T09:31:00Z", Qty(94, "%")),   // 1
      Obs("hr", loinc, "8867-4", "2026-11-29T09:32:00Z", Qty(112, "/min")),  // 2
      Obs("hr-expired", loinc, "8867-4", "2026-11-28T09:32:00Z", Qty(40, "/min")),
      R"({"resourceType":"Observation","id":"bp","status":"final","code":{"coding":[{"system":)"
      R"("http://loinc.org","code":"85354-9"}]},"effectiveDateTime":"2026-11-29T09:33:00Z",)"
      R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},)"
      R"("valueQuantity":{"value":99,"code":"mm[Hg]"}},{"code":{"coding":[{"system":)"
      R"("http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":60,"code":"mm[Hg]"}}]})",
      Obs("temp", loinc, "8310-5", "2026-11-29T09:34:00Z", Qty(101.3, "[degF]")),  // 38.5: 1
      Obs("o2", loinc, "3151-8", "2026-11-29T09:35:00Z", Qty(2, "L/min")),         // oxygen: 2
      Obs("acvpu", sund, "consciousness", "2026-11-29T09:36:00Z",
          R"("valueCodeableConcept":{"coding":[{"system":"urn:sund:acvpu","code":"A"}]})"),
      "not json",
      Obs("", loinc, "8867-4", "2026-11-29T09:59:00Z", Qty(150, "/min")),  // no id
  };
  News2Selection sel = SelectNews2Inputs(obs, now, 12LL * 3600 * 1000, Spo2Scale::kScale1);
  EXPECT_EQ(sel.inputs.respiration_rate, 22);
  EXPECT_EQ(sel.inputs.spo2, 94);
  EXPECT_EQ(sel.inputs.pulse, 112);
  EXPECT_EQ(sel.inputs.systolic, 99);
  ASSERT_TRUE(sel.inputs.temperature.has_value());
  EXPECT_NEAR(*sel.inputs.temperature, 38.5, 1e-9);
  EXPECT_EQ(sel.inputs.on_oxygen, true);
  EXPECT_EQ(sel.inputs.consciousness, Consciousness::kAlert);
  EXPECT_EQ(sel.derived_from.size(), 7u);
  EXPECT_EQ(sel.newest_ms, now - 24 * 60 * 1000);
  auto score = ScoreNews2(sel.inputs);
  ASSERT_TRUE(score.ok());
  EXPECT_TRUE(score->complete);
  // 2 (RR 22) + 1 (SpO2 94) + 2 (oxygen) + 2 (SBP 99) + 2 (HR 112) + 0 (alert) + 1 (38.5 C).
  EXPECT_EQ(score->total, 10);
  EXPECT_EQ(score->risk, News2Risk::kHigh);

  // A window that holds nothing gives an all-missing selection.
  News2Selection none = SelectNews2Inputs(obs, now, 60 * 1000, Spo2Scale::kScale1);
  EXPECT_TRUE(none.derived_from.empty());
  EXPECT_EQ(none.newest_ms, 0);
}

// Verifies: REQ-MON-013
TEST(News2Test, Names) {
  EXPECT_EQ(News2ParameterName(News2Parameter::kSystolicPressure), "systolic-pressure");
  EXPECT_EQ(News2RiskName(News2Risk::kLowMedium), "low-medium");
}

}  // namespace
}  // namespace sund::monitor
