#include "iomt/remote.h"

#include <utility>

#include "consent/policy.h"
#include "core/json.h"
#include "core/json_bounded.h"
#include "core/log.h"

namespace sund::iomt {
namespace {

// The patient's policy, or null when one of the Consents cannot be read or they do not compile.
std::shared_ptr<const consent::PatientPolicy> CompilePolicy(const std::string& patient,
                                                            const std::vector<std::string>& jsons) {
  std::vector<consent::Consent> consents;
  consents.reserve(jsons.size());
  for (const std::string& json : jsons) {
    auto c = consent::ParseConsentJson(json);
    if (!c.ok()) {
      // The message names the element, never its value.
      log::Warn("iomt: a Consent read from the FHIR server cannot be read: {}",
                c.status().message());
      return nullptr;
    }
    consents.push_back(std::move(c).value());
  }
  auto policy = consent::Engine::Compile(patient, consents);
  if (!policy.ok()) {
    log::Warn("iomt: the Consents of a patient cannot be compiled: {}", policy.status().message());
    return nullptr;
  }
  return std::make_shared<const consent::PatientPolicy>(std::move(policy).value());
}

}  // namespace

Result<std::vector<storage::SearchHit>> ReadSearchset(std::string_view body) {
  rapidjson::Document doc;
  json::ParseBounded(doc, body);
  if (doc.HasParseError() || !doc.IsObject() || json::GetString(doc, "resourceType") != "Bundle") {
    return Status(StatusCode::kUnavailable, "the FHIR server's search answer is not a Bundle");
  }
  std::vector<storage::SearchHit> out;
  const rapidjson::Value* entries = json::Find(doc, "entry");
  if (entries == nullptr) return out;
  if (!entries->IsArray()) {
    return Status(StatusCode::kUnavailable,
                  "the FHIR server's search answer has an entry that is not an array");
  }
  for (const auto& e : entries->GetArray()) {
    const rapidjson::Value* res = e.IsObject() ? json::Find(e, "resource") : nullptr;
    if (res == nullptr || !res->IsObject()) continue;
    const rapidjson::Value* search = json::Find(e, "search");
    if (search != nullptr && json::GetString(*search, "mode") == "outcome") continue;
    out.push_back({std::string(json::GetString(*res, "resourceType")),
                   std::string(json::GetString(*res, "id")), json::Serialize(*res)});
  }
  return out;
}

RemoteConsents::RemoteConsents(RemoteConsentsOptions options)
    : options_(std::move(options)), engine_(options_.base_policy) {
  if (options_.clock == nullptr) options_.clock = &SystemClock::Get();
}

Result<bool> RemoteConsents::MayCollect(const std::string& patient, std::string_view observation,
                                        std::string_view device_id) {
  const std::int64_t now_us = options_.clock->NowMicros();
  const std::int64_t ttl_us = std::chrono::microseconds(options_.ttl).count();
  std::shared_ptr<const consent::PatientPolicy> policy;
  bool cached = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = policies_.find(patient);
        it != policies_.end() && now_us - it->second.read_us <= ttl_us) {
      policy = it->second.policy;
      cached = true;
    }
  }
  if (!cached) {
    // Read outside the lock: one patient's slow answer does not hold up the cached others.
    SUND_ASSIGN_OR_RETURN(std::vector<std::string> consents, options_.fetch(patient));
    policy = CompilePolicy(patient, consents);
    std::lock_guard lock(mu_);
    policies_.insert_or_assign(patient, Cached{now_us, policy});
  }
  if (policy == nullptr) return false;  // unreadable Consents: fail closed
  return consent::AllowsCollection(engine_, *policy, observation, device_id, now_us / 1000);
}

}  // namespace sund::iomt
