// Intensity thresholds for the cells module, computed the way CellProfiler 4.0.6 computes them
// (cellprofiler/modules/threshold.py, which calls scikit-image 0.16/0.17's threshold_otsu,
// threshold_li and threshold_multiotsu on float32 pixels).
//
// A threshold is found on the unsmoothed pixels inside the mask; the foreground is then the set
// of pixels whose Gaussian-smoothed intensity is at or above it (CellProfiler's "threshold
// smoothing scale" S becomes sigma = S / 0.6744 / 2; the smoothing ignores masked-out pixels).
// CellProfiler 4.0.6 has no log transform before thresholding (that option came with 4.1), so
// none is applied here.
//
// Used by IdentifyPrimary (primary.h) and the secondary-object modules.
// Thread-safety: free functions on values; safe to call concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cells/image.h"
#include "core/status.h"

namespace sund::cells {

enum class ThresholdScope { kGlobal, kAdaptive };

enum class ThresholdMethod {
  kMinimumCrossEntropy,  // Li's iterative method (skimage threshold_li)
  kOtsu,                 // two- or three-class, see OtsuClasses
  kRobustBackground,     // trimmed mean + n deviations
  kManual,               // ThresholdOptions::manual_threshold, no correction applied
};

enum class OtsuClasses { kTwo, kThree };

// Three-class Otsu: the middle class goes to the foreground (the lower of the two thresholds is
// used) or to the background (the upper one).
enum class MiddleClass { kForeground, kBackground };

enum class AveragingMethod { kMean, kMedian };
enum class VarianceMethod { kStandardDeviation, kMedianAbsoluteDeviation };

struct ThresholdOptions {
  ThresholdScope scope = ThresholdScope::kGlobal;
  ThresholdMethod method = ThresholdMethod::kMinimumCrossEntropy;
  OtsuClasses otsu_classes = OtsuClasses::kTwo;
  MiddleClass middle_class = MiddleClass::kForeground;
  double smoothing_scale = 1.3488;  // 0 = no smoothing
  double correction_factor = 1.0;
  double lower_bound = 0.0;
  double upper_bound = 1.0;
  double manual_threshold = 0.0;
  int adaptive_window = 50;  // pixels; must leave at least two windows per axis
  // Robust background.
  double lower_outlier_fraction = 0.05;
  double upper_outlier_fraction = 0.05;
  AveragingMethod averaging = AveragingMethod::kMean;
  VarianceMethod variance = VarianceMethod::kStandardDeviation;
  double deviations = 2.0;
};

struct ThresholdResult {
  // Global: the corrected, bounded threshold. Adaptive: the mean of the per-pixel thresholds
  // (CellProfiler's Threshold_FinalThreshold).
  double final_threshold = 0;
  // Before correction and bounds (Threshold_OrigThreshold); adaptive: the mean of the raw local
  // thresholds.
  double original_threshold = 0;
  // Adaptive only: the corrected global threshold that bounds the local ones to [0.7, 1.5] x it.
  double guide_threshold = 0;
  std::vector<float> local_thresholds;   // adaptive only: one per pixel, corrected
  double sigma = 0;                      // smoothing sigma applied before the comparison
  std::vector<std::uint8_t> foreground;  // 1 = foreground, row-major, width x height
};

// The building blocks, on a list of intensities (the masked pixels). Each returns the threshold
// the scikit-image function of the same name returns (as float32, like CellProfiler's images).
// Empty input returns 0; input with a single distinct value returns that value.
double OtsuThreshold(std::span<const float> values, int nbins = 256);
// classes - 1 thresholds, ascending. Fewer distinct histogram bins than classes: an empty vector.
std::vector<double> MultiOtsuThresholds(std::span<const float> values, int classes = 3,
                                        int nbins = 256);
// tolerance <= 0: half the smallest difference between distinct values (skimage's default).
double LiThreshold(std::span<const float> values, double tolerance = 0);
double RobustBackgroundThreshold(std::span<const float> values, const ThresholdOptions& options);

// The threshold CellProfiler would use on `image` restricted to `mask` (empty = every pixel),
// without the smoothing step: the global value, or a per-pixel map for the adaptive scope.
// `automatic` reproduces IdentifyPrimaryObjects' basic mode (Li, no correction, sigma 1).
// Errors: kInvalidArgument for a malformed image or mask, an adaptive window over half the image,
// or bounds with lower > upper.
Result<ThresholdResult> ComputeThreshold(const Image& image, std::span<const std::uint8_t> mask,
                                         const ThresholdOptions& options, bool automatic = false);

// ComputeThreshold followed by the smoothing and the comparison: `foreground` is filled.
Result<ThresholdResult> ApplyThreshold(const Image& image, std::span<const std::uint8_t> mask,
                                       const ThresholdOptions& options, bool automatic = false);

}  // namespace sund::cells
