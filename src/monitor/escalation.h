// Escalation (issue #5): what a NEWS2 score asks of the care team, by the RCP 2017 triggers,
// with thresholds a deployment sets and a clinician may adjust per patient (Danish hospitals'
// TOKS works this way). Policies are versioned: every decision names the version it used.
//
// A policy (JSON, docs in src/monitor/README.md):
//   {"version": "region-h-2026-1",
//    "levels": [   // checked from the last to the first; the last that triggers wins
//      {"name": "low-medium", "single_parameter_3": true,
//       "response": "urgent ward-based review", "within_minutes": 60},
//      {"name": "medium", "total_at_least": 5, "response": "...", "within_minutes": 30},
//      {"name": "high", "total_at_least": 7, "response": "...", "within_minutes": 0}]}
// A patient's adjustment replaces `total_at_least` of named levels (e.g. a COPD patient whose
// usual total is 4: medium from 7, high from 9), with its own version.
//
// An incomplete score triggers what its present parameters already show (NEWS2's floor), and
// the decision says it was incomplete. Thread-safety: immutable after parsing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "monitor/news2.h"

namespace sund::monitor {

struct EscalationLevel {
  std::string name;
  std::optional<int> total_at_least;  // triggers at this total or more
  bool single_parameter_3 = false;    // triggers when any parameter scores 3
  std::string response;               // what the care team is asked to do
  int within_minutes = 0;             // how soon
};

struct EscalationPolicy {
  std::string version;
  std::vector<EscalationLevel> levels;  // in rising order of urgency
};

// A clinician's adjustment for one patient: new totals for named levels.
struct PatientAdjustment {
  std::string version;
  std::vector<std::pair<std::string, int>> totals;  // level name -> total_at_least
};

// The RCP 2017 default: low-medium (a single 3) within 60 minutes, medium (5) within 30,
// high (7) at once. Version "RCP-NEWS2-2017-default".
const EscalationPolicy& DefaultEscalationPolicy();

// InvalidArgument naming the problem (never a value from a patient record), also when the
// levels do not rise in urgency: a level allows more time (within_minutes) than the one before
// it, or triggers at a total no higher than an earlier level's.
Result<EscalationPolicy> ParseEscalationPolicy(std::string_view json);
// {"version": "...", "totals": {"medium": 7, "high": 9}}. InvalidArgument on unknown levels and
// when the adjusted totals no longer rise from level to level.
Result<PatientAdjustment> ParsePatientAdjustment(std::string_view json,
                                                 const EscalationPolicy& policy);

struct Escalation {
  const EscalationLevel* level = nullptr;  // nullptr: no response needed
  bool incomplete = false;                 // the score lacked parameters (a floor)
  std::string policy_version;
  std::string adjustment_version;  // "" without an adjustment
};

Escalation Escalate(const News2Score& score, const EscalationPolicy& policy,
                    const PatientAdjustment* adjustment = nullptr);

}  // namespace sund::monitor
