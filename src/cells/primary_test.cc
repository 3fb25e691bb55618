#include "cells/primary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "cells/internal/test_data.h"
#include "cells/threshold.h"

namespace sund::cells {
namespace {

using testing_data::LoadGray;
using testing_data::MatchByCentre;
using testing_data::Matched;
using testing_data::Median;
using testing_data::ReadCsv;

std::vector<float> Repeat(std::initializer_list<std::pair<float, int>> groups) {
  std::vector<float> v;
  for (const auto& [value, n] : groups) v.insert(v.end(), n, value);
  return v;
}

// Two populations: the split goes after the lower one's histogram bin. Range 0.1..0.9 in 256
// bins of 0.003125; 0.2 falls in bin 32, and every split from bin 32 to 254 separates {0.1, 0.2}
// from {0.9} equally well, so np.argmax takes bin 32, whose centre is 0.1 + 32.5 * 0.003125.
// Verifies: REQ-CELLS-012
TEST(ThresholdTest, OtsuSplitsBetweenTwoPopulations) {
  const std::vector<float> v = Repeat({{0.1f, 100}, {0.2f, 100}, {0.9f, 100}});
  EXPECT_NEAR(OtsuThreshold(v), 0.2015625, 1e-6);
}

// Three distinct values in three classes: skimage returns the first two occupied bins.
// 128 bins of 0.00625 over 0.1..0.9: bin 0 (centre 0.103125) and bin 64 (centre 0.503125).
// Verifies: REQ-CELLS-012
TEST(ThresholdTest, ThreeClassOtsuOnThreeValues) {
  const std::vector<float> v = Repeat({{0.1f, 100}, {0.5f, 100}, {0.9f, 100}});
  const std::vector<double> t = MultiOtsuThresholds(v, 3, 128);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_NEAR(t[0], 0.103125, 1e-6);
  EXPECT_NEAR(t[1], 0.503125, 1e-6);
}

// A lone 0.2 joins the 0.1 class: the thresholds sit in 0.2's bin (16, centre 0.203125) and in
// 0.5's (64, centre 0.503125). Middle class to the foreground takes the lower one.
// Verifies: REQ-CELLS-012
TEST(ThresholdTest, ThreeClassOtsuSearchesAllSplits) {
  const std::vector<float> v = Repeat({{0.1f, 100}, {0.2f, 1}, {0.5f, 100}, {0.9f, 100}});
  const std::vector<double> t = MultiOtsuThresholds(v, 3, 128);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_NEAR(t[0], 0.203125, 1e-6);
  EXPECT_NEAR(t[1], 0.503125, 1e-6);

  Image image(static_cast<int>(v.size()), 1);
  image.pixels = v;
  ThresholdOptions options;
  options.method = ThresholdMethod::kOtsu;
  options.otsu_classes = OtsuClasses::kThree;
  options.middle_class = MiddleClass::kForeground;
  auto fg = ComputeThreshold(image, {}, options);
  ASSERT_TRUE(fg.ok()) << fg.status().ToString();
  EXPECT_NEAR(fg->final_threshold, 0.203125, 1e-6);
  options.middle_class = MiddleClass::kBackground;
  auto bg = ComputeThreshold(image, {}, options);
  ASSERT_TRUE(bg.ok());
  EXPECT_NEAR(bg->final_threshold, 0.503125, 1e-6);
}

// Li on {0.1, 0.2, 0.7, 0.8} x 100: shifted by the minimum, the mean 0.35 splits {0, 0.1} from
// {0.6, 0.7}; t = (0.05 - 0.65) / (ln 0.05 - ln 0.65) = 0.233923, which splits them the same way,
// so the iteration stops there: 0.233923 + 0.1.
// Verifies: REQ-CELLS-013
TEST(ThresholdTest, LiConvergesOnBimodalValues) {
  const std::vector<float> v = Repeat({{0.1f, 100}, {0.2f, 100}, {0.7f, 100}, {0.8f, 100}});
  const double expected = (0.05 - 0.65) / (std::log(0.05) - std::log(0.65)) + 0.1;
  EXPECT_NEAR(LiThreshold(v), expected, 1e-5);
  EXPECT_NEAR(expected, 0.333923, 1e-6);
}

// Verifies: REQ-CELLS-014
TEST(ThresholdTest, CorrectionFactorAndBoundsApplyToTheGlobalThreshold) {
  Image image(300, 1);
  image.pixels = Repeat({{0.1f, 100}, {0.2f, 100}, {0.9f, 100}});
  ThresholdOptions options;
  options.method = ThresholdMethod::kOtsu;
  options.correction_factor = 1.5;
  auto scaled = ComputeThreshold(image, {}, options);
  ASSERT_TRUE(scaled.ok());
  EXPECT_NEAR(scaled->original_threshold, 0.2015625, 1e-6);
  EXPECT_NEAR(scaled->final_threshold, 0.2015625 * 1.5, 1e-6);
  options.upper_bound = 0.25;
  auto bounded = ComputeThreshold(image, {}, options);
  ASSERT_TRUE(bounded.ok());
  EXPECT_DOUBLE_EQ(bounded->final_threshold, 0.25);
}

// Verifies: REQ-CELLS-014
TEST(ThresholdTest, RejectsMismatchedMask) {
  Image image(4, 4, 0.5f);
  const std::vector<std::uint8_t> mask(3, 1);
  EXPECT_EQ(ComputeThreshold(image, mask, {}).status().code(), StatusCode::kInvalidArgument);
}

// Robust background on 0.00, 0.01, ..., 0.18 and an outlier 0.9: 5 % of 20 values trims one at
// each end, leaving 0.01..0.18: mean 0.095, population SD 0.01 sqrt((18^2 - 1) / 12), median
// 0.095 and median absolute deviation 0.045.
// Verifies: REQ-CELLS-103
TEST(ThresholdTest, RobustBackgroundTrimsOutliersBeforeMeanAndSpread) {
  std::vector<float> v;
  for (int i = 0; i <= 18; ++i) v.push_back(static_cast<float>(i) / 100.0f);
  v.push_back(0.9f);
  ThresholdOptions options;
  options.method = ThresholdMethod::kRobustBackground;
  const double mean_sd = 0.095 + 2 * 0.01 * std::sqrt(323.0 / 12.0);
  EXPECT_NEAR(RobustBackgroundThreshold(v, options), mean_sd, 1e-6);

  Image image(static_cast<int>(v.size()), 1);
  image.pixels = v;
  auto t = ComputeThreshold(image, {}, options);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_NEAR(t->final_threshold, mean_sd, 1e-6);

  ThresholdOptions median = options;
  median.averaging = AveragingMethod::kMedian;
  median.variance = VarianceMethod::kMedianAbsoluteDeviation;
  EXPECT_NEAR(RobustBackgroundThreshold(v, median), 0.095 + 2 * 0.045, 1e-6);

  median.deviations = 1.0;
  EXPECT_NEAR(RobustBackgroundThreshold(v, median), 0.095 + 0.045, 1e-6);

  // Untrimmed, the outlier pulls the threshold up: mean 0.1305, variance 1.0209 / 20 - 0.1305^2.
  ThresholdOptions untrimmed = options;
  untrimmed.lower_outlier_fraction = 0;
  untrimmed.upper_outlier_fraction = 0;
  EXPECT_NEAR(RobustBackgroundThreshold(v, untrimmed),
              0.1305 + 2 * std::sqrt(1.0209 / 20 - 0.1305 * 0.1305), 1e-6);
}

// A 200 x 100 image of two halves tiled by 50 x 50 blocks, each with a 10 x 10 object in its
// middle: background 0.2 on the left and `right_background` on the right.
Image TwoBackgrounds(float left_object, float right_background, float right_object) {
  Image image(200, 100);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const bool object = x % 50 >= 20 && x % 50 < 30 && y % 50 >= 20 && y % 50 < 30;
      if (x < 100) {
        image.at(x, y) = object ? left_object : 0.2f;
      } else {
        image.at(x, y) = object ? right_object : right_background;
      }
    }
  }
  return image;
}

ThresholdOptions AdaptiveOtsu() {
  ThresholdOptions options;
  options.method = ThresholdMethod::kOtsu;
  options.scope = ThresholdScope::kAdaptive;
  options.adaptive_window = 50;
  options.smoothing_scale = 0;
  return options;
}

// Left blocks hold 0.2 and 0.5, right blocks 0.3 and 0.6: Otsu puts each block's threshold in
// its lowest histogram bin, 0.2 + 0.3 / 512 and 0.3 + 0.3 / 512. The global threshold (split
// after 0.2's bin over 0.2..0.6: 0.2 + 0.4 / 512) makes the right background foreground; the
// blended local thresholds are each block's own away from the halves' seam, so both objects and
// neither background come out. The blend is linear across the seam, and the final threshold is
// the mean of the local ones.
// Verifies: REQ-CELLS-104
TEST(ThresholdTest, AdaptiveThresholdFollowsAnUnevenBackground) {
  const Image image = TwoBackgrounds(0.5f, 0.3f, 0.6f);
  auto at = [&](const std::vector<std::uint8_t>& fg, int x, int y) {
    return static_cast<int>(fg[static_cast<std::size_t>(y) * image.width + x]);
  };
  ThresholdOptions global = AdaptiveOtsu();
  global.scope = ThresholdScope::kGlobal;
  auto g = ApplyThreshold(image, {}, global);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_NEAR(g->final_threshold, 0.2 + 0.4 / 512, 1e-6);
  EXPECT_EQ(at(g->foreground, 195, 5), 1);  // the right background

  auto a = ApplyThreshold(image, {}, AdaptiveOtsu());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->local_thresholds.size(), image.pixels.size());
  const double left = 0.2 + 0.3 / 512;
  const double right = 0.3 + 0.3 / 512;
  EXPECT_NEAR(a->guide_threshold, 0.2 + 0.4 / 512, 1e-6);
  EXPECT_NEAR(a->local_thresholds[5 * 200 + 5], left, 1e-6);
  EXPECT_NEAR(a->local_thresholds[60 * 200 + 60], left, 1e-6);
  EXPECT_NEAR(a->local_thresholds[5 * 200 + 195], right, 1e-6);
  EXPECT_NEAR(a->local_thresholds[60 * 200 + 140], right, 1e-6);
  EXPECT_NEAR(a->final_threshold, (left + right) / 2, 1e-6);
  EXPECT_NEAR(a->original_threshold, (left + right) / 2, 1e-6);
  EXPECT_EQ(at(a->foreground, 25, 25), 1);   // left object
  EXPECT_EQ(at(a->foreground, 175, 25), 1);  // right object
  EXPECT_EQ(at(a->foreground, 5, 5), 0);     // left background
  EXPECT_EQ(at(a->foreground, 195, 5), 0);   // right background
  EXPECT_EQ(at(a->foreground, 140, 60), 0);
}

// Local thresholds are held to 0.7..1.5 times the global one and to the bounds.
// Verifies: REQ-CELLS-104
TEST(ThresholdTest, AdaptiveThresholdsAreBoundedAndTheWindowChecked) {
  // Right blocks of 0.4 and 0.6 would take 0.4 + 0.2 / 512, over 1.5 x (0.2 + 0.4 / 512).
  const Image steep = TwoBackgrounds(0.4f, 0.4f, 0.6f);
  auto a = ComputeThreshold(steep, {}, AdaptiveOtsu());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_NEAR(a->local_thresholds[5 * 200 + 5], 0.2 + 0.2 / 512, 1e-6);
  EXPECT_NEAR(a->local_thresholds[5 * 200 + 195], 1.5 * (0.2 + 0.4 / 512), 1e-6);
  // The original threshold is the mean of the unbounded local thresholds.
  EXPECT_NEAR(a->original_threshold, (0.2 + 0.2 / 512 + 0.4 + 0.2 / 512) / 2, 1e-6);
  EXPECT_LT(a->final_threshold, a->original_threshold);

  const Image image = TwoBackgrounds(0.5f, 0.3f, 0.6f);
  ThresholdOptions bounded = AdaptiveOtsu();
  bounded.upper_bound = 0.25;
  auto b = ApplyThreshold(image, {}, bounded);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_NEAR(b->local_thresholds[5 * 200 + 195], 0.25, 1e-6);
  EXPECT_EQ(b->foreground[5 * 200 + 195], 1);  // 0.3 is now over the bounded threshold

  ThresholdOptions wide = AdaptiveOtsu();
  wide.adaptive_window = 60;  // a single window along the 100 rows
  EXPECT_EQ(ComputeThreshold(image, {}, wide).status().code(), StatusCode::kInvalidArgument);
}

// Adds a disc whose intensity falls from `peak` at the centre to `rim` at the radius.
void AddDisc(Image& image, double cx, double cy, double radius, float peak, float rim) {
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const double d = std::hypot(x - cx, y - cy);
      if (d > radius) continue;
      const float v = static_cast<float>(rim + (peak - rim) * (1.0 - d / radius));
      image.at(x, y) = std::max(image.at(x, y), v);
    }
  }
}

PrimaryOptions Options(int min_diameter, int max_diameter) {
  PrimaryOptions o;
  o.min_diameter = min_diameter;
  o.max_diameter = max_diameter;
  o.threshold.method = ThresholdMethod::kOtsu;
  o.fill_holes = FillHoles::kAfterDeclumpingOnly;
  return o;
}

// Verifies: REQ-CELLS-015
TEST(IdentifyPrimaryTest, IntensityDeclumpingSplitsTwoTouchingDiscs) {
  Image image(100, 64, 0.02f);
  AddDisc(image, 38, 32, 11, 0.9f, 0.35f);
  AddDisc(image, 58, 32, 11, 0.9f, 0.35f);
  PrimaryOptions options = Options(10, 40);

  PrimaryStats stats;
  auto split = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(stats.objects_thresholded, 1);  // one clump after thresholding
  ASSERT_EQ(split->count, 2);
  EXPECT_NE(split->at(38, 32), split->at(58, 32));
  EXPECT_NE(split->at(38, 32), 0);
  EXPECT_NE(split->at(58, 32), 0);
  // The dividing line runs through the valley between the peaks.
  EXPECT_EQ(split->at(45, 32), split->at(38, 32));
  EXPECT_EQ(split->at(51, 32), split->at(58, 32));

  options.unclump = UnclumpMethod::kNone;
  auto clump = IdentifyPrimary(image, options);
  ASSERT_TRUE(clump.ok());
  EXPECT_EQ(clump->count, 1);
}

// Verifies: REQ-CELLS-016
TEST(IdentifyPrimaryTest, DiscardsObjectsTouchingTheBorder) {
  Image image(80, 60, 0.02f);
  AddDisc(image, 40, 30, 8, 0.9f, 0.6f);
  AddDisc(image, 3, 30, 8, 0.9f, 0.6f);  // crosses the left edge
  PrimaryOptions options = Options(8, 40);
  auto kept = IdentifyPrimary(image, options);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->count, 1);
  EXPECT_NE(kept->at(40, 30), 0);
  EXPECT_EQ(kept->at(1, 30), 0);

  options.discard_border_objects = false;
  auto all = IdentifyPrimary(image, options);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 2);
}

// Verifies: REQ-CELLS-017
TEST(IdentifyPrimaryTest, DiscardsObjectsBelowTheMinimumDiameter) {
  Image image(80, 60, 0.02f);
  AddDisc(image, 25, 30, 9, 0.9f, 0.6f);  // area ~254 px: diameter ~18
  AddDisc(image, 60, 30, 2, 0.9f, 0.6f);  // area 13 px, under pi * 8^2 / 4 = 50
  PrimaryOptions options = Options(8, 40);
  // Unsmoothed: Otsu's threshold lies just above the flat background, so smoothing would add
  // the small disc's blurred rim to it.
  options.threshold.smoothing_scale = 0;
  PrimaryStats stats;
  auto labels = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(stats.objects_after_border, 2);
  EXPECT_EQ(labels->count, 1);
  EXPECT_NE(labels->at(25, 30), 0);
  EXPECT_EQ(labels->at(60, 30), 0);

  options.discard_outside_diameter = false;
  auto all = IdentifyPrimary(image, options);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 2);
}

// Verifies: REQ-CELLS-105
TEST(IdentifyPrimaryTest, DiscardsObjectsAboveTheMaximumDiameter) {
  Image image(100, 60, 0.02f);
  AddDisc(image, 30, 30, 15, 0.9f, 0.6f);  // area ~707 px, over pi * 20^2 / 4 = 314
  AddDisc(image, 75, 30, 6, 0.9f, 0.6f);   // area ~113 px
  PrimaryOptions options = Options(8, 20);
  options.unclump = UnclumpMethod::kNone;
  options.threshold.smoothing_scale = 0;
  PrimaryStats stats;
  auto labels = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(stats.objects_after_border, 2);
  EXPECT_EQ(labels->count, 1);
  EXPECT_EQ(labels->at(30, 30), 0);
  EXPECT_NE(labels->at(75, 30), 0);

  options.discard_outside_diameter = false;
  auto all = IdentifyPrimary(image, options);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 2);
}

// "Erase" clears every object of an image with more objects than the limit; "continue" (the
// default) keeps them.
// Verifies: REQ-CELLS-106
TEST(IdentifyPrimaryTest, ErasesEveryObjectOverTheObjectLimit) {
  Image image(100, 60, 0.02f);
  AddDisc(image, 25, 30, 8, 0.9f, 0.6f);
  AddDisc(image, 70, 30, 8, 0.9f, 0.6f);
  PrimaryOptions options = Options(8, 40);
  options.threshold.smoothing_scale = 0;
  options.max_objects = 1;
  auto kept = IdentifyPrimary(image, options);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->count, 2);

  options.limit = ObjectLimit::kErase;
  PrimaryStats stats;
  auto erased = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(stats.objects_after_size, 2);
  EXPECT_EQ(stats.objects_final, 0);
  EXPECT_EQ(erased->count, 0);
  EXPECT_EQ(std::count(erased->pixels.begin(), erased->pixels.end(), 0), 100 * 60);

  options.max_objects = 2;  // at the limit, not over it
  auto at_limit = IdentifyPrimary(image, options);
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->count, 2);

  options.max_objects = -1;
  EXPECT_EQ(IdentifyPrimary(image, options).status().code(), StatusCode::kInvalidArgument);
}

// Two touching discs of one flat intensity: no intensity peak tells them apart, their shape
// (the distance to the background, highest at each centre) does, and the dividing line runs
// through the neck.
// Verifies: REQ-CELLS-107
TEST(IdentifyPrimaryTest, ShapeDeclumpingSplitsTwoFlatTouchingDiscs) {
  Image image(100, 64, 0.02f);
  AddDisc(image, 38, 32, 11, 0.8f, 0.8f);
  AddDisc(image, 58, 32, 11, 0.8f, 0.8f);
  PrimaryOptions options = Options(10, 40);
  options.unclump = UnclumpMethod::kShape;
  options.dividing_lines = DividingLines::kShape;
  PrimaryStats stats;
  auto split = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(stats.objects_thresholded, 1);
  ASSERT_EQ(split->count, 2);
  EXPECT_NE(split->at(38, 32), 0);
  EXPECT_NE(split->at(58, 32), 0);
  EXPECT_NE(split->at(38, 32), split->at(58, 32));
  EXPECT_EQ(split->at(44, 32), split->at(38, 32));
  EXPECT_EQ(split->at(52, 32), split->at(58, 32));

  options.unclump = UnclumpMethod::kNone;
  auto clump = IdentifyPrimary(image, options);
  ASSERT_TRUE(clump.ok());
  EXPECT_EQ(clump->count, 1);
}

// Propagated dividing lines give each pixel to the seed nearest it through the clump, so the
// line lies halfway between the seeds, not at the neck. A flat disc of radius 15 at x = 35 and
// one of radius 7 at x = 55 meet at a neck near x = 50; their seeds (the distance maxima) are
// the centres, so the line is x = 45. Shape dividing lines keep x = 46..50 with the large disc.
// Verifies: REQ-CELLS-111
TEST(IdentifyPrimaryTest, PropagatedDividingLinesLieHalfwayBetweenTheSeeds) {
  Image image(100, 64, 0.02f);
  AddDisc(image, 35, 32, 15, 0.8f, 0.8f);
  AddDisc(image, 55, 32, 7, 0.8f, 0.8f);
  PrimaryOptions options = Options(10, 40);
  options.unclump = UnclumpMethod::kShape;
  options.dividing_lines = DividingLines::kPropagate;
  PrimaryStats stats;
  auto split = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(stats.objects_thresholded, 1);
  EXPECT_EQ(stats.objects_declumped, 2);
  ASSERT_EQ(split->count, 2);
  const std::int32_t large = split->at(35, 32);
  const std::int32_t little = split->at(55, 32);
  EXPECT_NE(large, 0);
  EXPECT_NE(little, 0);
  EXPECT_NE(large, little);
  // Two columns of margin on each side of x = 45, where the seeds are equally far.
  int wrong_side = 0;
  for (int y = 0; y < split->height; ++y) {
    for (int x = 0; x < split->width; ++x) {
      const std::int32_t v = split->at(x, y);
      if (v != 0 && ((x <= 43 && v != large) || (x >= 47 && v != little))) ++wrong_side;
    }
  }
  EXPECT_EQ(wrong_side, 0);
  EXPECT_EQ(split->at(48, 32), little);

  options.dividing_lines = DividingLines::kShape;
  auto neck = IdentifyPrimary(image, options);
  ASSERT_TRUE(neck.ok()) << neck.status().ToString();
  ASSERT_EQ(neck->count, 2);
  EXPECT_EQ(neck->at(48, 32), neck->at(35, 32));
  EXPECT_EQ(neck->at(53, 32), neck->at(55, 32));
  EXPECT_NE(neck->at(35, 32), neck->at(55, 32));
}

// Intensity declumping seeds the objects at the two intensity peaks; shape dividing lines then
// split the clump at its neck (x = 48 for two discs of radius 11 at x = 38 and x = 58). A dark
// line drawn across the left disc at x = 43 is where intensity dividing lines split it; shape
// dividing lines pass it by and halve the symmetric clump.
// Verifies: REQ-CELLS-112
TEST(IdentifyPrimaryTest, IntensityDeclumpingWithShapeDividingLinesSplitsAtTheNeck) {
  Image image(100, 64, 0.02f);
  AddDisc(image, 38, 32, 11, 0.9f, 0.35f);
  AddDisc(image, 58, 32, 11, 0.9f, 0.35f);
  for (int y = 0; y < image.height; ++y) {
    if (image.at(43, y) > 0.02f) image.at(43, y) = 0.3f;
  }
  PrimaryOptions options = Options(10, 40);
  options.unclump = UnclumpMethod::kIntensity;
  options.dividing_lines = DividingLines::kShape;
  PrimaryStats stats;
  auto split = IdentifyPrimary(image, options, &stats);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(stats.objects_thresholded, 1);
  ASSERT_EQ(split->count, 2);
  const std::int32_t left = split->at(38, 32);
  const std::int32_t right = split->at(58, 32);
  EXPECT_NE(left, 0);
  EXPECT_NE(right, 0);
  EXPECT_NE(left, right);
  int wrong_side = 0;
  int left_area = 0;
  int right_area = 0;
  for (int y = 0; y < split->height; ++y) {
    for (int x = 0; x < split->width; ++x) {
      const std::int32_t v = split->at(x, y);
      if (v != 0 && ((x <= 46 && v != left) || (x >= 50 && v != right))) ++wrong_side;
      left_area += v == left ? 1 : 0;
      right_area += v == right ? 1 : 0;
    }
  }
  EXPECT_EQ(wrong_side, 0);
  EXPECT_EQ(split->at(45, 32), left);  // past the dark line, before the neck
  EXPECT_LT(std::abs(left_area - right_area), (left_area + right_area) / 10);

  options.dividing_lines = DividingLines::kIntensity;
  auto valley = IdentifyPrimary(image, options);
  ASSERT_TRUE(valley.ok()) << valley.status().ToString();
  ASSERT_EQ(valley->count, 2);
  EXPECT_EQ(valley->at(42, 32), valley->at(38, 32));
  EXPECT_EQ(valley->at(45, 32), valley->at(58, 32));
  EXPECT_NE(valley->at(38, 32), valley->at(58, 32));
}

// Verifies: REQ-CELLS-018
TEST(IdentifyPrimaryTest, FillsAHoleInsideAnObject) {
  Image image(64, 64, 0.02f);
  AddDisc(image, 32, 32, 12, 0.8f, 0.8f);
  for (int y = 29; y <= 35; ++y) {
    for (int x = 29; x <= 35; ++x) image.at(x, y) = 0.02f;  // a dark 7x7 hole
  }
  PrimaryOptions options = Options(8, 40);
  options.unclump = UnclumpMethod::kNone;
  options.threshold.smoothing_scale = 0;
  auto filled = IdentifyPrimary(image, options);
  ASSERT_TRUE(filled.ok());
  ASSERT_EQ(filled->count, 1);
  EXPECT_EQ(filled->at(32, 32), 1);

  options.fill_holes = FillHoles::kNever;
  auto holed = IdentifyPrimary(image, options);
  ASSERT_TRUE(holed.ok());
  ASSERT_EQ(holed->count, 1);
  EXPECT_EQ(holed->at(32, 32), 0);
}

// Verifies: REQ-CELLS-019
TEST(IdentifyPrimaryTest, RejectsAnInvertedDiameterRange) {
  Image image(16, 16, 0.1f);
  PrimaryOptions options = Options(20, 10);
  EXPECT_EQ(IdentifyPrimary(image, options).status().code(), StatusCode::kInvalidArgument);
}

// --- Parity with CellProfiler 4.0.6 on its ExampleHuman images (shared/data) ---------------

// Verifies: REQ-CELLS-024
TEST(IdentifyPrimaryTest, MatchesCellProfilerOnExampleHuman) {
  const char* root = std::getenv("SUND_TEST_DATA");
  if (root == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set (e.g. ../shared/data)";
  const std::string dir = std::string(root) + "/cellprofiler-examplehuman/";
  const Image dna = LoadGray(dir + "AS_09125_050116030001_D03f00d0.tif");
  const Image ph3 = LoadGray(dir + "AS_09125_050116030001_D03f00d1.tif");
  ASSERT_FALSE(dna.empty()) << "cannot read the DNA image in " << dir;
  ASSERT_FALSE(ph3.empty()) << "cannot read the PH3 image in " << dir;
  const auto image_rows = ReadCsv(dir + "Image.csv");
  ASSERT_EQ(image_rows.size(), 1u);

  // Nuclei: ExampleHuman.cppipe module 5 ("Use advanced settings?: No").
  PrimaryOptions nuclei;
  nuclei.min_diameter = 8;
  nuclei.max_diameter = 80;
  nuclei.advanced = false;
  nuclei.fill_holes = FillHoles::kAfterDeclumpingOnly;
  PrimaryStats stats;
  auto found = IdentifyPrimary(dna, nuclei, &stats);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_NEAR(stats.final_threshold, image_rows[0].at("Threshold_FinalThreshold_Nuclei"), 1e-4);
  const auto ref = ReadCsv(dir + "Nuclei.csv");
  ASSERT_EQ(ref.size(), 289u);
  EXPECT_LE(std::abs(found->count - 289), 289 * 5 / 100) << "nuclei: " << found->count;
  const Matched m = MatchByCentre(*found, ref, /*with_area=*/true);
  EXPECT_GE(m.pairs, 289 * 95 / 100);
  EXPECT_LT(Median(m.relative_area_difference), 0.05);

  // PH3: module 6, three-class Otsu with the middle class in the foreground.
  PrimaryOptions mitotic;
  mitotic.min_diameter = 7;
  mitotic.max_diameter = 80;
  mitotic.threshold.method = ThresholdMethod::kOtsu;
  mitotic.threshold.otsu_classes = OtsuClasses::kThree;
  mitotic.threshold.middle_class = MiddleClass::kForeground;
  mitotic.fill_holes = FillHoles::kAfterDeclumpingOnly;
  auto ph3_found = IdentifyPrimary(ph3, mitotic, &stats);
  ASSERT_TRUE(ph3_found.ok()) << ph3_found.status().ToString();
  EXPECT_NEAR(stats.final_threshold, image_rows[0].at("Threshold_FinalThreshold_PH3"), 1e-4);
  EXPECT_LE(std::abs(ph3_found->count - 22), 1) << "PH3 objects: " << ph3_found->count;
  EXPECT_GE(MatchByCentre(*ph3_found, ReadCsv(dir + "PH3.csv"), false).pairs, 21);
}

}  // namespace
}  // namespace sund::cells
