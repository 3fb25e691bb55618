#include "monitor/escalation.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "core/json.h"

namespace sund::monitor {
namespace {

// Levels are listed in rising urgency, and Escalate lets the last that triggers win: each level
// must ask for a response no later than the one before it, and a total that triggers it must be
// higher than every total of the levels before it (else a less urgent level could never be
// reached by its total, or would win over a more urgent one). `totals[i]` is level i's total in
// force (a patient's adjustment applied). Messages name levels, never values.
Status CheckRisingUrgency(const std::vector<EscalationLevel>& levels,
                          const std::vector<std::optional<int>>& totals) {
  std::optional<int> highest;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const EscalationLevel& level = levels[i];
    if (i > 0 && level.within_minutes > levels[i - 1].within_minutes) {
      return InvalidArgument("level " + level.name + " allows more time than the less urgent " +
                             levels[i - 1].name + " before it");
    }
    if (totals[i]) {
      if (highest && *totals[i] <= *highest) {
        return InvalidArgument("level " + level.name +
                               " triggers at a total no higher than a less urgent level before it");
      }
      highest = totals[i];
    }
  }
  return Status::Ok();
}

}  // namespace

const EscalationPolicy& DefaultEscalationPolicy() {
  static const EscalationPolicy policy = {
      "RCP-NEWS2-2017-default",
      {
          {"low-medium", std::nullopt, true, "urgent ward-based review by a clinician", 60},
          {"medium", 5, false, "urgent review by a clinician competent in acute illness", 30},
          {"high", 7, false, "emergency assessment by a critical-care team", 0},
      }};
  return policy;
}

Result<EscalationPolicy> ParseEscalationPolicy(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("policy is not a JSON object");
  EscalationPolicy p;
  p.version = std::string(json::GetString(d, "version"));
  if (p.version.empty()) return InvalidArgument("policy has no version");
  const rapidjson::Value* levels = json::Find(d, "levels");
  if (levels == nullptr || !levels->IsArray() || levels->Empty()) {
    return InvalidArgument("policy has no levels");
  }
  for (const auto& l : levels->GetArray()) {
    if (!l.IsObject()) return InvalidArgument("a level is not an object");
    EscalationLevel level;
    level.name = std::string(json::GetString(l, "name"));
    level.response = std::string(json::GetString(l, "response"));
    if (level.name.empty() || level.response.empty()) {
      return InvalidArgument("a level needs a name and a response");
    }
    if (const rapidjson::Value* t = json::Find(l, "total_at_least"); t != nullptr) {
      if (!t->IsInt() || t->GetInt() < 1 || t->GetInt() > 20) {
        return InvalidArgument("level " + level.name + ": total_at_least must be 1 to 20");
      }
      level.total_at_least = t->GetInt();
    }
    if (const rapidjson::Value* s = json::Find(l, "single_parameter_3"); s != nullptr) {
      if (!s->IsBool()) return InvalidArgument("level " + level.name + ": single_parameter_3");
      level.single_parameter_3 = s->GetBool();
    }
    if (!level.total_at_least && !level.single_parameter_3) {
      return InvalidArgument("level " + level.name + " never triggers");
    }
    if (const rapidjson::Value* m = json::Find(l, "within_minutes"); m != nullptr) {
      if (!m->IsInt() || m->GetInt() < 0) {
        return InvalidArgument("level " + level.name + ": within_minutes must be 0 or more");
      }
      level.within_minutes = m->GetInt();
    }
    for (const auto& seen : p.levels) {
      if (seen.name == level.name) return InvalidArgument("level " + level.name + " twice");
    }
    p.levels.push_back(std::move(level));
  }
  std::vector<std::optional<int>> totals;
  for (const EscalationLevel& level : p.levels) totals.push_back(level.total_at_least);
  SUND_RETURN_IF_ERROR(CheckRisingUrgency(p.levels, totals));
  return p;
}

Result<PatientAdjustment> ParsePatientAdjustment(std::string_view json,
                                                 const EscalationPolicy& policy) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) {
    return InvalidArgument("adjustment is not a JSON object");
  }
  PatientAdjustment a;
  a.version = std::string(json::GetString(d, "version"));
  if (a.version.empty()) return InvalidArgument("adjustment has no version");
  const rapidjson::Value* totals = json::Find(d, "totals");
  if (totals == nullptr || !totals->IsObject()) return InvalidArgument("adjustment has no totals");
  for (const auto& m : totals->GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    bool known = std::any_of(policy.levels.begin(), policy.levels.end(),
                             [&](const EscalationLevel& l) { return l.name == name; });
    if (!known) return InvalidArgument("adjustment names an unknown level: " + name);
    if (!m.value.IsInt() || m.value.GetInt() < 1 || m.value.GetInt() > 20) {
      return InvalidArgument("adjustment of " + name + " must be 1 to 20");
    }
    a.totals.emplace_back(std::move(name), m.value.GetInt());
  }
  std::vector<std::optional<int>> in_force;
  for (const EscalationLevel& level : policy.levels) {
    std::optional<int> total = level.total_at_least;
    for (const auto& [name, t] : a.totals) {
      if (name == level.name) total = t;
    }
    in_force.push_back(total);
  }
  SUND_RETURN_IF_ERROR(CheckRisingUrgency(policy.levels, in_force));
  return a;
}

Escalation Escalate(const News2Score& score, const EscalationPolicy& policy,
                    const PatientAdjustment* adjustment) {
  Escalation out;
  out.incomplete = !score.complete;
  out.policy_version = policy.version;
  if (adjustment != nullptr) out.adjustment_version = adjustment->version;
  for (const EscalationLevel& level : policy.levels) {
    std::optional<int> total = level.total_at_least;
    if (adjustment != nullptr) {
      for (const auto& [name, t] : adjustment->totals) {
        if (name == level.name) total = t;
      }
    }
    bool triggers =
        (total && score.total >= *total) || (level.single_parameter_3 && score.any_three);
    if (triggers) out.level = &level;  // later levels are more urgent
  }
  return out;
}

}  // namespace sund::monitor
