// Per-object measurements, computed the way CellProfiler 4.0.6 computes them in its modules
// MeasureObjectSizeShape (2D, "advanced features" off), MeasureObjectIntensity and the Identify
// modules' Location_Center features, under CellProfiler's own column names, so that tools that read
// CellProfiler's per-object tables (pycytominer, CytoTable) read ours unchanged. The reference is
// CellProfiler's output in ../shared/data/cellprofiler-examplehuman (Nuclei.csv, Cells.csv,
// Cytoplasm.csv). Definitions, and where CellProfiler 4.0.6 differs from its documentation and its
// later versions, are listed at the top of measure.cc.
//
// Used by the cells pipeline after segmentation. Thread-safety: the functions keep no state; a
// MeasurementTable is a value (one writer at a time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cells/image.h"
#include "core/status.h"

namespace sund::cells {

// One table of per-object measurements, column-major: columns[c] names values[c], which holds one
// value per object label 1..rows in label order (values[c][label - 1]). Names are CellProfiler's,
// without the object prefix ("AreaShape_Area", "Intensity_MeanIntensity_DNA",
// "Location_Center_X"). An unused label's row is NaN; a division by zero gives what it gives in
// CellProfiler (IEEE inf or NaN, e.g. FormFactor of a one-pixel object).
struct MeasurementTable {
  std::int32_t rows = 0;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> values;

  // Adds the column (or clears it, when the name is taken) filled with NaN; the reference stays
  // valid until the next AddColumn.
  std::vector<double>& AddColumn(std::string_view name);
  // The column's values, or nullptr when no column has that name.
  const std::vector<double>* Find(std::string_view name) const;
  std::vector<double>* Find(std::string_view name);
};

// Each Measure* function adds its columns to `out`, one row per label 1..labels.count. Errors
// (InvalidArgument): labels whose pixel buffer does not hold width * height values, a pixel label
// outside 0..count, an image of another size than the labels, an empty channel name, or an `out`
// that already holds columns for another number of objects. On error `out` is unchanged.
// Cost: a pass or two over the labels, then per object work on its bounding box (and, for
// MeasureIntensity when maxima tie, one sort of all labelled pixels); on the ExampleHuman images
// (about 300 objects, 512 x 512) a few to about 20 ms per call.

// AreaShape_*: Area, Perimeter, BoundingBox{Area,Minimum_X,Minimum_Y,Maximum_X,Maximum_Y},
// Center_X/Y, Compactness, Eccentricity, EquivalentDiameter, EulerNumber, Extent, FormFactor,
// MajorAxisLength, MinorAxisLength, Max/MinFeretDiameter, Maximum/Mean/MedianRadius, Orientation
// (radians, as CellProfiler 4.0.6 writes it), Solidity and, with `zernike`, Zernike_n_m for
// n = 0..9, m = n mod 2, n mod 2 + 2, .., n.
[[nodiscard]] Status MeasureSizeShape(const Labels& labels, MeasurementTable& out,
                                      bool zernike = true);

// Intensity_*_<channel>: IntegratedIntensity, MeanIntensity, StdIntensity, MinIntensity,
// MaxIntensity, the same five over each object's edge pixels (…Edge), MassDisplacement,
// LowerQuartileIntensity, MedianIntensity, MADIntensity, UpperQuartileIntensity; and
// Location_CenterMassIntensity_{X,Y,Z}_<channel>, Location_MaxIntensity_{X,Y,Z}_<channel>
// (Z is 0 in 2D, as CellProfiler writes it).
[[nodiscard]] Status MeasureIntensity(const Labels& labels, const Image& image,
                                      std::string_view channel, MeasurementTable& out);

// Location_Center_X, Location_Center_Y (the centroid) and, with `with_z`, Location_Center_Z = 0.
// CellProfiler 4.0.6 writes the Z column for primary and secondary objects, not for tertiary
// ones (Cytoplasm).
[[nodiscard]] Status MeasureLocation(const Labels& labels, MeasurementTable& out,
                                     bool with_z = true);

}  // namespace sund::cells
