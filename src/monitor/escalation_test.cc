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

}  // namespace
}  // namespace sund::monitor
