#include "cells/secondary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "cells/internal/test_data.h"
#include "cells/primary.h"

namespace sund::cells {
namespace {

using testing_data::LoadGray;
using testing_data::MatchByCentre;
using testing_data::Matched;
using testing_data::Median;
using testing_data::ReadCsv;

Labels DiscLabels(int width, int height, const std::vector<std::pair<double, double>>& centres,
                  double radius) {
  Labels labels(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (std::size_t i = 0; i < centres.size(); ++i) {
        if (std::hypot(x - centres[i].first, y - centres[i].second) <= radius) {
          labels.at(x, y) = static_cast<std::int32_t>(i) + 1;
        }
      }
    }
  }
  labels.count = static_cast<std::int32_t>(centres.size());
  return labels;
}

int Area(const Labels& labels, std::int32_t label) {
  int n = 0;
  for (std::int32_t v : labels.pixels) n += v == label;
  return n;
}

// Two cells side by side, each a bright rectangle with a dimmer band between them; a nucleus in
// each. Propagation must give each nucleus its own rectangle and stop at the background.
Image TwoCells() {
  Image image(80, 40, 0.01f);
  for (int y = 8; y < 32; ++y) {
    for (int x = 6; x < 74; ++x) image.at(x, y) = x < 39 ? 0.5f : (x > 40 ? 0.7f : 0.2f);
  }
  return image;
}

SecondaryOptions ManualThreshold(SecondaryMethod method, double threshold) {
  SecondaryOptions options;
  options.method = method;
  options.threshold.method = ThresholdMethod::kManual;
  options.threshold.manual_threshold = threshold;
  options.threshold.smoothing_scale = 0;
  return options;
}

// Verifies: REQ-CELLS-020
TEST(IdentifySecondaryTest, PropagationGrowsEachNucleusOverItsOwnCell) {
  const Image image = TwoCells();
  const Labels nuclei = DiscLabels(80, 40, {{20, 20}, {58, 20}}, 4);
  auto cells =
      IdentifySecondary(image, nuclei, ManualThreshold(SecondaryMethod::kPropagation, 0.1));
  ASSERT_TRUE(cells.ok()) << cells.status().ToString();
  ASSERT_EQ(cells->count, 2);
  EXPECT_EQ(cells->at(7, 9), 1);    // far corner of the left cell
  EXPECT_EQ(cells->at(72, 30), 2);  // far corner of the right cell
  EXPECT_EQ(cells->at(36, 20), 1);  // the left cell up to its edge
  EXPECT_EQ(cells->at(43, 20), 2);
  EXPECT_EQ(cells->at(3, 20), 0);  // background stays background
  EXPECT_EQ(Area(*cells, 1) + Area(*cells, 2), 68 * 24);
}

// Verifies: REQ-CELLS-021
TEST(IdentifySecondaryTest, DistanceNExpandsByTheGivenDistanceIgnoringTheImage) {
  const Image image(60, 60, 0.0f);
  const Labels nuclei = DiscLabels(60, 60, {{30, 30}}, 5);
  SecondaryOptions options;
  options.method = SecondaryMethod::kDistanceN;
  options.distance_to_dilate = 4;
  auto cells = IdentifySecondary(image, nuclei, options);
  ASSERT_TRUE(cells.ok());
  ASSERT_EQ(cells->count, 1);
  EXPECT_EQ(cells->at(30 + 9, 30), 1);
  EXPECT_EQ(cells->at(30 + 10, 30), 0);
  EXPECT_EQ(cells->at(30, 30 - 9), 1);
  // About a disc of radius 9.
  EXPECT_NEAR(Area(*cells, 1), 3.14159 * 81, 20);
}

// Verifies: REQ-CELLS-021
TEST(IdentifySecondaryTest, WatershedImageStaysInTheForeground) {
  const Image image = TwoCells();
  const Labels nuclei = DiscLabels(80, 40, {{20, 20}, {58, 20}}, 4);
  auto cells =
      IdentifySecondary(image, nuclei, ManualThreshold(SecondaryMethod::kWatershedImage, 0.3));
  ASSERT_TRUE(cells.ok());
  ASSERT_EQ(cells->count, 2);
  EXPECT_EQ(cells->at(7, 9), 1);
  EXPECT_EQ(cells->at(72, 30), 2);
  EXPECT_EQ(cells->at(40, 20), 0);  // the dim band is under the threshold
}

// distance_b grows each nucleus by at most the distance (5 px right of the nucleus's edge at
// x = 24, not 6) and, unlike distance_n, not into the background.
// Verifies: REQ-CELLS-108
TEST(IdentifySecondaryTest, DistanceBGrowsByTheDistanceWithinTheForeground) {
  const Image image = TwoCells();
  const Labels nuclei = DiscLabels(80, 40, {{20, 20}, {58, 20}}, 4);
  SecondaryOptions options = ManualThreshold(SecondaryMethod::kDistanceB, 0.1);
  options.distance_to_dilate = 5;
  auto cells = IdentifySecondary(image, nuclei, options);
  ASSERT_TRUE(cells.ok()) << cells.status().ToString();
  ASSERT_EQ(cells->count, 2);
  EXPECT_EQ(cells->at(29, 20), 1);
  EXPECT_EQ(cells->at(30, 20), 0);  // inside the cell, but 6 px away
  EXPECT_EQ(cells->at(7, 9), 0);
  EXPECT_EQ(cells->at(67, 20), 2);  // 5 px right of the other nucleus's edge at x = 62
  EXPECT_EQ(cells->at(68, 20), 0);

  options.distance_to_dilate = 20;
  auto wide = IdentifySecondary(image, nuclei, options);
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->at(20, 8), 1);  // the cell's top row, 8 px above the nucleus
  EXPECT_EQ(wide->at(20, 7), 0);  // the background above it
  SecondaryOptions plain = options;
  plain.method = SecondaryMethod::kDistanceN;
  auto ignoring = IdentifySecondary(image, nuclei, plain);
  ASSERT_TRUE(ignoring.ok());
  EXPECT_EQ(ignoring->at(20, 7), 1);
}

// The watershed of the image's gradient floods each cell from its nucleus and meets at the
// strong edges between the cells; the background stays out.
// Verifies: REQ-CELLS-109
TEST(IdentifySecondaryTest, WatershedGradientFloodsEachCellFromItsNucleus) {
  const Image image = TwoCells();
  const Labels nuclei = DiscLabels(80, 40, {{20, 20}, {58, 20}}, 4);
  SecondaryStats stats;
  auto cells = IdentifySecondary(
      image, nuclei, ManualThreshold(SecondaryMethod::kWatershedGradient, 0.1), Labels(), &stats);
  ASSERT_TRUE(cells.ok()) << cells.status().ToString();
  EXPECT_DOUBLE_EQ(stats.final_threshold, 0.1);
  ASSERT_EQ(cells->count, 2);
  EXPECT_EQ(cells->at(10, 12), 1);
  EXPECT_EQ(cells->at(34, 28), 1);
  EXPECT_EQ(cells->at(44, 12), 2);
  EXPECT_EQ(cells->at(70, 28), 2);
  EXPECT_EQ(cells->at(3, 20), 0);
  EXPECT_EQ(cells->at(40, 4), 0);
}

// Verifies: REQ-CELLS-016
TEST(IdentifySecondaryTest, DiscardsCellsTouchingTheBorderAndRenumbers) {
  Image image(80, 40, 0.01f);
  for (int y = 0; y < 32; ++y) {
    for (int x = 6; x < 74; ++x) image.at(x, y) = x < 39 ? 0.5f : (x > 40 ? 0.7f : 0.01f);
  }
  const Labels nuclei = DiscLabels(80, 40, {{20, 20}, {58, 20}}, 4);
  SecondaryOptions options = ManualThreshold(SecondaryMethod::kPropagation, 0.1);
  auto all = IdentifySecondary(image, nuclei, options);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 2);
  options.discard_border_objects = true;
  auto inner = IdentifySecondary(image, nuclei, options);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->count, 0);  // both cells reach the top edge
}

// Verifies: REQ-CELLS-022
TEST(IdentifySecondaryTest, RejectsLabelsOfAnotherSize) {
  const Image image(10, 10, 0.5f);
  const Labels nuclei(9, 10);
  EXPECT_EQ(IdentifySecondary(image, nuclei, {}).status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-CELLS-023
TEST(IdentifyTertiaryTest, SubtractsTheNucleusKeepingItsOutlineWhenShrinking) {
  const Labels cells = DiscLabels(40, 40, {{20, 20}}, 10);
  const Labels nuclei = DiscLabels(40, 40, {{20, 20}}, 4);
  auto cytoplasm = IdentifyTertiary(cells, nuclei);
  ASSERT_TRUE(cytoplasm.ok());
  EXPECT_EQ(cytoplasm->count, 1);
  EXPECT_EQ(cytoplasm->at(20, 20), 0);
  EXPECT_EQ(cytoplasm->at(20, 16), 0);  // the nucleus rim goes too
  EXPECT_EQ(cytoplasm->at(20, 12), 1);
  EXPECT_EQ(Area(*cytoplasm, 1), Area(cells, 1) - Area(nuclei, 1));

  auto shrunk = IdentifyTertiary(cells, nuclei, /*shrink_primary=*/true);
  ASSERT_TRUE(shrunk.ok());
  EXPECT_EQ(shrunk->at(20, 20), 0);
  EXPECT_EQ(shrunk->at(20, 16), 1);  // the nucleus outline stays in the cytoplasm
  EXPECT_GT(Area(*shrunk, 1), Area(*cytoplasm, 1));
}

// ExampleHuman.cppipe modules 8 and 9: Cells by propagation from the nuclei on the cell-body
// image (MCE, no smoothing, correction 0.8, lambda 0.05, holes filled), Cytoplasm = Cells minus
// shrunk Nuclei.
// Verifies: REQ-CELLS-024
TEST(IdentifySecondaryTest, MatchesCellProfilerOnExampleHuman) {
  const char* root = std::getenv("SUND_TEST_DATA");
  if (root == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set (e.g. ../shared/data)";
  const std::string dir = std::string(root) + "/cellprofiler-examplehuman/";
  const Image dna = LoadGray(dir + "AS_09125_050116030001_D03f00d0.tif");
  const Image body = LoadGray(dir + "AS_09125_050116030001_D03f00d2.tif");
  ASSERT_FALSE(dna.empty()) << "cannot read the DNA image in " << dir;
  ASSERT_FALSE(body.empty()) << "cannot read the cell-body image in " << dir;

  PrimaryOptions nuclei_options;
  nuclei_options.min_diameter = 8;
  nuclei_options.max_diameter = 80;
  nuclei_options.advanced = false;
  Labels unedited;
  auto nuclei = IdentifyPrimary(dna, nuclei_options, nullptr, &unedited);
  ASSERT_TRUE(nuclei.ok()) << nuclei.status().ToString();

  SecondaryOptions options;
  options.method = SecondaryMethod::kPropagation;
  options.threshold.method = ThresholdMethod::kMinimumCrossEntropy;
  options.threshold.smoothing_scale = 0;
  options.threshold.correction_factor = 0.8;
  options.regularization_factor = 0.05;
  SecondaryStats stats;
  auto cells = IdentifySecondary(body, *nuclei, options, unedited, &stats);
  ASSERT_TRUE(cells.ok()) << cells.status().ToString();
  const auto image_rows = ReadCsv(dir + "Image.csv");
  ASSERT_EQ(image_rows.size(), 1u);
  EXPECT_NEAR(stats.final_threshold, image_rows[0].at("Threshold_FinalThreshold_Cells"), 1e-4);

  const auto ref_cells = ReadCsv(dir + "Cells.csv");
  ASSERT_EQ(ref_cells.size(), 289u);
  EXPECT_LE(std::abs(cells->count - 289), 289 * 5 / 100) << "cells: " << cells->count;
  const Matched m = MatchByCentre(*cells, ref_cells, /*with_area=*/true);
  EXPECT_GE(m.pairs, 289 * 95 / 100);
  EXPECT_LT(Median(m.relative_area_difference), 0.05);

  auto cytoplasm = IdentifyTertiary(*cells, *nuclei, /*shrink_primary=*/true);
  ASSERT_TRUE(cytoplasm.ok());
  const Matched c = MatchByCentre(*cytoplasm, ReadCsv(dir + "Cytoplasm.csv"), true);
  EXPECT_GE(c.pairs, 289 * 95 / 100);
  EXPECT_LT(Median(c.relative_area_difference), 0.05);
}

}  // namespace
}  // namespace sund::cells
