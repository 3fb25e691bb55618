#include "http/rate_limit.h"

#include <gtest/gtest.h>

#include <string>

namespace sund::http {
namespace {

using std::chrono::milliseconds;

// Verifies: REQ-HTTP-031
TEST(TokenBucket, AllowsTheBurstThenTheRate) {
  auto t0 = LimitClock::time_point{} + std::chrono::hours(1);
  TokenBucket b(RateLimit{10, 3}, t0);
  EXPECT_TRUE(b.Take(t0));
  EXPECT_TRUE(b.Take(t0));
  EXPECT_TRUE(b.Take(t0));
  int retry = 0;
  EXPECT_FALSE(b.Take(t0, &retry));
  EXPECT_EQ(retry, 1);  // 0.1 s rounds up to a whole second (Retry-After is in seconds)
  EXPECT_TRUE(b.Take(t0 + milliseconds(100)));
  EXPECT_FALSE(b.Take(t0 + milliseconds(150)));
  // Refills to the burst, not beyond.
  auto later = t0 + std::chrono::seconds(60);
  EXPECT_TRUE(b.Full(later));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.Take(later)) << i;
  EXPECT_FALSE(b.Take(later));
}

// Verifies: REQ-HTTP-031
TEST(TokenBucket, SlowRatesAskForLongerWaits) {
  auto t0 = LimitClock::time_point{} + std::chrono::hours(1);
  TokenBucket b(RateLimit{0.25, 1}, t0);  // one request every four seconds
  EXPECT_TRUE(b.Take(t0));
  int retry = 0;
  EXPECT_FALSE(b.Take(t0 + std::chrono::seconds(1), &retry));
  EXPECT_EQ(retry, 3);
}

// Verifies: REQ-HTTP-031
TEST(TokenBucket, DisabledAllowsEverything) {
  auto t0 = LimitClock::time_point{};
  TokenBucket b(RateLimit{0, 0}, t0);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(b.Take(t0));
  TokenBucket unset;
  EXPECT_TRUE(unset.Take(t0));
}

// Verifies: REQ-HTTP-033
TEST(ClientLimits, SeparateBucketsPerAddress) {
  auto t0 = LimitClock::time_point{} + std::chrono::hours(1);
  ClientLimits limits(RateLimit{1, 2}, 0);
  EXPECT_TRUE(limits.Take("192.0.2.1", t0));
  EXPECT_TRUE(limits.Take("192.0.2.1", t0));
  EXPECT_FALSE(limits.Take("192.0.2.1", t0));
  EXPECT_TRUE(limits.Take("192.0.2.2", t0));  // another client is not affected
}

// Verifies: REQ-HTTP-034
TEST(ClientLimits, CapsOpenConnectionsPerAddress) {
  ClientLimits limits(RateLimit{}, 2);
  EXPECT_TRUE(limits.Open("192.0.2.1"));
  EXPECT_TRUE(limits.Open("192.0.2.1"));
  EXPECT_FALSE(limits.Open("192.0.2.1"));
  EXPECT_TRUE(limits.Open("192.0.2.9"));
  limits.Close("192.0.2.1");
  EXPECT_TRUE(limits.Open("192.0.2.1"));
  limits.Close("192.0.2.1");
  limits.Close("192.0.2.1");
  limits.Close("192.0.2.9");
  limits.Close("192.0.2.9");  // an unmatched Close is ignored
  EXPECT_EQ(limits.tracked(), 0u);
}

// Verifies: REQ-HTTP-036
TEST(ClientLimits, ForgetsIdleClientsSoTheTableStaysBounded) {
  auto t0 = LimitClock::time_point{} + std::chrono::hours(1);
  ClientLimits limits(RateLimit{100, 100}, 0);
  for (int i = 0; i < 5000; ++i) {
    limits.Take("198.51.100." + std::to_string(i), t0 + std::chrono::seconds(i));
  }
  // Each address took one token and refilled within a second, so sweeps dropped them.
  EXPECT_LT(limits.tracked(), 2100u);
}

}  // namespace
}  // namespace sund::http
