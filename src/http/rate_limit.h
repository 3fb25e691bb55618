// Token-bucket rate limits for the HTTP server: one bucket per connection, and a table of
// buckets and open-connection counts per client address (ServerOptions' client limits).
//
// A bucket holds up to `burst` tokens and refills at `rate` tokens a second; each request takes
// one. When none is left the request is refused (429) and the caller learns how long until the
// next token. Time is passed in, so tests need no clock.
// Thread-safety: TokenBucket is not thread-safe (one per connection, on its network thread);
// ClientLimits is (a mutex around a hash map; the server consults it once per request).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sund::http {

using LimitClock = std::chrono::steady_clock;

struct RateLimit {
  double rate = 0;   // tokens a second; 0 or less: no limit
  double burst = 0;  // the bucket's size; at least 1 when rate > 0

  bool enabled() const { return rate > 0; }
};

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(RateLimit limit, LimitClock::time_point now);

  // Takes a token if one is left. Otherwise returns false and, if `retry_after` is given, sets
  // it to the seconds until the next token (at least 1, rounded up).
  bool Take(LimitClock::time_point now, int* retry_after = nullptr);
  // True when the bucket is full again at `now` (it then carries no state worth keeping).
  bool Full(LimitClock::time_point now) const;

 private:
  void Refill(LimitClock::time_point now);

  RateLimit limit_;
  double tokens_ = 0;
  LimitClock::time_point last_{};
};

// Per client address: a request rate and a cap on open connections.
class ClientLimits {
 public:
  ClientLimits(RateLimit rate, std::size_t max_connections);

  // A new connection from `address`: false when the address already has `max_connections` open
  // (the connection is then not counted and must be closed). Every true is paired with Close.
  bool Open(const std::string& address);
  void Close(const std::string& address);
  // One request from `address`; see TokenBucket::Take.
  bool Take(const std::string& address, LimitClock::time_point now, int* retry_after = nullptr);

  // Addresses tracked now (for tests: entries are dropped when idle and full).
  std::size_t tracked() const;

 private:
  struct Entry {
    TokenBucket bucket;
    bool has_bucket = false;
    std::size_t connections = 0;
  };
  void SweepLocked(LimitClock::time_point now);

  const RateLimit rate_;
  const std::size_t max_connections_;  // 0: no cap
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t sweep_at_ = 1024;  // sweep idle, full entries when the table reaches this size
};

}  // namespace sund::http
