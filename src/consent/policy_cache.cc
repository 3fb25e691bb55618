#include "consent/policy_cache.h"

#include <list>
#include <unordered_map>
#include <utility>

namespace sund::consent {

struct PolicyCache::State {
  struct Entry {
    std::string patient;
    std::string stamp;
    PolicyPtr policy;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::list<Entry> lru;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator, Hash, std::equal_to<>> index;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
};

PolicyCache::PolicyCache(std::size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity), state_(std::make_unique<State>()) {}

PolicyCache::~PolicyCache() = default;

PolicyCache::PolicyPtr PolicyCache::Find(std::string_view patient, std::string_view stamp) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_->index.find(patient);
  if (it == state_->index.end() || it->second->stamp != stamp) {
    ++state_->misses;
    return nullptr;
  }
  ++state_->hits;
  state_->lru.splice(state_->lru.begin(), state_->lru, it->second);
  return it->second->policy;
}

void PolicyCache::Put(std::string_view patient, std::string_view stamp, PolicyPtr policy) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_->index.find(patient);
  if (it != state_->index.end()) {
    it->second->stamp = std::string(stamp);
    it->second->policy = std::move(policy);
    state_->lru.splice(state_->lru.begin(), state_->lru, it->second);
    return;
  }
  state_->lru.push_front({std::string(patient), std::string(stamp), std::move(policy)});
  state_->index.emplace(state_->lru.front().patient, state_->lru.begin());
  while (state_->lru.size() > capacity_) {
    state_->index.erase(state_->lru.back().patient);
    state_->lru.pop_back();
  }
}

Result<PolicyCache::PolicyPtr> PolicyCache::Get(std::string_view patient, std::string_view stamp,
                                                const Loader& load) {
  if (PolicyPtr p = Find(patient, stamp)) return p;
  SUND_ASSIGN_OR_RETURN(PatientPolicy compiled, load());
  auto p = std::make_shared<const PatientPolicy>(std::move(compiled));
  Put(patient, stamp, p);
  return PolicyPtr(p);
}

void PolicyCache::Invalidate(std::string_view patient) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_->index.find(patient);
  if (it == state_->index.end()) return;
  state_->lru.erase(it->second);
  state_->index.erase(it);
}

void PolicyCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  state_->index.clear();
  state_->lru.clear();
}

std::size_t PolicyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_->lru.size();
}

std::uint64_t PolicyCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_->hits;
}

std::uint64_t PolicyCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_->misses;
}

}  // namespace sund::consent
