#include "cells/primary.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "cells/internal/cp_ops.h"

namespace sund::cells {
namespace {

using internal::Size;

std::int32_t CountLabels(const std::vector<std::int32_t>& labels) {
  std::int32_t max_label = 0;
  for (std::int32_t v : labels) max_label = std::max(max_label, v);
  std::vector<std::uint8_t> present(static_cast<std::size_t>(max_label) + 1, 0);
  for (std::int32_t v : labels) {
    if (v > 0) present[v] = 1;
  }
  std::int32_t count = 0;
  for (std::size_t i = 1; i < present.size(); ++i) count += present[i];
  return count;
}

double SmoothingFilterSize(const PrimaryOptions& o) {
  return o.automatic_smoothing ? 2.35 * o.min_diameter / 3.5 : o.smoothing_filter_size;
}

// IdentifyPrimaryObjects.smooth_image: a Gaussian of sigma = size / 2.35 cut at about two
// sigmas, normalised by the same filter applied to the (all-ones) mask; stored as float32 like
// CellProfiler's image.
std::vector<float> SmoothForMaxima(const Image& image, double filter_size) {
  const Size size{image.width, image.height};
  if (filter_size == 0) return image.pixels;
  const double sigma = filter_size / 2.35;
  const int half = std::max(static_cast<int>(filter_size / 2.0), 1);
  std::vector<double> f(2 * half + 1);
  for (int k = -half; k <= half; ++k) {
    f[k + half] =
        1.0 / std::sqrt(2.0 * std::numbers::pi) / sigma * std::exp(-0.5 * k * k / (sigma * sigma));
  }
  // The filter applied to the all-ones mask: the product of the in-image weights per axis.
  const std::vector<double> edge_y = internal::WeightInside(f, size.height);
  const std::vector<double> edge_x = internal::WeightInside(f, size.width);
  std::vector<float> out(size.count());
  internal::SeparableFilterRows(image.pixels, size, f, [&](int y, const float* row) {
    float* dst = &out[static_cast<std::size_t>(y) * size.width];
    for (int x = 0; x < size.width; ++x) {
      dst[x] = static_cast<float>(static_cast<double>(row[x]) / (edge_y[y] * edge_x[x]));
    }
  });
  return out;
}

// IdentifyPrimaryObjects.get_maxima: local maxima within each object (footprint = disk), found
// on an image scaled down by `factor` when factor < 1, each blob of maxima shrunk to a point.
// Returns the points, ascending.
template <typename T>
std::vector<std::int32_t> GetMaxima(std::span<const T> image, std::span<const std::int32_t> labels,
                                    Size size, const std::vector<std::pair<int, int>>& footprint,
                                    double factor) {
  if (factor >= 1.0) {
    return internal::ShrinkToPoints(internal::LocalMaxima(image, labels, size, footprint), size);
  }
  // map_coordinates at (i / factor, j / factor) over numpy.mgrid[0:h * factor, 0:w * factor].
  const Size small{static_cast<int>(std::ceil(size.width * factor)),
                   static_cast<int>(std::ceil(size.height * factor))};
  std::vector<T> resized(small.count());
  {
    const std::vector<double> coeff =
        internal::SplineCoefficients(std::vector<double>(image.begin(), image.end()), size);
    for (int i = 0; i < small.height; ++i) {
      for (int j = 0; j < small.width; ++j) {
        resized[static_cast<std::size_t>(i) * small.width + j] =
            static_cast<T>(internal::CubicAt(coeff, size, i / factor, j / factor));
      }
    }
  }
  const std::vector<std::int32_t> resized_labels =
      internal::ResampleNearest(labels, size, small, factor);
  const std::vector<std::int32_t> small_maxima = internal::LocalMaxima(
      std::span<const T>(resized), std::span<const std::int32_t>(resized_labels), small, footprint);
  // Back to full size: the spline through the 0/1 maxima image, above 0.5. It only gets there
  // within a pixel or two (small scale) of a maximum, so only those windows are evaluated.
  std::vector<double> impulses(small.count(), 0.0);
  for (std::int32_t p : small_maxima) impulses[p] = 1.0;
  const std::vector<double> coeff = internal::SplineCoefficients(std::move(impulses), small);
  const double inverse = static_cast<double>(size.height) / small.height;
  std::vector<std::int32_t> maxima;
  for (std::int32_t p : small_maxima) {
    const int si = p / small.width;
    const int sj = p % small.width;
    const int y0 = std::max(0, static_cast<int>(std::floor((si - 3) * inverse)));
    const int y1 = std::min(size.height - 1, static_cast<int>(std::ceil((si + 3) * inverse)));
    const int x0 = std::max(0, static_cast<int>(std::floor((sj - 3) * inverse)));
    const int x1 = std::min(size.width - 1, static_cast<int>(std::ceil((sj + 3) * inverse)));
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        if (internal::CubicAt(coeff, small, y / inverse, x / inverse) > 0.5) {
          maxima.push_back(y * size.width + x);
        }
      }
    }
  }
  std::sort(maxima.begin(), maxima.end());
  maxima.erase(std::unique(maxima.begin(), maxima.end()), maxima.end());
  return internal::ShrinkToPoints(std::move(maxima), size);
}

struct Declumped {
  std::vector<std::int32_t> labels;
  std::int32_t count = 0;
  double reported_suppression = 7;
  double smoothing_filter_size = 0;
};

// IdentifyPrimaryObjects.separate_neighboring_objects. `labeled` (the thresholded objects) is
// consumed: the watershed runs in its buffer.
Declumped SeparateNeighbours(const Image& image, std::vector<std::int32_t> labeled,
                             std::int32_t count, const PrimaryOptions& o) {
  const bool basic = !o.advanced;
  Declumped out;
  if (!basic && (o.unclump == UnclumpMethod::kNone || o.dividing_lines == DividingLines::kNone)) {
    out.labels = std::move(labeled);
    out.count = count;
    return out;
  }
  const Size size{image.width, image.height};
  out.smoothing_filter_size = SmoothingFilterSize(o);
  double factor = 1.0;
  double suppression;
  if (o.min_diameter > 10 && (basic || o.low_resolution_maxima)) {
    factor = 10.0 / o.min_diameter;
    suppression =
        (basic || o.automatic_suppression) ? 7.0 : o.maxima_suppression_size * factor + 0.5;
    out.reported_suppression = suppression / factor;
  } else {
    suppression =
        (basic || o.automatic_suppression) ? o.min_diameter / 1.5 : o.maxima_suppression_size;
    out.reported_suppression = suppression;
  }
  const std::vector<std::pair<int, int>> footprint =
      internal::DiskOffsets(std::max(1.0, suppression - 0.5));

  std::vector<double> distance;  // empty until the shape methods need it
  std::vector<std::int32_t> points;
  if (basic || o.unclump == UnclumpMethod::kIntensity) {
    const std::vector<float> blurred = SmoothForMaxima(image, out.smoothing_filter_size);
    points = GetMaxima(std::span<const float>(blurred), std::span<const std::int32_t>(labeled),
                       size, footprint, factor);
  } else {
    std::vector<std::uint8_t> foreground(size.count());
    if (o.fill_holes == FillHoles::kNever) {
      std::vector<std::int32_t> filled(labeled);
      internal::FillLabeledHoles(filled, size);
      for (std::size_t p = 0; p < foreground.size(); ++p) foreground[p] = filled[p] > 0;
    } else {
      for (std::size_t p = 0; p < foreground.size(); ++p) foreground[p] = labeled[p] > 0;
    }
    distance = internal::DistanceTransform(foreground, size);
    // numpy.random.seed(0); uniform(0, 0.001): the same MT19937 stream, 53-bit doubles.
    std::mt19937 rng(0);
    for (double& d : distance) {
      const std::uint32_t a = rng() >> 5;
      const std::uint32_t b = rng() >> 6;
      d += 0.001 * ((a * 67108864.0 + b) / 9007199254740992.0);
    }
    points = GetMaxima(std::span<const double>(distance), std::span<const std::int32_t>(labeled),
                       size, footprint, factor);
  }
  out.count = static_cast<std::int32_t>(points.size());

  if (!basic && o.dividing_lines == DividingLines::kPropagate) {
    std::vector<std::uint8_t> mask(size.count());
    for (std::size_t p = 0; p < mask.size(); ++p) mask[p] = labeled[p] != 0;
    std::vector<std::int32_t> seeds(size.count(), 0);
    for (std::size_t i = 0; i < points.size(); ++i) seeds[points[i]] = static_cast<int>(i) + 1;
    out.labels = internal::Propagate({}, seeds, mask, 1.0, size);
    return out;
  }
  // Watershed in the buffer of the thresholded labels: the mask becomes -1, the seeds 1..n.
  std::function<double(std::int32_t)> level;
  if (basic || o.dividing_lines == DividingLines::kIntensity) {
    level = [&image](std::int32_t p) { return static_cast<double>(1.0f - image.pixels[p]); };
  } else {
    if (distance.empty()) {
      std::vector<std::uint8_t> mask(size.count());
      for (std::size_t p = 0; p < mask.size(); ++p) mask[p] = labeled[p] != 0;
      distance = internal::DistanceTransform(mask, size);
    }
    const double top = *std::max_element(distance.begin(), distance.end());
    level = [&distance, top](std::int32_t p) { return top - distance[p]; };
  }
  for (std::int32_t& v : labeled) v = v != 0 ? -1 : 0;
  for (std::size_t i = 0; i < points.size(); ++i) labeled[points[i]] = static_cast<int>(i) + 1;
  internal::Watershed(level, labeled, size);
  for (std::int32_t& v : labeled) v = std::max(v, 0);
  out.labels = std::move(labeled);
  return out;
}

void RemoveBorderObjects(std::vector<std::int32_t>& labels, Size size) {
  std::int32_t max_label = 0;
  for (std::int32_t v : labels) max_label = std::max(max_label, v);
  std::vector<std::uint8_t> touches(static_cast<std::size_t>(max_label) + 1, 0);
  const int w = size.width;
  const int h = size.height;
  for (int x = 0; x < w; ++x) {
    touches[labels[x]] = 1;
    touches[labels[static_cast<std::size_t>(h - 1) * w + x]] = 1;
  }
  for (int y = 0; y < h; ++y) {
    touches[labels[static_cast<std::size_t>(y) * w]] = 1;
    touches[labels[static_cast<std::size_t>(y) * w + w - 1]] = 1;
  }
  for (std::int32_t& v : labels) {
    if (v > 0 && touches[v]) v = 0;
  }
}

void RemoveOutsideDiameter(std::vector<std::int32_t>& labels, const PrimaryOptions& o) {
  std::int32_t max_label = 0;
  for (std::int32_t v : labels) max_label = std::max(max_label, v);
  std::vector<std::int64_t> areas(static_cast<std::size_t>(max_label) + 1, 0);
  for (std::int32_t v : labels) ++areas[v];
  const double min_area = std::numbers::pi * o.min_diameter * o.min_diameter / 4;
  const double max_area = std::numbers::pi * o.max_diameter * o.max_diameter / 4;
  for (std::int32_t& v : labels) {
    if (v > 0 && (areas[v] < min_area || areas[v] > max_area)) v = 0;
  }
}

Status Validate(const Image& image, const PrimaryOptions& o) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height) {
    return InvalidArgument("image is empty or its pixel count does not match its size");
  }
  if (o.min_diameter < 1 || o.max_diameter < o.min_diameter) {
    return InvalidArgument("typical diameter range " + std::to_string(o.min_diameter) + ".." +
                           std::to_string(o.max_diameter) + " is not a range of positive sizes");
  }
  if (o.advanced && (o.smoothing_filter_size < 0 || o.maxima_suppression_size < 0)) {
    return InvalidArgument("declumping filter sizes must not be negative");
  }
  if (o.max_objects < 0) return InvalidArgument("maximum number of objects is negative");
  return Status::Ok();
}

}  // namespace

Result<Labels> IdentifyPrimary(const Image& image, const PrimaryOptions& options,
                               PrimaryStats* stats_out, Labels* unedited) {
  SUND_RETURN_IF_ERROR(Validate(image, options));
  const bool basic = !options.advanced;
  const Size size{image.width, image.height};
  PrimaryStats stats;

  SUND_ASSIGN_OR_RETURN(ThresholdResult threshold,
                        ApplyThreshold(image, {}, options.threshold, /*automatic=*/basic));
  stats.final_threshold = threshold.final_threshold;
  stats.original_threshold = threshold.original_threshold;
  stats.threshold_sigma = threshold.sigma;

  std::vector<std::uint8_t> foreground = std::move(threshold.foreground);
  if (basic || options.fill_holes == FillHoles::kAfterThresholdingAndDeclumping) {
    internal::FillBinaryHoles(
        foreground, size, static_cast<std::int64_t>(options.max_diameter) * options.max_diameter);
  }
  std::vector<std::int32_t> labeled;
  stats.objects_thresholded =
      internal::LabelComponents(foreground, size, /*eight_connected=*/true, labeled);

  Declumped declumped =
      SeparateNeighbours(image, std::move(labeled), stats.objects_thresholded, options);
  stats.objects_declumped = declumped.count;
  stats.smoothing_filter_size = declumped.smoothing_filter_size;
  stats.maxima_suppression_size = declumped.reported_suppression;
  std::vector<std::int32_t> labels = std::move(declumped.labels);
  if (unedited) {
    unedited->width = image.width;
    unedited->height = image.height;
    unedited->pixels = labels;
    unedited->count = internal::Relabel(unedited->pixels);
  }

  if (options.discard_border_objects) RemoveBorderObjects(labels, size);
  stats.objects_after_border = CountLabels(labels);
  if (options.discard_outside_diameter) RemoveOutsideDiameter(labels, options);
  stats.objects_after_size = CountLabels(labels);
  if (basic || options.fill_holes != FillHoles::kNever) internal::FillLabeledHoles(labels, size);
  std::int32_t count = internal::Relabel(labels);
  if (options.advanced && options.limit == ObjectLimit::kErase && count > options.max_objects) {
    std::fill(labels.begin(), labels.end(), 0);
    count = 0;
  }
  stats.objects_final = count;
  if (stats_out) *stats_out = stats;

  Labels out;
  out.width = image.width;
  out.height = image.height;
  out.count = count;
  out.pixels = std::move(labels);
  return out;
}

}  // namespace sund::cells
