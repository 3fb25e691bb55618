#include "iomt/simulator.h"

#include <gtest/gtest.h>

#include "iomt/measurement.h"

namespace sund::iomt {
namespace {

constexpr std::int64_t kHour = 3600LL * 1000;

SimulationOptions Options() {
  SimulationOptions o;
  o.patients = 20;
  o.rounds_per_hour = 4;
  o.deteriorating = 2;
  o.start_ms = 1'795'000'000'000;
  o.span_ms = 72 * kHour;
  o.seed = 7;
  return o;
}

// Verifies: REQ-IOMT-058
TEST(Simulator, PayloadsAreValidInTimeOrderAndDeterministic) {
  Simulator a(Options());
  Simulator b(Options());
  ParseOptions po;
  po.now_ms = Options().start_ms + 100 * kHour;
  std::int64_t last = 0;
  int rounds = 0;
  while (true) {
    SimulatedPayload p = a.Next();
    if (p.time_ms >= Options().start_ms + 24 * kHour) break;
    EXPECT_EQ(p.json, b.Next().json);
    EXPECT_GE(p.time_ms, last);
    EXPECT_GE(p.time_ms, Options().start_ms);
    last = p.time_ms;
    auto parsed = ParsePayload(p.json, po);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    EXPECT_TRUE(parsed->refused.empty()) << p.json;
    EXPECT_EQ(static_cast<int>(parsed->accepted.size()), p.measurements);
    EXPECT_EQ(parsed->device, Simulator::DeviceId(p.patient));
    ++rounds;
  }
  // 20 citizens, 4 rounds an hour, 24 hours (give or take the jitter at the edges).
  EXPECT_NEAR(rounds, 20 * 4 * 24, 40);
}

// Verifies: REQ-IOMT-059
TEST(Simulator, TheFirstKDeteriorateOverTheRun) {
  Simulator sim(Options());
  std::int64_t start = Options().start_ms;
  EXPECT_EQ(sim.Severity(0, start), 0);
  EXPECT_EQ(sim.Severity(0, start + 72 * kHour), 1);
  EXPECT_GT(sim.Severity(1, start + 36 * kHour), 0.2);
  EXPECT_EQ(sim.Severity(2, start + 72 * kHour), 0);  // not among the deteriorating
}

// Verifies: REQ-IOMT-060
TEST(Simulator, SetupCreatesPatientDeviceAndAssignmentByPut) {
  Simulator sim(Options());
  std::string bundle = sim.SetupBundle(3, 5);
  for (const char* part :
       {R"("url":"Patient/sim-p-3")", R"("url":"Device/sim-hub-4")",
        R"("url":"DeviceUseStatement/sim-use-3")", R"("value":"sim-hub-3")", R"("method":"PUT")"}) {
    EXPECT_NE(bundle.find(part), std::string::npos) << part;
  }
  EXPECT_EQ(bundle.find("sim-p-5"), std::string::npos);
}

}  // namespace
}  // namespace sund::iomt
