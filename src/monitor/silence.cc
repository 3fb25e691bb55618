#include "monitor/silence.h"

#include <map>

#include "core/json.h"
#include "core/log.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "monitor/alert.h"

namespace sund::monitor {
namespace {

Result<storage::SearchPage> Search(storage::Store& store, std::string_view type,
                                   std::vector<std::pair<std::string, std::string>> params,
                                   int count) {
  SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q,
                        fhir::ParseSearch(fhir::Model::R4(), type, params, true));
  q.count = count;
  return store.Search(q);
}

// The start (or, for `end`, the end) of a FHIR date-time in ms; nullopt when absent or invalid.
std::optional<std::int64_t> Ms(std::string_view text, bool end = false) {
  if (text.empty()) return std::nullopt;
  auto r = ParseFhirDate(text);
  if (!r.ok()) return std::nullopt;
  return end ? r->hi_ms : r->lo_ms;
}

}  // namespace

Result<SilenceResult> CheckSilence(const SilenceOptions& o) {
  const Clock& clock = o.clock != nullptr ? *o.clock : SystemClock::Get();
  const std::int64_t now_ms = clock.NowMicros() / 1000;
  // Monitored patients, with the start of their earliest current device use.
  SUND_ASSIGN_OR_RETURN(auto uses, Search(*o.store, "DeviceUseStatement", {}, 100'000));
  std::map<std::string, std::int64_t> since;  // patient -> use start (ms)
  for (const auto& u : uses.matches) {
    rapidjson::Document doc;
    doc.Parse(u.json.data(), u.json.size());
    // (R4 has no search parameter for DeviceUseStatement.status.)
    if (!doc.IsObject() || json::GetString(doc, "status") != "active") continue;
    const rapidjson::Value* subject = json::Find(doc, "subject");
    std::string_view ref = subject != nullptr ? json::GetString(*subject, "reference") : "";
    if (!ref.starts_with("Patient/")) continue;
    std::int64_t start = 0;
    if (const rapidjson::Value* p = json::Find(doc, "timingPeriod"); p != nullptr) {
      if (auto s = Ms(json::GetString(*p, "start"))) start = *s;
      auto e = Ms(json::GetString(*p, "end"), true);
      if (e && *e <= now_ms) continue;  // the use has ended
    }
    std::string patient(ref.substr(8));
    auto it = since.find(patient);
    if (it == since.end() || start < it->second) since[patient] = start;
  }
  SilenceResult out;
  out.monitored = static_cast<int>(since.size());
  fhir::ConditionalCreates bundle;
  for (const auto& [patient, start] : since) {
    SUND_ASSIGN_OR_RETURN(
        auto newest,
        Search(*o.store, "Observation",
               {{"subject", "Patient/" + patient}, {"category", "vital-signs"}, {"_sort", "-date"}},
               1));
    std::int64_t last_ms = start;
    bool measured = false;
    if (!newest.matches.empty()) {
      rapidjson::Document doc;
      doc.Parse(newest.matches[0].json.data(), newest.matches[0].json.size());
      if (doc.IsObject()) {
        if (auto t = Ms(json::GetString(doc, "effectiveDateTime"))) {
          last_ms = std::max(last_ms, *t);
          measured = true;
        }
      }
    }
    if (now_ms - last_ms < o.after_ms) continue;
    ++out.silent;
    Alert a;
    a.system = "urn:sund:no-report";
    a.key = patient + "/" + std::to_string(last_ms);
    a.code_system = "urn:sund:no-report";
    a.code = "no-report";
    a.within_minutes = 240;
    a.text = "No measurements for " + std::to_string((now_ms - last_ms) / 3'600'000) + " hours (" +
             (measured ? "last " : "monitored since ") + FormatInstant(last_ms * 1000) +
             "): contact the citizen";
    SUND_RETURN_IF_ERROR(AddAlert(*o.store, a, patient, now_ms, bundle));
  }
  if (bundle.size() > 0) SUND_RETURN_IF_ERROR(o.write(bundle.Finish()).status());
  return out;
}

SilenceWatch::SilenceWatch(SilenceOptions options, std::chrono::milliseconds every)
    : options_(std::move(options)), every_(every), thread_([this] {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, every_, [this] { return stop_; })) {
          lock.unlock();
          auto r = CheckSilence(options_);
          if (!r.ok()) {
            log::Error("monitor: checking for patients who stopped reporting failed: {}",
                       r.status().message());
          } else if (r->silent > 0) {
            log::Info("monitor: {} of {} monitored patients have not reported for {} h", r->silent,
                      r->monitored, options_.after_ms / 3'600'000);
          }
          lock.lock();
        }
      }) {}

SilenceWatch::~SilenceWatch() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace sund::monitor
