#include "monitor/watch.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/log.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/search_query.h"

namespace sund::monitor {
namespace {

// Adds "identifier":[{system, value}] to a resource's JSON object text.
std::string WithIdentifier(std::string json, std::string_view system, std::string_view value) {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  fhir::WriteIdentifier(w, system, value);
  std::string id = ",\"identifier\":[" + std::string(sb.GetString(), sb.GetSize()) + "]";
  json.insert(json.size() - 1, id);  // before the closing brace
  return json;
}

// What the score was computed from: a digest (FNV-1a, 16 hex digits) of the chosen inputs'
// "Observation/ID/_history/VERSION", sorted. The same inputs give the same digest, so scoring
// them again stores nothing new; a corrected input (a new version) or a changed choice gives
// another, so the corrected score is stored. `ids` are the ids of `observations`, in order.
std::string InputsDigest(const std::vector<std::string>& observations,
                         const std::vector<std::string>& ids,
                         const std::vector<std::string>& derived_from) {
  constexpr std::string_view kPrefix = "Observation/";
  std::vector<std::string> inputs;
  for (const std::string& ref : derived_from) {
    std::string version;
    const std::string_view id = std::string_view(ref).substr(kPrefix.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (std::string_view(ids[i]) != id) continue;
      rapidjson::Document doc;
      doc.Parse(observations[i].data(), observations[i].size());
      const rapidjson::Value* meta = doc.IsObject() ? json::Find(doc, "meta") : nullptr;
      if (meta != nullptr) version = std::string(json::GetString(*meta, "versionId"));
      break;
    }
    inputs.push_back(ref + "/_history/" + version);
  }
  std::sort(inputs.begin(), inputs.end());
  std::uint64_t h = 14695981039346656037ULL;
  for (const std::string& input : inputs) {
    for (unsigned char c : input + "\n") {
      h ^= c;
      h *= 1099511628211ULL;
    }
  }
  constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 0xf];
  return out;
}

}  // namespace

Watch::Watch(WatchOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &SystemClock::Get();
}

Alert EscalationAlert(const Escalation& e, const News2Score& score, std::string key) {
  Alert a;
  a.system = "urn:sund:news2";
  a.key = std::move(key);
  a.code_system = "urn:sund:news2-escalation";
  a.code = e.level != nullptr ? e.level->name : "none";
  a.within_minutes = e.level != nullptr ? e.level->within_minutes : 0;
  a.text =
      "NEWS2 " + std::to_string(score.total) + (e.incomplete ? " (incomplete)" : "") + ": " +
      (e.level != nullptr ? e.level->response : "") +
      (a.within_minutes > 0 ? " within " + std::to_string(a.within_minutes) + " minutes" : " now") +
      " [" + e.policy_version + (e.adjustment_version.empty() ? "" : ", " + e.adjustment_version) +
      "]";
  return a;
}

Result<bool> Watch::AlertStands(const std::string& patient, const EscalationLevel& level) {
  // The rank of a level in the policy (rising urgency); -1 for one it no longer has.
  auto rank = [this](std::string_view name) {
    for (std::size_t i = 0; i < options_.policy.levels.size(); ++i) {
      if (options_.policy.levels[i].name == name) return static_cast<int>(i);
    }
    return -1;
  };
  SUND_ASSIGN_OR_RETURN(
      fhir::SearchQuery q,
      fhir::ParseSearch(fhir::Model::R4(), "Flag",
                        {{"subject", "Patient/" + patient}, {"identifier", "urn:sund:news2-flag|"}},
                        true));
  q.count = 100;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage page, options_.store->Search(q));
  for (const auto& hit : page.matches) {
    rapidjson::Document doc;
    doc.Parse(hit.json.data(), hit.json.size());
    if (!doc.IsObject() || json::GetString(doc, "status") != "active") continue;
    const rapidjson::Value* code = json::Find(doc, "code");
    const rapidjson::Value* codings = code != nullptr ? json::Find(*code, "coding") : nullptr;
    if (codings == nullptr || !codings->IsArray() || codings->Empty()) continue;
    if (rank(json::GetString((*codings)[0], "code")) >= rank(level.name)) return true;
  }
  return false;
}

Result<Spo2Scale> Watch::ScaleOf(const std::string& patient) {
  SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q,
                        fhir::ParseSearch(fhir::Model::R4(), "CarePlan",
                                          {{"subject", "Patient/" + patient},
                                           {"status", "active"},
                                           {"category", std::string(kSpo2Scale2System) + "|" +
                                                            std::string(kSpo2Scale2Code)}},
                                          true));
  q.count = 1;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage page, options_.store->Search(q));
  return page.matches.empty() ? Spo2Scale::kScale1 : Spo2Scale::kScale2;
}

Result<WatchResult> Watch::Score(const std::string& patient) {
  const std::int64_t now_ms = options_.clock->NowMicros() / 1000;
  // The patient's vital signs within the window.
  SUND_ASSIGN_OR_RETURN(
      fhir::SearchQuery q,
      fhir::ParseSearch(fhir::Model::R4(), "Observation",
                        {{"subject", "Patient/" + patient},
                         {"date", "ge" + FormatInstant((now_ms - options_.window_ms) * 1000)}},
                        true));
  q.count = 1000;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage page, options_.store->Search(q));
  std::vector<std::string> observations;
  std::vector<std::string> ids;
  for (auto& m : page.matches) {
    observations.push_back(std::move(m.json));
    ids.push_back(std::move(m.id));
  }
  SUND_ASSIGN_OR_RETURN(Spo2Scale scale, ScaleOf(patient));
  News2Selection sel = SelectNews2Inputs(observations, now_ms, options_.window_ms, scale);
  WatchResult out;
  SUND_ASSIGN_OR_RETURN(out.score, ScoreNews2(sel.inputs));
  out.escalation = Escalate(out.score, options_.policy);
  if (sel.derived_from.empty()) return out;  // nothing measured: nothing to score

  std::string key = patient + "/" + std::to_string(sel.newest_ms) + "/" +
                    InputsDigest(observations, ids, sel.derived_from);
  News2Context ctx;
  ctx.patient = patient;
  ctx.effective_ms = sel.newest_ms;
  ctx.issued_ms = now_ms;
  ctx.derived_from = sel.derived_from;
  std::string news2 = WithIdentifier(News2ObservationJson(out.score, ctx), "urn:sund:news2", key);
  fhir::ConditionalCreates bundle;
  bundle.Add("Observation", news2, "urn:sund:news2", key);
  if (out.escalation.level != nullptr) {
    SUND_ASSIGN_OR_RETURN(bool raised, AlertStands(patient, *out.escalation.level));
    if (!raised) {
      SUND_RETURN_IF_ERROR(AddAlert(*options_.store,
                                    EscalationAlert(out.escalation, out.score, key), patient,
                                    now_ms, bundle));
    }
  }
  SUND_RETURN_IF_ERROR(options_.write(bundle.Finish()).status());
  out.stored = true;
  return out;
}

ScoreQueue::ScoreQueue(Watch& watch) : watch_(watch), thread_([this] { Run(); }) {}

ScoreQueue::~ScoreQueue() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ScoreQueue::Mark(const std::vector<std::string>& patients) {
  {
    std::lock_guard lock(mu_);
    pending_.insert(patients.begin(), patients.end());
  }
  cv_.notify_all();
}

void ScoreQueue::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
    if (stop_) return;
    std::set<std::string> pass;
    pass.swap(pending_);
    lock.unlock();
    for (const std::string& patient : pass) {
      if (auto r = watch_.Score(patient); !r.ok()) {
        log::Error("monitor: scoring a patient failed: {}", r.status().message());
      }
    }
    lock.lock();
  }
}

void ScoreFromFeed(ChangeFeed& feed, ScoreQueue& queue) {
  feed.Listen([&queue](const Change& change) {
    const storage::ResourceVersion& v = change.version();
    // Every version: a corrected measurement changes the score (the NEWS2 key names the
    // inputs' versions, so the corrected score is stored beside the first).
    if (v.type != "Observation" || v.deleted) return;
    const rapidjson::Value* doc = change.Json();
    // The scorer's own NEWS2 Observations (category survey) never mark: scoring cannot feed
    // itself, even if a score were ever written with the vital-signs category.
    if (doc == nullptr || !IsVitalSigns(*doc) || IsNews2Score(*doc)) return;
    if (std::string patient = SubjectPatient(*doc); !patient.empty()) queue.Mark({patient});
  });
}

}  // namespace sund::monitor
