#include "fl/privacy.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sund::fl {
namespace {

double StdDev(const Params& x) {
  double mean = 0, sq = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) sq += (v - mean) * (v - mean);
  return std::sqrt(sq / static_cast<double>(x.size() - 1));
}

// Verifies: REQ-FL-023
TEST(ClipAndNoiseTest, ClipsWithoutNoiseWhenTheMultiplierIsZero) {
  Rng rng(1);
  Params x = {3, 4};
  auto factor = ClipAndNoise(x, 1.0, 0.0, rng);
  ASSERT_TRUE(factor.ok());
  EXPECT_DOUBLE_EQ(*factor, 0.2);
  EXPECT_NEAR(L2Norm(x), 1.0, 1e-12);
}

// Verifies: REQ-FL-023
TEST(ClipAndNoiseTest, NoiseHasSigmaOverRootOfTheShares) {
  Rng rng(2);
  const std::size_t dim = 100000;
  for (std::uint32_t shares : {1u, 4u}) {
    Params x(dim, 0.0);
    ASSERT_TRUE(ClipAndNoise(x, 2.0, 1.5, rng, shares).ok());
    double want = 1.5 * 2.0 / std::sqrt(static_cast<double>(shares));
    EXPECT_NEAR(StdDev(x), want, 0.02 * want);  // the estimate's sd is 0.22%
  }
}

// Distributed noise: t nodes each adding sigma / sqrt(t) give the sum sigma.
// Verifies: REQ-FL-023
TEST(ClipAndNoiseTest, TheSumOfThresholdNodesCarriesTheFullSigma) {
  Rng rng(3);
  const std::size_t dim = 50000;
  const std::uint32_t t = 3;
  Params sum(dim, 0.0);
  for (std::uint32_t node = 0; node < t; ++node) {
    Params x(dim, 0.0);
    ASSERT_TRUE(ClipAndNoise(x, 1.0, 1.2, rng, t).ok());
    AddScaled(sum, x, 1.0);
  }
  EXPECT_NEAR(StdDev(sum), 1.2, 0.02 * 1.2);
}

// Verifies: REQ-FL-024
TEST(ClipAndNoiseTest, BadArgumentsAreErrorsAndLeaveTheUpdate) {
  Rng rng(4);
  Params x = {3, 4};
  EXPECT_FALSE(ClipAndNoise(x, 0.0, 1.0, rng).ok());
  EXPECT_FALSE(ClipAndNoise(x, NAN, 1.0, rng).ok());
  EXPECT_FALSE(ClipAndNoise(x, 1.0, -1.0, rng).ok());
  EXPECT_FALSE(ClipAndNoise(x, 1.0, INFINITY, rng).ok());
  EXPECT_FALSE(ClipAndNoise(x, 1.0, 1.0, rng, 0).ok());
  EXPECT_EQ(x, (Params{3, 4}));
  Params bad = {1, NAN};
  EXPECT_FALSE(ClipAndNoise(bad, 1.0, 1.0, rng).ok());
}

// Verifies: REQ-FL-025
TEST(DpAccountantTest, EpsilonAfterKRoundsIsCdpEpsilonOfKRho) {
  auto acc = DpAccountant::Create(1.1, 1e-5);
  ASSERT_TRUE(acc.ok());
  const double rho = 1 / (2 * 1.1 * 1.1);
  EXPECT_DOUBLE_EQ(acc->rho_per_round(), rho);
  EXPECT_EQ(acc->Epsilon(), 0.0);
  double last = 0;
  for (int k = 1; k <= 50; ++k) {
    acc->RecordRound();
    EXPECT_EQ(acc->rounds(), static_cast<std::uint64_t>(k));
    EXPECT_DOUBLE_EQ(acc->rho(), k * rho);
    EXPECT_DOUBLE_EQ(acc->Epsilon(), synth::CdpEpsilon(k * rho, 1e-5));
    EXPECT_GT(acc->Epsilon(), last);
    last = acc->Epsilon();
  }
  EXPECT_FALSE(DpAccountant::Create(0.0, 1e-5).ok());
  EXPECT_FALSE(DpAccountant::Create(1.0, 0.0).ok());
  EXPECT_FALSE(DpAccountant::Create(1.0, 1.0).ok());
}

// Verifies: REQ-FL-026
TEST(DpBudgetTest, StopsBeforeTheBudgetIsExceeded) {
  const double epsilon = 3.0, z = 5.0, delta = 1e-6;  // about ten rounds
  auto budget = DpBudget::Create(epsilon, z, delta);
  ASSERT_TRUE(budget.ok());
  const std::uint64_t left = budget->RoundsLeft();
  ASSERT_GT(left, 3u);
  // The count agrees with the accountant: `left` rounds fit, one more does not.
  EXPECT_LE(budget->accountant().EpsilonAfter(left), epsilon);
  EXPECT_GT(budget->accountant().EpsilonAfter(left + 1), epsilon);
  std::uint64_t ran = 0;
  while (budget->CanRunRound()) {
    ASSERT_TRUE(budget->ChargeRound().ok());
    ++ran;
    EXPECT_LE(budget->epsilon_spent(), epsilon);
    EXPECT_EQ(budget->RoundsLeft(), left - ran);
  }
  EXPECT_EQ(ran, left);
  Status over = budget->ChargeRound();
  EXPECT_EQ(over.code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(budget->accountant().rounds(), left);  // the refused round was not charged
  EXPECT_FALSE(DpBudget::Create(0.0, z, delta).ok());
  EXPECT_FALSE(DpBudget::Create(INFINITY, z, delta).ok());
}

// Verifies: REQ-FL-026
TEST(DpBudgetTest, ABudgetTooSmallForOneRoundAllowsNone) {
  auto budget = DpBudget::Create(0.01, 0.5, 1e-6);
  ASSERT_TRUE(budget.ok());
  EXPECT_FALSE(budget->CanRunRound());
  EXPECT_EQ(budget->RoundsLeft(), 0u);
  EXPECT_FALSE(budget->ChargeRound().ok());
}

}  // namespace
}  // namespace sund::fl
