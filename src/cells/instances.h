// Objects from the output maps of a segmentation model (model.h), as the model's package
// declares them in bioimageio.yaml (`config: {sund: {instances: ...}}`, docs in model.h):
//
//   threshold         one foreground map, thresholded and clumps cut by shape (IdentifyPrimary
//                     with SegmentWithModel's options): packages without a config, such as
//                     foreground-only U-Nets.
//   seeded_watershed  a foreground map and an interior map, the models `sund cells train`
//                     writes. The interior of an object's pixel is its distance to the object's
//                     edge divided by the smaller of the object's largest such distance and
//                     kInteriorDepth pixels, at most 1: 1 in the core of a large object and on
//                     the axis of a small one, near 0 at the edge, where touching objects meet.
//                     Seeds are the connected regions where it exceeds `seed_threshold`, grown
//                     by a watershed on the interior over the foreground.
//
// InteriorMap gives the training target of the interior map, so that training and
// post-processing agree on it. Thread-safety: free functions on values.
#pragma once

#include <string>

#include "cells/image.h"
#include "core/status.h"

namespace sund::cells {

enum class InstanceMethod { kThreshold, kSeededWatershed };

struct InstanceOptions {
  InstanceMethod method = InstanceMethod::kThreshold;
  int foreground_channel = 0;
  int interior_channel = 1;  // seeded_watershed
  double foreground_threshold = 0.5;
  double seed_threshold = 0.5;  // seeded_watershed
  int min_area = 0;             // seeded_watershed: smaller objects are dropped (pixels)
};

// "threshold", "seeded_watershed"; InvalidArgument for any other name.
Result<InstanceMethod> ParseInstanceMethod(const std::string& name);
const char* InstanceMethodName(InstanceMethod method);

// Objects labelled 1..count: each seed (an 8-connected region of interior > seed_threshold
// inside the foreground, foreground > foreground_threshold) grown over the foreground in order of
// decreasing interior (8-connected watershed); foreground regions that no seed reaches become
// objects of their own; objects under min_area pixels are dropped. Numbered in raster order of
// their seeds, then the seedless ones. InvalidArgument when the maps are empty or differ in size.
Result<Labels> SeededWatershed(const Image& foreground, const Image& interior,
                               const InstanceOptions& options);

// The depth (pixels) beyond which an object's pixel is all interior.
inline constexpr double kInteriorDepth = 6.0;

// The interior map of a label image (the target a seeded_watershed model is trained on): for
// each object, the Euclidean distance d of each of its pixels to the nearest pixel outside it
// (background or another object; the image's edge does not count), as
// min(1, d / min(depth, largest d of the object)); 0 on the background.
Image InteriorMap(const Labels& labels, double depth = kInteriorDepth);

}  // namespace sund::cells
