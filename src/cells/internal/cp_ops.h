// Image operations that CellProfiler's object identification borrows from scipy.ndimage,
// scikit-image and centrosome (centrosome/cpmorphology.py, centrosome/propagate.py), rewritten
// for row-major buffers with the same numbering, tie-breaking and boundary rules, so that the
// cells module reproduces CellProfiler 4.0's label images. Private to src/cells.
//
// All buffers are row-major, width x height; index = y * width + x. Label operations work in
// place and sparse results come as lists of pixel indices: fresh memory is the main cost of a
// segmentation on the machines we run on (a page fault costs tens of microseconds there).
// Thread-safety: free functions on values.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace sund::cells::internal {

struct Size {
  int width = 0;
  int height = 0;
  std::size_t count() const { return static_cast<std::size_t>(width) * height; }
};

// scipy.ndimage.correlate1d with mode="constant", cval=0, along x (axis 1) or y (axis 0). The
// weights are centred (odd length). Results are rounded to T after the pass, as scipy does for a
// float32 array.
template <typename T>
std::vector<T> Correlate1D(const std::vector<T>& in, Size size, bool along_x,
                           const std::vector<double>& weights);

// Correlate1D along y then along x (each pass rounded to float, as scipy does for a float32
// image), handing the finished rows to `sink` in order without building the whole image.
void SeparableFilterRows(std::span<const float> in, Size size, const std::vector<double>& weights,
                         const std::function<void(int y, const float* row)>& sink);

// scipy.ndimage.gaussian_filter(mode="constant", cval=0, truncate=4): axis 0 then axis 1.
template <typename T>
std::vector<T> GaussianFilter(const std::vector<T>& in, Size size, double sigma);

// The normalised 1-D kernel scipy's gaussian_filter uses (radius int(4 sigma + 0.5)).
std::vector<double> GaussianKernel(double sigma);

// Correlate1D of a line of n ones: the part of the kernel's weight that falls inside the image at
// each position (what CellProfiler divides by to undo the zero padding).
std::vector<double> WeightInside(const std::vector<double>& weights, int n);

// scipy.ndimage.label: connected components of the nonzero pixels, numbered 1..count in raster
// order of their first pixel. Returns count.
std::int32_t LabelComponents(std::span<const std::uint8_t> foreground, Size size,
                             bool eight_connected, std::vector<std::int32_t>& labels);

// centrosome.cpmorphology.fill_labeled_holes, in place: background regions (4-connected) that do
// not reach the image edge and touch a single object take that object's label. size_fn(area,
// is_object), when set, exempts the regions (and objects) for which it returns false.
// background_only: only background pixels change (CellProfiler's mask = labels == 0); otherwise
// an object enclosed by another one's hole is absorbed too.
void FillLabeledHoles(std::vector<std::int32_t>& labels, Size size,
                      const std::function<bool(std::int64_t, bool)>& size_fn = nullptr,
                      bool background_only = false);

// centrosome.outline.outline: the labelled pixels that have an 8-neighbour with another label
// (background included) or lie on the image edge, with their label; 0 elsewhere.
std::vector<std::int32_t> Outline(const std::vector<std::int32_t>& labels, Size size);

// scipy.ndimage.sobel(image) with its default axis (-1) and mode "reflect": the derivative along
// x, smoothed [1, 2, 1] along y, in float32.
std::vector<float> SobelX(const std::vector<float>& image, Size size);

// For every pixel, the index of the nearest nonzero pixel of `seeds` (Euclidean) and its
// distance, as scipy.ndimage.distance_transform_edt(seeds == 0, return_indices=True) gives them.
void NearestSeed(std::span<const std::uint8_t> seeds, Size size, std::vector<double>& distance,
                 std::vector<std::int32_t>& nearest);

// FillLabeledHoles on a binary image (one object label) with size_fn = area < max_hole_area:
// background regions that do not reach the edge and are smaller than max_hole_area are filled.
void FillBinaryHoles(std::vector<std::uint8_t>& foreground, Size size, std::int64_t max_hole_area);

// centrosome.cpmorphology.relabel, in place: labels renumbered 1..count, keeping their order.
std::int32_t Relabel(std::vector<std::int32_t>& labels);

// centrosome.cpmorphology.strel_disk(radius) as (dx, dy) offsets, the centre excluded.
std::vector<std::pair<int, int>> DiskOffsets(double radius);

// centrosome.cpmorphology.is_local_maximum, then the pixels with image <= 0 dropped: labelled
// pixels that no pixel of the same label within the footprint exceeds (ties are all maxima).
// Returns their indices, ascending.
template <typename T>
std::vector<std::int32_t> LocalMaxima(std::span<const T> image,
                                      std::span<const std::int32_t> labels, Size size,
                                      const std::vector<std::pair<int, int>>& footprint);

// Reduces every 8-connected blob of the given pixels (indices, ascending) to one pixel, the one
// nearest the blob's centroid, standing in for centrosome.cpmorphology.binary_shrink on blobs
// without holes. Returns the points, ascending (so that numbering them 1..n is what
// scipy.ndimage.label does to the shrunk image).
std::vector<std::int32_t> ShrinkToPoints(std::vector<std::int32_t> pixels, Size size);

// skimage.segmentation.watershed (0.16/0.17, as CellProfiler 4.0 used it) with 8-connectivity,
// no compactness and no watershed line, in place on `labels`: on entry, 0 = outside the mask,
// -1 = to be flooded, > 0 = a seed; on exit every pixel reached holds its seed's label and the
// unreached stay -1. Flooding goes in order of (level(pixel), time of entry), a pixel taking the
// label of the neighbour that reached it first.
void Watershed(const std::function<double(std::int32_t)>& level, std::vector<std::int32_t>& labels,
               Size size);

// centrosome.propagate.propagate: Dijkstra from the labelled pixels over the mask, the step cost
// between 8-neighbours being sqrt(d^2 + manhattan * weight^2), d the summed absolute difference
// of their 3x3 neighbourhoods in `image` (empty = all zeros). Returns the labels; `distances`
// (optional) receives the path lengths (-1 where unreached).
std::vector<std::int32_t> Propagate(std::span<const float> image,
                                    const std::vector<std::int32_t>& labels,
                                    std::span<const std::uint8_t> mask, double weight, Size size,
                                    std::vector<double>* distances = nullptr);

// scipy.ndimage.distance_transform_edt: Euclidean distance of each nonzero pixel to the nearest
// zero pixel (pixels past the image edge do not count as zero).
std::vector<double> DistanceTransform(std::span<const std::uint8_t> foreground, Size size);

// The cubic B-spline coefficients scipy.ndimage.spline_filter computes (mirror boundaries), for
// CubicAt.
std::vector<double> SplineCoefficients(std::vector<double> values, Size size);

// scipy.ndimage.map_coordinates(order=3, mode="constant") as scipy < 1.6 did it, at one point
// (row, col) of the image whose SplineCoefficients are given: 0 past the last row or column.
double CubicAt(const std::vector<double>& coefficients, Size size, double row, double col);

// The same sampling with order=0 (nearest), for label images.
std::vector<std::int32_t> ResampleNearest(std::span<const std::int32_t> in, Size in_size,
                                          Size out_size, double scale);

}  // namespace sund::cells::internal
