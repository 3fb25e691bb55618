// What `sund iomt gateway` (apps/sund/iomt_gateway.cc) reads from the FHIR API of a remote Sund,
// apart from the HTTP calls themselves, which stay with the caller: the resources of a search
// answer (ReadSearchset), and each patient's consent to collection from their Consents, read
// again after a TTL (RemoteConsents, the gateway's may_collect). docs/iomt.md, "The gateway as
// its own service". Thread-safety: ReadSearchset is pure; RemoteConsents::MayCollect may be
// called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "consent/engine.h"
#include "core/status.h"
#include "core/time.h"
#include "storage/store.h"

namespace sund::iomt {

// The resources of a search answer (a FHIR Bundle, JSON) in their order, each with its type, id
// and JSON; entries whose search.mode is "outcome", and entries without a resource object, are
// left out. A Bundle without entries has none. Unavailable when `body` is not a JSON Bundle or
// its entry is not an array: an answer that cannot be read must not count as "nothing found"
// (for Consents, the base policy would then decide).
Result<std::vector<storage::SearchHit>> ReadSearchset(std::string_view body);

struct RemoteConsentsOptions {
  // The base policy of the server the Consents come from (--consent-policy).
  consent::BasePolicy base_policy = consent::BasePolicy::kDanish;
  // All of the patient's Consents (FHIR JSON), as the remote server has them now.
  std::function<Result<std::vector<std::string>>(const std::string& patient)> fetch;
  // How long a patient's Consents, once read, decide before they are read again.
  std::chrono::seconds ttl{60};
  const Clock* clock = nullptr;  // the system clock when null
};

class RemoteConsents {
 public:
  explicit RemoteConsents(RemoteConsentsOptions options);

  // For GatewayOptions::may_collect: whether the patient's Consents, as read at most `ttl`
  // earlier, permit collecting `observation` (FHIR JSON) from the device `device_id` now
  // (consent::AllowsCollection). A Consent that does not parse, or Consents that do not
  // compile, make it false for that patient until they are read again: fail closed, the
  // measurements refused as no-consent and dead-lettered, as sund serve does with a stored
  // Consent it cannot read (api::ConsentGate). An error would instead fail every batch holding
  // one of the patient's messages, for as long as the Consent stays as it is. An error of
  // `fetch` is returned as it is (the gateway answers 503) and not kept: the next call reads
  // again.
  Result<bool> MayCollect(const std::string& patient, std::string_view observation,
                          std::string_view device_id);

 private:
  struct Cached {
    std::int64_t read_us = 0;
    std::shared_ptr<const consent::PatientPolicy> policy;  // null: unreadable (fail closed)
  };

  RemoteConsentsOptions options_;
  consent::Engine engine_;
  std::mutex mu_;
  std::map<std::string, Cached, std::less<>> policies_;  // guarded by mu_
};

}  // namespace sund::iomt
