#include "fl/params.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sund::fl {
namespace {

// Verifies: REQ-FL-004
TEST(ParamsTest, SerializeRoundTripsExactly) {
  Params x = {0.0, -1.5, 1e-300, 3.141592653589793, -0.0};
  auto back = Deserialize(Serialize(x));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, x);
  EXPECT_EQ(Serialize(x).size(), 8u + 8 * x.size());
}

// Verifies: REQ-FL-004
TEST(ParamsTest, BadBuffersAreErrors) {
  std::string s = Serialize({1.0, 2.0});
  EXPECT_FALSE(Deserialize(s.substr(0, s.size() - 1)).ok());
  EXPECT_FALSE(Deserialize(s + "x").ok());
  EXPECT_FALSE(Deserialize("").ok());
  EXPECT_FALSE(Deserialize(Serialize({NAN})).ok());
  std::string huge(8, '\xff');
  EXPECT_FALSE(Deserialize(huge).ok());
}

// Verifies: REQ-FL-005
TEST(ParamsTest, ClipsToTheNorm) {
  Params x = {3, 4};
  EXPECT_DOUBLE_EQ(ClipL2(x, 1.0), 0.2);
  EXPECT_NEAR(L2Norm(x), 1.0, 1e-12);
  Params y = {0.3, 0.4};
  EXPECT_DOUBLE_EQ(ClipL2(y, 1.0), 1.0);
  Params z = {1, 1};
  AddScaled(z, {2, 4}, 0.5);
  EXPECT_EQ(z, (Params{2, 3}));
}

// Verifies: REQ-FL-006
TEST(ParamsTest, JsonKeepsEveryDoubleAndNullsTheRest) {
  EXPECT_EQ(ParamsJson({}), "[]");
  EXPECT_EQ(ParamsJson({0.1, -2, 1e300, std::nan("")}),
            "[0.10000000000000001,-2,1.0000000000000001e+300,null]");
}

}  // namespace
}  // namespace sund::fl
