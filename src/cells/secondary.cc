#include "cells/secondary.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "cells/internal/cp_ops.h"

namespace sund::cells {
namespace {

using internal::Size;

bool SameSize(const Labels& labels, int width, int height) {
  return labels.width == width && labels.height == height &&
         labels.pixels.size() == static_cast<std::size_t>(width) * height;
}

// IdentifySecondaryObjects.filter_labels, in place: each output object takes the (largest)
// primary label it contains; objects without one disappear.
void ToPrimaryNumbering(std::vector<std::int32_t>& out, const std::vector<std::int32_t>& primary) {
  std::int32_t max_out = 0;
  for (std::int32_t v : out) max_out = std::max(max_out, v);
  std::vector<std::int32_t> lookup(static_cast<std::size_t>(max_out) + 1, 0);
  for (std::size_t p = 0; p < out.size(); ++p) {
    if (out[p] > 0) lookup[out[p]] = std::max(lookup[out[p]], primary[p]);
  }
  lookup[0] = 0;
  for (std::int32_t& v : out) v = v > 0 ? lookup[v] : 0;
}

}  // namespace

Result<Labels> IdentifySecondary(const Image& image, const Labels& primary,
                                 const SecondaryOptions& options, const Labels& primary_unedited,
                                 SecondaryStats* stats_out) {
  const int w = image.width;
  const int h = image.height;
  if (w <= 0 || h <= 0 || image.pixels.size() != static_cast<std::size_t>(w) * h) {
    return InvalidArgument("image is empty or its pixel count does not match its size");
  }
  if (!SameSize(primary, w, h)) {
    return InvalidArgument("primary labels are not the size of the image");
  }
  const bool have_unedited = !primary_unedited.pixels.empty();
  if (have_unedited && !SameSize(primary_unedited, w, h)) {
    return InvalidArgument("unedited primary labels are not the size of the image");
  }
  if (options.distance_to_dilate < 0) {
    return InvalidArgument("distance to dilate is negative");
  }
  const Size size{w, h};
  SecondaryStats stats;

  std::vector<std::uint8_t> foreground;
  if (options.method != SecondaryMethod::kDistanceN) {
    SUND_ASSIGN_OR_RETURN(ThresholdResult threshold,
                          ApplyThreshold(image, {}, options.threshold, /*automatic=*/false));
    stats.final_threshold = threshold.final_threshold;
    stats.original_threshold = threshold.original_threshold;
    foreground = std::move(threshold.foreground);
  }

  // The seeds: the unedited primary objects that survived, plus those touching the edge.
  std::vector<std::int32_t> seeds = have_unedited ? primary_unedited.pixels : primary.pixels;
  if (have_unedited) {
    std::int32_t max_label = 0;
    for (std::int32_t v : seeds) max_label = std::max(max_label, v);
    std::vector<std::uint8_t> touching(static_cast<std::size_t>(max_label) + 1, 0);
    for (int x = 0; x < w; ++x) {
      touching[seeds[x]] = 1;
      touching[seeds[static_cast<std::size_t>(h - 1) * w + x]] = 1;
    }
    for (int y = 0; y < h; ++y) {
      touching[seeds[static_cast<std::size_t>(y) * w]] = 1;
      touching[seeds[static_cast<std::size_t>(y) * w + w - 1]] = 1;
    }
    for (std::size_t p = 0; p < seeds.size(); ++p) {
      if (!touching[seeds[p]] && primary.pixels[p] == 0) seeds[p] = 0;
    }
  }

  std::vector<std::int32_t> out;
  switch (options.method) {
    case SecondaryMethod::kDistanceN: {
      std::vector<std::uint8_t> is_seed(seeds.size());
      for (std::size_t p = 0; p < seeds.size(); ++p) is_seed[p] = seeds[p] != 0;
      std::vector<double> distance;
      std::vector<std::int32_t> nearest;
      internal::NearestSeed(is_seed, size, distance, nearest);
      out.assign(seeds.size(), 0);
      for (std::size_t p = 0; p < seeds.size(); ++p) {
        if (nearest[p] >= 0 && distance[p] <= options.distance_to_dilate) {
          out[p] = seeds[nearest[p]];
        }
      }
      break;
    }
    case SecondaryMethod::kDistanceB:
    case SecondaryMethod::kPropagation: {
      const bool limited = options.method == SecondaryMethod::kDistanceB;
      std::vector<double> distance;
      out = internal::Propagate(image.pixels, seeds, foreground,
                                limited ? 1.0 : options.regularization_factor, size,
                                limited ? &distance : nullptr);
      if (limited) {
        for (std::size_t p = 0; p < out.size(); ++p) {
          if (distance[p] > options.distance_to_dilate) out[p] = 0;
          if (seeds[p] > 0) out[p] = seeds[p];
        }
      }
      break;
    }
    case SecondaryMethod::kWatershedGradient:
    case SecondaryMethod::kWatershedImage: {
      std::vector<double> level(seeds.size());
      if (options.method == SecondaryMethod::kWatershedGradient) {
        const std::vector<float> sobel = internal::SobelX(image.pixels, size);
        for (std::size_t p = 0; p < level.size(); ++p) level[p] = std::fabs(sobel[p]);
      } else {
        for (std::size_t p = 0; p < level.size(); ++p) level[p] = 1.0f - image.pixels[p];
      }
      // Flood the foreground and the seeds themselves.
      out.assign(seeds.size(), 0);
      for (std::size_t p = 0; p < out.size(); ++p) {
        if (seeds[p] > 0) {
          out[p] = seeds[p];
        } else if (foreground[p]) {
          out[p] = -1;
        }
      }
      internal::Watershed([&level](std::int32_t p) { return level[p]; }, out, size);
      for (std::int32_t& v : out) v = std::max(v, 0);
      break;
    }
  }

  if (options.fill_holes) {
    internal::FillLabeledHoles(out, size, nullptr, /*background_only=*/true);
  }
  ToPrimaryNumbering(out, primary.pixels);
  std::vector<std::int32_t> labels = std::move(out);
  std::int32_t count = 0;
  for (std::int32_t v : labels) count = std::max(count, v);
  if (options.discard_border_objects) {
    std::vector<std::uint8_t> touching(static_cast<std::size_t>(count) + 1, 0);
    for (int x = 0; x < w; ++x) {
      touching[labels[x]] = 1;
      touching[labels[static_cast<std::size_t>(h - 1) * w + x]] = 1;
    }
    for (int y = 0; y < h; ++y) {
      touching[labels[static_cast<std::size_t>(y) * w]] = 1;
      touching[labels[static_cast<std::size_t>(y) * w + w - 1]] = 1;
    }
    for (std::int32_t& v : labels) {
      if (v > 0 && touching[v]) v = 0;
    }
    count = internal::Relabel(labels);
  }
  stats.objects = count;
  if (stats_out) *stats_out = stats;
  Labels result;
  result.width = w;
  result.height = h;
  result.count = count;
  result.pixels = std::move(labels);
  return result;
}

Result<Labels> IdentifyTertiary(const Labels& secondary, const Labels& primary,
                                bool shrink_primary) {
  if (!SameSize(primary, secondary.width, secondary.height)) {
    return InvalidArgument("primary and secondary labels differ in size");
  }
  const Size size{secondary.width, secondary.height};
  Labels result = secondary;
  std::vector<std::int32_t> outline;
  if (shrink_primary) outline = internal::Outline(primary.pixels, size);
  for (std::size_t p = 0; p < result.pixels.size(); ++p) {
    const bool keep = primary.pixels[p] == 0 || (shrink_primary && outline[p] != 0);
    if (!keep) result.pixels[p] = 0;
  }
  return result;
}

}  // namespace sund::cells
