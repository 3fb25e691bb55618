#include "cells/texture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace sund::cells {
namespace {

constexpr double kTol = 1e-12;

// An image whose pixels quantise to gray level g exactly (g / 255, as an 8-bit image is scaled).
float Gray(int g) { return static_cast<float>(g / 255.0); }

// The value of Texture_<feature>_DNA_<scale>_0<direction>_<levels> for `label`; NaN (and a
// failure) when the column is missing.
double Value(const MeasurementTable& t, const std::string& feature, int direction, int label,
             int scale = 1, int levels = 256) {
  const std::string name = "Texture_" + feature + "_DNA_" + std::to_string(scale) + "_0" +
                           std::to_string(direction) + "_" + std::to_string(levels);
  const std::vector<double>* values = t.Find(name);
  if (values == nullptr) {
    ADD_FAILURE() << "no column " << name;
    return std::nan("");
  }
  return (*values)[label - 1];
}

// A 6 x 6 image holding object 1 as a 4 x 4 square at (1, 1): columns x = 1, 2 at gray `left`,
// x = 3, 4 at gray `right` (values as 8-bit intensities).
struct TwoLevelPatch {
  Labels labels{6, 6};
  Image image{6, 6};
  TwoLevelPatch(float left, float right) {
    labels.count = 1;
    for (int y = 1; y <= 4; ++y) {
      for (int x = 1; x <= 4; ++x) {
        labels.at(x, y) = 1;
        image.at(x, y) = x <= 2 ? left : right;
      }
    }
  }
};

// The object, gray levels 1 | 2:
//   1 1 2 2
//   1 1 2 2
//   1 1 2 2
//   1 1 2 2
// Direction 00 (horizontal, scale 1): each row gives the pairs (1,1), (1,2), (2,2); four rows:
// C = [[4, 4], [0, 4]] over levels 1, 2; P = C + C^T = [[8, 4], [4, 8]], T = 24,
// p = [[1/3, 1/6], [1/6, 1/3]], px = py = (1/2, 1/2) at levels 1 and 2 (M = 3, levels 0..2).
//   AngularSecondMoment = 2 (1/3)^2 + 2 (1/6)^2 = 5/18
//   Contrast = (1 - 2)^2 (1/6 + 1/6) = 1/3
//   ux = 3/2, vx = (1 + 4) / 2 - 9/4 = 1/4 (Variance), sx = 1/2
//   Correlation = (1*1/3 + 2*2/6 + 4/3 - 9/4) / (1/4) = (7/3 - 9/4) * 4 = 1/3
//   InverseDifferenceMoment = 1/3 + 1/3 + 2 (1/6) / 2 = 5/6
//   p_{x+y} = 1/3 at 2, 3, 4: SumAverage = 3, SumVariance = 29/3 - 9 = 2/3, SumEntropy = log2 3
//   Entropy = 2 (1/3) log2 3 + 2 (1/6) log2 6 = log2 3 + 1/3
//   p_{x-y} = (2/3, 1/3, 0): DifferenceVariance = ((1/3)^2 + 0 + (1/3)^2) / 3 = 2/27,
//   DifferenceEntropy = (2/3) log2 (3/2) + (1/3) log2 3 = log2 3 - 2/3
//   HX = HY = 1, HXY1 = HXY2 = -sum p log2 (1/4) = 2:
//   InfoMeas1 = Entropy - 2 = log2 3 - 5/3, InfoMeas2 = sqrt(1 - exp(-2 (5/3 - log2 3)))
// Direction 02 (vertical): only (1,1) and (2,2), six each: p = diag(1/2, 1/2):
//   AngularSecondMoment = 1/2, Contrast = 0, Entropy = 1,
//   Correlation = (1/2 + 4/2 - 9/4) / (1/4) = 1.
// Directions 01 and 03 (diagonals): three each of (1,1), (1,2), (2,2): the same p as 00.
// Verifies: REQ-CELLS-036
TEST(TextureTest, HandComputedTwoLevelPatch) {
  TwoLevelPatch patch(Gray(1), Gray(2));
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 256, t).ok());
  const double log2_3 = std::log2(3.0);
  for (int d : {0, 1, 3}) {
    SCOPED_TRACE(d);
    EXPECT_NEAR(Value(t, "AngularSecondMoment", d, 1), 5.0 / 18, kTol);
    EXPECT_NEAR(Value(t, "Contrast", d, 1), 1.0 / 3, kTol);
    EXPECT_NEAR(Value(t, "Correlation", d, 1), 1.0 / 3, kTol);
    EXPECT_NEAR(Value(t, "Variance", d, 1), 0.25, kTol);
    EXPECT_NEAR(Value(t, "InverseDifferenceMoment", d, 1), 5.0 / 6, kTol);
    EXPECT_NEAR(Value(t, "SumAverage", d, 1), 3.0, kTol);
    EXPECT_NEAR(Value(t, "SumVariance", d, 1), 2.0 / 3, kTol);
    EXPECT_NEAR(Value(t, "SumEntropy", d, 1), log2_3, kTol);
    EXPECT_NEAR(Value(t, "Entropy", d, 1), log2_3 + 1.0 / 3, kTol);
    EXPECT_NEAR(Value(t, "DifferenceVariance", d, 1), 2.0 / 27, kTol);
    EXPECT_NEAR(Value(t, "DifferenceEntropy", d, 1), log2_3 - 2.0 / 3, kTol);
    EXPECT_NEAR(Value(t, "InfoMeas1", d, 1), log2_3 - 5.0 / 3, kTol);
    EXPECT_NEAR(Value(t, "InfoMeas2", d, 1), std::sqrt(1 - std::exp(-2 * (5.0 / 3 - log2_3))),
                1e-7);
  }
  EXPECT_NEAR(Value(t, "AngularSecondMoment", 2, 1), 0.5, kTol);
  EXPECT_NEAR(Value(t, "Contrast", 2, 1), 0.0, kTol);
  EXPECT_NEAR(Value(t, "Entropy", 2, 1), 1.0, kTol);
  EXPECT_NEAR(Value(t, "Correlation", 2, 1), 1.0, kTol);
}

// mahotas sizes its matrix by the object's brightest gray level M - 1, and DifferenceVariance is
// the variance of the M numbers p_{x-y}(0..M-1). A pixel of gray 5 below the patch's first column
// pairs only vertically and diagonally, so direction 00 keeps p, but M becomes 6:
// p_{x-y} = (2/3, 1/3, 0, 0, 0, 0), mean 1/6, variance ((1/2)^2 + (1/6)^2 + 4 (1/6)^2) / 6 = 7/108.
// Verifies: REQ-CELLS-036
TEST(TextureTest, DifferenceVarianceSpansUpToTheBrightestLevel) {
  TwoLevelPatch patch(Gray(1), Gray(2));
  patch.labels.at(1, 5) = 1;
  patch.image.at(1, 5) = Gray(5);
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 256, t).ok());
  EXPECT_NEAR(Value(t, "Contrast", 0, 1), 1.0 / 3, kTol);
  EXPECT_NEAR(Value(t, "DifferenceVariance", 0, 1), 7.0 / 108, kTol);
  EXPECT_GT(Value(t, "Contrast", 2, 1), 1.0);  // the new vertical pair of grays 1 and 5
}

// Verifies: REQ-CELLS-036
TEST(TextureTest, UniformObject) {
  Labels labels(8, 8);
  labels.count = 1;
  Image image(8, 8);
  for (int y = 1; y < 7; ++y) {
    for (int x = 1; x < 7; ++x) {
      labels.at(x, y) = 1;
      image.at(x, y) = Gray(7);
    }
  }
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(labels, image, "DNA", 2, 256, t).ok());
  for (int d = 0; d < 4; ++d) {
    SCOPED_TRACE(d);
    EXPECT_EQ(Value(t, "AngularSecondMoment", d, 1, 2), 1.0);
    EXPECT_EQ(Value(t, "Contrast", d, 1, 2), 0.0);
    EXPECT_EQ(Value(t, "Correlation", d, 1, 2), 1.0);  // mahotas' value when sx = 0
    EXPECT_EQ(Value(t, "Variance", d, 1, 2), 0.0);
    EXPECT_EQ(Value(t, "InverseDifferenceMoment", d, 1, 2), 1.0);
    EXPECT_EQ(Value(t, "SumAverage", d, 1, 2), 14.0);
    EXPECT_EQ(Value(t, "SumVariance", d, 1, 2), 0.0);
    EXPECT_EQ(Value(t, "Entropy", d, 1, 2), 0.0);
    EXPECT_EQ(Value(t, "InfoMeas1", d, 1, 2), 0.0);
    EXPECT_EQ(Value(t, "InfoMeas2", d, 1, 2), 0.0);
  }
}

// Stripes of gray 1 + (x + y) mod 3 are constant along the down-left diagonal (direction 03) only.
// Verifies: REQ-CELLS-036
TEST(TextureTest, DirectionsAreHorizontalDiagonalVerticalAntiDiagonal) {
  Labels labels(10, 10);
  labels.count = 1;
  Image image(10, 10);
  for (int y = 1; y < 9; ++y) {
    for (int x = 1; x < 9; ++x) {
      labels.at(x, y) = 1;
      image.at(x, y) = Gray(1 + (x + y) % 3);
    }
  }
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(labels, image, "DNA", 1, 256, t).ok());
  EXPECT_GT(Value(t, "Contrast", 0, 1), 0.5);
  EXPECT_GT(Value(t, "Contrast", 1, 1), 0.5);
  EXPECT_GT(Value(t, "Contrast", 2, 1), 0.5);
  EXPECT_EQ(Value(t, "Contrast", 3, 1), 0.0);
}

// Verifies: REQ-CELLS-037
TEST(TextureTest, ColumnNamesAndCount) {
  TwoLevelPatch patch(Gray(1), Gray(2));
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 3, 256, t).ok());
  ASSERT_EQ(t.columns.size(), 52u);
  EXPECT_EQ(t.rows, 1);
  EXPECT_EQ(t.columns[0], "Texture_AngularSecondMoment_DNA_3_00_256");
  EXPECT_EQ(t.columns[3], "Texture_AngularSecondMoment_DNA_3_03_256");
  EXPECT_EQ(t.columns[4], "Texture_Contrast_DNA_3_00_256");
  EXPECT_EQ(t.columns[51], "Texture_InfoMeas2_DNA_3_03_256");
  const std::vector<std::string> features = {
      "AngularSecondMoment", "Contrast",    "Correlation", "Variance", "InverseDifferenceMoment",
      "SumAverage",          "SumVariance", "SumEntropy",  "Entropy",  "DifferenceVariance",
      "DifferenceEntropy",   "InfoMeas1",   "InfoMeas2"};
  for (std::size_t f = 0; f < features.size(); ++f) {
    for (int d = 0; d < 4; ++d) {
      EXPECT_EQ(t.columns[f * 4 + d],
                "Texture_" + features[f] + "_DNA_3_0" + std::to_string(d) + "_256");
    }
  }
  // Another scale and another channel add their own 52 columns; the same call again replaces.
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 5, 256, t).ok());
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "Actin", 3, 64, t).ok());
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 3, 256, t).ok());
  EXPECT_EQ(t.columns.size(), 3 * 52u);
  EXPECT_NE(t.Find("Texture_InfoMeas2_Actin_3_03_64"), nullptr);
}

// mahotas raises ValueError when a direction has no pair of nonzero pixels; CellProfiler stores
// NaN and then writes every non-finite value as 0, so all 52 columns of such an object are 0.
// Verifies: REQ-CELLS-038, REQ-CELLS-039
TEST(TextureTest, ObjectWithoutPairsAtTheScaleIsZero) {
  Labels labels(20, 10);
  labels.count = 5;
  Image image(20, 10, Gray(9));
  for (int y = 1; y <= 2; ++y) {
    for (int x = 1; x <= 2; ++x) labels.at(x, y) = 1;  // 2 x 2, narrower than the scale 3
  }
  for (int y = 1; y <= 8; ++y) labels.at(5, y) = 2;  // a vertical line: no horizontal pair
  for (int y = 1; y <= 6; ++y) {
    for (int x = 8; x <= 13; ++x) labels.at(x, y) = 3;  // 6 x 6: pairs in every direction
  }
  for (int y = 1; y <= 6; ++y) {
    for (int x = 15; x <= 19; ++x) {
      labels.at(x, y) = 5;  // pairs, but every pixel quantises to 0 (background)
      image.at(x, y) = 0.001f;
    }
  }
  // Label 4 has no pixel.
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(labels, image, "DNA", 3, 256, t).ok());
  ASSERT_EQ(t.columns.size(), 52u);
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    SCOPED_TRACE(t.columns[c]);
    EXPECT_EQ(t.values[c][0], 0.0);
    EXPECT_EQ(t.values[c][1], 0.0);
    EXPECT_TRUE(std::isnan(t.values[c][3]));
    EXPECT_EQ(t.values[c][4], 0.0);
  }
  EXPECT_EQ(Value(t, "AngularSecondMoment", 2, 3, 3), 1.0);
  EXPECT_EQ(Value(t, "Correlation", 0, 3, 3), 1.0);
}

// img_as_ubyte rounds v * 255 to the nearest integer: 1.4 -> 1 and 1.6 -> 2 make the two-level
// patch (Contrast 1/3 at direction 00); truncation would make it uniform.
// Verifies: REQ-CELLS-038
TEST(TextureTest, ConvertsToBytesByRounding) {
  TwoLevelPatch patch(static_cast<float>(1.4 / 255), static_cast<float>(1.6 / 255));
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 256, t).ok());
  EXPECT_NEAR(Value(t, "Contrast", 0, 1), 1.0 / 3, kTol);
  EXPECT_NEAR(Value(t, "SumAverage", 0, 1), 3.0, kTol);
}

// gray_levels L rescales the byte g to trunc(g / 255 * (L - 1)): with L = 8, 100 -> 2 and
// 200 -> 5, so Contrast at 00 is (5 - 2)^2 / 3 = 3 and SumAverage (4 + 7 + 10) / 3 = 7; at 256
// the bytes stay (Contrast 100^2 / 3). A byte of 36 becomes 0 at L = 8 (36 * 7 / 255 = 0.99) and
// drops out as background; 37 becomes 1.
// Verifies: REQ-CELLS-038
TEST(TextureTest, RescalesToGrayLevels) {
  TwoLevelPatch patch(Gray(100), Gray(200));
  MeasurementTable t;
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 8, t).ok());
  ASSERT_TRUE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 256, t).ok());
  EXPECT_NEAR(Value(t, "Contrast", 0, 1, 1, 8), 3.0, kTol);
  EXPECT_NEAR(Value(t, "SumAverage", 0, 1, 1, 8), 7.0, kTol);
  EXPECT_NEAR(Value(t, "Contrast", 0, 1, 1, 256), 1e4 / 3, 1e-9);

  TwoLevelPatch dark(Gray(36), Gray(200));  // at L = 8 the left half is background
  ASSERT_TRUE(MeasureTexture(dark.labels, dark.image, "DNA", 1, 8, t).ok());
  EXPECT_EQ(Value(t, "Contrast", 0, 1, 1, 8), 0.0);
  EXPECT_EQ(Value(t, "AngularSecondMoment", 0, 1, 1, 8), 1.0);
  EXPECT_EQ(Value(t, "SumAverage", 0, 1, 1, 8), 10.0);
  TwoLevelPatch lit(Gray(37), Gray(200));
  ASSERT_TRUE(MeasureTexture(lit.labels, lit.image, "DNA", 1, 8, t).ok());
  EXPECT_NEAR(Value(t, "Contrast", 0, 1, 1, 8), 16.0 / 3, kTol);  // levels 1 and 5
}

// Verifies: REQ-CELLS-040
TEST(TextureTest, RejectsBadInputAndLeavesTableUnchanged) {
  TwoLevelPatch patch(Gray(1), Gray(2));
  MeasurementTable t;
  EXPECT_FALSE(MeasureTexture(patch.labels, patch.image, "", 1, 256, t).ok());
  EXPECT_FALSE(MeasureTexture(patch.labels, patch.image, "DNA", -1, 256, t).ok());
  EXPECT_FALSE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 1, t).ok());
  EXPECT_FALSE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 257, t).ok());
  EXPECT_FALSE(MeasureTexture(patch.labels, Image(5, 6), "DNA", 1, 256, t).ok());
  Image bright = patch.image;
  bright.at(0, 0) = 1.5f;  // outside every object, but scikit-image checks the whole image
  EXPECT_FALSE(MeasureTexture(patch.labels, bright, "DNA", 1, 256, t).ok());
  Labels bad = patch.labels;
  bad.at(0, 0) = 2;
  EXPECT_FALSE(MeasureTexture(bad, patch.image, "DNA", 1, 256, t).ok());
  EXPECT_TRUE(t.columns.empty());

  MeasurementTable other;
  other.rows = 3;
  other.AddColumn("AreaShape_Area");
  EXPECT_FALSE(MeasureTexture(patch.labels, patch.image, "DNA", 1, 256, other).ok());
  EXPECT_EQ(other.columns.size(), 1u);
}

}  // namespace
}  // namespace sund::cells
