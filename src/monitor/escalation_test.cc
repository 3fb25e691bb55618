#include "monitor/escalation.h"

#include <gtest/gtest.h>

namespace sund::monitor {
namespace {

News2Score Score(int total, bool any_three, bool complete = true) {
  News2Score s;
  s.total = total;
  s.any_three = any_three;
  s.complete = complete;
  return s;
}

std::string LevelOf(const Escalation& e) { return e.level ? e.level->name : "none"; }

// The RCP triggers: a single 3, totals 5-6 and 7+, the most urgent that applies.
// Verifies: REQ-MON-016, REQ-MON-017
TEST(EscalationTest, DefaultPolicyFollowsTheRcpTriggers) {
  const auto& p = DefaultEscalationPolicy();
  EXPECT_EQ(LevelOf(Escalate(Score(0, false), p)), "none");
  EXPECT_EQ(LevelOf(Escalate(Score(4, false), p)), "none");
  EXPECT_EQ(LevelOf(Escalate(Score(3, true), p)), "low-medium");
  EXPECT_EQ(LevelOf(Escalate(Score(5, false), p)), "medium");
  EXPECT_EQ(LevelOf(Escalate(Score(6, true), p)), "medium");
  EXPECT_EQ(LevelOf(Escalate(Score(7, false), p)), "high");
  EXPECT_EQ(LevelOf(Escalate(Score(12, true), p)), "high");
  Escalation e = Escalate(Score(7, false, false), p);
  EXPECT_EQ(LevelOf(e), "high");
  EXPECT_TRUE(e.incomplete);
  EXPECT_EQ(e.policy_version, "RCP-NEWS2-2017-default");
  EXPECT_EQ(e.level->within_minutes, 0);
}

// A deployment's own thresholds, and a clinician's per-patient adjustment (TOKS style): the
// decision names both versions.
// Verifies: REQ-MON-018
TEST(EscalationTest, DeploymentAndPatientThresholds) {
  auto policy = ParseEscalationPolicy(R"({"version":"region-test-1","levels":[
      {"name":"watch","total_at_least":3,"response":"ring the citizen","within_minutes":120},
      {"name":"medium","total_at_least":5,"single_parameter_3":true,
       "response":"home visit by the acute team","within_minutes":30},
      {"name":"high","total_at_least":7,"response":"ambulance","within_minutes":0}]})");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  EXPECT_EQ(LevelOf(Escalate(Score(3, false), *policy)), "watch");
  EXPECT_EQ(LevelOf(Escalate(Score(3, true), *policy)), "medium");
  auto copd = ParsePatientAdjustment(R"({"version":"pt-1 2026-11-29","totals":{"watch":5,)"
                                     R"("medium":7,"high":9}})",
                                     *policy);
  ASSERT_TRUE(copd.ok()) << copd.status().ToString();
  EXPECT_EQ(LevelOf(Escalate(Score(4, false), *policy, &*copd)), "none");
  EXPECT_EQ(LevelOf(Escalate(Score(7, false), *policy, &*copd)), "medium");
  Escalation e = Escalate(Score(9, false), *policy, &*copd);
  EXPECT_EQ(LevelOf(e), "high");
  EXPECT_EQ(e.adjustment_version, "pt-1 2026-11-29");
  EXPECT_EQ(e.policy_version, "region-test-1");
}

// Verifies: REQ-MON-019
TEST(EscalationTest, BadPoliciesAndAdjustmentsAreRefused) {
  for (std::string_view bad : {
           std::string_view("[]"),
           std::string_view(R"({"levels":[{"name":"a","total_at_least":5,"response":"r"}]})"),
           std::string_view(R"({"version":"v","levels":[]})"),
           std::string_view(R"({"version":"v","levels":[{"name":"a","response":"r"}]})"),
           std::string_view(R"({"version":"v","levels":[{"name":"a","total_at_least":0,)"
                            R"("response":"r"}]})"),
           std::string_view(R"({"version":"v","levels":[{"name":"a","total_at_least":5,)"
                            R"("response":"r"},{"name":"a","total_at_least":7,"response":"r"}]})"),
       }) {
    EXPECT_FALSE(ParseEscalationPolicy(bad).ok()) << bad;
  }
  const auto& p = DefaultEscalationPolicy();
  EXPECT_FALSE(ParsePatientAdjustment(R"({"version":"x","totals":{"severe":9}})", p).ok());
  EXPECT_FALSE(ParsePatientAdjustment(R"({"version":"x","totals":{"high":"9"}})", p).ok());
  EXPECT_FALSE(ParsePatientAdjustment(R"({"totals":{"high":9}})", p).ok());
}

// Levels are listed in rising urgency and the last that triggers wins, so a policy whose later
// level answers more slowly, or triggers at a total no higher than an earlier level's, would
// send a sicker patient a slower response: it is refused, naming the level. The RCP default,
// written as policy JSON, passes.
// Verifies: REQ-MON-028
TEST(EscalationTest, PoliciesMustRiseInUrgency) {
  auto rcp = ParseEscalationPolicy(R"({"version":"rcp-as-json","levels":[
      {"name":"low-medium","single_parameter_3":true,"response":"ward review",
       "within_minutes":60},
      {"name":"medium","total_at_least":5,"response":"urgent review","within_minutes":30},
      {"name":"high","total_at_least":7,"response":"emergency assessment","within_minutes":0}]})");
  ASSERT_TRUE(rcp.ok()) << rcp.status().ToString();
  const auto& def = DefaultEscalationPolicy();
  ASSERT_EQ(rcp->levels.size(), def.levels.size());
  for (std::size_t i = 0; i < def.levels.size(); ++i) {
    EXPECT_EQ(rcp->levels[i].name, def.levels[i].name);
    EXPECT_EQ(rcp->levels[i].total_at_least, def.levels[i].total_at_least);
    EXPECT_EQ(rcp->levels[i].single_parameter_3, def.levels[i].single_parameter_3);
    EXPECT_EQ(rcp->levels[i].within_minutes, def.levels[i].within_minutes);
  }
  // Equal response times are allowed (two levels both "at once").
  EXPECT_TRUE(ParseEscalationPolicy(R"({"version":"v","levels":[
      {"name":"high","total_at_least":7,"response":"call the team","within_minutes":0},
      {"name":"very-high","total_at_least":9,"response":"call the ICU","within_minutes":0}]})")
                  .ok());

  auto slower = ParseEscalationPolicy(R"({"version":"v","levels":[
      {"name":"medium","total_at_least":5,"response":"r","within_minutes":30},
      {"name":"high","total_at_least":7,"response":"r","within_minutes":60}]})");
  ASSERT_FALSE(slower.ok());
  EXPECT_EQ(slower.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(slower.status().message().find("level high allows more time"), std::string::npos)
      << slower.status().message();
  auto lower = ParseEscalationPolicy(R"({"version":"v","levels":[
      {"name":"medium","total_at_least":7,"response":"r","within_minutes":30},
      {"name":"high","total_at_least":5,"response":"r","within_minutes":0}]})");
  ASSERT_FALSE(lower.ok());
  EXPECT_NE(lower.status().message().find("level high triggers at a total no higher"),
            std::string::npos)
      << lower.status().message();
  auto equal = ParseEscalationPolicy(R"({"version":"v","levels":[
      {"name":"low-medium","single_parameter_3":true,"response":"r","within_minutes":60},
      {"name":"medium","total_at_least":5,"response":"r","within_minutes":30},
      {"name":"high","total_at_least":5,"response":"r","within_minutes":0}]})");
  EXPECT_FALSE(equal.ok());
  // The order counts: the same levels listed from the most urgent down are refused.
  EXPECT_FALSE(ParseEscalationPolicy(R"({"version":"v","levels":[
      {"name":"high","total_at_least":7,"response":"r","within_minutes":0},
      {"name":"medium","total_at_least":5,"response":"r","within_minutes":30}]})")
                   .ok());

  // A patient's adjustment must keep the order too.
  auto crossed =
      ParsePatientAdjustment(R"({"version":"pt-1","totals":{"medium":9,"high":8}})", def);
  ASSERT_FALSE(crossed.ok());
  EXPECT_EQ(crossed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(crossed.status().message().find("level high"), std::string::npos)
      << crossed.status().message();
  EXPECT_FALSE(ParsePatientAdjustment(R"({"version":"pt-1","totals":{"medium":7}})", def).ok());
  EXPECT_TRUE(ParsePatientAdjustment(R"({"version":"pt-1","totals":{"medium":6}})", def).ok());
}

}  // namespace
}  // namespace sund::monitor
