#include "cells/threshold.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "cells/internal/cp_ops.h"

namespace sund::cells {
namespace {

using internal::Size;

// The finite values, ascending, as radix-sortable keys (IEEE bit patterns with the sign folded
// so that unsigned order is numeric order): the images are large and this is on the hot path.
std::vector<std::uint32_t> SortedKeys(std::span<const float> values) {
  std::vector<std::uint32_t> keys;
  keys.reserve(values.size());
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v == 0.0f ? 0.0f : v);
    keys.push_back((bits & 0x80000000u) ? ~bits : (bits | 0x80000000u));
  }
  std::vector<std::uint32_t> tmp(keys.size());
  for (int shift = 0; shift < 32; shift += 11) {
    std::uint32_t count[2049] = {0};
    for (std::uint32_t k : keys) ++count[((k >> shift) & 0x7ffu) + 1];
    if (count[((keys.empty() ? 0 : keys[0]) >> shift & 0x7ffu) + 1] == keys.size()) continue;
    for (int i = 1; i < 2049; ++i) count[i] += count[i - 1];
    for (std::uint32_t k : keys) tmp[count[(k >> shift) & 0x7ffu]++] = k;
    keys.swap(tmp);
  }
  return keys;
}

float KeyValue(std::uint32_t k) {
  return std::bit_cast<float>((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

std::vector<float> SortedFinite(std::span<const float> values) {
  const std::vector<std::uint32_t> keys = SortedKeys(values);
  std::vector<float> out(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) out[i] = KeyValue(keys[i]);
  return out;
}

// The distinct finite values, ascending, with their counts. Images from 8- or 16-bit files hold
// few distinct values: a small hash table finds them without sorting the pixels; a sort takes
// over when the values turn out to be (nearly) all distinct.
void UniqueCounts(std::span<const float> values, std::vector<float>& unique,
                  std::vector<double>& counts) {
  unique.clear();
  counts.clear();
  std::size_t capacity = 1024;
  std::vector<std::uint32_t> keys(capacity, 0);  // 0 = empty: no finite float folds to 0
  std::vector<std::uint32_t> tally(capacity, 0);
  std::size_t distinct = 0;
  const std::size_t limit = std::max<std::size_t>(65536, values.size() / 16);
  bool too_many = false;
  auto insert = [&](std::vector<std::uint32_t>& ks, std::vector<std::uint32_t>& ts,
                    std::uint32_t key, std::uint32_t add) {
    const std::size_t mask = ks.size() - 1;
    std::size_t slot = (key * 0x9E3779B1u) & mask;
    while (ks[slot] != 0 && ks[slot] != key) slot = (slot + 1) & mask;
    if (ks[slot] == 0) {
      ks[slot] = key;
      ++distinct;
    }
    ts[slot] += add;
  };
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v == 0.0f ? 0.0f : v);
    const std::uint32_t key = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    insert(keys, tally, key, 1);
    if (distinct * 2 > capacity) {
      if (distinct > limit) {
        too_many = true;
        break;
      }
      std::vector<std::uint32_t> bigger_keys(capacity * 2, 0), bigger_tally(capacity * 2, 0);
      distinct = 0;
      for (std::size_t i = 0; i < capacity; ++i) {
        if (keys[i]) insert(bigger_keys, bigger_tally, keys[i], tally[i]);
      }
      keys.swap(bigger_keys);
      tally.swap(bigger_tally);
      capacity *= 2;
    }
  }
  if (too_many) {
    const std::vector<std::uint32_t> sorted = SortedKeys(values);
    for (std::size_t i = 0; i < sorted.size();) {
      std::size_t j = i + 1;
      while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
      unique.push_back(KeyValue(sorted[i]));
      counts.push_back(static_cast<double>(j - i));
      i = j;
    }
    return;
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> found;
  found.reserve(distinct);
  for (std::size_t i = 0; i < capacity; ++i) {
    if (keys[i]) found.emplace_back(keys[i], tally[i]);
  }
  std::sort(found.begin(), found.end());
  for (const auto& [key, n] : found) {
    unique.push_back(KeyValue(key));
    counts.push_back(n);
  }
}

// numpy.histogram(values, nbins) over [min, max] as skimage.exposure.histogram calls it for a
// float32 image: float32 bin edges, the last bin closed.
struct Histogram {
  std::vector<double> counts;
  std::vector<float> centers;
};

Histogram MakeHistogram(std::span<const float> values, float lo, float hi, int nbins) {
  Histogram hist;
  hist.counts.assign(nbins, 0.0);
  hist.centers.resize(nbins);
  std::vector<float> edges(nbins + 1);
  const double step = (static_cast<double>(hi) - lo) / nbins;
  for (int k = 0; k <= nbins; ++k) edges[k] = static_cast<float>(lo + k * step);
  edges[nbins] = hi;
  for (int k = 0; k < nbins; ++k) hist.centers[k] = (edges[k] + edges[k + 1]) / 2.0f;
  const double norm = nbins / (static_cast<double>(hi) - lo);
  for (float v : values) {
    if (!(v >= lo && v <= hi)) continue;
    int idx = static_cast<int>((static_cast<double>(v) - lo) * norm);
    idx = std::clamp(idx, 0, nbins - 1);
    if (v < edges[idx]) {
      --idx;
    } else if (idx != nbins - 1 && v >= edges[idx + 1]) {
      ++idx;
    }
    hist.counts[std::clamp(idx, 0, nbins - 1)] += 1;
  }
  return hist;
}

bool MinMax(std::span<const float> values, float& lo, float& hi) {
  lo = std::numeric_limits<float>::infinity();
  hi = -lo;
  bool any = false;
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    any = true;
  }
  return any;
}

// Recursive search of skimage's _get_multiotsu_thresh_indices_lut, float32 like the Cython.
float SearchMultiOtsu(const std::vector<float>& var, int nbins, int hist_idx, int thresh_idx,
                      int thresh_count, float sigma_max, std::vector<int>& current,
                      std::vector<int>& best) {
  auto lut = [&](long i, long j) { return var[(i * (2 * nbins - i + 1)) / 2 + j - i]; };
  if (thresh_idx < thresh_count) {
    for (int idx = hist_idx; idx < nbins - thresh_count + thresh_idx; ++idx) {
      current[thresh_idx] = idx;
      sigma_max = SearchMultiOtsu(var, nbins, idx + 1, thresh_idx + 1, thresh_count, sigma_max,
                                  current, best);
    }
    return sigma_max;
  }
  float sigma = lut(0, current[0]) + lut(current[thresh_count - 1] + 1, nbins - 1);
  for (int i = 0; i < thresh_count - 1; ++i) sigma += lut(current[i] + 1, current[i + 1]);
  if (sigma > sigma_max) {
    sigma_max = sigma;
    best = current;
  }
  return sigma_max;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  const double upper = v[mid];
  if (v.size() % 2) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + mid);
  return (lower + upper) / 2;
}

// get_global_threshold of CellProfiler's Threshold module, before the correction.
double GlobalThreshold(std::span<const float> values, const ThresholdOptions& options,
                       bool automatic) {
  float lo, hi;
  if (!MinMax(values, lo, hi)) return 0.0;
  if (lo == hi) return lo;
  if (automatic || options.method == ThresholdMethod::kMinimumCrossEntropy) {
    return LiThreshold(values);
  }
  switch (options.method) {
    case ThresholdMethod::kOtsu:
      if (options.otsu_classes == OtsuClasses::kTwo) return OtsuThreshold(values);
      {
        const std::vector<double> t = MultiOtsuThresholds(values, 3, 128);
        if (t.size() != 2) return OtsuThreshold(values);
        return options.middle_class == MiddleClass::kForeground ? t[0] : t[1];
      }
    case ThresholdMethod::kRobustBackground:
      return RobustBackgroundThreshold(values, options);
    case ThresholdMethod::kManual:
      return options.manual_threshold;
    case ThresholdMethod::kMinimumCrossEntropy:
      break;
  }
  return LiThreshold(values);
}

double Correct(double threshold, const ThresholdOptions& options) {
  return std::min(std::max(threshold * options.correction_factor, options.lower_bound),
                  options.upper_bound);
}

// Interpolating B-spline of degree k through (x_i, z_i) on [xb, xe], with FITPACK's knots for
// s = 0 (regrid): the coefficients, and the knots through `knots`.
struct Spline1D {
  std::vector<double> knots;
  int k = 3;
};

Spline1D MakeKnots(const std::vector<double>& x, int k, double xb, double xe) {
  Spline1D s;
  s.k = k;
  const int m = static_cast<int>(x.size());
  for (int i = 0; i <= k; ++i) s.knots.push_back(xb);
  const int interior = m - k - 1;
  if (k % 2 == 1) {
    const int j0 = (k + 1) / 2;
    for (int l = 0; l < interior; ++l) s.knots.push_back(x[j0 + l]);
  } else {
    const int j0 = k / 2 + 1;
    for (int l = 0; l < interior; ++l) s.knots.push_back((x[j0 + l] + x[j0 + l - 1]) / 2);
  }
  for (int i = 0; i <= k; ++i) s.knots.push_back(xe);
  return s;
}

// Values of the k+1 nonzero B-splines at x (de Boor / Cox), and the index of the first.
int BasisAt(const Spline1D& s, double x, std::vector<double>& out) {
  const std::vector<double>& t = s.knots;
  const int k = s.k;
  const int n = static_cast<int>(t.size()) - k - 1;  // number of basis functions
  int span = k;
  while (span < n - 1 && x >= t[span + 1]) ++span;
  out.assign(k + 1, 0.0);
  out[0] = 1.0;
  std::vector<double> left(k + 1), right(k + 1);
  for (int j = 1; j <= k; ++j) {
    left[j] = x - t[span + 1 - j];
    right[j] = t[span + j] - x;
    double saved = 0.0;
    for (int r = 0; r < j; ++r) {
      const double denom = right[r + 1] + left[j - r];
      const double temp = denom != 0 ? out[r] / denom : 0.0;
      out[r] = saved + right[r + 1] * temp;
      saved = left[j - r] * temp;
    }
    out[j] = saved;
  }
  return span - k;
}

// Solves A c = z for the collocation matrix of the spline at x (dense; at most a few dozen
// points per axis).
std::vector<std::vector<double>> CollocationInverse(const Spline1D& s,
                                                    const std::vector<double>& x) {
  const int m = static_cast<int>(x.size());
  std::vector<std::vector<double>> a(m, std::vector<double>(2 * m, 0.0));
  std::vector<double> basis;
  for (int i = 0; i < m; ++i) {
    const int first = BasisAt(s, x[i], basis);
    for (int b = 0; b <= s.k; ++b) {
      if (first + b < m) a[i][first + b] = basis[b];
    }
    a[i][m + i] = 1.0;
  }
  for (int col = 0; col < m; ++col) {
    int pivot = col;
    for (int r = col + 1; r < m; ++r) {
      if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
    }
    std::swap(a[col], a[pivot]);
    const double d = a[col][col];
    if (d == 0) continue;
    for (double& v : a[col]) v /= d;
    for (int r = 0; r < m; ++r) {
      if (r == col || a[r][col] == 0) continue;
      const double f = a[r][col];
      for (int c = 0; c < 2 * m; ++c) a[r][c] -= f * a[col][c];
    }
  }
  std::vector<std::vector<double>> inverse(m, std::vector<double>(m));
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) inverse[i][j] = a[i][m + j];
  }
  return inverse;
}

// scipy.interpolate.RectBivariateSpline(bx, by, z, bbox, kx=ky=k) evaluated on the grid
// (ex x ey), as Threshold._get_adaptive_threshold blends the block thresholds.
std::vector<double> BlendBlocks(const std::vector<double>& bx, const std::vector<double>& by,
                                const std::vector<double>& z, int k, double xb, double xe,
                                double yb, double ye, const std::vector<double>& ex,
                                const std::vector<double>& ey) {
  const int mx = static_cast<int>(bx.size());
  const int my = static_cast<int>(by.size());
  const Spline1D sx = MakeKnots(bx, k, xb, xe);
  const Spline1D sy = MakeKnots(by, k, yb, ye);
  const auto ix = CollocationInverse(sx, bx);
  const auto iy = CollocationInverse(sy, by);
  // c = Ix * Z * Iy^T
  std::vector<double> tmp(static_cast<std::size_t>(mx) * my, 0.0);
  for (int i = 0; i < mx; ++i) {
    for (int j = 0; j < my; ++j) {
      double acc = 0;
      for (int l = 0; l < mx; ++l) acc += ix[i][l] * z[static_cast<std::size_t>(l) * my + j];
      tmp[static_cast<std::size_t>(i) * my + j] = acc;
    }
  }
  std::vector<double> c(static_cast<std::size_t>(mx) * my, 0.0);
  for (int i = 0; i < mx; ++i) {
    for (int j = 0; j < my; ++j) {
      double acc = 0;
      for (int l = 0; l < my; ++l) acc += tmp[static_cast<std::size_t>(i) * my + l] * iy[j][l];
      c[static_cast<std::size_t>(i) * my + j] = acc;
    }
  }
  // Evaluate: rows first (for each ex, a row of my partial sums), then columns.
  std::vector<double> out(ex.size() * ey.size());
  std::vector<std::vector<double>> ybasis(ey.size());
  std::vector<int> yfirst(ey.size());
  for (std::size_t j = 0; j < ey.size(); ++j) {
    yfirst[j] = BasisAt(sy, std::clamp(ey[j], yb, ye), ybasis[j]);
  }
  std::vector<double> xbasis, row(my);
  for (std::size_t i = 0; i < ex.size(); ++i) {
    const int xf = BasisAt(sx, std::clamp(ex[i], xb, xe), xbasis);
    std::fill(row.begin(), row.end(), 0.0);
    for (int a = 0; a <= k; ++a) {
      if (xf + a >= mx) continue;
      for (int j = 0; j < my; ++j) {
        row[j] += xbasis[a] * c[static_cast<std::size_t>(xf + a) * my + j];
      }
    }
    for (std::size_t j = 0; j < ey.size(); ++j) {
      double acc = 0;
      for (int b = 0; b <= k; ++b) {
        if (yfirst[j] + b < my) acc += ybasis[j][b] * row[yfirst[j] + b];
      }
      out[i * ey.size() + j] = acc;
    }
  }
  return out;
}

std::vector<double> Linspace(double a, double b, int n) {
  std::vector<double> v(n);
  if (n == 1) {
    v[0] = a;
    return v;
  }
  const double step = (b - a) / (n - 1);
  for (int i = 0; i < n; ++i) v[i] = a + i * step;
  v[n - 1] = b;
  return v;
}

// Threshold._get_adaptive_threshold: one threshold per block of the window size, blended across
// the image by a bicubic spline. Masked-out pixels are excluded from their block.
Result<std::vector<double>> AdaptiveThreshold(const Image& image,
                                              std::span<const std::uint8_t> mask,
                                              const ThresholdOptions& options) {
  const int rows = image.height;
  const int cols = image.width;
  const int window = options.adaptive_window;
  if (window <= 0 || rows / window < 2 || cols / window < 2) {
    return InvalidArgument("adaptive window of " + std::to_string(window) +
                           " px is over half of a " + std::to_string(cols) + "x" +
                           std::to_string(rows) + " image");
  }
  const int nby = rows / window;
  const int nbx = cols / window;
  const double inc_y = static_cast<double>(rows) / nby;
  const double inc_x = static_cast<double>(cols) / nbx;
  std::vector<double> block_threshold(static_cast<std::size_t>(nby) * nbx);
  std::vector<float> block;
  for (int i = 0; i < nby; ++i) {
    const int i0 = static_cast<int>(i * inc_y);
    const int i1 = static_cast<int>((i + 1) * inc_y);
    for (int j = 0; j < nbx; ++j) {
      const int j0 = static_cast<int>(j * inc_x);
      const int j1 = static_cast<int>((j + 1) * inc_x);
      block.clear();
      for (int y = i0; y < i1; ++y) {
        for (int x = j0; x < j1; ++x) {
          const std::size_t p = static_cast<std::size_t>(y) * cols + x;
          if (mask.empty() || mask[p]) block.push_back(image.pixels[p]);
        }
      }
      double t = 0.0;
      float lo, hi;
      if (!MinMax(block, lo, hi)) {
        t = 0.0;
      } else if (lo == hi) {
        t = lo;
      } else {
        switch (options.method) {
          case ThresholdMethod::kOtsu:
            if (options.otsu_classes == OtsuClasses::kTwo) {
              t = OtsuThreshold(block);
            } else {
              std::vector<double> mt = MultiOtsuThresholds(block, 3, 128);
              if (mt.size() != 2) mt = MultiOtsuThresholds(block, 3, 256);
              if (mt.size() != 2) {
                t = OtsuThreshold(block);
              } else {
                t = options.middle_class == MiddleClass::kForeground ? mt[0] : mt[1];
              }
            }
            break;
          case ThresholdMethod::kRobustBackground:
            t = RobustBackgroundThreshold(block, options);
            break;
          default:
            t = LiThreshold(block);
            break;
        }
      }
      block_threshold[static_cast<std::size_t>(i) * nbx + j] = t;
    }
  }
  const int order = std::min(3, std::min(nby, nbx) - 1);
  const std::vector<double> by =
      Linspace(static_cast<int>(inc_y / 2), static_cast<int>((nby - 0.5) * inc_y), nby);
  const std::vector<double> bx =
      Linspace(static_cast<int>(inc_x / 2), static_cast<int>((nbx - 0.5) * inc_x), nbx);
  const std::vector<double> ey = Linspace(0.5, static_cast<int>(nby * inc_y) - 0.5, rows);
  const std::vector<double> ex = Linspace(0.5, static_cast<int>(nbx * inc_x) - 0.5, cols);
  return BlendBlocks(by, bx, block_threshold, order, 0.5, rows - 0.5, 0.5, cols - 0.5, ey, ex);
}

Status Validate(const Image& image, std::span<const std::uint8_t> mask,
                const ThresholdOptions& options) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height) {
    return InvalidArgument("image is empty or its pixel count does not match its size");
  }
  if (!mask.empty() && mask.size() != image.pixels.size()) {
    return InvalidArgument("mask size does not match the image");
  }
  if (!(options.lower_bound <= options.upper_bound)) {
    return InvalidArgument("threshold lower bound is above the upper bound");
  }
  if (options.smoothing_scale < 0) {
    return InvalidArgument("threshold smoothing scale is negative");
  }
  return Status::Ok();
}

}  // namespace

double OtsuThreshold(std::span<const float> values, int nbins) {
  float lo, hi;
  if (!MinMax(values, lo, hi)) return 0.0;
  if (lo == hi || nbins < 2) return lo;
  const Histogram h = MakeHistogram(values, lo, hi, nbins);
  std::vector<double> w1(nbins), w2(nbins), m1(nbins), m2(nbins);
  double cw = 0, cm = 0;
  for (int i = 0; i < nbins; ++i) {
    cw += h.counts[i];
    cm += h.counts[i] * static_cast<double>(h.centers[i]);
    w1[i] = cw;
    m1[i] = cm / cw;
  }
  cw = 0;
  cm = 0;
  for (int i = nbins - 1; i >= 0; --i) {
    cw += h.counts[i];
    cm += h.counts[i] * static_cast<double>(h.centers[i]);
    w2[i] = cw;
    m2[i] = cm / cw;
  }
  int best = 0;
  double best_v = -1;
  for (int i = 0; i < nbins - 1; ++i) {
    const double d = m1[i] - m2[i + 1];
    const double v = w1[i] * w2[i + 1] * d * d;
    if (v > best_v) {  // np.argmax: the first maximum
      best_v = v;
      best = i;
    }
  }
  return h.centers[best];
}

std::vector<double> MultiOtsuThresholds(std::span<const float> values, int classes, int nbins) {
  float lo, hi;
  if (classes < 2 || !MinMax(values, lo, hi) || lo == hi || nbins < classes) return {};
  const Histogram h = MakeHistogram(values, lo, hi, nbins);
  const double total = std::accumulate(h.counts.begin(), h.counts.end(), 0.0);
  std::vector<float> prob(nbins);
  int nvalues = 0;
  for (int i = 0; i < nbins; ++i) {
    prob[i] = static_cast<float>(h.counts[i] / total);
    if (prob[i] != 0) ++nvalues;
  }
  std::vector<int> idx;
  if (nvalues < classes) return {};
  if (nvalues == classes) {
    for (int i = 0; i < nbins; ++i) {
      if (prob[i] > 0) idx.push_back(i);
    }
    idx.pop_back();
  } else {
    const int thresh_count = classes - 1;
    std::vector<float> var(static_cast<std::size_t>(nbins) * (nbins + 1) / 2, 0.0f);
    std::vector<float> zeroth(nbins), first(nbins);
    zeroth[0] = prob[0];
    first[0] = prob[0];  // sic: skimage weighs bin 0 by 1
    for (int i = 1; i < nbins; ++i) {
      zeroth[i] = zeroth[i - 1] + prob[i];
      first[i] = first[i - 1] + static_cast<float>(i) * prob[i];
      if (zeroth[i] > 0) {
        var[i] = static_cast<float>(static_cast<double>(first[i]) * first[i] / zeroth[i]);
      }
    }
    std::size_t k = nbins;
    for (int i = 1; i < nbins; ++i) {
      for (int j = i; j < nbins; ++j) {
        const float z = zeroth[j] - zeroth[i - 1];
        if (z > 0) {
          const float f = first[j] - first[i - 1];
          var[k] = static_cast<float>(static_cast<double>(f) * f / z);
        }
        ++k;
      }
    }
    std::vector<int> current(thresh_count), best(thresh_count, 0);
    SearchMultiOtsu(var, nbins, 0, 0, thresh_count, 0.0f, current, best);
    idx = best;
  }
  std::vector<double> out;
  for (int i : idx) out.push_back(h.centers[i]);
  return out;
}

double LiThreshold(std::span<const float> values, double tolerance) {
  std::vector<float> unique;
  std::vector<double> counts;
  UniqueCounts(values, unique, counts);
  if (unique.empty()) return 0.0;
  const float image_min = unique.front();
  if (unique.size() == 1) return image_min;
  const std::size_t n = unique.size();
  std::vector<float> shifted(n);
  for (std::size_t i = 0; i < n; ++i) shifted[i] = unique[i] - image_min;
  float tol = static_cast<float>(tolerance);
  if (tolerance <= 0) {
    float min_diff = std::numeric_limits<float>::infinity();
    for (std::size_t i = 1; i < n; ++i) {
      const float d = shifted[i] - shifted[i - 1];
      if (d > 0) min_diff = std::min(min_diff, d);
    }
    tol = min_diff / 2.0f;
  }
  // Prefix sums of the counts and of count * value, for the class means.
  std::vector<double> prefix_n(n + 1, 0.0), prefix_sum(n + 1, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    prefix_n[i + 1] = prefix_n[i] + counts[i];
    prefix_sum[i + 1] = prefix_sum[i] + counts[i] * shifted[i];
  }
  float t_next = static_cast<float>(prefix_sum[n] / prefix_n[n]);
  float t_curr = -2.0f * tol;
  for (int iteration = 0; iteration < 10000 && std::fabs(t_next - t_curr) > tol; ++iteration) {
    t_curr = t_next;
    // Foreground: shifted > t_curr.
    const std::size_t split = static_cast<std::size_t>(
        std::upper_bound(shifted.begin(), shifted.end(), t_curr) - shifted.begin());
    if (split == 0 || split == n) break;
    const float mean_back = static_cast<float>(prefix_sum[split] / prefix_n[split]);
    const float mean_fore =
        static_cast<float>((prefix_sum[n] - prefix_sum[split]) / (prefix_n[n] - prefix_n[split]));
    if (mean_back == 0.0f) break;
    const float num = mean_back - mean_fore;
    const float den = std::log(mean_back) - std::log(mean_fore);
    t_next = num / den;
  }
  return static_cast<float>(t_next + image_min);
}

double RobustBackgroundThreshold(std::span<const float> values, const ThresholdOptions& options) {
  const std::vector<float> sorted = SortedFinite(values);
  const std::size_t n = sorted.size();
  if (n < 3) return 0.0;
  if (sorted.front() == sorted.back()) return sorted.front();
  const auto low_chop =
      static_cast<std::size_t>(std::nearbyint(n * options.lower_outlier_fraction));
  const std::size_t hi_chop =
      n - static_cast<std::size_t>(std::nearbyint(n * options.upper_outlier_fraction));
  std::vector<double> im;
  if (low_chop == 0) {
    im.assign(sorted.begin(), sorted.end());
  } else if (hi_chop > low_chop) {
    im.assign(sorted.begin() + low_chop, sorted.begin() + hi_chop);
  }
  if (im.empty()) return 0.0;
  double average;
  if (options.averaging == AveragingMethod::kMedian) {
    average = Median(im);
  } else {
    average = std::accumulate(im.begin(), im.end(), 0.0) / im.size();
  }
  double spread;
  if (options.variance == VarianceMethod::kMedianAbsoluteDeviation) {
    const double med = Median(im);
    std::vector<double> dev(im.size());
    for (std::size_t i = 0; i < im.size(); ++i) dev[i] = std::fabs(im[i] - med);
    spread = Median(std::move(dev));
  } else {
    const double mean = std::accumulate(im.begin(), im.end(), 0.0) / im.size();
    double ss = 0;
    for (double v : im) ss += (v - mean) * (v - mean);
    spread = std::sqrt(ss / im.size());
  }
  return average + spread * options.deviations;
}

Result<ThresholdResult> ComputeThreshold(const Image& image, std::span<const std::uint8_t> mask,
                                         const ThresholdOptions& options, bool automatic) {
  SUND_RETURN_IF_ERROR(Validate(image, mask, options));
  ThresholdResult result;
  if (!automatic && options.method == ThresholdMethod::kManual) {
    result.final_threshold = options.manual_threshold;
    result.original_threshold = options.manual_threshold;
    return result;
  }
  std::vector<float> masked_values;
  if (!mask.empty()) {
    masked_values.reserve(image.pixels.size());
    for (std::size_t p = 0; p < image.pixels.size(); ++p) {
      if (mask[p]) masked_values.push_back(image.pixels[p]);
    }
  }
  const std::span<const float> values =
      mask.empty() ? std::span<const float>(image.pixels) : std::span<const float>(masked_values);
  const double global = GlobalThreshold(values, options, automatic);
  if (automatic) {
    // Basic mode of IdentifyPrimaryObjects: Li, reported as found.
    result.final_threshold = global;
    result.original_threshold = global;
    return result;
  }
  if (options.scope == ThresholdScope::kGlobal) {
    result.original_threshold = global;
    result.final_threshold = Correct(global, options);
    return result;
  }
  result.guide_threshold = Correct(global, options);
  std::vector<double> local;
  float lo, hi;
  if (!MinMax(values, lo, hi)) {
    local.assign(image.pixels.size(), 0.0);
  } else if (lo == hi) {
    local.assign(image.pixels.size(), lo);
  } else {
    SUND_ASSIGN_OR_RETURN(local, AdaptiveThreshold(image, mask, options));
  }
  const double t_min = std::max(options.lower_bound, result.guide_threshold * 0.7);
  const double t_max = std::min(options.upper_bound, result.guide_threshold * 1.5);
  result.local_thresholds.resize(local.size());
  double sum_orig = 0, sum_final = 0;
  for (std::size_t p = 0; p < local.size(); ++p) {
    sum_orig += local[p];
    double t = local[p] * options.correction_factor;
    if (t < t_min) t = t_min;
    if (t > t_max) t = t_max;
    result.local_thresholds[p] = static_cast<float>(t);
    sum_final += t;
  }
  result.original_threshold = sum_orig / static_cast<double>(local.size());
  result.final_threshold = sum_final / static_cast<double>(local.size());
  return result;
}

Result<ThresholdResult> ApplyThreshold(const Image& image, std::span<const std::uint8_t> mask,
                                       const ThresholdOptions& options, bool automatic) {
  SUND_ASSIGN_OR_RETURN(ThresholdResult result, ComputeThreshold(image, mask, options, automatic));
  const Size size{image.width, image.height};
  const std::size_t n = size.count();
  result.foreground.assign(n, 0);
  auto threshold_at = [&](std::size_t p) {
    return result.local_thresholds.empty() ? result.final_threshold
                                           : static_cast<double>(result.local_thresholds[p]);
  };
  if (!automatic && options.smoothing_scale == 0) {
    result.sigma = 0;
    for (std::size_t p = 0; p < n; ++p) {
      result.foreground[p] =
          (mask.empty() || mask[p]) && static_cast<double>(image.pixels[p]) >= threshold_at(p);
    }
    return result;
  }
  result.sigma = automatic ? 1.0 : options.smoothing_scale / 0.6744 / 2.0;
  // centrosome.smooth.smooth_with_function_and_mask around a constant-mode Gaussian: the
  // smoothed masked image divided by the smoothed mask.
  constexpr double kEps = std::numeric_limits<double>::epsilon();
  if (mask.empty()) {
    // The smoothed all-ones mask is the product of the in-image kernel weights per axis.
    const std::vector<double> kernel = internal::GaussianKernel(result.sigma);
    const std::vector<double> along_y = internal::WeightInside(kernel, size.height);
    const std::vector<double> along_x = internal::WeightInside(kernel, size.width);
    internal::SeparableFilterRows(image.pixels, size, kernel, [&](int y, const float* row) {
      for (int x = 0; x < size.width; ++x) {
        const std::size_t p = static_cast<std::size_t>(y) * size.width + x;
        const double v = static_cast<double>(row[x]) / (along_y[y] * along_x[x] + kEps);
        result.foreground[p] = v >= threshold_at(p);
      }
    });
    return result;
  }
  std::vector<float> masked(image.pixels);
  std::vector<double> weight(n, 1.0);
  for (std::size_t p = 0; p < n; ++p) {
    if (!mask[p]) {
      masked[p] = 0.0f;
      weight[p] = 0.0;
    }
  }
  const std::vector<float> smoothed = internal::GaussianFilter(masked, size, result.sigma);
  const std::vector<double> bleed = internal::GaussianFilter(weight, size, result.sigma);
  for (std::size_t p = 0; p < n; ++p) {
    const double v = static_cast<double>(smoothed[p]) / (bleed[p] + kEps);
    result.foreground[p] = mask[p] && v >= threshold_at(p);
  }
  return result;
}

}  // namespace sund::cells
