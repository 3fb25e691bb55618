// Definitions, as CellProfiler 4.0's MeasureTexture computes them per object (scikit-image 0.17,
// mahotas 1.4 features.haralick with ignore_zeros=True). x is the column, y the row.
//
// Gray levels (over the whole image, before the objects are cut out):
// - g = img_as_ubyte(v): v * 255 in float32 (CellProfiler holds images as float32), rounded half to
//   even (numpy.rint), clipped to 0..255. A value outside [-1, 1] makes scikit-image raise; NaN
//   passes that check and numpy's cast to uint8 gives 0 on x86-64.
// - With L = gray_levels != 256: g = trunc(g / 255.0 * (L - 1)) (rescale_intensity to the float
//   range (0, L - 1), then CellProfiler's astype(uint8)).
// Each object is its regionprops intensity_image: its bounding box, gray 0 outside the object.
//
// Co-occurrence (mahotas): direction d has the offset (dy, dx) = s * (0, 1), (1, 1), (1, 0),
// (1, -1) for d = 0..3 (00 horizontal, 01 down-right, 02 vertical, 03 down-left). For every box
// pixel q whose partner q + (dy, dx) is inside the box, C[g(q)][g(q + (dy, dx))] += 1; then
// P = C + C^T (symmetric; a pair of equal levels adds 2 to the diagonal). ignore_zeros clears row
// and column 0, so a pair with a pixel of gray 0 (outside the object, or dark inside it) drops
// out. T = sum P. When T = 0 in any of the four directions mahotas raises ValueError:
// CellProfiler stores NaN for the object's 52 features and then (record_measurement) replaces
// every non-finite value by 0.
//
// With p = P / T indexed by the gray levels themselves, i, j = 0..M-1, M = the object's largest
// gray level + 1 (the size of mahotas' matrix): px = column sums of p, py = row sums (equal, p is
// symmetric); p_{x+y}(k) = sum over i + j = k of p_ij, k = 0..2M-1; p_{x-y}(k) = sum over
// |i - j| = k, k = 0..M-1; ux = sum i px(i), vx = sum i^2 px(i) - ux^2 (the same for y);
// H(v) = -sum over v > 0 of v log2 v; HX = H(px), HY = H(py).
// - AngularSecondMoment = sum p^2. Contrast = sum k^2 p_{x-y}(k).
// - Correlation = (sum i j p_ij - ux uy) / (sx sy), sx = sqrt(vx); 1 when sx or sy is 0.
// - Variance = vx (the marginal's variance, not the paper's sum of squares about the matrix mean).
// - InverseDifferenceMoment = sum p_ij / (1 + (i - j)^2).
// - SumAverage = sum k p_{x+y}(k); SumVariance = sum k^2 p_{x+y}(k) - SumAverage^2 (mahotas
//   corrects the paper's typo, which centres on SumEntropy); SumEntropy = H(p_{x+y}).
// - Entropy = H(p).
// - DifferenceVariance = the population variance of the M numbers p_{x-y}(0..M-1) themselves
//   (mahotas' default "VAR[P(|x-y|)]", not the variance of |x - y|): it depends on M, so on the
//   object's brightest pixel even when that pixel is in no pair. DifferenceEntropy = H(p_{x-y}).
// - InfoMeas1 = (Entropy - HXY1) / max(HX, HY), HXY1 = -sum p_ij log2(px(i) py(j)); not divided
//   when max(HX, HY) = 0.
// - InfoMeas2 = sqrt(max(0, 1 - exp(-2 (HXY2 - Entropy)))), HXY2 = -sum px(i) py(j)
//   log2(px(i) py(j)): a natural exponential of entropies in bits, as mahotas has it.
//   Both HXY1 and HXY2 equal HX + HY (p's row and column sums are px and py), which is how they
//   are computed here; mahotas sums them term by term.
// Sums run in another order than numpy's, and log2(c / T) is taken as log2 c - log2 T, so values
// agree with CellProfiler's to rounding (relative 1e-13 or so; exact zeros and ones, e.g. of a
// uniform object, stay exact), except that InfoMeas2 of an object whose HXY2 - Entropy is a
// rounding error away from 0 can differ by up to about 1e-8 (the square root of that error).
#include "cells/texture.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sund::cells {
namespace {

using std::int32_t;
using std::int64_t;

constexpr int kFeatures = 13;
constexpr int kDirections = 4;
constexpr int kMaxLevels = 256;

// CellProfiler's F_HARALICK, in mahotas' order.
constexpr std::array<std::string_view, kFeatures> kFeatureNames = {
    "AngularSecondMoment", "Contrast",    "Correlation", "Variance", "InverseDifferenceMoment",
    "SumAverage",          "SumVariance", "SumEntropy",  "Entropy",  "DifferenceVariance",
    "DifferenceEntropy",   "InfoMeas1",   "InfoMeas2"};

// mahotas' 2-D directions as (dy, dx) per unit of scale.
constexpr std::array<std::array<int, 2>, kDirections> kDeltas = {{{0, 1}, {1, 1}, {1, 0}, {1, -1}}};

using Features = std::array<double, kFeatures>;

struct Box {
  int x0 = std::numeric_limits<int>::max(), y0 = std::numeric_limits<int>::max();
  int x1 = -1, y1 = -1;  // inclusive; x1 < x0 while the label has no pixel
  bool empty() const { return x1 < 0; }
};

// Counts by bin, with a list of the nonzero bins so that sparse histograms are read and cleared
// in time proportional to those.
template <int N>
struct Histogram {
  std::array<int64_t, N> count{};
  std::array<std::uint16_t, N> bins;
  int n_bins = 0;

  void Add(int k, int64_t c) {
    if (count[k] == 0) bins[n_bins++] = static_cast<std::uint16_t>(k);
    count[k] += c;
  }
  std::span<const std::uint16_t> nonzero() const { return {bins.data(), bins.data() + n_bins}; }
  void Clear() {
    for (int i = 0; i < n_bins; ++i) count[bins[i]] = 0;
    n_bins = 0;
  }
};

// Buffers reused across objects and directions. The co-occurrence counts are kept for unordered
// level pairs (lo <= hi) at counts[lo * 256 + hi]; `touched` lists the nonzero ones so that only
// they are read and reset.
struct Scratch {
  std::vector<std::uint8_t> patch;  // the object's intensity_image
  std::vector<int32_t> counts = std::vector<int32_t>(kMaxLevels * kMaxLevels, 0);
  std::vector<std::uint16_t> touched;
  // Histograms of P, all zero between calls of Haralick.
  Histogram<kMaxLevels> marginal;       // row sums of P
  Histogram<2 * kMaxLevels> sums;       // P summed by i + j
  Histogram<kMaxLevels> diffs;          // P summed by |i - j|
  std::vector<double> log2_of = {0.0};  // log2_of[n] = log2(n) for n >= 1

  // log2(c / total) for counts 0 < c <= total: exactly 0 when c = total, as numpy's log2(1.0).
  double Log2Ratio(int64_t c, int64_t total) const { return log2_of[c] - log2_of[total]; }
  void GrowLog2(int64_t n) {
    for (int64_t k = static_cast<int64_t>(log2_of.size()); k <= n; ++k) {
      log2_of.push_back(std::log2(static_cast<double>(k)));
    }
  }
};

// Counts the pairs (q, q + (dy, dx)) of nonzero pixels of the w x h patch; returns their number.
int64_t CountPairs(const std::uint8_t* patch, int w, int h, int64_t dy, int64_t dx, Scratch& s) {
  if (dy >= h || dx >= w || -dx >= w) return 0;
  const int x_begin = dx < 0 ? static_cast<int>(-dx) : 0;
  const int x_end = dx > 0 ? w - static_cast<int>(dx) : w;
  const std::ptrdiff_t offset = static_cast<std::ptrdiff_t>(dy) * w + dx;
  int64_t pairs = 0;
  for (int y = 0; y + dy < h; ++y) {
    const std::uint8_t* row = patch + static_cast<std::ptrdiff_t>(y) * w;
    for (int x = x_begin; x < x_end; ++x) {
      const unsigned a = row[x];
      if (a == 0) continue;
      const unsigned b = row[x + offset];
      if (b == 0) continue;
      const unsigned key = a <= b ? (a << 8) | b : (b << 8) | a;
      if (s.counts[key]++ == 0) s.touched.push_back(static_cast<std::uint16_t>(key));
      ++pairs;
    }
  }
  return pairs;
}

// -sum v log2 v over the histogram's nonzero bins, v = count / total.
template <int N>
double Entropy(const Histogram<N>& hist, int64_t total, const Scratch& s) {
  double h = 0;
  for (const std::uint16_t k : hist.nonzero()) {
    const int64_t c = hist.count[k];
    h -= static_cast<double>(c) / static_cast<double>(total) * s.Log2Ratio(c, total);
  }
  return h;
}

// The 13 features of the counted pairs (pairs > 0), levels = M; resets the counts.
Features Haralick(int64_t pairs, int levels, Scratch& s) {
  const int64_t total = 2 * pairs;  // T
  const double t = static_cast<double>(total);
  s.GrowLog2(total);

  // Matrix sums. An unordered pair a < b stands for the entries (a, b) and (b, a), each
  // p = n / T; a == b for the one entry (a, a) with p = 2n / T.
  double asm_sum = 0, entropy = 0, idm = 0, ij_sum = 0;
  for (const std::uint16_t key : s.touched) {
    const int a = key >> 8, b = key & 0xff;
    const int64_t n = s.counts[key];
    s.marginal.Add(a, n);
    s.marginal.Add(b, n);
    s.sums.Add(a + b, 2 * n);
    s.diffs.Add(b - a, 2 * n);
    const double copies = a == b ? 1.0 : 2.0;
    const int64_t c = a == b ? 2 * n : n;
    const double p = static_cast<double>(c) / t;
    asm_sum += copies * p * p;
    entropy -= copies * p * s.Log2Ratio(c, total);
    idm += copies * p / (1.0 + static_cast<double>((b - a) * (b - a)));
    ij_sum += copies * p * a * b;
  }

  double ux = 0, x2 = 0, px_sum = 0, hx = 0;
  for (const std::uint16_t k : s.marginal.nonzero()) {
    const double px = static_cast<double>(s.marginal.count[k]) / t;
    ux += px * k;
    x2 += px * k * k;
    px_sum += px;
    hx -= px * s.Log2Ratio(s.marginal.count[k], total);
  }
  s.marginal.Clear();
  const double vx = x2 - ux * ux;
  const double sx = std::sqrt(vx);

  for (const std::uint16_t key : s.touched) s.counts[key] = 0;
  s.touched.clear();

  // p_{x-y} over its M entries, zeros included (DifferenceVariance is their variance).
  double contrast = 0, diff_mean = 0;
  for (const std::uint16_t k : s.diffs.nonzero()) {
    const double v = static_cast<double>(s.diffs.count[k]) / t;
    contrast += static_cast<double>(k) * k * v;
    diff_mean += v;
  }
  diff_mean /= levels;
  const auto diff_zeros = static_cast<double>(levels - s.diffs.n_bins);
  double diff_var = diff_zeros * diff_mean * diff_mean;
  for (const std::uint16_t k : s.diffs.nonzero()) {
    const double d = static_cast<double>(s.diffs.count[k]) / t - diff_mean;
    diff_var += d * d;
  }
  diff_var /= levels;

  double sum_avg = 0, sum_sq = 0;
  for (const std::uint16_t k : s.sums.nonzero()) {
    const double v = static_cast<double>(s.sums.count[k]) / t;
    sum_avg += k * v;
    sum_sq += static_cast<double>(k) * k * v;
  }

  // p is symmetric, so py = px. HXY1 = -sum p_ij (log2 px(i) + log2 py(j)) = HX + HY, because
  // the row and column sums of p are px and py; HXY2 factorises the same way.
  const double hy = hx;
  const double hxy1 = hx + hy;
  const double hxy2 = hx * px_sum + hy * px_sum;
  const double h_max = std::max(hx, hy);

  Features f;
  f[0] = asm_sum;
  f[1] = contrast;
  f[2] = sx == 0.0 ? 1.0 : (1.0 / sx / sx) * (ij_sum - ux * ux);
  f[3] = vx;
  f[4] = idm;
  f[5] = sum_avg;
  f[6] = sum_sq - sum_avg * sum_avg;
  f[7] = Entropy(s.sums, total, s);
  f[8] = entropy;
  f[9] = diff_var;
  f[10] = Entropy(s.diffs, total, s);
  f[11] = h_max == 0.0 ? entropy - hxy1 : (entropy - hxy1) / h_max;
  f[12] = std::sqrt(std::max(0.0, 1.0 - std::exp(-2.0 * (hxy2 - entropy))));
  s.sums.Clear();
  s.diffs.Clear();
  return f;
}

// img_as_ubyte of an image value in [-1, 1] or NaN, then the rescaling to gray_levels (`rescale`).
std::uint8_t GrayLevel(float v, const std::array<std::uint8_t, 256>& rescale) {
  if (!(v > 0.0f)) return 0;                         // NaN, and values that round and clip to 0
  const float rounded = std::nearbyint(v * 255.0f);  // float32 product, half to even
  return rescale[static_cast<int>(std::min(rounded, 255.0f))];
}

}  // namespace

Status MeasureTexture(const Labels& labels, const Image& image, std::string_view channel, int scale,
                      int gray_levels, MeasurementTable& out) {
  if (channel.empty()) return InvalidArgument("texture: empty channel name");
  if (scale < 0) return InvalidArgument("texture: scale " + std::to_string(scale) + " below 0");
  if (gray_levels < 2 || gray_levels > kMaxLevels) {
    return InvalidArgument("texture: gray_levels " + std::to_string(gray_levels) +
                           " outside 2..256");
  }
  if (labels.width < 0 || labels.height < 0 || labels.count < 0) {
    return InvalidArgument("labels: negative size or object count");
  }
  const int width = labels.width, height = labels.height;
  const std::size_t n_pixels = static_cast<std::size_t>(width) * height;
  if (labels.pixels.size() != n_pixels) {
    return InvalidArgument("labels: " + std::to_string(labels.pixels.size()) + " pixels for " +
                           std::to_string(width) + "x" + std::to_string(height));
  }
  if (image.width != width || image.height != height || image.pixels.size() != n_pixels) {
    return InvalidArgument("texture: image " + std::to_string(image.width) + "x" +
                           std::to_string(image.height) + " does not match labels " +
                           std::to_string(width) + "x" + std::to_string(height));
  }
  const int32_t count = labels.count;
  if (!out.columns.empty() && out.rows != count) {
    return InvalidArgument("measurement table: holds " + std::to_string(out.rows) +
                           " objects, the labels " + std::to_string(count));
  }
  bool out_of_range = false;  // NaN passes, as in scikit-image
  for (const float v : image.pixels) out_of_range |= (v < -1.0f) | (v > 1.0f);
  if (out_of_range) return InvalidArgument("texture: image values outside [-1, 1]");

  std::vector<Box> boxes(static_cast<std::size_t>(count) + 1);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int32_t l = labels.at(x, y);
      if (l == 0) continue;
      if (l < 0 || l > count) {
        return InvalidArgument("labels: pixel label " + std::to_string(l) + " outside 0.." +
                               std::to_string(count));
      }
      Box& b = boxes[l];
      b.x0 = std::min(b.x0, x);
      b.x1 = std::max(b.x1, x);
      b.y0 = std::min(b.y0, y);
      b.y1 = std::max(b.y1, y);
    }
  }

  // Columns feature-major, as CellProfiler's get_measurement_columns lists them.
  const std::string suffix = "_" + std::string(channel) + "_" + std::to_string(scale) + "_";
  std::array<std::array<std::string, kDirections>, kFeatures> names;
  out.rows = count;
  for (int f = 0; f < kFeatures; ++f) {
    for (int d = 0; d < kDirections; ++d) {
      names[f][d] = "Texture_" + std::string(kFeatureNames[f]) + suffix + "0" + std::to_string(d) +
                    "_" + std::to_string(gray_levels);
      out.AddColumn(names[f][d]);
    }
  }
  std::array<std::array<double*, kDirections>, kFeatures> columns;
  for (int f = 0; f < kFeatures; ++f) {
    for (int d = 0; d < kDirections; ++d) columns[f][d] = out.Find(names[f][d])->data();
  }

  std::array<std::uint8_t, 256> rescale;
  for (int v = 0; v < 256; ++v) {
    // rescale_intensity to the float range (0, L - 1), then astype(uint8): truncation.
    rescale[v] =
        gray_levels == 256
            ? static_cast<std::uint8_t>(v)
            : static_cast<std::uint8_t>(static_cast<double>(v) / 255.0 * (gray_levels - 1));
  }
  Scratch scratch;
  std::array<Features, kDirections> features;
  for (int32_t l = 1; l <= count; ++l) {
    const Box& box = boxes[l];
    if (box.empty()) continue;
    const int w = box.x1 - box.x0 + 1, h = box.y1 - box.y0 + 1;
    scratch.patch.resize(static_cast<std::size_t>(w) * h);
    int max_gray = 0;
    for (int y = 0; y < h; ++y) {
      const std::size_t src = static_cast<std::size_t>(box.y0 + y) * width + box.x0;
      std::uint8_t* dst = scratch.patch.data() + static_cast<std::size_t>(y) * w;
      for (int x = 0; x < w; ++x) {
        dst[x] = labels.pixels[src + x] == l ? GrayLevel(image.pixels[src + x], rescale) : 0;
        max_gray = std::max<int>(max_gray, dst[x]);
      }
    }
    bool defined = true;
    for (int d = 0; d < kDirections && defined; ++d) {
      const int64_t pairs =
          CountPairs(scratch.patch.data(), w, h, static_cast<int64_t>(kDeltas[d][0]) * scale,
                     static_cast<int64_t>(kDeltas[d][1]) * scale, scratch);
      if (pairs == 0) {
        defined = false;
      } else {
        features[d] = Haralick(pairs, max_gray + 1, scratch);
      }
    }
    for (int f = 0; f < kFeatures; ++f) {
      for (int d = 0; d < kDirections; ++d) {
        const double v = defined ? features[d][f] : 0.0;
        columns[f][d][l - 1] = std::isfinite(v) ? v : 0.0;
      }
    }
  }
  return Status::Ok();
}

}  // namespace sund::cells
