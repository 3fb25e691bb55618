// IdentifySecondary and IdentifyTertiary: objects grown from primary objects (cells around
// nuclei) and the difference of the two (cytoplasm), as CellProfiler 4.0's
// IdentifySecondaryObjects and IdentifyTertiaryObjects compute them
// (cellprofiler/modules/identifysecondaryobjects.py, identifytertiaryobjects.py, with
// centrosome.propagate for the propagation methods).
//
// Secondary objects keep the numbering of the primary objects they grow from: secondary object i
// contains primary object i.
// Thread-safety: free functions on values; safe to call concurrently.
#pragma once

#include "cells/image.h"
#include "cells/threshold.h"
#include "core/status.h"

namespace sund::cells {

enum class SecondaryMethod {
  kPropagation,        // Dijkstra on intensity differences + lambda-weighted distance
  kWatershedGradient,  // watershed of the Sobel gradient magnitude
  kWatershedImage,     // watershed of the inverted image
  kDistanceN,          // nearest primary object within N pixels, ignoring the image
  kDistanceB,          // propagation (lambda 1) limited to N pixels and to the foreground
};

struct SecondaryOptions {
  SecondaryMethod method = SecondaryMethod::kPropagation;
  ThresholdOptions threshold;           // not used by kDistanceN
  int distance_to_dilate = 10;          // kDistanceN, kDistanceB
  double regularization_factor = 0.05;  // kPropagation: lambda
  bool fill_holes = true;
  bool discard_border_objects = false;  // secondary objects touching the image edge
};

struct SecondaryStats {
  double final_threshold = 0;
  double original_threshold = 0;
  std::int32_t objects = 0;
};

// Grows `primary` (IdentifyPrimary's objects) over `image`. `primary_unedited`, when it is not
// empty, is IdentifyPrimary's unedited segmentation: the primary objects discarded for touching
// the border then still claim their space, as in CellProfiler. With discard_border_objects, the
// objects are renumbered 1..n after the discarded ones are removed. Errors: kInvalidArgument when
// the sizes of the image and the label images differ, the image is malformed, or
// ComputeThreshold rejects the threshold options.
Result<Labels> IdentifySecondary(const Image& image, const Labels& primary,
                                 const SecondaryOptions& options,
                                 const Labels& primary_unedited = Labels(),
                                 SecondaryStats* stats = nullptr);

// The secondary objects minus the primary ones (IdentifyTertiaryObjects). Labels keep the
// secondary numbering and `count` is the secondary count, so an object can be empty when its
// primary object covers it entirely. shrink_primary keeps the primary objects' outline pixels in
// the result (CellProfiler's "Shrink smaller object prior to subtraction"). Errors:
// kInvalidArgument when the label images differ in size.
Result<Labels> IdentifyTertiary(const Labels& secondary, const Labels& primary,
                                bool shrink_primary = false);

}  // namespace sund::cells
