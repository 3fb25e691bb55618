#include "http/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace sund::http {

TokenBucket::TokenBucket(RateLimit limit, LimitClock::time_point now)
    : limit_(limit), tokens_(std::max(1.0, limit.burst)), last_(now) {
  limit_.burst = tokens_;
}

void TokenBucket::Refill(LimitClock::time_point now) {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(limit_.burst, tokens_ + elapsed * limit_.rate);
  last_ = now;
}

bool TokenBucket::Take(LimitClock::time_point now, int* retry_after) {
  if (!limit_.enabled()) return true;
  Refill(now);
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  if (retry_after != nullptr) {
    *retry_after = std::max(1, static_cast<int>(std::ceil((1 - tokens_) / limit_.rate)));
  }
  return false;
}

bool TokenBucket::Full(LimitClock::time_point now) const {
  if (!limit_.enabled()) return true;
  double elapsed = now > last_ ? std::chrono::duration<double>(now - last_).count() : 0;
  return tokens_ + elapsed * limit_.rate >= limit_.burst;
}

ClientLimits::ClientLimits(RateLimit rate, std::size_t max_connections)
    : rate_(rate), max_connections_(max_connections) {}

bool ClientLimits::Open(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[address];
  if (max_connections_ > 0 && e.connections >= max_connections_) return false;
  ++e.connections;
  return true;
}

void ClientLimits::Close(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(address);
  if (it == entries_.end() || it->second.connections == 0) return;
  if (--it->second.connections == 0 && !it->second.has_bucket) entries_.erase(it);
}

bool ClientLimits::Take(const std::string& address, LimitClock::time_point now, int* retry_after) {
  if (!rate_.enabled()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= sweep_at_) SweepLocked(now);
  Entry& e = entries_[address];
  if (!e.has_bucket) {
    e.bucket = TokenBucket(rate_, now);
    e.has_bucket = true;
  }
  return e.bucket.Take(now, retry_after);
}

void ClientLimits::SweepLocked(LimitClock::time_point now) {
  std::erase_if(entries_, [now](const auto& kv) {
    return kv.second.connections == 0 && (!kv.second.has_bucket || kv.second.bucket.Full(now));
  });
  // Sweep again when the table has doubled from what stayed, so that sweeping stays amortised.
  sweep_at_ = std::max<std::size_t>(1024, entries_.size() * 2);
}

std::size_t ClientLimits::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace sund::http
