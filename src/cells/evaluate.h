// Instance segmentation scores as the nuclei-segmentation field reports them (Cellpose,
// StarDist, the 2018 Data Science Bowl): objects of a prediction matched one-to-one to the
// ground truth by intersection over union (IoU); at a threshold t a match needs IoU >= t (for
// t >= 0.5 a match is unique, so no assignment problem arises). Per image and threshold:
// AP = TP / (TP + FP + FN), F1 = 2 TP / (2 TP + FP + FN).
// Thread-safety: free functions and values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cells/image.h"
#include "core/status.h"

namespace sund::cells {

// The IoU thresholds 0.50, 0.55, ..., 0.95.
inline constexpr std::array<double, 10> kIouThresholds = {0.50, 0.55, 0.60, 0.65, 0.70,
                                                          0.75, 0.80, 0.85, 0.90, 0.95};

struct ImageScore {
  std::int32_t truth_objects = 0;
  std::int32_t predicted_objects = 0;
  std::array<std::int32_t, 10> tp{};  // per threshold of kIouThresholds
  double Ap(std::size_t t) const;     // TP / (TP + FP + FN); 1 when both are empty
  double F1(std::size_t t) const;
  double MeanAp() const;      // over the ten thresholds
  double CountError() const;  // |predicted - truth| / truth (0 when both are empty)
};

// Scores one image. Both label images must have the same size (InvalidArgument otherwise).
Result<ImageScore> ScoreInstances(const Labels& truth, const Labels& predicted);

struct EvalSummary {
  int images = 0;
  double ap50 = 0;         // mean over images of AP at IoU 0.5
  double ap = 0;           // mean over images of AP averaged over 0.5:0.05:0.95
  double f1 = 0;           // mean over images of F1 at IoU 0.5
  double count_error = 0;  // mean over images of the relative count error
  double median_count_error = 0;
};

EvalSummary Summarise(const std::vector<ImageScore>& scores);

// {"images":..,"ap50":..,"ap":..,"f1":..,"count_error":..,"median_count_error":..}
std::string SummaryJson(const EvalSummary& s);

}  // namespace sund::cells
