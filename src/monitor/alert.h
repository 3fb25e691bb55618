// Alerts to a patient's care team (issue #5): a Flag on the patient's record and a
// Communication to their active CareTeams, written together by conditional create on an
// idempotence key, so raising the same alert twice stores nothing new. Used for NEWS2
// escalations (watch.h) and for patients who stopped reporting (silence.h).
//
// A clinician acknowledges an alert by setting the Communication `completed` with `received`,
// and resolves it by setting the Flag `inactive`. Thread-safety: functions are independent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/json_writer.h"
#include "storage/store.h"

namespace sund::monitor {

struct Alert {
  // Identifiers: the Flag's `<system>-flag|<key>`, the Communication's `<system>-alert|<key>`
  // ("urn:sund:news2" gives urn:sund:news2-flag and urn:sund:news2-alert).
  std::string system;
  std::string key;
  // Flag.code: what kind of alert (`urn:sund:news2-escalation|urgent`, `urn:sund:no-report|...`).
  std::string code_system;
  std::string code;
  std::string text;        // what happened and what to do (Flag.code.text, the message)
  int within_minutes = 0;  // how soon a response is asked for: 0 now (priority stat), <= 30 asap,
                           // <= 120 urgent, else routine
};

std::string AlertFlagJson(const Alert& alert, std::string_view patient, std::int64_t now_ms);
std::string AlertCommunicationJson(const Alert& alert, std::string_view patient,
                                   const std::vector<std::string>& recipients, std::int64_t now_ms);

// The Flag and the Communication to the patient's active CareTeams, added to `bundle`.
Status AddAlert(storage::Store& store, const Alert& alert, std::string_view patient,
                std::int64_t now_ms, fhir::ConditionalCreates& bundle);

}  // namespace sund::monitor
