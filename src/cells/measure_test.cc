#include "cells/measure.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace sund::cells {
namespace {

constexpr double kPi = std::numbers::pi;

// Labels `label` on the pixels within distance r of (cx, cy).
void Disc(Labels& l, int cx, int cy, int r, std::int32_t label) {
  for (int y = 0; y < l.height; ++y) {
    for (int x = 0; x < l.width; ++x) {
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) l.at(x, y) = label;
    }
  }
}

void Rect(Labels& l, int x0, int y0, int w, int h, std::int32_t label) {
  for (int y = y0; y < y0 + h; ++y) {
    for (int x = x0; x < x0 + w; ++x) l.at(x, y) = label;
  }
}

// A filled ellipse with semi-axes a (major) and b, its major axis turned by phi from the row
// axis (downwards) towards the column axis.
void Ellipse(Labels& l, double cx, double cy, double a, double b, double phi, std::int32_t label) {
  const double major_x = std::sin(phi), major_y = std::cos(phi);
  for (int y = 0; y < l.height; ++y) {
    for (int x = 0; x < l.width; ++x) {
      const double dx = x - cx, dy = y - cy;
      const double along = dx * major_x + dy * major_y;
      const double across = dx * major_y - dy * major_x;
      if ((along / a) * (along / a) + (across / b) * (across / b) <= 1) l.at(x, y) = label;
    }
  }
}

// The value of `column` for object `label`; NaN (and a failure) when the column is missing.
double Value(const MeasurementTable& t, const std::string& column, int label) {
  const std::vector<double>* values = t.Find(column);
  if (values == nullptr) {
    ADD_FAILURE() << "no column " << column;
    return std::nan("");
  }
  return (*values)[label - 1];
}

MeasurementTable Shape(const Labels& labels) {
  MeasurementTable t;
  EXPECT_TRUE(MeasureSizeShape(labels, t).ok());
  return t;
}

// Verifies: REQ-CELLS-026, REQ-CELLS-027, REQ-CELLS-028
TEST(MeasureTest, DiscHasTheShapeOfACircle) {
  Labels labels(200, 200);
  labels.count = 1;
  const int r = 30;
  Disc(labels, 100, 100, r, 1);
  const MeasurementTable t = Shape(labels);

  double area = 0, nearest_outside2 = 1e9, sum_r2_0 = 0, sum_r2_4 = 0;
  for (int dy = -r - 2; dy <= r + 2; ++dy) {
    for (int dx = -r - 2; dx <= r + 2; ++dx) {
      const double d2 = dx * dx + dy * dy;
      if (d2 > r * r) {
        nearest_outside2 = std::min(nearest_outside2, d2);
        continue;
      }
      area += 1;
      const double rho2 = d2 / (r * r);
      sum_r2_0 += 2 * rho2 - 1;                    // R_2,0
      sum_r2_4 += 6 * rho2 * rho2 - 6 * rho2 + 1;  // R_4,0
    }
  }
  EXPECT_EQ(Value(t, "AreaShape_Area", 1), area);
  EXPECT_NEAR(area, kPi * r * r, 0.01 * kPi * r * r);
  EXPECT_NEAR(Value(t, "AreaShape_EquivalentDiameter", 1), std::sqrt(4 * area / kPi), 1e-12);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Center_X", 1), 100);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Center_Y", 1), 100);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxMinimum_X", 1), 70);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxMaximum_X", 1), 131);  // half-open, as regionprops
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxArea", 1), 61 * 61);
  EXPECT_NEAR(Value(t, "AreaShape_Extent", 1), area / (61 * 61), 1e-12);
  EXPECT_LT(Value(t, "AreaShape_Eccentricity", 1), 0.05);
  EXPECT_NEAR(Value(t, "AreaShape_MajorAxisLength", 1), 2 * r, 0.02 * 2 * r);
  EXPECT_NEAR(Value(t, "AreaShape_MinorAxisLength", 1), 2 * r, 0.02 * 2 * r);
  EXPECT_NEAR(Value(t, "AreaShape_FormFactor", 1), 1, 0.1);
  EXPECT_NEAR(Value(t, "AreaShape_Compactness", 1) * Value(t, "AreaShape_FormFactor", 1), 1, 1e-12);
  EXPECT_EQ(Value(t, "AreaShape_EulerNumber", 1), 1);
  EXPECT_GT(Value(t, "AreaShape_Solidity", 1), 0.97);
  EXPECT_LE(Value(t, "AreaShape_Solidity", 1), 1);
  // The centre pixel is farthest from the outside; its nearest outside pixel is the nearest
  // lattice point beyond r.
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MaximumRadius", 1), std::sqrt(nearest_outside2));
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MaxFeretDiameter", 1), 2 * r);
  EXPECT_GE(Value(t, "AreaShape_MinFeretDiameter", 1), 2 * r - 2);
  EXPECT_LE(Value(t, "AreaShape_MinFeretDiameter", 1), 2 * r);
  // The enclosing circle is the disc's own circle of radius r: Zernike_0_0 is the area over
  // pi r^2, the odd and the m != 0 terms vanish by symmetry, the radial ones are sums of R_n,0.
  const double circle = kPi * r * r;
  EXPECT_NEAR(Value(t, "AreaShape_Zernike_0_0", 1), area / circle, 1e-12);
  EXPECT_NEAR(Value(t, "AreaShape_Zernike_1_1", 1), 0, 1e-12);
  EXPECT_NEAR(Value(t, "AreaShape_Zernike_2_2", 1), 0, 1e-12);
  EXPECT_NEAR(Value(t, "AreaShape_Zernike_2_0", 1), std::abs(sum_r2_0) / circle, 1e-12);
  EXPECT_NEAR(Value(t, "AreaShape_Zernike_4_0", 1), std::abs(sum_r2_4) / circle, 1e-12);
}

// Verifies: REQ-CELLS-027
TEST(MeasureTest, EulerNumberCountsHoles) {
  Labels labels(120, 60);
  labels.count = 3;
  Disc(labels, 25, 25, 20, 1);  // a ring
  Disc(labels, 25, 25, 10, 0);
  Rect(labels, 60, 10, 40, 20, 2);  // a block with two holes
  Rect(labels, 65, 15, 5, 5, 0);
  Rect(labels, 85, 15, 5, 5, 0);
  Rect(labels, 10, 50, 5, 5, 3);  // no hole
  const MeasurementTable t = Shape(labels);
  EXPECT_EQ(Value(t, "AreaShape_EulerNumber", 1), 0);
  EXPECT_EQ(Value(t, "AreaShape_EulerNumber", 2), -1);
  EXPECT_EQ(Value(t, "AreaShape_EulerNumber", 3), 1);
}

// Verifies: REQ-CELLS-026, REQ-CELLS-027, REQ-CELLS-028
TEST(MeasureTest, RectangleHasBoxShapeAndFeretDiameters) {
  Labels labels(100, 80);
  labels.count = 3;
  const int w = 30, h = 12;
  Rect(labels, 10, 20, w, h, 1);
  Rect(labels, 60, 5, h, w, 2);  // the same, standing
  Rect(labels, 80, 60, 5, 3, 3);
  const MeasurementTable t = Shape(labels);

  EXPECT_EQ(Value(t, "AreaShape_Area", 1), w * h);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxMinimum_X", 1), 10);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxMinimum_Y", 1), 20);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxMaximum_X", 1), 10 + w);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxMaximum_Y", 1), 20 + h);
  EXPECT_EQ(Value(t, "AreaShape_BoundingBoxArea", 1), w * h);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Center_X", 1), 10 + (w - 1) / 2.0);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Center_Y", 1), 20 + (h - 1) / 2.0);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Extent", 1), 1);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Solidity", 1), 1);
  // Every border pixel of a rectangle weighs 1: 2 (w + h) - 4 of them.
  const double perimeter = 2 * (w + h) - 4;
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Perimeter", 1), perimeter);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_FormFactor", 1), 4 * kPi * w * h / (perimeter * perimeter));
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MaxFeretDiameter", 1),
                   std::sqrt((w - 1) * (w - 1) + (h - 1) * (h - 1)));
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MinFeretDiameter", 1), h - 1);
  // Pixel coordinates along a side of n pixels have variance (n^2 - 1) / 12.
  const double var_w = (w * w - 1) / 12.0, var_h = (h * h - 1) / 12.0;
  EXPECT_NEAR(Value(t, "AreaShape_MajorAxisLength", 1), 4 * std::sqrt(var_w), 1e-12);
  EXPECT_NEAR(Value(t, "AreaShape_MinorAxisLength", 1), 4 * std::sqrt(var_h), 1e-12);
  EXPECT_NEAR(Value(t, "AreaShape_Eccentricity", 1), std::sqrt(1 - var_h / var_w), 1e-12);
  // Lying: the major axis is square to the row axis. Standing: along it.
  EXPECT_DOUBLE_EQ(std::abs(Value(t, "AreaShape_Orientation", 1)), kPi / 2);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Orientation", 2), 0);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MinFeretDiameter", 2), h - 1);

  // 5 x 3: the middle row's inner three pixels are 2 from the outside, the other twelve 1.
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MaximumRadius", 3), 2);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MeanRadius", 3), (12 * 1 + 3 * 2) / 15.0);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_MedianRadius", 3), 1);
}

// Verifies: REQ-CELLS-027
TEST(MeasureTest, PerimeterWeighsBorderPixelsByTheirBorderNeighbours) {
  Labels labels(30, 20);
  labels.count = 2;
  // A diamond |dx| + |dy| <= 2: its 8 border pixels each have two border pixels diagonally and
  // none beside them (code 21): sqrt(2) each.
  for (int dy = -2; dy <= 2; ++dy) {
    for (int dx = -2; dx <= 2; ++dx) {
      if (std::abs(dx) + std::abs(dy) <= 2) labels.at(8 + dx, 8 + dy) = 1;
    }
  }
  // A 3 x 3 square without its top-right pixel: the two pixels beside the notch have one border
  // pixel beside them and two diagonally (code 23, (1 + sqrt(2)) / 2); the other five weigh 1.
  Rect(labels, 20, 5, 3, 3, 2);
  labels.at(22, 5) = 0;
  const MeasurementTable t = Shape(labels);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Perimeter", 1), 8 * std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Perimeter", 2), 6 + std::sqrt(2.0));
}

// Verifies: REQ-CELLS-026, REQ-CELLS-027
TEST(MeasureTest, SolidityCountsPixelCentresOnTheHull) {
  // An L of 7 pixels: (0..3, 0) and (0, 1..3). The hull of the pixels' edge midpoints is bounded
  // by x + y <= 3.5, so the pixel centres inside or on it are those with x + y <= 3: ten.
  Labels labels(10, 10);
  labels.count = 1;
  Rect(labels, 2, 2, 4, 1, 1);
  Rect(labels, 2, 3, 1, 3, 1);
  const MeasurementTable t = Shape(labels);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Solidity", 1), 7 / 10.0);
  EXPECT_DOUBLE_EQ(Value(t, "AreaShape_Extent", 1), 7 / 16.0);
}

// Verifies: REQ-CELLS-026
TEST(MeasureTest, EllipseAxesAndOrientationInRadians) {
  Labels labels(200, 200);
  labels.count = 2;
  const double a = 30, b = 12, phi = kPi / 6;
  Ellipse(labels, 55, 100, a, b, phi, 1);    // major axis running down and to the right
  Ellipse(labels, 145, 100, a, b, -phi, 2);  // running down and to the left: top end on the right
  const MeasurementTable t = Shape(labels);
  for (int label : {1, 2}) {
    // A filled ellipse's variance along an axis is (semi-axis)^2 / 4: length = 2 * semi-axis.
    EXPECT_NEAR(Value(t, "AreaShape_MajorAxisLength", label), 2 * a, 0.01 * 2 * a);
    EXPECT_NEAR(Value(t, "AreaShape_MinorAxisLength", label), 2 * b, 0.02 * 2 * b);
    EXPECT_NEAR(Value(t, "AreaShape_Eccentricity", label), std::sqrt(1 - b * b / (a * a)), 0.01);
  }
  EXPECT_NEAR(Value(t, "AreaShape_Orientation", 1), phi, 0.01);
  EXPECT_NEAR(Value(t, "AreaShape_Orientation", 2), -phi, 0.01);
}

// An image whose value is x / 255 (as an 8-bit image scaled the CellProfiler way).
Image Ramp(int w, int h) {
  Image image(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) image.at(x, y) = static_cast<float>(x) / 255.0f;
  }
  return image;
}

double V(int x) { return static_cast<double>(static_cast<float>(x) / 255.0f); }

// Verifies: REQ-CELLS-029, REQ-CELLS-031
TEST(MeasureTest, IntensityStatisticsOnARamp) {
  Labels labels(20, 10);
  labels.count = 2;
  Rect(labels, 4, 2, 5, 3, 1);   // x = 4..8 in three rows
  Rect(labels, 12, 6, 3, 1, 2);  // x = 12..14 in one row
  const Image image = Ramp(20, 10);
  MeasurementTable t;
  ASSERT_TRUE(MeasureIntensity(labels, image, "DNA", t).ok());

  double sum = 0, sum_x = 0;
  for (int x = 4; x <= 8; ++x) sum += 3 * V(x), sum_x += 3 * x * V(x);
  EXPECT_NEAR(Value(t, "Intensity_IntegratedIntensity_DNA", 1), sum, 1e-12);
  EXPECT_NEAR(Value(t, "Intensity_MeanIntensity_DNA", 1), V(6), 1e-9);
  // Population standard deviation of x = 4..8: sqrt(2).
  EXPECT_NEAR(Value(t, "Intensity_StdIntensity_DNA", 1), std::sqrt(2.0) / 255, 1e-9);
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_MinIntensity_DNA", 1), V(4));
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_MaxIntensity_DNA", 1), V(8));
  // Edge: all but the middle row's x = 5..7: x = 4..8 twice, then 4 and 8.
  const double edge_sum = 2 * (V(4) + V(5) + V(6) + V(7) + V(8)) + V(4) + V(8);
  EXPECT_NEAR(Value(t, "Intensity_IntegratedIntensityEdge_DNA", 1), edge_sum, 1e-12);
  EXPECT_NEAR(Value(t, "Intensity_MeanIntensityEdge_DNA", 1), V(6), 1e-9);
  EXPECT_NEAR(Value(t, "Intensity_StdIntensityEdge_DNA", 1), std::sqrt(28 / 12.0) / 255, 1e-9);
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_MinIntensityEdge_DNA", 1), V(4));
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_MaxIntensityEdge_DNA", 1), V(8));
  // Sorted: 4 4 4 5 5 5 6 6 6 7 7 7 8 8 8 (n = 15). Quartile at q = n f: v[3] .25 + v[4] .75;
  // v[7] .5 + v[8] .5; v[11] .75 + v[12] .25 = 7.25, where numpy's percentile would say 7.
  EXPECT_NEAR(Value(t, "Intensity_LowerQuartileIntensity_DNA", 1), V(5), 1e-12);
  EXPECT_NEAR(Value(t, "Intensity_MedianIntensity_DNA", 1), V(6), 1e-12);
  EXPECT_NEAR(Value(t, "Intensity_UpperQuartileIntensity_DNA", 1), 0.75 * V(7) + 0.25 * V(8),
              1e-12);
  // |x - 6| sorted: 0 0 0 1 1 1 1 1 1 2 2 2 2 2 2; at q = 7.5: 1.
  EXPECT_NEAR(Value(t, "Intensity_MADIntensity_DNA", 1), 1 / 255.0, 1e-7);
  EXPECT_NEAR(Value(t, "Location_CenterMassIntensity_X_DNA", 1), sum_x / sum, 1e-9);
  EXPECT_NEAR(Value(t, "Location_CenterMassIntensity_Y_DNA", 1), 3, 1e-9);
  EXPECT_EQ(Value(t, "Location_CenterMassIntensity_Z_DNA", 1), 0);
  EXPECT_NEAR(Value(t, "Intensity_MassDisplacement_DNA", 1), sum_x / sum - 6, 1e-9);

  // Three values 12 13 14: q = .75 -> 12.75; q = 1.5 -> 13.5 (not 13); q = 2.25 is past the
  // last pair -> 14.
  EXPECT_NEAR(Value(t, "Intensity_LowerQuartileIntensity_DNA", 2), 0.25 * V(12) + 0.75 * V(13),
              1e-12);
  EXPECT_NEAR(Value(t, "Intensity_MedianIntensity_DNA", 2), 0.5 * V(13) + 0.5 * V(14), 1e-12);
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_UpperQuartileIntensity_DNA", 2), V(14));
  EXPECT_DOUBLE_EQ(Value(t, "Location_MaxIntensity_X_DNA", 2), 14);
  EXPECT_DOUBLE_EQ(Value(t, "Location_MaxIntensity_Y_DNA", 2), 6);
}

// Verifies: REQ-CELLS-030
TEST(MeasureTest, EdgesStopAtOtherObjectsButNotAtTheImageBorder) {
  // Two 3 x 3 squares side by side in the image's top-left corner, on a uniform image. Object 1
  // (x 0..2) touches the image on two sides, which are no edge; its edge is its bottom row and
  // its right column, next to object 2: 5 pixels.
  Labels labels(10, 10);
  labels.count = 2;
  Rect(labels, 0, 0, 3, 3, 1);
  Rect(labels, 3, 0, 3, 3, 2);
  Image image(10, 10, 0.5f);
  MeasurementTable t;
  ASSERT_TRUE(MeasureIntensity(labels, image, "PH3", t).ok());
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_IntegratedIntensityEdge_PH3", 1), 5 * 0.5);
  // Object 2 (x 3..5): everything but its top row's x = 4, and its middle (4, 1): 7 pixels.
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_IntegratedIntensityEdge_PH3", 2), 7 * 0.5);
}

// Verifies: REQ-CELLS-029, REQ-CELLS-031
TEST(MeasureTest, UniformObjectHasNoMassDisplacement) {
  Labels labels(60, 60);
  labels.count = 1;
  Ellipse(labels, 30, 30, 20, 9, 0.4, 1);
  Image image(60, 60, 0.5f);
  MeasurementTable t;
  ASSERT_TRUE(MeasureIntensity(labels, image, "DNA", t).ok());
  EXPECT_NEAR(Value(t, "Intensity_MassDisplacement_DNA", 1), 0, 1e-12);
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_StdIntensity_DNA", 1), 0);
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_MADIntensity_DNA", 1), 0);
  EXPECT_DOUBLE_EQ(Value(t, "Intensity_MedianIntensity_DNA", 1), 0.5);
}

// Verifies: REQ-CELLS-031
TEST(MeasureTest, MaxIntensityTieGoesToThePixelNumpysArgsortPutsLast) {
  // 11 labelled pixels: numpy's argsort insertion-sorts fewer than 17 values, which keeps ties in
  // row-major order, so scipy's maximum_position reports the last tied pixel, not the first.
  Labels labels(10, 10);
  labels.count = 2;
  Rect(labels, 1, 1, 4, 2, 1);
  Rect(labels, 6, 5, 3, 1, 2);
  Image image(10, 10, 1.0f);
  image.at(6, 5) = 0.2f;
  image.at(7, 5) = 0.9f;
  image.at(8, 5) = 0.3f;
  MeasurementTable t;
  ASSERT_TRUE(MeasureIntensity(labels, image, "DNA", t).ok());
  EXPECT_EQ(Value(t, "Location_MaxIntensity_X_DNA", 1), 4);
  EXPECT_EQ(Value(t, "Location_MaxIntensity_Y_DNA", 1), 2);
  EXPECT_EQ(Value(t, "Location_MaxIntensity_X_DNA", 2), 7);
  EXPECT_EQ(Value(t, "Location_MaxIntensity_Y_DNA", 2), 5);
  EXPECT_EQ(Value(t, "Location_MaxIntensity_Z_DNA", 2), 0);
}

// Verifies: REQ-CELLS-032
TEST(MeasureTest, LocationIsTheCentroid) {
  Labels labels(30, 30);
  labels.count = 2;
  Rect(labels, 2, 4, 4, 3, 1);
  Rect(labels, 20, 20, 1, 1, 2);
  MeasurementTable t;
  ASSERT_TRUE(MeasureLocation(labels, t).ok());
  EXPECT_DOUBLE_EQ(Value(t, "Location_Center_X", 1), 3.5);
  EXPECT_DOUBLE_EQ(Value(t, "Location_Center_Y", 1), 5);
  EXPECT_DOUBLE_EQ(Value(t, "Location_Center_Z", 1), 0);
  EXPECT_DOUBLE_EQ(Value(t, "Location_Center_X", 2), 20);
  MeasurementTable tertiary;
  ASSERT_TRUE(MeasureLocation(labels, tertiary, /*with_z=*/false).ok());
  EXPECT_EQ(tertiary.Find("Location_Center_Z"), nullptr);
}

// Verifies: REQ-CELLS-033
TEST(MeasureTest, UnusedLabelGivesNaNRow) {
  Labels labels(10, 10);
  labels.count = 2;
  Rect(labels, 1, 1, 3, 3, 2);
  MeasurementTable t;
  ASSERT_TRUE(MeasureSizeShape(labels, t).ok());
  ASSERT_TRUE(MeasureIntensity(labels, Image(10, 10, 0.1f), "DNA", t).ok());
  EXPECT_TRUE(std::isnan(Value(t, "AreaShape_Area", 1)));
  EXPECT_TRUE(std::isnan(Value(t, "Intensity_MeanIntensity_DNA", 1)));
  EXPECT_EQ(Value(t, "AreaShape_Area", 2), 9);
}

// Verifies: REQ-CELLS-034
TEST(MeasureTest, RejectsBadInput) {
  Labels labels(10, 10);
  labels.count = 1;
  labels.at(3, 3) = 2;  // above count
  MeasurementTable t;
  EXPECT_EQ(MeasureSizeShape(labels, t).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MeasureLocation(labels, t).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(t.columns.empty());
  labels.at(3, 3) = 1;
  EXPECT_EQ(MeasureIntensity(labels, Image(9, 10), "DNA", t).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MeasureIntensity(labels, Image(10, 10), "", t).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(MeasureLocation(labels, t).ok());
  Labels other(10, 10);
  other.count = 2;
  other.at(1, 1) = 1;
  other.at(2, 2) = 2;
  EXPECT_EQ(MeasureSizeShape(other, t).code(), StatusCode::kInvalidArgument);  // 2 rows vs 1
}

std::vector<std::string> CsvHeader(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> names;
  std::stringstream fields(line);
  for (std::string name; std::getline(fields, name, ',');) names.push_back(name);
  return names;
}

// Verifies: REQ-CELLS-035
TEST(MeasureTest, ColumnsAreCellProfilersNucleiColumns) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set (it points at shared/data)";
  const std::vector<std::string> header =
      CsvHeader(std::string(data) + "/cellprofiler-examplehuman/Nuclei.csv");
  ASSERT_FALSE(header.empty());
  const std::set<std::string> reference(header.begin(), header.end());

  Labels labels(40, 40);
  labels.count = 2;
  Disc(labels, 10, 10, 6, 1);
  Rect(labels, 25, 25, 8, 5, 2);
  MeasurementTable t;
  ASSERT_TRUE(MeasureSizeShape(labels, t).ok());
  ASSERT_TRUE(MeasureIntensity(labels, Ramp(40, 40), "DNA", t).ok());
  ASSERT_TRUE(MeasureIntensity(labels, Ramp(40, 40), "PH3", t).ok());
  ASSERT_TRUE(MeasureLocation(labels, t).ok());
  for (const std::string& column : t.columns) {
    EXPECT_TRUE(reference.count(column)) << column << " is not a column of Nuclei.csv";
  }
  // What remains is bookkeeping that other modules write.
  std::set<std::string> missing;
  for (const std::string& column : header) {
    if (t.Find(column) == nullptr) missing.insert(column);
  }
  EXPECT_EQ(missing, (std::set<std::string>{"ImageNumber", "ObjectNumber", "Children_Cells_Count",
                                            "Children_Cytoplasm_Count", "Children_PH3_Count",
                                            "Number_Object_Number"}));
}

}  // namespace
}  // namespace sund::cells
