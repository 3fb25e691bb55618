#include "cells/instances.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cells/evaluate.h"

namespace sund::cells {
namespace {

// Discs of `radius` at the given centres, labelled 1, 2, ... (a later disc covers an earlier one
// where they overlap).
Labels Discs(int w, int h, const std::vector<std::pair<int, int>>& centres, double radius) {
  Labels l(w, h);
  for (std::size_t i = 0; i < centres.size(); ++i) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        if (std::hypot(x - centres[i].first, y - centres[i].second) <= radius) {
          l.at(x, y) = static_cast<std::int32_t>(i + 1);
        }
      }
    }
  }
  l.count = static_cast<std::int32_t>(centres.size());
  return l;
}

Image Foreground(const Labels& l) {
  Image f(l.width, l.height);
  for (std::size_t i = 0; i < l.pixels.size(); ++i) f.pixels[i] = l.pixels[i] > 0 ? 1.0f : 0.0f;
  return f;
}

InstanceOptions Watershed() {
  InstanceOptions o;
  o.method = InstanceMethod::kSeededWatershed;
  return o;
}

// Verifies: REQ-CELLS-060
TEST(InteriorMapTest, IsOneInTheCoreAndFallsToTheEdge) {
  Labels l = Discs(40, 40, {{20, 20}}, 8);  // 9 pixels deep, more than kInteriorDepth
  Image in = InteriorMap(l);
  EXPECT_FLOAT_EQ(in.at(20, 20), 1.0f);
  EXPECT_FLOAT_EQ(in.at(22, 20), 1.0f);        // 7 deep
  EXPECT_NEAR(in.at(25, 20), 3.2f / 6, 0.15);  // about 3 deep (to the nearest outside pixel)
  EXPECT_GT(in.at(25, 20), in.at(28, 20));
  EXPECT_FLOAT_EQ(in.at(28, 20), 1.0f / 6);  // the edge pixel is inside the object
  EXPECT_EQ(in.at(29, 20), 0.0f);            // background
  EXPECT_EQ(in.at(0, 0), 0.0f);
}

// Verifies: REQ-CELLS-060
TEST(InteriorMapTest, ASmallObjectPeaksAtOneOnItsAxis) {
  Labels l = Discs(20, 20, {{10, 10}}, 3);  // 4 pixels deep
  Image in = InteriorMap(l);
  EXPECT_FLOAT_EQ(in.at(10, 10), 1.0f);
  EXPECT_LT(in.at(13, 10), 0.35f);  // the edge: 1 (or the diagonal's 1.4) of 4
}

// Verifies: REQ-CELLS-060
TEST(InteriorMapTest, TouchingObjectsMeetAtLowValues) {
  // Two discs overlapping (the second drawn over the first): the line where they meet is each
  // one's edge, so the interior dips there although the foreground does not.
  Labels l = Discs(60, 40, {{20, 20}, {34, 20}}, 8);
  Image in = InteriorMap(l);
  EXPECT_LT(in.at(26, 20), 0.25f);
  EXPECT_LT(in.at(27, 20), 0.25f);
  EXPECT_FLOAT_EQ(in.at(19, 20), 1.0f);
  EXPECT_FLOAT_EQ(in.at(34, 20), 1.0f);
}

// Verifies: REQ-CELLS-060
TEST(InteriorMapTest, TheImageEdgeIsNotTheObjectsEdge) {
  Labels l(20, 10);
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 6; ++x) l.at(x, y) = 1;  // cut by the left edge
  }
  l.count = 1;
  Image in = InteriorMap(l);
  EXPECT_FLOAT_EQ(in.at(0, 5), 1.0f);  // farthest from the object's only edge, x = 6
  EXPECT_FLOAT_EQ(in.at(4, 5), 2.0f / 6);
}

// Verifies: REQ-CELLS-061
TEST(SeededWatershedTest, SplitsTouchingNucleiThatAThresholdMerges) {
  Labels truth = Discs(80, 40, {{20, 20}, {33, 20}, {60, 20}}, 8);
  Image fg = Foreground(truth);
  auto labels = SeededWatershed(fg, InteriorMap(truth), Watershed());
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(labels->count, 3);
  auto score = ScoreInstances(truth, *labels);
  ASSERT_TRUE(score.ok());
  EXPECT_DOUBLE_EQ(score->Ap(0), 1.0);
  EXPECT_GT(score->MeanAp(), 0.9);
  // Without seeds (a flat interior map) the two touching discs come out as one object.
  auto merged = SeededWatershed(fg, Image(80, 40, 0.0f), Watershed());
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->count, 2);
}

// Verifies: REQ-CELLS-061
TEST(SeededWatershedTest, ThresholdsAndMinimumAreaApply) {
  Labels truth = Discs(60, 30, {{12, 15}, {45, 15}}, 6);
  truth.at(30, 2) = 3;  // a one-pixel speck
  truth.count = 3;
  Image fg = Foreground(truth);
  Image in = InteriorMap(truth);
  InstanceOptions o = Watershed();
  auto all = SeededWatershed(fg, in, o);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 3);
  o.min_area = 5;
  auto big = SeededWatershed(fg, in, o);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->count, 2);
  o.foreground_threshold = 1.0;  // nothing exceeds it
  auto none = SeededWatershed(fg, in, o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->count, 0);
}

// Verifies: REQ-CELLS-061
TEST(SeededWatershedTest, RefusesMapsOfDifferentSizes) {
  auto r = SeededWatershed(Image(10, 10), Image(10, 11), Watershed());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(SeededWatershed(Image(), Image(), Watershed()).ok());
}

// Verifies: REQ-CELLS-061
TEST(InstanceMethodTest, ParsesTheNamesItWrites) {
  for (auto m : {InstanceMethod::kThreshold, InstanceMethod::kSeededWatershed}) {
    auto back = ParseInstanceMethod(InstanceMethodName(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, m);
  }
  EXPECT_FALSE(ParseInstanceMethod("stardist").ok());
}

}  // namespace
}  // namespace sund::cells
