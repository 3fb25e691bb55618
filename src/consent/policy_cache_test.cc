#include "consent/policy_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "consent/engine.h"
#include "consent/policy.h"

namespace sund::consent {
namespace {

// A store of Consents for one patient, as the API would read it, with the stamp the cache
// contract asks for ("COUNT:MAX(version)" here; versions only grow).
struct FakeConsentStore {
  std::vector<std::string> json;
  int loads = 0;
  int max_version = 0;

  std::string Stamp() const {
    return std::to_string(json.size()) + ":" + std::to_string(max_version);
  }
  void Write(std::vector<std::string> consents) {
    json = std::move(consents);
    ++max_version;
  }
  Result<PatientPolicy> Load() {
    ++loads;
    std::vector<Consent> consents;
    for (const std::string& j : json) {
      SUND_ASSIGN_OR_RETURN(Consent c, ParseConsentJson(j));
      consents.push_back(std::move(c));
    }
    return Engine::Compile("p1", consents);
  }
};

std::string DenyDrA(const std::string& status) {
  return R"({"resourceType":"Consent","id":"c1","status":")" + status +
         R"(","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
         R"("code":"patient-privacy"}]},"patient":{"reference":"Patient/p1"},)"
         R"("provision":{"type":"deny","actor":[{"reference":{"reference":"Practitioner/dr-a"}}]}})";
}

Request DrA() {
  Request r;
  r.user = UserKind::kPractitioner;
  r.practitioner = "dr-a";
  r.now_ms = 1'717'243'200'000;  // 2024-06-01T12:00:00Z
  return r;
}

ResourceFacts Obs() { return {"Observation", "o1", {}, {}, {}, std::nullopt, {}, {}}; }

TEST(PolicyCacheTest, ChangedConsentTakesEffectOnTheNextRequest) {
  PolicyCache cache(16);
  FakeConsentStore store;
  Engine engine(BasePolicy::kDanish);
  auto decide = [&] {
    auto p = cache.Get("p1", store.Stamp(), [&] { return store.Load(); });
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return engine.Decide(**p, DrA(), Obs()).permitted();
  };

  EXPECT_TRUE(decide());  // no Consent: Danish base permits treatment
  EXPECT_TRUE(decide());
  EXPECT_EQ(store.loads, 1);  // the second request hit the cache

  store.Write({DenyDrA("active")});  // the patient blocks dr-a
  EXPECT_FALSE(decide());
  EXPECT_EQ(store.loads, 2);

  store.Write({DenyDrA("inactive")});  // and lifts the block: same count, new version
  EXPECT_TRUE(decide());
  EXPECT_EQ(store.loads, 3);

  store.Write({});  // deleted
  EXPECT_TRUE(decide());
  EXPECT_EQ(store.loads, 4);
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(PolicyCacheTest, LoaderErrorsAreReturnedAndNotCached) {
  PolicyCache cache(4);
  int calls = 0;
  auto failing = [&]() -> Result<PatientPolicy> {
    ++calls;
    return Internal("store unavailable");
  };
  auto r = cache.Get("p1", "1:1", failing);
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_EQ(cache.size(), 0u);
  auto again = cache.Get("p1", "1:1", failing);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(calls, 2);
}

TEST(PolicyCacheTest, FindNeedsTheSameStamp) {
  PolicyCache cache(4);
  cache.Put("p1", "a", std::make_shared<const PatientPolicy>());
  EXPECT_NE(cache.Find("p1", "a"), nullptr);
  EXPECT_EQ(cache.Find("p1", "b"), nullptr);
  EXPECT_EQ(cache.Find("p2", "a"), nullptr);
  cache.Put("p1", "b", std::make_shared<const PatientPolicy>());
  EXPECT_EQ(cache.Find("p1", "a"), nullptr);
  EXPECT_NE(cache.Find("p1", "b"), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  cache.Invalidate("p1");
  EXPECT_EQ(cache.Find("p1", "b"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(PolicyCacheTest, EvictsLeastRecentlyUsed) {
  PolicyCache cache(2);
  cache.Put("p1", "s", std::make_shared<const PatientPolicy>());
  cache.Put("p2", "s", std::make_shared<const PatientPolicy>());
  EXPECT_NE(cache.Find("p1", "s"), nullptr);  // p1 is now the most recent
  cache.Put("p3", "s", std::make_shared<const PatientPolicy>());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.Find("p1", "s"), nullptr);
  EXPECT_EQ(cache.Find("p2", "s"), nullptr);
  EXPECT_NE(cache.Find("p3", "s"), nullptr);
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(PolicyCacheTest, EvictedPolicyStaysValidForItsHolder) {
  PolicyCache cache(1);
  FakeConsentStore store;
  store.Write({DenyDrA("active")});
  auto held = cache.Get("p1", store.Stamp(), [&] { return store.Load(); });
  ASSERT_TRUE(held.ok());
  cache.Put("p2", "x", std::make_shared<const PatientPolicy>());  // evicts p1
  EXPECT_EQ(cache.Find("p1", store.Stamp()), nullptr);
  Engine engine(BasePolicy::kDanish);
  EXPECT_FALSE(engine.Decide(**held, DrA(), Obs()).permitted());
}

TEST(PolicyCacheTest, ConcurrentUseIsSafe) {
  PolicyCache cache(8);
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string patient = "p" + std::to_string((i + t) % 12);
        std::string stamp = std::to_string(i / 500);
        auto r = cache.Get(patient, stamp, [&]() -> Result<PatientPolicy> {
          ++loads;
          return PatientPolicy();
        });
        EXPECT_TRUE(r.ok());
        if (i % 97 == 0) cache.Invalidate(patient);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.size(), 8u);
  EXPECT_GT(loads.load(), 0);
  EXPECT_EQ(cache.hits() + cache.misses(), 8000u);
}

}  // namespace
}  // namespace sund::consent
