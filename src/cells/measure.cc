// Definitions, as CellProfiler 4.0.6 computes them (with scikit-image 0.17, scipy and centrosome).
// x is the column, y the row, pixel centres sit at integers.
//
// AreaShape (skimage.measure.regionprops on each object's bounding box, then CellProfiler):
// - Area: pixel count. Center_X/Y: mean pixel x/y. BoundingBoxMinimum_X/Y: first column/row;
//   BoundingBoxMaximum_X/Y: last + 1 (regionprops' half-open box). BoundingBoxArea: box width *
//   height. Extent: Area / BoundingBoxArea. EquivalentDiameter: sqrt(4 Area / pi).
// - Perimeter (regionprops, 4-connectivity; not OpenCV's arcLength): border pixels are object
//   pixels with a 4-neighbour outside the object; each weighs by its code 1 + 2 * (border
//   4-neighbours) + 10 * (border diagonal neighbours): codes 5, 7, 15, 17, 25, 27 weigh 1, 21 and
//   33 weigh sqrt(2), 13 and 23 weigh (1 + sqrt(2)) / 2, every other code 0.
// - FormFactor: 4 pi Area / Perimeter^2. Compactness: Perimeter^2 / max(4 pi Area, 1).
// - From the pixels' population variances var_x, var_y and covariance cov_xy, the inertia tensor
//   [[var_x, -cov_xy], [-cov_xy, var_y]] has eigenvalues l1 >= l2 (clipped at 0):
//   MajorAxisLength = 4 sqrt(l1), MinorAxisLength = 4 sqrt(l2), Eccentricity = sqrt(1 - l2 / l1)
//   (0 when l1 = 0), Orientation = 0.5 atan2(2 cov_xy, var_y - var_x): the major axis' angle from
//   the row axis (downwards) towards the column axis, in RADIANS in [-pi/2, pi/2] (pi/4, or -pi/4
//   when cov_xy > 0, if var_x = var_y). CellProfiler 4.0.6 writes radians although its help says
//   degrees (4.1 multiplies by 180 / pi); the reference CSVs hold values up to exactly pi/2.
// - Solidity: Area / convex area, the convex area counting the pixel centres inside the convex
//   hull of the pixels' edge midpoints (x +- 1/2, y), (x, y +- 1/2) by scikit-image 0.17's
//   half-open crossing test (convex_hull_image; see ConvexArea).
//   ConvexArea itself is not a column in 4.0.6.
// - EulerNumber (skimage 0.17): 1 - the number of holes, a hole being an 8-connected group of
//   background pixels of the bounding box that no 8-connected background path joins to the box's
//   outside. Components are not counted (0.18 changed this to components minus 4-connected holes).
// - MaximumRadius, MeanRadius, MedianRadius: over the object's pixels, the Euclidean distance to
//   the nearest pixel outside the object (other objects and the outside of the image count as
//   outside); the median of an even count is the mean of the two middle values.
// - MaxFeretDiameter, MinFeretDiameter (centrosome): on the convex hull of the pixel centres, the
//   largest distance between two vertices and the smallest caliper width (over the hull's edges,
//   the distance from the edge's line to the farthest vertex); 0 for a hull of one vertex (both)
//   or two (the minimum).
// - Zernike_n_m (centrosome.zernike): with the minimum enclosing circle (centre c, radius r) of the
//   object's outline pixels (those with an 8-neighbour of another value, or on the image's edge),
//   u = (y - c_y) / r, v = (x - c_x) / r; pixels with u^2 + v^2 > 1 are left out; the value is
//   |sum over pixels of P_nm(u^2 + v^2) (u + i v)^m| / (pi r^2), where P_nm(rho^2) rho^m is the
//   unnormalised radial polynomial R_nm(rho). The circle comes from centrosome's own convex hull
//   and Chrystal iteration, replicated step by step below, because whether a pixel on the circle
//   counts (u^2 + v^2 = 1 up to rounding) depends on the exact arithmetic.
//
// Intensity (MeasureObjectIntensity; sums in double, in row-major pixel order, as scipy.ndimage's
// labelled sums run):
// - IntegratedIntensity: sum; MeanIntensity: sum / count; StdIntensity: population standard
//   deviation (two passes); MinIntensity, MaxIntensity.
// - ...Edge: the same over the object's edge pixels: object pixels with a 4-neighbour of another
//   label inside the image. The image's own border is no edge (skimage find_boundaries, mode
//   "inner", whose morphology reflects at the border).
// - Lower/Median/UpperQuartileIntensity at fraction f of the sorted values v[0..n): with q = n f,
//   i = floor(q), t = q - i: v[i] (1 - t) + v[i + 1] t when i < n - 1, else v[i]. The median of an
//   even count is therefore v[n / 2]. MADIntensity: the same rule at f = 1/2 over |v - median|.
// - Location_CenterMassIntensity_X/Y: intensity-weighted mean x/y; MassDisplacement: its distance
//   from the centroid. Location_MaxIntensity_X/Y: the maximum's pixel that scipy's
//   maximum_position reports: the one that ends last when numpy's argsort (an unstable introsort)
//   orders every labelled pixel of the image by value. 8-bit images hold ties at the maximum, so
//   that argsort is replicated (NumpyArgsort).
#include "cells/measure.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <numbers>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace sund::cells {
namespace {

using std::int32_t;
using std::int64_t;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = std::numbers::pi;

// ---------------------------------------------------------------------------------------------
// Labels, tables.

// Each object's pixel coordinates in row-major order: label L owns x[start[L - 1]] ..
// x[start[L] - 1], and the same of y.
struct ObjectPixels {
  std::vector<int32_t> start;
  std::vector<int32_t> x;
  std::vector<int32_t> y;

  int32_t size(int32_t label) const { return start[label] - start[label - 1]; }
  const int32_t* xs(int32_t label) const { return x.data() + start[label - 1]; }
  const int32_t* ys(int32_t label) const { return y.data() + start[label - 1]; }
};

Status CheckLabels(const Labels& labels) {
  if (labels.width < 0 || labels.height < 0 || labels.count < 0) {
    return InvalidArgument("labels: negative size or object count");
  }
  if (labels.pixels.size() != static_cast<std::size_t>(labels.width) * labels.height) {
    return InvalidArgument("labels: " + std::to_string(labels.pixels.size()) + " pixels for " +
                           std::to_string(labels.width) + "x" + std::to_string(labels.height));
  }
  return Status::Ok();
}

Status BadLabel(int32_t value, int32_t count) {
  return InvalidArgument("labels: pixel label " + std::to_string(value) + " outside 0.." +
                         std::to_string(count));
}

Result<ObjectPixels> GroupPixels(const Labels& labels) {
  SUND_RETURN_IF_ERROR(CheckLabels(labels));
  ObjectPixels g;
  g.start.assign(static_cast<std::size_t>(labels.count) + 1, 0);
  for (int32_t v : labels.pixels) {
    if (v < 0 || v > labels.count) return BadLabel(v, labels.count);
    if (v > 0) ++g.start[v];
  }
  for (int32_t l = 1; l <= labels.count; ++l) g.start[l] += g.start[l - 1];
  g.x.resize(g.start[labels.count]);
  g.y.resize(g.start[labels.count]);
  std::vector<int32_t> next(g.start.begin(), g.start.end() - 1);
  for (int32_t y = 0; y < labels.height; ++y) {
    for (int32_t x = 0; x < labels.width; ++x) {
      const int32_t v = labels.at(x, y);
      if (v == 0) continue;
      const int32_t k = next[v - 1]++;
      g.x[k] = x;
      g.y[k] = y;
    }
  }
  return g;
}

Status CheckTable(const MeasurementTable& out, int32_t rows) {
  if (!out.columns.empty() && out.rows != rows) {
    return InvalidArgument("measurement table: holds " + std::to_string(out.rows) +
                           " objects, the labels " + std::to_string(rows));
  }
  return Status::Ok();
}

// Adds the columns (NaN-filled) and returns their value arrays, valid until the next AddColumn.
std::vector<double*> AddColumns(MeasurementTable& out, int32_t rows,
                                const std::vector<std::string>& names) {
  out.rows = rows;
  for (const std::string& name : names) out.AddColumn(name);
  std::vector<double*> columns;
  columns.reserve(names.size());
  for (const std::string& name : names) columns.push_back(out.Find(name)->data());
  return columns;
}

int64_t FloorDiv(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }  // b > 0

// ---------------------------------------------------------------------------------------------
// Geometry on integer points.

struct Pt {
  int64_t x = 0;
  int64_t y = 0;
  bool operator<(const Pt& o) const { return y != o.y ? y < o.y : x < o.x; }
  bool operator==(const Pt& o) const { return x == o.x && y == o.y; }
};

int64_t Cross(const Pt& o, const Pt& a, const Pt& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

// Convex hull vertices without collinear points (monotone chain). One or two points when all
// points coincide or are collinear.
std::vector<Pt> ConvexHull(std::vector<Pt> pts) {
  if (!std::is_sorted(pts.begin(), pts.end())) std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  if (pts.size() < 3) return pts;
  std::vector<Pt> h(2 * pts.size());
  std::size_t k = 0;
  for (const Pt& p : pts) {
    while (k >= 2 && Cross(h[k - 2], h[k - 1], p) <= 0) --k;
    h[k++] = p;
  }
  for (std::size_t i = pts.size() - 1, t = k + 1; i-- > 0;) {
    while (k >= t && Cross(h[k - 2], h[k - 1], pts[i]) <= 0) --k;
    h[k++] = pts[i];
  }
  h.resize(k - 1);
  return h;
}

// ---------------------------------------------------------------------------------------------
// One object on its bounding box.

// The object's mask on its bounding box, padded by one background pixel on every side.
struct Patch {
  int x0 = 0;  // image position of the box's top-left pixel
  int y0 = 0;
  int w = 0;  // padded size: box width + 2, height + 2
  int h = 0;
  std::vector<std::uint8_t> mask;

  bool at(int x, int y) const { return mask[static_cast<std::size_t>(y) * w + x] != 0; }
};

// Sums over the object's pixels, coordinates relative to the bounding box.
struct Sums {
  int64_t n = 0, x = 0, y = 0, xx = 0, yy = 0, xy = 0;
};

void FillPatch(const int32_t* xs, const int32_t* ys, int32_t n, Patch& p, Sums& s) {
  const auto [min_x, max_x] = std::minmax_element(xs, xs + n);
  p.x0 = *min_x;
  p.y0 = ys[0];
  p.w = *max_x - *min_x + 3;
  p.h = ys[n - 1] - p.y0 + 3;
  p.mask.assign(static_cast<std::size_t>(p.w) * p.h, 0);
  s = Sums{};
  s.n = n;
  for (int32_t k = 0; k < n; ++k) {
    const int64_t x = xs[k] - p.x0;
    const int64_t y = ys[k] - p.y0;
    p.mask[static_cast<std::size_t>(y + 1) * p.w + (x + 1)] = 1;
    s.x += x;
    s.y += y;
    s.xx += x * x;
    s.yy += y * y;
    s.xy += x * y;
  }
}

double Perimeter(const Patch& p, std::vector<std::uint8_t>& border) {
  border.assign(p.mask.size(), 0);
  for (int y = 1; y < p.h - 1; ++y) {
    for (int x = 1; x < p.w - 1; ++x) {
      if (p.at(x, y) && !(p.at(x - 1, y) && p.at(x + 1, y) && p.at(x, y - 1) && p.at(x, y + 1))) {
        border[static_cast<std::size_t>(y) * p.w + x] = 1;
      }
    }
  }
  auto b = [&](int x, int y) { return border[static_cast<std::size_t>(y) * p.w + x]; };
  std::array<int64_t, 50> histogram{};
  for (int y = 1; y < p.h - 1; ++y) {
    for (int x = 1; x < p.w - 1; ++x) {
      if (!b(x, y)) continue;
      const int code = 1 + 2 * (b(x - 1, y) + b(x + 1, y) + b(x, y - 1) + b(x, y + 1)) +
                       10 * (b(x - 1, y - 1) + b(x + 1, y - 1) + b(x - 1, y + 1) + b(x + 1, y + 1));
      ++histogram[code];
    }
  }
  std::array<double, 50> weight{};
  for (int c : {5, 7, 15, 17, 25, 27}) weight[c] = 1;
  for (int c : {21, 33}) weight[c] = std::sqrt(2.0);
  for (int c : {13, 23}) weight[c] = (1 + std::sqrt(2.0)) / 2;
  double total = 0;
  for (std::size_t c = 0; c < histogram.size(); ++c) {
    total += static_cast<double>(histogram[c]) * weight[c];
  }
  return total;
}

// 1 - the number of holes. Background to the left of a row's first object pixel or to the right
// of its last reaches the box's outside along the row, so only background between a row's ends
// can belong to a hole: a group of those, 8-connected, is a hole unless it touches other
// background.
int EulerNumber(const Patch& p, std::vector<std::uint8_t>& state, std::vector<int32_t>& stack) {
  enum : std::uint8_t { kOther = 0, kCandidate = 1, kVisited = 2 };
  state.assign(p.mask.size(), kOther);
  bool any = false;
  for (int y = 1; y < p.h - 1; ++y) {
    int first = -1, last = -1;
    for (int x = 1; x < p.w - 1; ++x) {
      if (!p.at(x, y)) continue;
      if (first < 0) first = x;
      last = x;
    }
    for (int x = first + 1; x < last; ++x) {
      if (!p.at(x, y)) state[static_cast<std::size_t>(y) * p.w + x] = kCandidate, any = true;
    }
  }
  if (!any) return 1;
  int holes = 0;
  for (int32_t start = 0; start < static_cast<int32_t>(state.size()); ++start) {
    if (state[start] != kCandidate) continue;
    bool reaches_outside = false;
    state[start] = kVisited;
    stack.assign(1, start);
    while (!stack.empty()) {
      const int32_t i = stack.back();
      stack.pop_back();
      const int cx = i % p.w, cy = i / p.w;  // never on the padding
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int32_t j = (cy + dy) * p.w + (cx + dx);
          if (state[j] == kCandidate) {
            state[j] = kVisited;
            stack.push_back(j);
          } else if (state[j] == kOther && !p.mask[j]) {
            reaches_outside = true;
          }
        }
      }
    }
    if (!reaches_outside) ++holes;
  }
  return 1 - holes;
}

// The first and last pixel of each row, box coordinates.
std::vector<Pt> RowEnds(const Patch& p) {
  std::vector<Pt> ends;
  for (int y = 1; y < p.h - 1; ++y) {
    int first = -1, last = -1;
    for (int x = 1; x < p.w - 1; ++x) {
      if (!p.at(x, y)) continue;
      if (first < 0) first = x;
      last = x;
    }
    if (first < 0) continue;
    ends.push_back({first - 1, y - 1});
    if (last != first) ends.push_back({last - 1, y - 1});
  }
  return ends;
}

// The pixels scikit-image 0.17's convex_hull_image marks (regionprops' convex_image, whose
// area Solidity divides by): the hull of the pixels' edge midpoints (the hull of the pixel
// centres grown by the diamond of midpoints, whose vertices are hull vertex + diamond vertex),
// rasterised by grid_points_in_poly's crossing test. That test casts its ray along the rows and
// is half-open: a pixel (row r, column c) is inside when the polygon's edges spanning c
// (min <= c < max over the edge's columns) cross at rows r1 <= r < r2. So pixels on the hull's
// lower and right boundary are left out, as CellProfiler 4.0.6's Solidity has them. Doubled
// coordinates keep everything integral and the comparisons exact.
int64_t ConvexArea(const std::vector<Pt>& pixel_hull, int box_height) {
  (void)box_height;
  std::vector<Pt> diamonds;
  diamonds.reserve(4 * pixel_hull.size());
  for (const Pt& e : pixel_hull) {
    diamonds.push_back({2 * e.x - 1, 2 * e.y});
    diamonds.push_back({2 * e.x + 1, 2 * e.y});
    diamonds.push_back({2 * e.x, 2 * e.y - 1});
    diamonds.push_back({2 * e.x, 2 * e.y + 1});
  }
  const std::vector<Pt> hull = ConvexHull(std::move(diamonds));
  int64_t min_x = std::numeric_limits<int64_t>::max(), max_x = std::numeric_limits<int64_t>::min();
  for (const Pt& p : hull) {
    min_x = std::min<int64_t>(min_x, p.x);
    max_x = std::max<int64_t>(max_x, p.x);
  }
  int64_t area = 0;
  for (int64_t c = CeilDiv(min_x, 2); 2 * c <= max_x; ++c) {
    const int64_t xx = 2 * c;
    // Crossing rows as fractions num / den (den > 0), doubled.
    int crossings = 0;
    int64_t num[2] = {0, 0}, den[2] = {1, 1};
    for (std::size_t k = 0; k < hull.size() && crossings < 2; ++k) {
      const Pt& a = hull[k];
      const Pt& b = hull[(k + 1) % hull.size()];
      if (!((a.x <= xx && xx < b.x) || (b.x <= xx && xx < a.x))) continue;
      int64_t n = a.y * (b.x - a.x) + (xx - a.x) * (b.y - a.y);
      int64_t d = b.x - a.x;
      if (d < 0) n = -n, d = -d;
      num[crossings] = n;
      den[crossings] = d;
      ++crossings;
    }
    if (crossings < 2) continue;
    // Order the two crossings (compare n0/d0 with n1/d1).
    if (num[0] * den[1] > num[1] * den[0]) {
      std::swap(num[0], num[1]);
      std::swap(den[0], den[1]);
    }
    // Rows r with r1 <= r < r2, r1 = num0 / (2 den0), r2 = num1 / (2 den1).
    const int64_t lo = CeilDiv(num[0], 2 * den[0]);
    const int64_t hi = CeilDiv(num[1], 2 * den[1]) - 1;
    if (hi >= lo) area += hi - lo + 1;
  }
  return area;
}

// Squared Euclidean distance from each object pixel of the patch to the nearest background pixel
// (exact: Felzenszwalb & Huttenlocher's lower envelope of parabolas, its breakpoints kept as
// fractions), in row-major order.
void SquaredDistances(const Patch& p, std::vector<int32_t>& column, std::vector<int64_t>& out,
                      std::vector<int32_t>& v, std::vector<int64_t>& z_num,
                      std::vector<int64_t>& z_den) {
  const int w = p.w, h = p.h;
  // Vertical distance to the nearest background pixel of the column; the padding rows are
  // background, so every one is finite.
  column.assign(static_cast<std::size_t>(w) * h, 0);
  for (int y = 1; y < h - 1; ++y) {
    const int32_t* above = &column[static_cast<std::size_t>(y - 1) * w];
    int32_t* here = &column[static_cast<std::size_t>(y) * w];
    const std::uint8_t* m = &p.mask[static_cast<std::size_t>(y) * w];
    for (int x = 0; x < w; ++x) here[x] = m[x] ? above[x] + 1 : 0;
  }
  for (int y = h - 2; y >= 1; --y) {
    const int32_t* below = &column[static_cast<std::size_t>(y + 1) * w];
    int32_t* here = &column[static_cast<std::size_t>(y) * w];
    for (int x = 0; x < w; ++x) here[x] = std::min(here[x], below[x] + 1);
  }
  out.clear();
  v.resize(w);
  z_num.resize(w + 1);
  z_den.resize(w + 1);
  for (int y = 1; y < h - 1; ++y) {
    const int32_t* g = &column[static_cast<std::size_t>(y) * w];
    const std::uint8_t* m = &p.mask[static_cast<std::size_t>(y) * w];
    auto f = [&](int q) { return int64_t{g[q]} * g[q] + int64_t{q} * q; };
    // Breakpoint k is z_num[k] / z_den[k] (z_den > 0); breakpoint 0 is minus infinity.
    int k = 0;
    v[0] = 0;
    for (int q = 1; q < w; ++q) {
      int64_t num, den;
      for (;;) {
        num = f(q) - f(v[k]);
        den = 2 * int64_t{q - v[k]};
        if (k == 0 || num * z_den[k] > z_num[k] * den) break;
        --k;
      }
      ++k;
      v[k] = q;
      z_num[k] = num;
      z_den[k] = den;
    }
    const int last = k;
    k = 0;
    for (int x = 0; x < w; ++x) {
      while (k < last && z_num[k + 1] < int64_t{x} * z_den[k + 1]) ++k;
      if (!m[x]) continue;
      const int64_t dx = x - v[k];
      out.push_back(dx * dx + int64_t{g[v[k]]} * g[v[k]]);
    }
  }
}

struct Feret {
  double min = 0;
  double max = 0;
};

Feret FeretDiameters(const std::vector<Pt>& hull) {
  Feret f;
  int64_t max2 = 0;
  for (std::size_t i = 0; i < hull.size(); ++i) {
    for (std::size_t j = i + 1; j < hull.size(); ++j) {
      const int64_t dx = hull[i].x - hull[j].x, dy = hull[i].y - hull[j].y;
      max2 = std::max(max2, dx * dx + dy * dy);
    }
  }
  f.max = std::sqrt(static_cast<double>(max2));
  if (hull.size() < 3) return f;
  double min2 = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < hull.size(); ++k) {
    const Pt& l0 = hull[k];
    const Pt& l1 = hull[(k + 1) % hull.size()];
    const double len2 =
        static_cast<double>((l1.x - l0.x) * (l1.x - l0.x) + (l1.y - l0.y) * (l1.y - l0.y));
    double far2 = 0;
    for (const Pt& v : hull) {
      const auto c =
          static_cast<double>((l0.x - l1.x) * (l0.y - v.y) - (l0.x - v.x) * (l0.y - l1.y));
      far2 = std::max(far2, c * c / len2);  // squared in double, as centrosome does
    }
    min2 = std::min(min2, far2);
  }
  f.min = std::sqrt(min2);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Zernike features: centrosome's convex hull and minimum enclosing circle, replicated in its own
// arithmetic. Points are (i, j) = (row, column), as centrosome orders them.

struct Ij {
  int64_t i = 0;
  int64_t j = 0;
};

// centrosome's triangle area: half the cross product from p1, values under float32's epsilon
// (negative ones included) set to 0.
double TriangleArea(double c_i, double c_j, const Ij& p2, const Ij& p3) {
  const double v1_i = static_cast<double>(p2.i) - c_i, v1_j = static_cast<double>(p2.j) - c_j;
  const double v2_i = static_cast<double>(p3.i) - c_i, v2_j = static_cast<double>(p3.j) - c_j;
  const double a = (v1_j * v2_i - v2_j * v1_i) / 2;
  return a < static_cast<double>(std::numeric_limits<float>::epsilon()) ? 0.0 : a;
}

double Sign(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }

// centrosome.cpmorphology.convex_hull_ijv for one object's points (given in row-major order):
// sorted by angle around their mean, then points dropped in rounds until no round drops one.
std::vector<Ij> CentrosomeHull(const std::vector<Ij>& points) {
  const auto n0 = static_cast<int64_t>(points.size());
  double sum_i = 0, sum_j = 0;
  for (const Ij& p : points) sum_i += static_cast<double>(p.i), sum_j += static_cast<double>(p.j);
  const double c_i = sum_i / static_cast<double>(n0), c_j = sum_j / static_cast<double>(n0);
  std::vector<double> angle(n0);
  for (int64_t k = 0; k < n0; ++k) {
    angle[k] =
        std::atan2(static_cast<double>(points[k].i) - c_i, static_cast<double>(points[k].j) - c_j);
  }
  std::vector<int64_t> order(n0);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return angle[a] < angle[b]; });
  std::vector<Ij> a;
  a.reserve(n0);
  for (int64_t k : order) a.push_back(points[k]);

  int64_t previous = std::numeric_limits<int32_t>::max();
  bool first_pass = true;
  std::vector<char> keep;
  for (;;) {
    const auto n = static_cast<int64_t>(a.size());
    if (n <= (first_pass ? 2 : 3) || n == previous) return a;
    keep.assign(n, 0);
    std::vector<int64_t> consider;
    for (int64_t k = 0; k < n; ++k) {
      const Ij& prev = a[(k + n - 1) % n];
      const Ij& next = a[(k + 1) % n];
      const double left = TriangleArea(c_i, c_j, prev, a[k]);
      const double right = TriangleArea(c_i, c_j, a[k], next);
      const double across = TriangleArea(c_i, c_j, prev, next);
      keep[k] = left + right > across;
      if (left + right == 0) consider.push_back(k);
    }
    if (!consider.empty()) {  // points on a line through the centre: keep the far one per side
      auto dist = [&](int64_t k) {
        return std::abs(static_cast<double>(a[k].i) - c_i) +
               std::abs(static_cast<double>(a[k].j) - c_j);
      };
      auto side = [&](int64_t k) {
        return Sign(static_cast<double>(a[k].i) - c_i) +
               Sign(static_cast<double>(a[k].j) - c_j) * 2;
      };
      for (int64_t k : consider) {
        const int64_t prev = (k + n - 1) % n, next = (k + 1) % n;
        const bool left_worse = dist(k) > dist(prev) || side(k) != side(prev);
        const bool right_worse = dist(k) > dist(next) || side(k) != side(next);
        keep[k] = left_worse && right_worse && side(k) != 0;
      }
    }
    std::vector<Ij> kept;
    for (int64_t k = 0; k < n; ++k) {
      if (keep[k]) kept.push_back(a[k]);
    }
    a = std::move(kept);
    previous = n;
    first_pass = false;
  }
}

struct Circle {
  double c_i = kNaN;
  double c_j = kNaN;
  double r = 0;
};

// centrosome.cpmorphology.minimum_enclosing_circle for one hull (Chrystal's algorithm).
Circle CentrosomeEnclosingCircle(const std::vector<Ij>& hull) {
  const auto n = static_cast<int64_t>(hull.size());
  Circle c;
  if (n == 0) return c;
  if (n == 1) {
    c.c_i = static_cast<double>(hull[0].i);
    c.c_j = static_cast<double>(hull[0].j);
    return c;
  }
  auto diameter = [&](const Ij& a, const Ij& b) {
    Circle d;
    d.c_i = static_cast<double>(a.i + b.i) / 2;
    d.c_j = static_cast<double>(a.j + b.j) / 2;
    return d;
  };
  if (n == 2) {
    c = diameter(hull[0], hull[1]);
    const double di = c.c_i - static_cast<double>(hull[0].i);
    const double dj = c.c_j - static_cast<double>(hull[0].j);
    c.r = std::sqrt(di * di + dj * dj);
    return c;
  }
  std::vector<int64_t> rank(n);  // centrosome's within-label index: S0 is 0, S1 is 1
  std::iota(rank.begin(), rank.end(), 0);
  int64_t s0 = 0, s1 = 1;
  const double half_pi = kPi / 2;
  for (int64_t round = 0; round < 4 * n + 16; ++round) {
    const double s01_i = static_cast<double>(hull[s0].i - hull[s1].i);
    const double s01_j = static_cast<double>(hull[s0].j - hull[s1].j);
    const double s01_2 = s01_i * s01_i + s01_j * s01_j;
    int64_t best = -1;
    double best_s0vs1 = 0, best_vs1s0 = 0, best_vs0s1 = 0;
    for (int64_t v = 0; v < n; ++v) {
      if (rank[v] < 2) continue;
      const double vs0_i = static_cast<double>(hull[v].i - hull[s0].i);
      const double vs0_j = static_cast<double>(hull[v].j - hull[s0].j);
      const double vs1_i = static_cast<double>(hull[v].i - hull[s1].i);
      const double vs1_j = static_cast<double>(hull[v].j - hull[s1].j);
      const double cos_vs1s0 =
          (s01_i * vs1_i + s01_j * vs1_j) / std::sqrt(s01_2 * (vs1_i * vs1_i + vs1_j * vs1_j));
      const double vs1s0 = std::abs(std::acos(cos_vs1s0));
      const double cos_vs0s1 =
          (-s01_i * vs0_i + -s01_j * vs0_j) / std::sqrt(s01_2 * (vs0_i * vs0_i + vs0_j * vs0_j));
      const double vs0s1 = std::abs(std::acos(cos_vs0s1));
      const double s0vs1 = kPi - vs1s0 - vs0s1;
      if (best < 0 || s0vs1 < best_s0vs1) {
        best = v;
        best_s0vs1 = s0vs1;
        best_vs1s0 = vs1s0;
        best_vs0s1 = vs0s1;
      }
    }
    if (best < 0 || best_s0vs1 >= half_pi) {  // S0-S1 is the diameter
      c = diameter(hull[s0], hull[s1]);
      c.r = std::sqrt(s01_2) / 2;
      return c;
    }
    if (best_vs1s0 <= half_pi && best_vs0s1 <= half_pi && best_s0vs1 <= half_pi) {
      // The circumscribed circle of S0, S1 and V.
      const double a_y = static_cast<double>(hull[s0].i), a_x = static_cast<double>(hull[s0].j);
      const double b_y = static_cast<double>(hull[s1].i), b_x = static_cast<double>(hull[s1].j);
      const double v_y = static_cast<double>(hull[best].i), v_x = static_cast<double>(hull[best].j);
      const double a2 = a_y * a_y + a_x * a_x, b2 = b_y * b_y + b_x * b_x,
                   v2 = v_y * v_y + v_x * v_x;
      const double d = 2 * (a_x * (b_y - v_y) + b_x * (v_y - a_y) + v_x * (a_y - b_y));
      c.c_j = (a2 * (b_y - v_y) + b2 * (v_y - a_y) + v2 * (a_y - b_y)) / d;
      c.c_i = (a2 * (v_x - b_x) + b2 * (a_x - v_x) + v2 * (b_x - a_x)) / d;
      const double di = a_y - c.c_i, dj = a_x - c.c_j;
      c.r = std::sqrt(di * di + dj * dj);
      return c;
    }
    if (best_vs0s1 > half_pi) {  // the angle at S0 is obtuse: V replaces S0
      rank[s0] = rank[best];
      s0 = best;
      rank[best] = 0;
    } else {  // V replaces S1
      rank[s1] = rank[best];
      s1 = best;
      rank[best] = 1;
    }
  }
  c = diameter(hull[s0], hull[s1]);  // not reached for a convex hull; a bound against cycling
  c.r = std::sqrt(static_cast<double>((hull[s0].i - hull[s1].i) * (hull[s0].i - hull[s1].i) +
                                      (hull[s0].j - hull[s1].j) * (hull[s0].j - hull[s1].j))) /
        2;
  return c;
}

constexpr int kZernikeMaxN = 9;

struct ZernikeIndex {
  int n;
  int m;
  std::array<double, kZernikeMaxN / 2 + 1> lut;  // centrosome's coefficient table
};

std::vector<ZernikeIndex> ZernikeIndexes() {
  std::array<double, kZernikeMaxN + 1> factorial{};
  factorial[0] = 1;
  for (int k = 1; k <= kZernikeMaxN; ++k) factorial[k] = factorial[k - 1] * k;
  std::vector<ZernikeIndex> out;
  for (int n = 0; n <= kZernikeMaxN; ++n) {
    for (int m = n % 2; m <= n; m += 2) {
      ZernikeIndex z{n, m, {}};
      double alternate = 1;
      for (int k = 0; k <= (n - m) / 2; ++k) {
        z.lut[k] = alternate * factorial[n - k] /
                   (factorial[k] * factorial[(n + m) / 2 - k] * factorial[(n - m) / 2 - k]);
        alternate = -alternate;
      }
      out.push_back(z);
    }
  }
  return out;
}

// The pixels kept for the Zernike sums: u + i v and rho^2 = u^2 + v^2 per pixel.
struct ZernikeScratch {
  std::vector<double> zr, zi, rho2, u, v;
};

// Adds sum over pixels of (zr + i zi) rho2^p, p = 0..(9 - M) / 2, to re[p], im[p]; two pixels at a
// time into separate partial sums.
template <int M>
void ZernikeMoments(const ZernikeScratch& s, double* re, double* im) {
  constexpr int kP = (kZernikeMaxN - M) / 2 + 1;
  double r0[kP] = {}, i0[kP] = {}, r1[kP] = {}, i1[kP] = {};
  const std::size_t n = s.rho2.size();
  std::size_t k = 0;
  for (; k + 1 < n; k += 2) {
    double wr0 = s.zr[k], wi0 = s.zi[k], wr1 = s.zr[k + 1], wi1 = s.zi[k + 1];
    const double q0 = s.rho2[k], q1 = s.rho2[k + 1];
    for (int p = 0; p < kP; ++p) {
      r0[p] += wr0, i0[p] += wi0, r1[p] += wr1, i1[p] += wi1;
      wr0 *= q0, wi0 *= q0, wr1 *= q1, wi1 *= q1;
    }
  }
  if (k < n) {
    double wr = s.zr[k], wi = s.zi[k];
    for (int p = 0; p < kP; ++p) {
      r0[p] += wr, i0[p] += wi;
      wr *= s.rho2[k], wi *= s.rho2[k];
    }
  }
  for (int p = 0; p < kP; ++p) re[p] = r0[p] + r1[p], im[p] = i0[p] + i1[p];
}

// Zernike scores of one object (pixels in row-major order) within circle c. A pixel is kept when
// its rho^2, computed in centrosome's order of operations, is not above 1.
void ZernikeScores(const int32_t* xs, const int32_t* ys, int32_t n, const Circle& c,
                   const std::vector<ZernikeIndex>& indexes, ZernikeScratch& s, double* out) {
  s.zr.clear(), s.zi.clear(), s.rho2.clear(), s.u.clear(), s.v.clear();
  const double inverse_r = 1 / c.r;
  for (int32_t k = 0; k < n; ++k) {
    double u = (static_cast<double>(ys[k]) - c.c_i) * inverse_r;
    double v = (static_cast<double>(xs[k]) - c.c_j) * inverse_r;
    double rho2 = v * v + u * u;
    if (!(rho2 < 1 - 1e-9)) {  // near or past the circle: centrosome's own arithmetic decides
      u = static_cast<double>(ys[k]);
      v = static_cast<double>(xs[k]);
      u -= c.c_i;
      u /= c.r;
      v -= c.c_j;
      v /= c.r;
      rho2 = v * v + u * u;
      if (rho2 > 1 || !(rho2 == rho2)) continue;
    }
    s.u.push_back(u), s.v.push_back(v), s.rho2.push_back(rho2);
  }
  s.zr.assign(s.u.size(), 1.0);
  s.zi.assign(s.u.size(), 0.0);
  // moment[m][p] = sum over the pixels of (u + i v)^m rho^2p; each score combines one m's.
  constexpr int kP = kZernikeMaxN / 2 + 1;
  double re[kZernikeMaxN + 1][kP] = {}, im[kZernikeMaxN + 1][kP] = {};
  [&]<int... M>(std::integer_sequence<int, M...>) {
    ((ZernikeMoments<M>(s, re[M], im[M]),
      [&] {  // (u + i v)^M -> (u + i v)^(M + 1)
        for (std::size_t k = 0; k < s.zr.size(); ++k) {
          const double zr = s.zr[k] * s.u[k] - s.zi[k] * s.v[k];
          s.zi[k] = s.zr[k] * s.v[k] + s.zi[k] * s.u[k];
          s.zr[k] = zr;
        }
      }()),
     ...);
  }
  (std::make_integer_sequence<int, kZernikeMaxN + 1>{});
  const double area = c.r * c.r * kPi;
  for (std::size_t k = 0; k < indexes.size(); ++k) {
    const ZernikeIndex& z = indexes[k];
    const int top = (z.n - z.m) / 2;
    double sr = 0, si = 0;
    for (int j = 0; j <= top; ++j) {
      sr += z.lut[j] * re[z.m][top - j];
      si += z.lut[j] * im[z.m][top - j];
    }
    out[k] = std::sqrt(sr * sr + si * si) / area;
  }
}

// ---------------------------------------------------------------------------------------------
// numpy's argsort for float32 (quicksort kind: introsort with median-of-three partitions,
// insertion sort below 16 elements, heapsort past the depth limit), comparison as numpy's
// FLOAT_LT (NaN sorts last).

inline bool NumpyLess(float a, float b) { return a < b || (b != b && a == a); }

// NumpyLess, or plain < for values known to hold no NaN.
template <bool kNaN>
inline bool Less(float a, float b) {
  if constexpr (kNaN) {
    return NumpyLess(a, b);
  } else {
    return a < b;
  }
}

// A value and where it came from: sorting these moves what numpy's argsort moves.
struct Keyed {
  float value;
  int32_t index;
};

template <bool kNaN>
void NumpyHeapArgsort(Keyed* start, int64_t n) {
  Keyed* a = start - 1;  // 1-based
  int64_t i, j, l;
  Keyed tmp;
  for (l = n >> 1; l > 0; --l) {
    tmp = a[l];
    for (i = l, j = l << 1; j <= n;) {
      if (j < n && Less<kNaN>(a[j].value, a[j + 1].value)) j += 1;
      if (Less<kNaN>(tmp.value, a[j].value)) {
        a[i] = a[j];
        i = j;
        j += j;
      } else {
        break;
      }
    }
    a[i] = tmp;
  }
  for (; n > 1;) {
    tmp = a[n];
    a[n] = a[1];
    n -= 1;
    for (i = 1, j = 2; j <= n;) {
      if (j < n && Less<kNaN>(a[j].value, a[j + 1].value)) j++;
      if (Less<kNaN>(tmp.value, a[j].value)) {
        a[i] = a[j];
        i = j;
        j += j;
      } else {
        break;
      }
    }
    a[i] = tmp;
  }
}

// Puts `a` in the order numpy's argsort would give its values.
template <bool kNaN>
void NumpyArgsort(std::vector<Keyed>& a) {
  const auto num = static_cast<int64_t>(a.size());
  if (num < 2) return;
  constexpr int64_t kSmall = 15;
  int depth_limit = 0;
  for (auto u = static_cast<std::uint64_t>(num); u >>= 1;) ++depth_limit;
  int cdepth = depth_limit * 2;
  Keyed* pl = a.data();
  Keyed* pr = pl + num - 1;
  std::vector<std::pair<Keyed*, Keyed*>> stack;
  std::vector<int> depths;
  for (;;) {
    if (cdepth < 0) {
      NumpyHeapArgsort<kNaN>(pl, pr - pl + 1);
    } else {
      while ((pr - pl) > kSmall) {
        Keyed* pm = pl + ((pr - pl) >> 1);
        if (Less<kNaN>(pm->value, pl->value)) std::swap(*pm, *pl);
        if (Less<kNaN>(pr->value, pm->value)) std::swap(*pr, *pm);
        if (Less<kNaN>(pm->value, pl->value)) std::swap(*pm, *pl);
        const float vp = pm->value;
        Keyed* pi = pl;
        Keyed* pj = pr - 1;
        std::swap(*pm, *pj);
        for (;;) {
          do ++pi;
          while (Less<kNaN>(pi->value, vp));
          do --pj;
          while (Less<kNaN>(vp, pj->value));
          if (pi >= pj) break;
          std::swap(*pi, *pj);
        }
        std::swap(*pi, *(pr - 1));
        if (pi - pl < pr - pi) {  // push the larger part
          stack.emplace_back(pi + 1, pr);
          pr = pi - 1;
        } else {
          stack.emplace_back(pl, pi - 1);
          pl = pi + 1;
        }
        depths.push_back(--cdepth);
      }
      for (Keyed* pi = pl + 1; pi <= pr; ++pi) {
        const Keyed vi = *pi;
        Keyed* pj = pi;
        Keyed* pk = pi - 1;
        while (pj > pl && Less<kNaN>(vi.value, pk->value)) *pj-- = *pk--;
        *pj = vi;
      }
    }
    if (stack.empty()) break;
    pl = stack.back().first;
    pr = stack.back().second;
    stack.pop_back();
    cdepth = depths.back();
    depths.pop_back();
  }
}

// CellProfiler's quantiles (see the top of the file) of v at each of `fractions`, ascending,
// without sorting v: each needs the values at two sorted positions, which nth_element and a
// minimum find. NaN sorts last, as numpy sorts it.
template <bool kNaN, typename T>
void CpQuantiles(std::span<T> v, std::initializer_list<double> fractions, double* out) {
  auto less = [](T a, T b) { return a < b || (kNaN && b != b && a == a); };
  const auto n = static_cast<int64_t>(v.size());
  int64_t done = 0;  // v[0 .. done) hold the smallest values
  for (double fraction : fractions) {
    const double q = static_cast<double>(n) * fraction;
    const auto i = static_cast<int64_t>(q);
    const double t = q - std::floor(q);
    std::nth_element(v.begin() + done, v.begin() + i, v.end(), less);
    done = i;
    const double at = static_cast<double>(v[i]);
    if (i < n - 1) {
      const double next = static_cast<double>(*std::min_element(v.begin() + i + 1, v.end(), less));
      *out++ = at * (1 - t) + next * t;
    } else {
      *out++ = at;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<double>& MeasurementTable::AddColumn(std::string_view name) {
  if (std::vector<double>* existing = Find(name)) {
    existing->assign(rows, kNaN);
    return *existing;
  }
  columns.emplace_back(name);
  values.emplace_back(rows, kNaN);
  return values.back();
}

const std::vector<double>* MeasurementTable::Find(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return &values[i];
  }
  return nullptr;
}

std::vector<double>* MeasurementTable::Find(std::string_view name) {
  return const_cast<std::vector<double>*>(std::as_const(*this).Find(name));
}

Status MeasureSizeShape(const Labels& labels, MeasurementTable& out, bool zernike) {
  SUND_ASSIGN_OR_RETURN(ObjectPixels objects, GroupPixels(labels));
  SUND_RETURN_IF_ERROR(CheckTable(out, labels.count));

  enum Feature {
    kArea,
    kBoundingBoxArea,
    kBoundingBoxMaximumX,
    kBoundingBoxMaximumY,
    kBoundingBoxMinimumX,
    kBoundingBoxMinimumY,
    kCenterX,
    kCenterY,
    kCompactness,
    kEccentricity,
    kEquivalentDiameter,
    kEulerNumber,
    kExtent,
    kFormFactor,
    kMajorAxisLength,
    kMaxFeretDiameter,
    kMaximumRadius,
    kMeanRadius,
    kMedianRadius,
    kMinFeretDiameter,
    kMinorAxisLength,
    kOrientation,
    kPerimeter,
    kSolidity,
    kFeatureCount,
  };
  std::vector<std::string> names = {
      "AreaShape_Area",
      "AreaShape_BoundingBoxArea",
      "AreaShape_BoundingBoxMaximum_X",
      "AreaShape_BoundingBoxMaximum_Y",
      "AreaShape_BoundingBoxMinimum_X",
      "AreaShape_BoundingBoxMinimum_Y",
      "AreaShape_Center_X",
      "AreaShape_Center_Y",
      "AreaShape_Compactness",
      "AreaShape_Eccentricity",
      "AreaShape_EquivalentDiameter",
      "AreaShape_EulerNumber",
      "AreaShape_Extent",
      "AreaShape_FormFactor",
      "AreaShape_MajorAxisLength",
      "AreaShape_MaxFeretDiameter",
      "AreaShape_MaximumRadius",
      "AreaShape_MeanRadius",
      "AreaShape_MedianRadius",
      "AreaShape_MinFeretDiameter",
      "AreaShape_MinorAxisLength",
      "AreaShape_Orientation",
      "AreaShape_Perimeter",
      "AreaShape_Solidity",
  };
  const std::vector<ZernikeIndex> zernike_indexes =
      zernike ? ZernikeIndexes() : std::vector<ZernikeIndex>{};
  for (const ZernikeIndex& z : zernike_indexes) {
    names.push_back("AreaShape_Zernike_" + std::to_string(z.n) + "_" + std::to_string(z.m));
  }
  const std::vector<double*> col = AddColumns(out, labels.count, names);

  const int width = labels.width;
  Patch patch;
  Sums sums;
  std::vector<std::uint8_t> scratch;
  std::vector<int32_t> stack;
  std::vector<int32_t> column, parabola;
  std::vector<int64_t> d2, bound_num, bound_den;
  std::vector<Ij> outline;
  ZernikeScratch zernike_scratch;
  for (int32_t label = 1; label <= labels.count; ++label) {
    const int32_t n = objects.size(label);
    if (n == 0) continue;
    const int32_t* xs = objects.xs(label);
    const int32_t* ys = objects.ys(label);
    const std::size_t row = label - 1;
    FillPatch(xs, ys, n, patch, sums);
    const int box_w = patch.w - 2, box_h = patch.h - 2;
    const double area = static_cast<double>(n);

    col[kArea][row] = area;
    col[kBoundingBoxMinimumX][row] = patch.x0;
    col[kBoundingBoxMinimumY][row] = patch.y0;
    col[kBoundingBoxMaximumX][row] = patch.x0 + box_w;
    col[kBoundingBoxMaximumY][row] = patch.y0 + box_h;
    col[kBoundingBoxArea][row] = static_cast<double>(box_w) * box_h;
    col[kExtent][row] = area / (static_cast<double>(box_w) * box_h);
    col[kCenterX][row] = static_cast<double>(sums.x + int64_t{patch.x0} * n) / area;
    col[kCenterY][row] = static_cast<double>(sums.y + int64_t{patch.y0} * n) / area;
    col[kEquivalentDiameter][row] = std::sqrt(4 * area / kPi);

    // Second moments, exact in integers (128-bit: n * sum of x^2 outgrows 64 bits for objects of
    // millions of pixels) up to one rounding each.
    const double n2 = area * area;
    auto moment = [&](int64_t sum_ab, int64_t sum_a, int64_t sum_b) {
      return static_cast<double>(static_cast<__int128>(sums.n) * sum_ab -
                                 static_cast<__int128>(sum_a) * sum_b) /
             n2;
    };
    const double var_x = moment(sums.xx, sums.x, sums.x);
    const double var_y = moment(sums.yy, sums.y, sums.y);
    const double cov_xy = moment(sums.xy, sums.x, sums.y);
    const double a = var_x, b = -cov_xy, c = var_y;
    const double mid = (a + c) / 2, root = std::sqrt((a - c) * (a - c) / 4 + b * b);
    const double l1 = std::max(mid + root, 0.0), l2 = std::max(mid - root, 0.0);
    col[kMajorAxisLength][row] = 4 * std::sqrt(l1);
    col[kMinorAxisLength][row] = 4 * std::sqrt(l2);
    col[kEccentricity][row] = l1 == 0 ? 0.0 : std::sqrt(1 - l2 / l1);
    col[kOrientation][row] =
        a - c == 0 ? (b < 0 ? -kPi / 4 : kPi / 4) : 0.5 * std::atan2(-2 * b, c - a);

    const double perimeter = Perimeter(patch, scratch);
    col[kPerimeter][row] = perimeter;
    col[kFormFactor][row] = 4.0 * kPi * area / (perimeter * perimeter);
    col[kCompactness][row] = perimeter * perimeter / std::max(4.0 * kPi * area, 1.0);
    col[kEulerNumber][row] = EulerNumber(patch, scratch, stack);

    const std::vector<Pt> hull = ConvexHull(RowEnds(patch));
    col[kSolidity][row] = area / static_cast<double>(ConvexArea(hull, box_h));
    const Feret feret = FeretDiameters(hull);
    col[kMinFeretDiameter][row] = feret.min;
    col[kMaxFeretDiameter][row] = feret.max;

    SquaredDistances(patch, column, d2, parabola, bound_num, bound_den);
    double sum_radius = 0;
    int64_t max_d2 = 0;
    for (int64_t d : d2) {
      sum_radius += std::sqrt(static_cast<double>(d));
      max_d2 = std::max(max_d2, d);
    }
    col[kMaximumRadius][row] = std::sqrt(static_cast<double>(max_d2));
    col[kMeanRadius][row] = sum_radius / area;
    const std::size_t low = (d2.size() - 1) / 2;  // centrosome: the mean of the middle two
    std::nth_element(d2.begin(), d2.begin() + low, d2.end());
    const double median_low = std::sqrt(static_cast<double>(d2[low]));
    if (d2.size() % 2 == 1) {
      col[kMedianRadius][row] = median_low;
    } else {
      const int64_t high = *std::min_element(d2.begin() + low + 1, d2.end());
      col[kMedianRadius][row] = (median_low + std::sqrt(static_cast<double>(high))) / 2;
    }

    if (zernike) {
      outline.clear();
      for (int32_t k = 0; k < n; ++k) {  // an 8-neighbour of another value, or the image's edge
        const int x = xs[k], y = ys[k];
        const int px = x - patch.x0 + 1, py = y - patch.y0 + 1;
        const bool edge =
            x == 0 || y == 0 || x == width - 1 || y == labels.height - 1 ||
            !(patch.at(px - 1, py - 1) && patch.at(px, py - 1) && patch.at(px + 1, py - 1) &&
              patch.at(px - 1, py) && patch.at(px + 1, py) && patch.at(px - 1, py + 1) &&
              patch.at(px, py + 1) && patch.at(px + 1, py + 1));
        if (edge) outline.push_back({y, x});
      }
      const Circle circle = CentrosomeEnclosingCircle(CentrosomeHull(outline));
      double scores[64];
      ZernikeScores(xs, ys, n, circle, zernike_indexes, zernike_scratch, scores);
      for (std::size_t k = 0; k < zernike_indexes.size(); ++k) {
        col[kFeatureCount + k][row] = scores[k];
      }
    }
  }
  return Status::Ok();
}

Status MeasureIntensity(const Labels& labels, const Image& image, std::string_view channel,
                        MeasurementTable& out) {
  if (channel.empty()) return InvalidArgument("intensity: empty channel name");
  SUND_RETURN_IF_ERROR(CheckLabels(labels));
  if (image.width != labels.width || image.height != labels.height ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height) {
    return InvalidArgument("intensity: image " + std::to_string(image.width) + "x" +
                           std::to_string(image.height) + " does not match labels " +
                           std::to_string(labels.width) + "x" + std::to_string(labels.height));
  }
  SUND_RETURN_IF_ERROR(CheckTable(out, labels.count));

  // Pass 1, row-major (the order of scipy.ndimage's labelled sums): counts, sums, extremes.
  struct Accumulator {
    int64_t n = 0, edges = 0, sum_x = 0, sum_y = 0;
    double sum = 0, weighted_x = 0, weighted_y = 0, edge_sum = 0;
    double mean = kNaN, edge_mean = kNaN, squares = 0, edge_squares = 0;
    float min = 0, max = 0, edge_min = 0, edge_max = 0;
    int32_t max_at = -1;  // the maximum's first pixel
  };
  const int width = labels.width, height = labels.height;
  const int32_t count = labels.count;
  auto is_edge = [&](int x, int y, int32_t l) {
    return (x > 0 && labels.at(x - 1, y) != l) || (x < width - 1 && labels.at(x + 1, y) != l) ||
           (y > 0 && labels.at(x, y - 1) != l) || (y < height - 1 && labels.at(x, y + 1) != l);
  };
  std::vector<Accumulator> acc(static_cast<std::size_t>(count) + 1);
  bool has_nan = false, max_ties = false;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int32_t l = labels.at(x, y);
      if (l == 0) continue;
      if (l < 0 || l > count) return BadLabel(l, count);
      const int32_t at = y * width + x;
      const float v = image.pixels[at];
      Accumulator& a = acc[l];
      has_nan |= v != v;
      if (a.n++ == 0) {
        a.min = a.max = v;
        a.max_at = at;
      } else {
        if (NumpyLess(v, a.min)) a.min = v;
        if (NumpyLess(a.max, v)) {
          a.max = v;
          a.max_at = at;
        } else if (!NumpyLess(v, a.max)) {
          max_ties = true;
        }
      }
      a.sum += static_cast<double>(v);
      a.sum_x += x;
      a.sum_y += y;
      a.weighted_x += static_cast<double>(x) * static_cast<double>(v);
      a.weighted_y += static_cast<double>(y) * static_cast<double>(v);
      if (is_edge(x, y, l)) {
        if (a.edges++ == 0) {
          a.edge_min = a.edge_max = v;
        } else {
          if (NumpyLess(v, a.edge_min)) a.edge_min = v;
          if (NumpyLess(a.edge_max, v)) a.edge_max = v;
        }
        a.edge_sum += static_cast<double>(v);
      }
    }
  }
  // Pass 2: squared deviations (in the same order), and each object's values grouped.
  std::vector<int64_t> start(static_cast<std::size_t>(count) + 2, 0);
  for (int32_t l = 1; l <= count; ++l) {
    Accumulator& a = acc[l];
    a.mean = a.sum / static_cast<double>(a.n);
    a.edge_mean = a.edge_sum / static_cast<double>(a.edges);
    start[l + 1] = start[l] + a.n;
  }
  std::vector<float> grouped(start[count + 1]);
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int32_t l = labels.at(x, y);
      if (l == 0) continue;
      const float v = image.pixels[y * width + x];
      Accumulator& a = acc[l];
      grouped[next[l]++] = v;
      const double d = static_cast<double>(v) - a.mean;
      a.squares += d * d;
      if (is_edge(x, y, l)) {
        const double e = static_cast<double>(v) - a.edge_mean;
        a.edge_squares += e * e;
      }
    }
  }

  const std::string ch(channel);
  const std::vector<double*> col = AddColumns(
      out, count,
      {"Intensity_IntegratedIntensity_" + ch,    "Intensity_MeanIntensity_" + ch,
       "Intensity_StdIntensity_" + ch,           "Intensity_MinIntensity_" + ch,
       "Intensity_MaxIntensity_" + ch,           "Intensity_IntegratedIntensityEdge_" + ch,
       "Intensity_MeanIntensityEdge_" + ch,      "Intensity_StdIntensityEdge_" + ch,
       "Intensity_MinIntensityEdge_" + ch,       "Intensity_MaxIntensityEdge_" + ch,
       "Intensity_MassDisplacement_" + ch,       "Intensity_LowerQuartileIntensity_" + ch,
       "Intensity_MedianIntensity_" + ch,        "Intensity_MADIntensity_" + ch,
       "Intensity_UpperQuartileIntensity_" + ch, "Location_CenterMassIntensity_X_" + ch,
       "Location_CenterMassIntensity_Y_" + ch,   "Location_CenterMassIntensity_Z_" + ch,
       "Location_MaxIntensity_X_" + ch,          "Location_MaxIntensity_Y_" + ch,
       "Location_MaxIntensity_Z_" + ch});
  enum Feature {
    kIntegrated,
    kMean,
    kStd,
    kMin,
    kMax,
    kIntegratedEdge,
    kMeanEdge,
    kStdEdge,
    kMinEdge,
    kMaxEdge,
    kMassDisplacement,
    kLowerQuartile,
    kMedian,
    kMad,
    kUpperQuartile,
    kCenterMassX,
    kCenterMassY,
    kCenterMassZ,
    kMaxX,
    kMaxY,
    kMaxZ,
  };

  if (max_ties) {  // the pixel scipy's maximum_position reports: see the top of the file
    std::vector<Keyed> labelled;
    labelled.reserve(start[count + 1]);
    for (std::size_t i = 0; i < labels.pixels.size(); ++i) {
      if (labels.pixels[i] != 0) labelled.push_back({image.pixels[i], static_cast<int32_t>(i)});
    }
    if (has_nan) {
      NumpyArgsort<true>(labelled);
    } else {
      NumpyArgsort<false>(labelled);
    }
    for (const Keyed& k : labelled) acc[labels.pixels[k.index]].max_at = k.index;
  }

  std::vector<double> deviations;
  for (int32_t l = 1; l <= count; ++l) {
    const Accumulator& a = acc[l];
    if (a.n == 0) continue;
    const std::size_t row = l - 1;
    const auto n = static_cast<double>(a.n);
    col[kIntegrated][row] = a.sum;
    col[kMean][row] = a.mean;
    col[kStd][row] = std::sqrt(a.squares / n);
    col[kMin][row] = a.min;
    col[kMax][row] = a.max;
    col[kIntegratedEdge][row] = a.edge_sum;
    col[kMeanEdge][row] = a.edge_mean;
    col[kStdEdge][row] = std::sqrt(a.edge_squares / static_cast<double>(a.edges));
    col[kMinEdge][row] = a.edge_min;
    col[kMaxEdge][row] = a.edge_max;

    const double cm_x = static_cast<double>(a.sum_x) / n, cm_y = static_cast<double>(a.sum_y) / n;
    const double cmi_x = a.weighted_x / a.sum, cmi_y = a.weighted_y / a.sum;
    const double cmi_z = 0.0 / a.sum;
    col[kCenterMassX][row] = cmi_x;
    col[kCenterMassY][row] = cmi_y;
    col[kCenterMassZ][row] = cmi_z;
    const double dx = cm_x - cmi_x, dy = cm_y - cmi_y, dz = 0 - cmi_z;
    col[kMassDisplacement][row] = std::sqrt(dx * dx + dy * dy + dz * dz);
    col[kMaxX][row] = a.max_at % width;
    col[kMaxY][row] = a.max_at / width;
    col[kMaxZ][row] = 0;

    const std::span<float> values(grouped.data() + start[l], static_cast<std::size_t>(a.n));
    double quartiles[3];
    if (has_nan) {
      CpQuantiles<true>(values, {0.25, 0.5, 0.75}, quartiles);
    } else {
      CpQuantiles<false>(values, {0.25, 0.5, 0.75}, quartiles);
    }
    col[kLowerQuartile][row] = quartiles[0];
    col[kMedian][row] = quartiles[1];
    col[kUpperQuartile][row] = quartiles[2];
    deviations.clear();
    for (float v : values) deviations.push_back(std::abs(static_cast<double>(v) - quartiles[1]));
    double mad;
    if (has_nan) {
      CpQuantiles<true>(std::span<double>(deviations), {0.5}, &mad);
    } else {
      CpQuantiles<false>(std::span<double>(deviations), {0.5}, &mad);
    }
    col[kMad][row] = mad;
  }
  return Status::Ok();
}

Status MeasureLocation(const Labels& labels, MeasurementTable& out, bool with_z) {
  SUND_RETURN_IF_ERROR(CheckLabels(labels));
  SUND_RETURN_IF_ERROR(CheckTable(out, labels.count));
  std::vector<int64_t> n(labels.count + 1, 0), sum_x(labels.count + 1, 0),
      sum_y(labels.count + 1, 0);
  for (int y = 0; y < labels.height; ++y) {
    for (int x = 0; x < labels.width; ++x) {
      const int32_t v = labels.at(x, y);
      if (v < 0 || v > labels.count) return BadLabel(v, labels.count);
      ++n[v];
      sum_x[v] += x;
      sum_y[v] += y;
    }
  }
  std::vector<std::string> names = {"Location_Center_X", "Location_Center_Y"};
  if (with_z) names.push_back("Location_Center_Z");
  const std::vector<double*> col = AddColumns(out, labels.count, names);
  for (int32_t label = 1; label <= labels.count; ++label) {
    if (n[label] == 0) continue;
    col[0][label - 1] = static_cast<double>(sum_x[label]) / static_cast<double>(n[label]);
    col[1][label - 1] = static_cast<double>(sum_y[label]) / static_cast<double>(n[label]);
    if (with_z) col[2][label - 1] = 0;
  }
  return Status::Ok();
}

}  // namespace sund::cells
