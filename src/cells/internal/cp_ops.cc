#include "cells/internal/cp_ops.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <queue>
#include <tuple>

namespace sund::cells::internal {

template <typename T>
std::vector<T> Correlate1D(const std::vector<T>& in, Size size, bool along_x,
                           const std::vector<double>& weights) {
  const int w = size.width;
  const int h = size.height;
  const int r = static_cast<int>(weights.size() / 2);
  std::vector<T> out(in.size());
  if (along_x) {
    std::vector<double> line(static_cast<std::size_t>(w) + 2 * r, 0.0);
    for (int y = 0; y < h; ++y) {
      const T* src = &in[static_cast<std::size_t>(y) * w];
      T* dst = &out[static_cast<std::size_t>(y) * w];
      for (int x = 0; x < w; ++x) line[x + r] = static_cast<double>(src[x]);
      for (int x = 0; x < w; ++x) {
        double acc = 0;
        const double* p = &line[x];
        for (std::size_t k = 0; k < weights.size(); ++k) acc += weights[k] * p[k];
        dst[x] = static_cast<T>(acc);
      }
    }
    return out;
  }
  // Along y, a row at a time: the same sums in the same order, without strided reads.
  std::vector<double> acc(w);
  for (int y = 0; y < h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int k = 0; k < static_cast<int>(weights.size()); ++k) {
      const int sy = y + k - r;
      const double wk = weights[k];
      if (sy < 0 || sy >= h) {
        continue;  // zero padding: adds 0 * wk
      }
      const T* src = &in[static_cast<std::size_t>(sy) * w];
      for (int x = 0; x < w; ++x) acc[x] += wk * static_cast<double>(src[x]);
    }
    T* dst = &out[static_cast<std::size_t>(y) * w];
    for (int x = 0; x < w; ++x) dst[x] = static_cast<T>(acc[x]);
  }
  return out;
}

template std::vector<float> Correlate1D(const std::vector<float>&, Size, bool,
                                        const std::vector<double>&);
template std::vector<double> Correlate1D(const std::vector<double>&, Size, bool,
                                         const std::vector<double>&);

std::vector<double> GaussianKernel(double sigma) {
  const int radius = static_cast<int>(4.0 * sigma + 0.5);
  std::vector<double> weights(2 * radius + 1);
  double sum = 0;
  for (int k = -radius; k <= radius; ++k) {
    weights[k + radius] = std::exp(-0.5 / (sigma * sigma) * k * k);
    sum += weights[k + radius];
  }
  for (double& v : weights) v /= sum;
  return weights;
}

std::vector<double> WeightInside(const std::vector<double>& weights, int n) {
  const int r = static_cast<int>(weights.size() / 2);
  std::vector<double> out(n, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < static_cast<int>(weights.size()); ++k) {
      const int j = i + k - r;
      if (j >= 0 && j < n) out[i] += weights[k];
    }
  }
  return out;
}

template <typename T>
std::vector<T> GaussianFilter(const std::vector<T>& in, Size size, double sigma) {
  const std::vector<double> weights = GaussianKernel(sigma);
  return Correlate1D(Correlate1D(in, size, /*along_x=*/false, weights), size, /*along_x=*/true,
                     weights);
}

template std::vector<float> GaussianFilter(const std::vector<float>&, Size, double);
template std::vector<double> GaussianFilter(const std::vector<double>&, Size, double);

void SeparableFilterRows(std::span<const float> in, Size size, const std::vector<double>& weights,
                         const std::function<void(int y, const float* row)>& sink) {
  const int w = size.width;
  const int h = size.height;
  const int r = static_cast<int>(weights.size() / 2);
  const int taps = static_cast<int>(weights.size());
  std::vector<double> acc(w);
  std::vector<float> vertical(static_cast<std::size_t>(w) + 2 * r, 0.0f);
  std::vector<float> row(w);
  for (int y = 0; y < h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int k = 0; k < taps; ++k) {
      const int sy = y + k - r;
      if (sy < 0 || sy >= h) continue;
      const double wk = weights[k];
      const float* src = &in[static_cast<std::size_t>(sy) * w];
      for (int x = 0; x < w; ++x) acc[x] += wk * static_cast<double>(src[x]);
    }
    for (int x = 0; x < w; ++x) vertical[x + r] = static_cast<float>(acc[x]);
    for (int x = 0; x < w; ++x) {
      double sum = 0;
      const float* p = &vertical[x];
      for (int k = 0; k < taps; ++k) sum += weights[k] * static_cast<double>(p[k]);
      row[x] = static_cast<float>(sum);
    }
    sink(y, row.data());
  }
}

std::int32_t LabelComponents(std::span<const std::uint8_t> foreground, Size size,
                             bool eight_connected, std::vector<std::int32_t>& labels) {
  const int w = size.width;
  const int h = size.height;
  labels.assign(size.count(), 0);
  std::vector<std::int32_t> stack;
  std::int32_t count = 0;
  for (std::size_t p = 0; p < labels.size(); ++p) {
    if (!foreground[p] || labels[p]) continue;
    ++count;
    labels[p] = count;
    stack.assign(1, static_cast<std::int32_t>(p));
    while (!stack.empty()) {
      const std::int32_t q = stack.back();
      stack.pop_back();
      const int qy = q / w;
      const int qx = q % w;
      for (int dy = -1; dy <= 1; ++dy) {
        const int ny = qy + dy;
        if (ny < 0 || ny >= h) continue;
        for (int dx = -1; dx <= 1; ++dx) {
          if (dx == 0 && dy == 0) continue;
          if (!eight_connected && dx != 0 && dy != 0) continue;
          const int nx = qx + dx;
          if (nx < 0 || nx >= w) continue;
          const std::int32_t n = ny * w + nx;
          if (foreground[n] && !labels[n]) {
            labels[n] = count;
            stack.push_back(n);
          }
        }
      }
    }
  }
  return count;
}

namespace {

// Floods the 4-connected region of pixels equal to `from` that contains `seed`, setting them to
// `to`.
void FloodFill4(std::span<std::int32_t> image, Size size, std::int32_t seed, std::int32_t from,
                std::int32_t to, std::vector<std::int32_t>& stack) {
  const int w = size.width;
  const int h = size.height;
  image[seed] = to;
  stack.assign(1, seed);
  while (!stack.empty()) {
    const std::int32_t q = stack.back();
    stack.pop_back();
    const int qx = q % w;
    const int qy = q / w;
    if (qy > 0 && image[q - w] == from) {
      image[q - w] = to;
      stack.push_back(q - w);
    }
    if (qx > 0 && image[q - 1] == from) {
      image[q - 1] = to;
      stack.push_back(q - 1);
    }
    if (qx + 1 < w && image[q + 1] == from) {
      image[q + 1] = to;
      stack.push_back(q + 1);
    }
    if (qy + 1 < h && image[q + w] == from) {
      image[q + w] = to;
      stack.push_back(q + w);
    }
  }
}

}  // namespace

void FillLabeledHoles(std::vector<std::int32_t>& all, Size size,
                      const std::function<bool(std::int64_t, bool)>& size_fn,
                      bool background_only) {
  const int w = size.width;
  const int h = size.height;
  std::int32_t lcount = 0;
  for (std::int32_t v : all) lcount = std::max(lcount, v);
  // One numbering for objects (1..lcount) and the 4-connected background regions (lcount + 2,
  // ...), the regions numbered in raster order as scipy.ndimage.label numbers them.
  std::int32_t lmax = lcount + 1;
  {
    std::vector<std::int32_t> stack;
    for (std::size_t p = 0; p < all.size(); ++p) {
      if (all[p] == 0) FloodFill4(all, size, static_cast<std::int32_t>(p), 0, ++lmax, stack);
    }
  }
  std::vector<std::uint8_t> is_not_hole(static_cast<std::size_t>(lmax) + 1, 0);
  std::vector<std::uint32_t> adjacent_non_hole(static_cast<std::size_t>(lmax) + 1, 0);
  std::vector<std::int32_t> to_do;
  // np.unique over the edge pixels: ascending order on the to-do list.
  {
    std::vector<std::int32_t> edge_values;
    for (int x = 0; x < w; ++x) {
      edge_values.push_back(all[x]);
      edge_values.push_back(all[static_cast<std::size_t>(h - 1) * w + x]);
    }
    for (int y = 0; y < h; ++y) {
      edge_values.push_back(all[static_cast<std::size_t>(y) * w]);
      edge_values.push_back(all[static_cast<std::size_t>(y) * w + w - 1]);
    }
    std::sort(edge_values.begin(), edge_values.end());
    edge_values.erase(std::unique(edge_values.begin(), edge_values.end()), edge_values.end());
    for (std::int32_t v : edge_values) {
      if (v == 0) continue;
      is_not_hole[v] = 1;
      to_do.push_back(v);
    }
  }
  // 4-adjacent pairs of different labels, both ways, sorted and unique.
  std::vector<std::uint64_t> pairs;
  auto add_pair = [&](std::int32_t a, std::int32_t b) {
    if (a == b) return;
    pairs.push_back((static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b));
    pairs.push_back((static_cast<std::uint64_t>(b) << 32) | static_cast<std::uint32_t>(a));
  };
  for (int y = 0; y < h; ++y) {
    const std::int32_t* row = &all[static_cast<std::size_t>(y) * w];
    for (int x = 0; x + 1 < w; ++x) add_pair(row[x], row[x + 1]);
    if (y + 1 < h) {
      const std::int32_t* next = row + w;
      for (int x = 0; x < w; ++x) add_pair(row[x], next[x]);
    }
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  if (!pairs.empty()) {
    std::vector<std::uint32_t> first(static_cast<std::size_t>(lmax) + 2, 0);
    for (std::uint64_t pr : pairs) ++first[(pr >> 32) + 1];
    for (std::size_t i = 1; i < first.size(); ++i) first[i] += first[i - 1];
    auto neighbours_of = [&](std::int32_t i, auto&& fn) {
      for (std::uint32_t k = first[i]; k < first[i + 1]; ++k) {
        fn(static_cast<std::int32_t>(pairs[k] & 0xffffffffu));
      }
    };
    if (size_fn) {
      std::vector<std::int64_t> areas(static_cast<std::size_t>(lmax) + 1, 0);
      for (std::int32_t v : all) ++areas[v];
      for (std::int32_t i = 1; i <= lmax; ++i) {
        if (areas[i] > 0 && !is_not_hole[i] && !size_fn(areas[i], i <= lcount)) {
          is_not_hole[i] = 1;
          to_do.push_back(i);
        }
      }
    }
    while (!to_do.empty()) {
      const std::int32_t ii = to_do.back();
      to_do.pop_back();
      neighbours_of(ii, [&](std::int32_t jj) {
        if (is_not_hole[jj]) return;
        if (ii <= lcount) {
          // An object: a region touching only this object may be its hole.
          if (adjacent_non_hole[jj] == 0) {
            adjacent_non_hole[jj] = static_cast<std::uint32_t>(ii);
            return;
          }
          if (adjacent_non_hole[jj] == static_cast<std::uint32_t>(ii)) return;
        } else if (jj > lcount) {
          return;
        }
        is_not_hole[jj] = 1;
        to_do.push_back(jj);
      });
    }
    // centrosome's second pass: spread the enclosing label from the non-holes that were first
    // claimed by an object.
    for (std::int32_t jj = 0; jj <= lmax; ++jj) {
      if (is_not_hole[jj] && adjacent_non_hole[jj]) to_do.push_back(jj);
    }
    while (!to_do.empty()) {
      const std::int32_t ii = to_do.back();
      to_do.pop_back();
      neighbours_of(ii, [&](std::int32_t jj) {
        if (adjacent_non_hole[jj] == 0) {
          adjacent_non_hole[jj] = adjacent_non_hole[ii];
          to_do.push_back(jj);
        }
      });
    }
  }
  std::vector<std::int32_t> new_index(static_cast<std::size_t>(lmax) + 1);
  for (std::int32_t i = 0; i <= lmax; ++i) {
    if (!is_not_hole[i]) {
      new_index[i] = static_cast<std::int32_t>(adjacent_non_hole[i]);
    } else {
      new_index[i] = i <= lcount ? i : 0;
    }
  }
  for (std::int32_t& v : all) {
    if (!background_only || v > lcount) v = new_index[v];
  }
}

std::vector<std::int32_t> Outline(const std::vector<std::int32_t>& labels, Size size) {
  const int w = size.width;
  const int h = size.height;
  std::vector<std::int32_t> out(labels.size(), 0);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const std::size_t p = static_cast<std::size_t>(y) * w + x;
      const std::int32_t v = labels[p];
      if (v == 0) continue;
      bool edge = x == 0 || y == 0 || x == w - 1 || y == h - 1;
      for (int dy = -1; dy <= 1 && !edge; ++dy) {
        for (int dx = -1; dx <= 1 && !edge; ++dx) {
          if (labels[static_cast<std::size_t>(y + dy) * w + x + dx] != v) edge = true;
        }
      }
      if (edge) out[p] = v;
    }
  }
  return out;
}

std::vector<float> SobelX(const std::vector<float>& image, Size size) {
  const int w = size.width;
  const int h = size.height;
  auto reflect = [](int i, int n) { return i < 0 ? -i - 1 : (i >= n ? 2 * n - i - 1 : i); };
  std::vector<float> dx(image.size());
  for (int y = 0; y < h; ++y) {
    const float* row = &image[static_cast<std::size_t>(y) * w];
    for (int x = 0; x < w; ++x) {
      dx[static_cast<std::size_t>(y) * w + x] =
          static_cast<float>(static_cast<double>(row[reflect(x + 1, w)]) -
                             static_cast<double>(row[reflect(x - 1, w)]));
    }
  }
  std::vector<float> out(image.size());
  for (int y = 0; y < h; ++y) {
    const float* up = &dx[static_cast<std::size_t>(reflect(y - 1, h)) * w];
    const float* mid = &dx[static_cast<std::size_t>(y) * w];
    const float* down = &dx[static_cast<std::size_t>(reflect(y + 1, h)) * w];
    for (int x = 0; x < w; ++x) {
      out[static_cast<std::size_t>(y) * w + x] = static_cast<float>(
          static_cast<double>(up[x]) + 2.0 * mid[x] + static_cast<double>(down[x]));
    }
  }
  return out;
}

void FillBinaryHoles(std::vector<std::uint8_t>& foreground, Size size, std::int64_t max_hole_area) {
  // With a single object every background region that misses the edge touches only that object:
  // it is a hole unless the size rule exempts it. States: 0 unvisited background, 1 object,
  // 2 background reached, 3 hole to fill.
  const int w = size.width;
  const int h = size.height;
  std::vector<std::int32_t> stack, region;
  auto flood = [&](std::int32_t seed, bool keep) {
    foreground[seed] = 2;
    stack.assign(1, seed);
    if (keep) region.assign(1, seed);
    while (!stack.empty()) {
      const std::int32_t q = stack.back();
      stack.pop_back();
      const int qx = q % w;
      const int qy = q / w;
      const std::int32_t next[4] = {qy > 0 ? q - w : -1, qx > 0 ? q - 1 : -1,
                                    qx + 1 < w ? q + 1 : -1, qy + 1 < h ? q + w : -1};
      for (std::int32_t n : next) {
        if (n >= 0 && foreground[n] == 0) {
          foreground[n] = 2;
          stack.push_back(n);
          if (keep) region.push_back(n);
        }
      }
    }
  };
  for (int x = 0; x < w; ++x) {
    if (foreground[x] == 0) flood(x, false);
    const std::int32_t bottom = (h - 1) * w + x;
    if (foreground[bottom] == 0) flood(bottom, false);
  }
  for (int y = 0; y < h; ++y) {
    if (foreground[y * w] == 0) flood(y * w, false);
    if (foreground[y * w + w - 1] == 0) flood(y * w + w - 1, false);
  }
  for (std::size_t p = 0; p < foreground.size(); ++p) {
    if (foreground[p] != 0) continue;
    flood(static_cast<std::int32_t>(p), true);
    if (static_cast<std::int64_t>(region.size()) < max_hole_area) {
      for (std::int32_t q : region) foreground[q] = 3;
    }
  }
  for (std::uint8_t& v : foreground) v = (v == 1 || v == 3) ? 1 : 0;
}

std::int32_t Relabel(std::vector<std::int32_t>& labels) {
  std::int32_t max_label = 0;
  for (std::int32_t v : labels) max_label = std::max(max_label, v);
  std::vector<std::int32_t> table(static_cast<std::size_t>(max_label) + 1, 0);
  for (std::int32_t v : labels) {
    if (v > 0) table[v] = 1;
  }
  std::int32_t count = 0;
  for (std::int32_t i = 1; i <= max_label; ++i) {
    if (table[i]) table[i] = ++count;
  }
  for (std::int32_t& v : labels) v = v > 0 ? table[v] : 0;
  return count;
}

std::vector<std::pair<int, int>> DiskOffsets(double radius) {
  const int iradius = static_cast<int>(radius);
  std::vector<std::pair<int, int>> offsets;
  for (int dy = -iradius; dy <= iradius; ++dy) {
    for (int dx = -iradius; dx <= iradius; ++dx) {
      if ((dx != 0 || dy != 0) && dx * dx + dy * dy <= radius * radius) {
        offsets.emplace_back(dx, dy);
      }
    }
  }
  std::stable_sort(offsets.begin(), offsets.end(), [](const auto& a, const auto& b) {
    return a.first * a.first + a.second * a.second < b.first * b.first + b.second * b.second;
  });
  return offsets;
}

template <typename T>
std::vector<std::int32_t> LocalMaxima(std::span<const T> image,
                                      std::span<const std::int32_t> labels, Size size,
                                      const std::vector<std::pair<int, int>>& footprint) {
  const int w = size.width;
  const int h = size.height;
  std::vector<std::int32_t> result;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const std::int32_t p = y * w + x;
      const std::int32_t label = labels[p];
      if (label <= 0) continue;
      const T v = image[p];
      if (!(v > 0)) continue;
      bool is_max = true;
      for (const auto& [dx, dy] : footprint) {
        const int nx = x + dx;
        const int ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const std::int32_t q = ny * w + nx;
        if (labels[q] == label && v < image[q]) {
          is_max = false;
          break;
        }
      }
      if (is_max) result.push_back(p);
    }
  }
  return result;
}

template std::vector<std::int32_t> LocalMaxima(std::span<const float>,
                                               std::span<const std::int32_t>, Size,
                                               const std::vector<std::pair<int, int>>&);
template std::vector<std::int32_t> LocalMaxima(std::span<const double>,
                                               std::span<const std::int32_t>, Size,
                                               const std::vector<std::pair<int, int>>&);

std::vector<std::int32_t> ShrinkToPoints(std::vector<std::int32_t> pixels, Size size) {
  const int w = size.width;
  std::sort(pixels.begin(), pixels.end());
  std::vector<std::uint8_t> done(pixels.size(), 0);
  auto find = [&](std::int32_t q) -> std::ptrdiff_t {
    const auto it = std::lower_bound(pixels.begin(), pixels.end(), q);
    return (it != pixels.end() && *it == q) ? it - pixels.begin() : -1;
  };
  std::vector<std::int32_t> points, blob, stack;
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    if (done[i]) continue;
    done[i] = 1;
    blob.assign(1, pixels[i]);
    stack.assign(1, pixels[i]);
    while (!stack.empty()) {
      const std::int32_t q = stack.back();
      stack.pop_back();
      const int qx = q % w;
      const int qy = q / w;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = qx + dx;
          const int ny = qy + dy;
          if ((dx == 0 && dy == 0) || nx < 0 || ny < 0 || nx >= w || ny >= size.height) continue;
          const std::ptrdiff_t k = find(ny * w + nx);
          if (k >= 0 && !done[k]) {
            done[k] = 1;
            blob.push_back(pixels[k]);
            stack.push_back(pixels[k]);
          }
        }
      }
    }
    double cx = 0, cy = 0;
    for (std::int32_t q : blob) {
      cx += q % w;
      cy += q / w;
    }
    cx /= static_cast<double>(blob.size());
    cy /= static_cast<double>(blob.size());
    std::sort(blob.begin(), blob.end());
    std::int32_t best = blob[0];
    double best_d = std::numeric_limits<double>::infinity();
    for (std::int32_t q : blob) {
      const double dx = q % w - cx;
      const double dy = q / w - cy;
      if (dx * dx + dy * dy < best_d) {
        best_d = dx * dx + dy * dy;
        best = q;
      }
    }
    points.push_back(best);
  }
  std::sort(points.begin(), points.end());
  return points;
}

namespace {

// 8-neighbour offsets in skimage's order: by L1 distance, then raster order.
constexpr int kNeighbourDx[8] = {0, -1, 1, 0, -1, 1, -1, 1};
constexpr int kNeighbourDy[8] = {-1, 0, 0, 1, -1, -1, 1, 1};

struct HeapItem {
  double value;
  std::uint32_t age;
  std::int32_t index;
};

struct HeapLater {
  bool operator()(const HeapItem& a, const HeapItem& b) const {
    if (a.value != b.value) return a.value > b.value;
    if (a.age != b.age) return a.age > b.age;
    return a.index > b.index;
  }
};

}  // namespace

void Watershed(const std::function<double(std::int32_t)>& level, std::vector<std::int32_t>& labels,
               Size size) {
  const int w = size.width;
  const int h = size.height;
  std::priority_queue<HeapItem, std::vector<HeapItem>, HeapLater> heap;
  for (std::size_t p = 0; p < labels.size(); ++p) {
    if (labels[p] > 0) {
      const auto index = static_cast<std::int32_t>(p);
      heap.push({level(index), 0, index});
    }
  }
  std::uint32_t age = 1;
  while (!heap.empty()) {
    const HeapItem item = heap.top();
    heap.pop();
    const int x = item.index % w;
    const int y = item.index / w;
    for (int k = 0; k < 8; ++k) {
      const int nx = x + kNeighbourDx[k];
      const int ny = y + kNeighbourDy[k];
      if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
      const std::int32_t n = ny * w + nx;
      if (labels[n] != -1) continue;  // outside the mask, or labelled already
      ++age;
      labels[n] = labels[item.index];
      heap.push({level(n), age, n});
    }
  }
}

namespace {

// centrosome's heap orders on the distance split into two signed ints with the lowest bit
// dropped (for a distance >= 0 that is its bit pattern >> 1), then on the label, then on the
// coordinates (raster order).
struct PropagateItem {
  std::uint64_t key;
  std::int32_t label;
  std::int32_t index;
};

struct PropagateLater {
  bool operator()(const PropagateItem& a, const PropagateItem& b) const {
    if (a.key != b.key) return a.key > b.key;
    if (a.label != b.label) return a.label > b.label;
    return a.index > b.index;
  }
};

}  // namespace

std::vector<std::int32_t> Propagate(std::span<const float> image,
                                    const std::vector<std::int32_t>& labels,
                                    std::span<const std::uint8_t> mask, double weight, Size size,
                                    std::vector<double>* distances_out) {
  const int m = size.height;
  const int n = size.width;
  // The image with its edge pixels repeated around it: centrosome fetches clamped coordinates.
  const int pw = n + 4;
  std::vector<float> padded;
  if (!image.empty()) {
    padded.resize(static_cast<std::size_t>(pw) * (m + 4));
    for (int i = -2; i < m + 2; ++i) {
      const int ci = std::clamp(i, 0, m - 1);
      for (int j = -2; j < n + 2; ++j) {
        padded[static_cast<std::size_t>(i + 2) * pw + j + 2] =
            image[static_cast<std::size_t>(ci) * n + std::clamp(j, 0, n - 1)];
      }
    }
  }
  std::vector<std::int32_t> out(size.count(), 0);
  std::vector<double> distances(size.count(), -1.0);
  std::priority_queue<PropagateItem, std::vector<PropagateItem>, PropagateLater> heap;
  for (std::size_t p = 0; p < out.size(); ++p) {
    if (labels[p] > 0) distances[p] = 0;
    if (labels[p] != 0 && mask[p]) heap.push({0, labels[p], static_cast<std::int32_t>(p)});
  }
  constexpr int kDi[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
  constexpr int kDj[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
  const double weight2 = weight * weight;
  while (!heap.empty()) {
    const PropagateItem item = heap.top();
    heap.pop();
    if (out[item.index] != 0) continue;
    out[item.index] = item.label;
    const double d0 = distances[item.index];
    const int i1 = item.index / n;
    const int j1 = item.index % n;
    for (int k = 0; k < 8; ++k) {
      const int i2 = i1 + kDi[k];
      const int j2 = j1 + kDj[k];
      if (i2 < 0 || i2 >= m || j2 < 0 || j2 >= n) continue;
      const std::int32_t q = i2 * n + j2;
      if (out[q] > 0 || !mask[q]) continue;
      double pixel_diff = 0;
      if (!padded.empty()) {
        for (int di = -1; di <= 1; ++di) {
          const float* a = &padded[static_cast<std::size_t>(i1 + di + 2) * pw + j1 + 2];
          const float* b = &padded[static_cast<std::size_t>(i2 + di + 2) * pw + j2 + 2];
          for (int dj = -1; dj <= 1; ++dj) {
            pixel_diff += std::fabs(static_cast<double>(a[dj]) - static_cast<double>(b[dj]));
          }
        }
      }
      const double manhattan = std::abs(kDi[k]) + std::abs(kDj[k]);
      const double d = std::sqrt(pixel_diff * pixel_diff + manhattan * weight2) + d0;
      if (distances[q] == -1 || distances[q] > d) {
        distances[q] = d;
        heap.push({std::bit_cast<std::uint64_t>(d) >> 1, item.label, q});
      }
    }
  }
  for (std::size_t p = 0; p < out.size(); ++p) {
    if (labels[p] > 0) out[p] = labels[p];
  }
  if (distances_out) *distances_out = std::move(distances);
  return out;
}

namespace {

// Felzenszwalb & Huttenlocher's exact 1-D squared distance transform.
void SquaredDistance1D(const double* f, int n, double* d, std::vector<int>& v,
                       std::vector<double>& z) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  int k = 0;
  int first = -1;
  for (int q = 0; q < n; ++q) {
    if (f[q] < kInf) {
      first = q;
      break;
    }
  }
  if (first < 0) {
    for (int q = 0; q < n; ++q) d[q] = kInf;
    return;
  }
  v[0] = first;
  z[0] = -kInf;
  z[1] = kInf;
  for (int q = first + 1; q < n; ++q) {
    if (!(f[q] < kInf)) continue;
    double s;
    while (true) {
      const int r = v[k];
      s = ((f[q] + static_cast<double>(q) * q) - (f[r] + static_cast<double>(r) * r)) /
          (2.0 * (q - r));
      if (s <= z[k] && k > 0) {
        --k;
      } else {
        break;
      }
    }
    if (s <= z[k]) {
      // k == 0 and the new parabola dominates from the start.
      v[0] = q;
      z[0] = -kInf;
      z[1] = kInf;
      continue;
    }
    ++k;
    v[k] = q;
    z[k] = s;
    z[k + 1] = kInf;
  }
  k = 0;
  for (int q = 0; q < n; ++q) {
    while (z[k + 1] < q) ++k;
    const double dq = q - v[k];
    d[q] = dq * dq + f[v[k]];
  }
}

}  // namespace

std::vector<double> DistanceTransform(std::span<const std::uint8_t> foreground, Size size) {
  const int w = size.width;
  const int h = size.height;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> grid(size.count());
  for (std::size_t p = 0; p < grid.size(); ++p) grid[p] = foreground[p] ? kInf : 0.0;
  const int n = std::max(w, h);
  std::vector<double> f(n), d(n), z(n + 1);
  std::vector<int> v(n);
  for (int x = 0; x < w; ++x) {
    for (int y = 0; y < h; ++y) f[y] = grid[static_cast<std::size_t>(y) * w + x];
    SquaredDistance1D(f.data(), h, d.data(), v, z);
    for (int y = 0; y < h; ++y) grid[static_cast<std::size_t>(y) * w + x] = d[y];
  }
  for (int y = 0; y < h; ++y) {
    double* row = &grid[static_cast<std::size_t>(y) * w];
    std::copy(row, row + w, f.begin());
    SquaredDistance1D(f.data(), w, d.data(), v, z);
    for (int x = 0; x < w; ++x) row[x] = std::sqrt(d[x]);
  }
  return grid;
}

namespace {

// The 1-D pass of the squared distance transform that also carries the index of the nearest
// feature (the lower envelope of parabolas rooted at the finite entries of f).
void NearestPass(const double* f, const std::int32_t* from, int n, double* d, std::int32_t* to,
                 std::vector<int>& v, std::vector<double>& z) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  int k = -1;
  for (int q = 0; q < n; ++q) {
    if (!(f[q] < kInf)) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -kInf;
      z[1] = kInf;
      continue;
    }
    double s;
    while (true) {
      const int r = v[k];
      s = ((f[q] + static_cast<double>(q) * q) - (f[r] + static_cast<double>(r) * r)) /
          (2.0 * (q - r));
      if (s <= z[k] && k > 0) {
        --k;
      } else {
        break;
      }
    }
    ++k;
    v[k] = q;
    z[k] = s;
    z[k + 1] = kInf;
  }
  if (k < 0) {
    for (int q = 0; q < n; ++q) {
      d[q] = kInf;
      to[q] = -1;
    }
    return;
  }
  k = 0;
  for (int q = 0; q < n; ++q) {
    while (z[k + 1] < q) ++k;
    const double dq = q - v[k];
    d[q] = dq * dq + f[v[k]];
    to[q] = from[v[k]];
  }
}

}  // namespace

void NearestSeed(std::span<const std::uint8_t> seeds, Size size, std::vector<double>& distance,
                 std::vector<std::int32_t>& nearest) {
  const int w = size.width;
  const int h = size.height;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  distance.assign(size.count(), kInf);
  nearest.assign(size.count(), -1);
  for (std::size_t p = 0; p < distance.size(); ++p) {
    if (seeds[p]) {
      distance[p] = 0;
      nearest[p] = static_cast<std::int32_t>(p);
    }
  }
  const int n = std::max(w, h);
  std::vector<double> f(n), d(n), z(n + 1);
  std::vector<std::int32_t> from(n), to(n);
  std::vector<int> v(n);
  for (int x = 0; x < w; ++x) {
    for (int y = 0; y < h; ++y) {
      f[y] = distance[static_cast<std::size_t>(y) * w + x];
      from[y] = nearest[static_cast<std::size_t>(y) * w + x];
    }
    NearestPass(f.data(), from.data(), h, d.data(), to.data(), v, z);
    for (int y = 0; y < h; ++y) {
      distance[static_cast<std::size_t>(y) * w + x] = d[y];
      nearest[static_cast<std::size_t>(y) * w + x] = to[y];
    }
  }
  for (int y = 0; y < h; ++y) {
    const std::size_t base = static_cast<std::size_t>(y) * w;
    std::copy(distance.begin() + base, distance.begin() + base + w, f.begin());
    std::copy(nearest.begin() + base, nearest.begin() + base + w, from.begin());
    NearestPass(f.data(), from.data(), w, d.data(), to.data(), v, z);
    for (int x = 0; x < w; ++x) {
      distance[base + x] = std::sqrt(d[x]);
      nearest[base + x] = to[x];
    }
  }
}

namespace {

// scipy's cubic spline prefilter with mirror boundaries (ni_splines.c).
void SplineFilterLine(double* c, int n) {
  if (n < 2) return;
  const double z = std::sqrt(3.0) - 2.0;
  const double gain = (1.0 - z) * (1.0 - 1.0 / z);
  for (int i = 0; i < n; ++i) c[i] *= gain;
  {
    double z_i = z;
    const double z_n_1 = std::pow(z, n - 1);
    c[0] = c[0] + z_n_1 * c[n - 1];
    for (int i = 1; i < n - 1; ++i) {
      c[0] += z_i * (c[i] + z_n_1 * c[n - 1 - i]);
      z_i *= z;
    }
    c[0] /= 1 - z_n_1 * z_n_1;
  }
  for (int i = 1; i < n; ++i) c[i] += z * c[i - 1];
  c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1);
  for (int i = n - 2; i >= 0; --i) c[i] = z * (c[i + 1] - c[i]);
}

int MirrorIndex(int k, int len) {
  if (len <= 1) return 0;
  const int period = 2 * len - 2;
  k = std::abs(k) % period;
  return k >= len ? period - k : k;
}

}  // namespace

std::vector<double> SplineCoefficients(std::vector<double> coeff, Size size) {
  const int w = size.width;
  const int h = size.height;
  for (int y = 0; y < h; ++y) SplineFilterLine(&coeff[static_cast<std::size_t>(y) * w], w);
  // Columns a block at a time, so that the reads stay in cache.
  constexpr int kBlock = 16;
  std::vector<double> block(static_cast<std::size_t>(kBlock) * h);
  for (int x0 = 0; x0 < w; x0 += kBlock) {
    const int bw = std::min(kBlock, w - x0);
    for (int y = 0; y < h; ++y) {
      for (int b = 0; b < bw; ++b) {
        block[static_cast<std::size_t>(b) * h + y] =
            coeff[static_cast<std::size_t>(y) * w + x0 + b];
      }
    }
    for (int b = 0; b < bw; ++b) SplineFilterLine(&block[static_cast<std::size_t>(b) * h], h);
    for (int y = 0; y < h; ++y) {
      for (int b = 0; b < bw; ++b) {
        coeff[static_cast<std::size_t>(y) * w + x0 + b] =
            block[static_cast<std::size_t>(b) * h + y];
      }
    }
  }
  return coeff;
}

double CubicAt(const std::vector<double>& coeff, Size size, double row, double col) {
  const int w = size.width;
  const int h = size.height;
  if (row < 0 || row > h - 1 || col < 0 || col > w - 1) return 0.0;
  auto weights = [](double c, int& start, double wt[4]) {
    const double fl = std::floor(c);
    start = static_cast<int>(fl) - 1;
    const double t = c - fl;
    wt[0] = (1 - t) * (1 - t) * (1 - t) / 6.0;
    wt[1] = (4 - 6 * t * t + 3 * t * t * t) / 6.0;
    wt[2] = (1 + 3 * t + 3 * t * t - 3 * t * t * t) / 6.0;
    wt[3] = t * t * t / 6.0;
  };
  int si, sj;
  double wi[4], wj[4];
  weights(row, si, wi);
  weights(col, sj, wj);
  int cols[4];
  for (int b = 0; b < 4; ++b) cols[b] = MirrorIndex(sj + b, w);
  double acc = 0;
  for (int a = 0; a < 4; ++a) {
    const double* r = &coeff[static_cast<std::size_t>(MirrorIndex(si + a, h)) * w];
    acc +=
        wi[a] * (wj[0] * r[cols[0]] + wj[1] * r[cols[1]] + wj[2] * r[cols[2]] + wj[3] * r[cols[3]]);
  }
  return acc;
}

std::vector<std::int32_t> ResampleNearest(std::span<const std::int32_t> in, Size in_size,
                                          Size out_size, double scale) {
  std::vector<std::int32_t> out(out_size.count(), 0);
  for (int i = 0; i < out_size.height; ++i) {
    const double ci = i / scale;
    if (ci < 0 || ci > in_size.height - 1) continue;
    const int si = static_cast<int>(std::floor(ci + 0.5));
    for (int j = 0; j < out_size.width; ++j) {
      const double cj = j / scale;
      if (cj < 0 || cj > in_size.width - 1) continue;
      const int sj = static_cast<int>(std::floor(cj + 0.5));
      out[static_cast<std::size_t>(i) * out_size.width + j] =
          in[static_cast<std::size_t>(si) * in_size.width + sj];
    }
  }
  return out;
}

}  // namespace sund::cells::internal
