#include "fl/fixed_point.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sund::fl {
namespace {

// Verifies: REQ-FL-007
TEST(FixedPointCodecTest, RoundTripsWithinHalfAStep) {
  auto codec = FixedPointCodec::Create(4.0, 100, 20);
  ASSERT_TRUE(codec.ok());
  Params x = {0.0, 1.0, -1.0, 3.999999, -2.5e-3, 1e-9, 0.1234567};
  auto enc = codec->Encode(x);
  ASSERT_TRUE(enc.ok());
  auto dec = codec->DecodeSum(*enc, 1);
  ASSERT_TRUE(dec.ok());
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs((*dec)[i] - x[i]), codec->resolution() / 2) << i;
  }
  EXPECT_EQ((*enc)[2], static_cast<std::uint64_t>(-(std::int64_t{1} << 20)));  // two's complement
}

// Verifies: REQ-FL-007
TEST(FixedPointCodecTest, ASumOfMaxSummandsAtTheBoundDoesNotWrap) {
  const std::uint32_t n = 1000;
  auto codec = FixedPointCodec::ForBound(3.0, n);
  ASSERT_TRUE(codec.ok());
  for (double sign : {1.0, -1.0}) {
    auto one = *codec->Encode({sign * 1e9});  // clamped to the bound
    std::vector<std::uint64_t> sum(1, 0);
    for (std::uint32_t i = 0; i < n; ++i) sum[0] += one[0];
    auto dec = codec->DecodeSum(sum, n);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ((*dec)[0], sign * 3.0 * n);
  }
  std::vector<std::uint64_t> zero(1, 0);
  EXPECT_FALSE(codec->DecodeSum(zero, n + 1).ok());
  EXPECT_FALSE(codec->DecodeSum(zero, 0).ok());
}

// Verifies: REQ-FL-008
TEST(FixedPointCodecTest, ForBoundTakesTheFinestScaleThatCannotOverflow) {
  auto codec = FixedPointCodec::ForBound(1.0, 1024);
  ASSERT_TRUE(codec.ok());
  // 1024 * 2^f <= 2^63 - 1 holds for f = 52, not for f = 53.
  EXPECT_EQ(codec->fraction_bits(), 52);
  EXPECT_TRUE(FixedPointCodec::Create(1.0, 1024, 52).ok());
  EXPECT_FALSE(FixedPointCodec::Create(1.0, 1024, 53).ok());
  EXPECT_DOUBLE_EQ(codec->scale(), std::ldexp(1.0, 52));
  auto tiny = FixedPointCodec::ForBound(1e-30, 1);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->fraction_bits(), 62);
}

// Verifies: REQ-FL-008
TEST(FixedPointCodecTest, BadSettingsAndValuesAreErrors) {
  EXPECT_FALSE(FixedPointCodec::Create(0.0, 10, 10).ok());
  EXPECT_FALSE(FixedPointCodec::Create(-1.0, 10, 10).ok());
  EXPECT_FALSE(FixedPointCodec::Create(NAN, 10, 10).ok());
  EXPECT_FALSE(FixedPointCodec::Create(1.0, 0, 10).ok());
  EXPECT_FALSE(FixedPointCodec::Create(1.0, 10, -1).ok());
  EXPECT_FALSE(FixedPointCodec::Create(1.0, 10, 63).ok());
  EXPECT_FALSE(FixedPointCodec::ForBound(1e30, 10).ok());  // overflows even at scale 1
  EXPECT_FALSE(FixedPointCodec::ForBound(std::numeric_limits<double>::infinity(), 10).ok());
  auto codec = *FixedPointCodec::ForBound(1.0, 10);
  EXPECT_FALSE(codec.Encode({1.0, NAN}).ok());
  EXPECT_FALSE(codec.Encode({std::numeric_limits<double>::infinity()}).ok());
}

}  // namespace
}  // namespace sund::fl
