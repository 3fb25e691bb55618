#include "cells/evaluate.h"

#include <gtest/gtest.h>

namespace sund::cells {
namespace {

// Fills the rectangle [x0, x1) x [y0, y1) with `label`.
void Box(Labels& l, int x0, int y0, int x1, int y1, std::int32_t label) {
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) l.at(x, y) = label;
  }
  l.count = std::max(l.count, label);
}

// Verifies: REQ-CELLS-049
TEST(EvaluateTest, PerfectPredictionScoresOne) {
  Labels truth(20, 20);
  Box(truth, 0, 0, 5, 5, 1);
  Box(truth, 10, 10, 15, 15, 2);
  auto s = ScoreInstances(truth, truth);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->Ap(0), 1.0);
  EXPECT_DOUBLE_EQ(s->MeanAp(), 1.0);
  EXPECT_DOUBLE_EQ(s->CountError(), 0.0);
}

// Verifies: REQ-CELLS-049
TEST(EvaluateTest, CountsMissesAndFalsePositives) {
  Labels truth(20, 20), pred(20, 20);
  Box(truth, 0, 0, 10, 10, 1);    // 100 px
  Box(truth, 12, 12, 16, 16, 2);  // missed
  Box(pred, 0, 0, 10, 8, 1);      // IoU 80/100 = 0.8
  Box(pred, 15, 0, 18, 3, 2);     // false positive
  auto s = ScoreInstances(truth, pred);
  ASSERT_TRUE(s.ok());
  // At 0.5: TP 1, FP 1, FN 1 -> 1/3; F1 = 2/4.
  EXPECT_NEAR(s->Ap(0), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s->F1(0), 0.5, 1e-12);
  // 0.80 is the 7th threshold (index 6) and still matches; 0.85 (index 7) does not.
  EXPECT_NEAR(s->Ap(6), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s->Ap(7), 0.0, 1e-12);
  EXPECT_NEAR(s->MeanAp(), (7.0 / 3.0) / 10.0, 1e-12);
}

// Verifies: REQ-CELLS-049
TEST(EvaluateTest, AnObjectCutInHalvesMatchesOnce) {
  Labels truth(8, 4), pred(8, 4);
  Box(truth, 0, 0, 8, 4, 1);
  Box(pred, 0, 0, 4, 4, 1);  // IoU exactly 0.5 each
  Box(pred, 4, 0, 8, 4, 2);
  auto s = ScoreInstances(truth, pred);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->tp[0], 1);
  EXPECT_NEAR(s->Ap(0), 1.0 / 2.0, 1e-12);  // TP 1, FP 1, FN 0
}

// Verifies: REQ-CELLS-050
TEST(EvaluateTest, RefusesDifferentSizes) {
  EXPECT_FALSE(ScoreInstances(Labels(4, 4), Labels(4, 5)).ok());
}

// Verifies: REQ-CELLS-050
TEST(EvaluateTest, SummaryAveragesOverImages) {
  ImageScore a;
  a.truth_objects = a.predicted_objects = 2;
  a.tp.fill(2);
  ImageScore b;
  b.truth_objects = 4;
  b.predicted_objects = 2;
  b.tp.fill(0);
  b.tp[0] = 2;
  EvalSummary s = Summarise({a, b});
  EXPECT_EQ(s.images, 2);
  EXPECT_NEAR(s.ap50, (1.0 + 0.5) / 2, 1e-12);
  EXPECT_NEAR(s.count_error, (0.0 + 0.5) / 2, 1e-12);
  EXPECT_NE(SummaryJson(s).find("\"ap50\":0.7500"), std::string::npos);
}

}  // namespace
}  // namespace sund::cells
