// The image types of the cells module: plain row-major buffers, so that callers need no OpenCV
// headers (OpenCV stays inside src/cells/*.cc).
//
// Image: one channel, float32, intensities scaled to [0, 1] the way CellProfiler scales them
// (an 8-bit image divided by 255, a 16-bit one by 65535). Labels: an object label per pixel,
// 0 = background, 1..count = one object each.
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <vector>

namespace sund::cells {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<float> pixels;  // height rows of width values

  Image() = default;
  Image(int w, int h, float fill = 0.0f)
      : width(w), height(h), pixels(static_cast<std::size_t>(w) * h, fill) {}
  float& at(int x, int y) { return pixels[static_cast<std::size_t>(y) * width + x]; }
  float at(int x, int y) const { return pixels[static_cast<std::size_t>(y) * width + x]; }
  bool empty() const { return pixels.empty(); }
};

struct Labels {
  int width = 0;
  int height = 0;
  std::int32_t count = 0;  // labels are 1..count (a tertiary object may be empty)
  std::vector<std::int32_t> pixels;

  Labels() = default;
  Labels(int w, int h) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h, 0) {}
  std::int32_t& at(int x, int y) { return pixels[static_cast<std::size_t>(y) * width + x]; }
  std::int32_t at(int x, int y) const { return pixels[static_cast<std::size_t>(y) * width + x]; }
};

}  // namespace sund::cells
