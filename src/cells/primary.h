// IdentifyPrimary: classical segmentation of bright objects (nuclei) on a dark background, step
// for step as CellProfiler 4.0's IdentifyPrimaryObjects (cellprofiler/modules/
// identifyprimaryobjects.py with centrosome's cpmorphology): threshold, optional hole filling,
// declumping by intensity or shape with a seeded watershed (or propagation), removal of objects
// touching the border and of objects outside the diameter range, hole filling, relabelling.
//
// Used by the cells pipeline (nuclei, mitotic markers) and as the seeds of IdentifySecondary.
// Thread-safety: a free function on values; safe to call concurrently.
#pragma once

#include <cstdint>

#include "cells/image.h"
#include "cells/threshold.h"
#include "core/status.h"

namespace sund::cells {

enum class UnclumpMethod { kIntensity, kShape, kNone };
enum class DividingLines { kIntensity, kShape, kPropagate, kNone };
enum class FillHoles { kNever, kAfterThresholdingAndDeclumping, kAfterDeclumpingOnly };
enum class ObjectLimit { kContinue, kErase };

struct PrimaryOptions {
  // Typical diameter of objects in pixels; also drives the automatic declumping settings.
  int min_diameter = 10;
  int max_diameter = 40;
  bool discard_outside_diameter = true;
  bool discard_border_objects = true;
  // CellProfiler's "Use advanced settings?". false (basic mode): Li threshold with sigma 1 and no
  // correction, holes filled after thresholding and after declumping, intensity declumping with
  // automatic sizes and the low-resolution speed-up; the fields below are then ignored except
  // automatic_smoothing / smoothing_filter_size.
  bool advanced = true;
  ThresholdOptions threshold;
  UnclumpMethod unclump = UnclumpMethod::kIntensity;
  DividingLines dividing_lines = DividingLines::kIntensity;
  bool automatic_smoothing = true;  // filter size = 2.35 * min_diameter / 3.5
  double smoothing_filter_size = 10;
  bool automatic_suppression = true;  // min distance between maxima = min_diameter / 1.5
  double maxima_suppression_size = 7;
  bool low_resolution_maxima = true;  // find maxima at 10 / min_diameter scale when min > 10
  FillHoles fill_holes = FillHoles::kAfterThresholdingAndDeclumping;
  ObjectLimit limit = ObjectLimit::kContinue;
  int max_objects = 500;
};

struct PrimaryStats {
  double final_threshold = 0;            // Threshold_FinalThreshold
  double original_threshold = 0;         // Threshold_OrigThreshold
  double threshold_sigma = 0;            // smoothing sigma before the comparison
  double smoothing_filter_size = 0;      // declumping smoothing (0 when not declumping)
  double maxima_suppression_size = 0;    // as CellProfiler reports it (full-resolution pixels)
  std::int32_t objects_thresholded = 0;  // connected components after thresholding
  std::int32_t objects_declumped = 0;    // after declumping (the watershed seeds)
  std::int32_t objects_after_border = 0;
  std::int32_t objects_after_size = 0;
  std::int32_t objects_final = 0;
};

// Segments `image` (intensities in [0, 1]) into objects labelled 1..count, consecutive, numbered
// in raster order of their seeds as CellProfiler numbers them. `stats`, when given, receives the
// threshold and the object counts of each step; `unedited`, when given, the objects before the
// border and size filters and the last hole filling (CellProfiler's unedited segmentation, which
// IdentifySecondary uses to keep cells out of the space of discarded nuclei). Errors:
// kInvalidArgument for an empty or malformed image, diameters < 1 or min > max, a negative object
// limit, or threshold options that ComputeThreshold rejects.
Result<Labels> IdentifyPrimary(const Image& image, const PrimaryOptions& options,
                               PrimaryStats* stats = nullptr, Labels* unedited = nullptr);

}  // namespace sund::cells
