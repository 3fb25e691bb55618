#include "fl/shamir.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "core/crypto.h"

namespace sund::fl {
namespace {

std::vector<ShamirShare> Pick(const std::vector<ShamirShare>& all, unsigned mask) {
  std::vector<ShamirShare> out;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (mask & (1u << i)) out.push_back(all[i]);
  }
  return out;
}

// Verifies: REQ-FL-009
TEST(ShamirTest, AnyThresholdOfSharesRecoversTheSecret) {
  const std::string secret = crypto::RandomBytes(32);
  auto shares = ShamirSplit(secret, 3, 5);
  ASSERT_TRUE(shares.ok()) << shares.status().ToString();
  ASSERT_EQ(shares->size(), 5u);
  int subsets = 0;
  for (unsigned mask = 0; mask < 32; ++mask) {
    if (__builtin_popcount(mask) < 3) continue;
    auto back = ShamirCombine(Pick(*shares, mask));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, secret) << "subset " << mask;
    ++subsets;
  }
  EXPECT_EQ(subsets, 16);  // 10 triples, 5 quadruples, all five
}

// Verifies: REQ-FL-009
TEST(ShamirTest, FewerThanThresholdSharesGiveAnotherValue) {
  const std::string secret = crypto::RandomBytes(32);
  auto shares = ShamirSplit(secret, 3, 5);
  ASSERT_TRUE(shares.ok());
  for (unsigned mask = 1; mask < 32; ++mask) {
    if (__builtin_popcount(mask) >= 3) continue;
    auto back = ShamirCombine(Pick(*shares, mask));
    ASSERT_TRUE(back.ok());
    EXPECT_NE(*back, secret) << "subset " << mask;
  }
}

// With t - 1 shares every secret is equally likely: one share of a 2-of-n split is uniform
// whatever the secret. Chi-square over the 256 values of share 1 for a fixed secret byte.
// Verifies: REQ-FL-009
TEST(ShamirTest, ASingleShareBelowThresholdIsUniform) {
  for (char secret : {'\x00', '\xff'}) {
    std::array<int, 256> counts{};
    const int kSplits = 256 * 100;
    for (int i = 0; i < kSplits; ++i) {
      auto shares = ShamirSplit(std::string(1, secret), 2, 3);
      ASSERT_TRUE(shares.ok());
      ++counts[static_cast<unsigned char>((*shares)[0].y[0])];
    }
    double chi2 = 0;
    for (int c : counts) chi2 += (c - 100.0) * (c - 100.0) / 100.0;
    EXPECT_LT(chi2, 400.0) << "255 degrees of freedom: mean 255, sd 22.6";
  }
}

// Verifies: REQ-FL-009
TEST(ShamirTest, ThresholdOneAndTwoHundredFiftyFive) {
  const std::string secret = "a secret";
  auto one = ShamirSplit(secret, 1, 4);
  ASSERT_TRUE(one.ok());
  for (const ShamirShare& s : *one) EXPECT_EQ(s.y, secret);  // a constant polynomial
  auto all = ShamirSplit(secret, 255, 255);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*ShamirCombine(*all), secret);
  std::vector<ShamirShare> short_one(all->begin(), all->end() - 1);
  EXPECT_NE(*ShamirCombine(short_one), secret);
}

// Verifies: REQ-FL-010
TEST(ShamirTest, BadArgumentsAreErrors) {
  EXPECT_FALSE(ShamirSplit("s", 0, 3).ok());
  EXPECT_FALSE(ShamirSplit("s", 4, 3).ok());
  EXPECT_FALSE(ShamirSplit("s", 2, 256).ok());
  EXPECT_FALSE(ShamirSplit("", 2, 3).ok());
  EXPECT_FALSE(ShamirSplit(std::string(kMaxShamirSecretBytes + 1, 'x'), 2, 3).ok());

  auto shares = *ShamirSplit("secret", 2, 3);
  EXPECT_FALSE(ShamirCombine({}).ok());
  std::vector<ShamirShare> dup = {shares[0], shares[0]};
  EXPECT_FALSE(ShamirCombine(dup).ok());
  std::vector<ShamirShare> zero = {shares[0], shares[1]};
  zero[1].x = 0;
  EXPECT_FALSE(ShamirCombine(zero).ok());
  std::vector<ShamirShare> ragged = {shares[0], shares[1]};
  ragged[1].y.pop_back();
  EXPECT_FALSE(ShamirCombine(ragged).ok());
  std::vector<ShamirShare> empty = {ShamirShare{1, ""}};
  EXPECT_FALSE(ShamirCombine(empty).ok());
  std::vector<ShamirShare> too_many(256, shares[0]);
  for (int i = 0; i < 256; ++i) too_many[i].x = static_cast<std::uint8_t>(i);
  EXPECT_FALSE(ShamirCombine(too_many).ok());
}

// Verifies: REQ-FL-010
TEST(ShamirTest, ShareBytesRoundTripAndHostileBytesAreErrors) {
  auto shares = *ShamirSplit("secret", 2, 3);
  auto back = ShamirShare::Parse(shares[2].Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, shares[2]);
  EXPECT_FALSE(ShamirShare::Parse("").ok());
  EXPECT_FALSE(ShamirShare::Parse("\x05").ok());
  EXPECT_FALSE(ShamirShare::Parse(std::string("\x00y", 2)).ok());
  EXPECT_FALSE(ShamirShare::Parse("\x01" + std::string(kMaxShamirSecretBytes + 1, 'y')).ok());
}

}  // namespace
}  // namespace sund::fl
