// Scoring a monitored patient as their measurements arrive (issue #5): NEWS2 from the latest
// vital signs in the store (SpO2 on scale 2 when an active CarePlan says so), stored as an
// Observation, and a Flag and a Communication to the patient's care team when the escalation
// policy asks for a response. The IoMT gateway has every patient whose measurements it has just
// filed scored (`sund serve`, through ScoreQueue).
//
// Idempotent: the NEWS2 Observation's identifier is
// `urn:sund:news2|<patient>/<newest input ms>/<digest of the inputs' ids and versions>`, the
// Flag's `urn:sund:news2-flag|<same>` and the Communication's `urn:sund:news2-alert|<same>`, all
// written by conditional create, so scoring twice on the same inputs stores nothing new, and a
// corrected input (a new version) stores a new score beside the first.
// One alert per episode: while an active NEWS2 Flag of the same or a more urgent level stands,
// a new score raises none; resolving it (status inactive) or a more urgent level raises the next.
// Thread-safety: Score may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "monitor/alert.h"
#include "monitor/change_feed.h"
#include "monitor/escalation.h"
#include "monitor/news2.h"
#include "storage/store.h"

namespace sund::monitor {

// An active CarePlan of the patient with this category puts their SpO2 on NEWS2 scale 2 (target
// 88-92 %, for hypercapnic respiratory failure, as a clinician decides).
inline constexpr std::string_view kSpo2Scale2System = "urn:sund:news2";
inline constexpr std::string_view kSpo2Scale2Code = "spo2-scale-2";

struct WatchOptions {
  storage::Store* store = nullptr;  // the patients' Observations
  // Writes a FHIR transaction Bundle (JSON); returns the response Bundle (JSON).
  std::function<Result<std::string>(std::string bundle)> write;
  EscalationPolicy policy = DefaultEscalationPolicy();
  std::int64_t window_ms = 24LL * 3600 * 1000;  // inputs older than this do not count
  const Clock* clock = nullptr;                 // the system clock when null
};

struct WatchResult {
  News2Score score;
  Escalation escalation;
  bool stored = false;  // no inputs at all: nothing stored
};

class Watch {
 public:
  explicit Watch(WatchOptions options);
  Result<WatchResult> Score(const std::string& patient);

 private:
  Result<Spo2Scale> ScaleOf(const std::string& patient);
  // Whether an active NEWS2 Flag of this level or a more urgent one stands for the patient (then
  // no new alert: one per episode until a clinician resolves it or it escalates).
  Result<bool> AlertStands(const std::string& patient, const EscalationLevel& level);
  WatchOptions options_;
};

// Scores patients in the background, each at most once per pass however often it was marked
// meanwhile: the IoMT gateway marks the patients whose measurements it filed and goes on, so
// scoring never slows ingestion, and under load a patient's many new measurements cost one
// score. Errors are logged. Thread-safety: Mark from any thread.
class ScoreQueue {
 public:
  explicit ScoreQueue(Watch& watch);
  ~ScoreQueue();  // stops after the patient being scored
  void Mark(const std::vector<std::string>& patients);

 private:
  void Run();
  Watch& watch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> pending_;  // marked since the current pass began
  bool stop_ = false;
  std::thread thread_;
};

// Marks for scoring the patient of every new vital-signs Observation or new version of one (a
// correction) the feed delivers, however it arrived (the IoMT gateway, a device posting FHIR, a
// clinician); the NEWS2 Observations themselves (category survey, and refused by code as well)
// never mark, so scoring does not feed itself.
void ScoreFromFeed(ChangeFeed& feed, ScoreQueue& queue);

// The alert (alert.h) for an escalation: Flag code urn:sund:news2-escalation|<level>, the score,
// the response, how soon and the policy version in its text, identifiers urn:sund:news2-flag and
// urn:sund:news2-alert with `key`.
Alert EscalationAlert(const Escalation& e, const News2Score& score, std::string key);

}  // namespace sund::monitor
