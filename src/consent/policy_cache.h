// PolicyCache: compiled PatientPolicies (consent/engine.h) kept in memory between requests,
// keyed by patient id and a version stamp the caller computes from the patient's Consents.
//
// Contract ("no stale cache"): a cached policy is returned only when the caller's stamp is equal
// to the stamp it was compiled under. The caller derives the stamp, on every request, from the
// current state of the patient's Consents, such that any create, update, delete, or change of
// Consent.patient of one of them changes it: e.g. the store's change sequence of the latest
// write to a Consent of that patient, or "COUNT:MAX(lastUpdated)" over the patient's current
// Consents when lastUpdated strictly increases with every write (README: "The cache contract").
// The policy does not depend on the time, so expiring or starting Consent periods need no new
// stamp. Invalidate() is an optimisation for a single process (drop an entry on a Consent
// write); correctness never rests on it.
//
// Entries are shared (std::shared_ptr<const PatientPolicy>) because a request may still be
// evaluating a policy that another thread has just replaced or evicted. Capacity is bounded;
// the least recently used entry goes first.
//
// Thread-safety: every method is thread-safe (one mutex; loaders run outside it, so two
// threads that miss at once may both compile, and the later Put wins).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "consent/engine.h"
#include "core/status.h"

namespace sund::consent {

class PolicyCache {
 public:
  using PolicyPtr = std::shared_ptr<const PatientPolicy>;
  using Loader = std::function<Result<PatientPolicy>()>;

  explicit PolicyCache(std::size_t capacity = 4096);
  ~PolicyCache();
  PolicyCache(const PolicyCache&) = delete;
  PolicyCache& operator=(const PolicyCache&) = delete;

  // The policy of `patient` at `stamp`: the cached one when its stamp equals `stamp`, otherwise
  // the result of `load()` (which reads and compiles the patient's current Consents), cached
  // under `stamp`. An error from `load` is returned and nothing is cached.
  Result<PolicyPtr> Get(std::string_view patient, std::string_view stamp, const Loader& load);

  // The cached policy of `patient` if its stamp equals `stamp`; nullptr otherwise.
  PolicyPtr Find(std::string_view patient, std::string_view stamp);
  // Caches `policy` for `patient` under `stamp`, replacing any entry of that patient.
  void Put(std::string_view patient, std::string_view stamp, PolicyPtr policy);
  void Invalidate(std::string_view patient);
  void Clear();

  std::size_t size() const;
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  struct State;
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::unique_ptr<State> state_;  // guarded by mu_
};

}  // namespace sund::consent
