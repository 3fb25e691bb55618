#include "cells/instances.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cells/internal/cp_ops.h"

namespace sund::cells {

Result<InstanceMethod> ParseInstanceMethod(const std::string& name) {
  if (name == "threshold") return InstanceMethod::kThreshold;
  if (name == "seeded_watershed") return InstanceMethod::kSeededWatershed;
  return InvalidArgument("instance method '" + name +
                         "' is not known (threshold, seeded_watershed)");
}

const char* InstanceMethodName(InstanceMethod method) {
  return method == InstanceMethod::kSeededWatershed ? "seeded_watershed" : "threshold";
}

Result<Labels> SeededWatershed(const Image& foreground, const Image& interior,
                               const InstanceOptions& options) {
  if (foreground.empty() || foreground.width != interior.width ||
      foreground.height != interior.height ||
      foreground.pixels.size() != static_cast<std::size_t>(foreground.width) * foreground.height ||
      interior.pixels.size() != foreground.pixels.size()) {
    return InvalidArgument("the foreground and interior maps are empty or differ in size");
  }
  const internal::Size size{foreground.width, foreground.height};
  const std::size_t n = size.count();
  std::vector<std::uint8_t> seeds(n);
  for (std::size_t i = 0; i < n; ++i) {
    seeds[i] = foreground.pixels[i] > options.foreground_threshold &&
               interior.pixels[i] > options.seed_threshold;
  }
  std::vector<std::int32_t> seed_labels;
  internal::LabelComponents(seeds, size, true, seed_labels);
  Labels out(size.width, size.height);
  for (std::size_t i = 0; i < n; ++i) {
    if (foreground.pixels[i] > options.foreground_threshold) {
      out.pixels[i] = seed_labels[i] > 0 ? seed_labels[i] : -1;
    }
  }
  const std::vector<float>& in = interior.pixels;
  internal::Watershed([&in](std::int32_t i) { return 1.0 - in[i]; }, out.pixels, size);
  // Foreground that no seed reached: each connected part an object.
  std::vector<std::uint8_t> rest(n);
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) any |= (rest[i] = out.pixels[i] < 0);
  std::int32_t count = *std::max_element(out.pixels.begin(), out.pixels.end());
  count = std::max(count, 0);
  if (any) {
    std::vector<std::int32_t> rest_labels;
    internal::LabelComponents(rest, size, true, rest_labels);
    for (std::size_t i = 0; i < n; ++i) {
      if (rest[i]) out.pixels[i] = count + rest_labels[i];
    }
  }
  if (options.min_area > 0) {
    std::int32_t top = *std::max_element(out.pixels.begin(), out.pixels.end());
    std::vector<std::int64_t> area(static_cast<std::size_t>(top) + 1, 0);
    for (auto v : out.pixels) ++area[v];
    for (auto& v : out.pixels) {
      if (v > 0 && area[v] < options.min_area) v = 0;
    }
  }
  out.count = internal::Relabel(out.pixels);
  return out;
}

Image InteriorMap(const Labels& labels, double depth) {
  Image out(labels.width, labels.height, 0.0f);
  if (labels.pixels.empty()) return out;
  const int w = labels.width, h = labels.height;
  std::int32_t top = *std::max_element(labels.pixels.begin(), labels.pixels.end());
  if (top <= 0) return out;
  struct Box {
    int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
  };
  std::vector<Box> boxes(static_cast<std::size_t>(top) + 1);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::int32_t v = labels.at(x, y);
      if (v <= 0) continue;
      Box& b = boxes[v];
      b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y);
      b.x1 = std::max(b.x1, x), b.y1 = std::max(b.y1, y);
    }
  }
  std::vector<std::uint8_t> mask;
  for (std::int32_t v = 1; v <= top; ++v) {
    const Box& b = boxes[v];
    if (b.x1 < 0) continue;
    // One pixel of margin where the box is inside the image: outside counts as zero there, and
    // past the image's edge it does not (DistanceTransform's rule).
    const int x0 = std::max(0, b.x0 - 1), y0 = std::max(0, b.y0 - 1);
    const int x1 = std::min(w - 1, b.x1 + 1), y1 = std::min(h - 1, b.y1 + 1);
    const internal::Size box{x1 - x0 + 1, y1 - y0 + 1};
    mask.assign(box.count(), 0);
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        mask[static_cast<std::size_t>(y - y0) * box.width + (x - x0)] = labels.at(x, y) == v;
      }
    }
    std::vector<double> d = internal::DistanceTransform(mask, box);
    double peak = *std::max_element(d.begin(), d.end());
    if (peak <= 0) continue;
    // An object that fills the image has nothing outside it: all interior.
    const double scale = std::isfinite(peak) ? std::min(depth, peak) : 0;
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        std::size_t i = static_cast<std::size_t>(y - y0) * box.width + (x - x0);
        if (mask[i]) {
          out.at(x, y) = scale > 0 ? static_cast<float>(std::min(1.0, d[i] / scale)) : 1.0f;
        }
      }
    }
  }
  return out;
}

}  // namespace sund::cells
