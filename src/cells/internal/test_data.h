// Test helpers for the cells module: reading CellProfiler's ExampleHuman reference data
// (shared/data/cellprofiler-examplehuman: 8-bit TIFFs and CellProfiler 4.0.6's CSV exports) and
// matching objects to CellProfiler's by centre. Used by the *_test.cc files only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "cells/image.h"
#include "cells/image_io.h"
#include "core/csv.h"
#include "core/file_reader.h"

namespace sund::cells::testing_data {

// An 8- or 16-bit grayscale file scaled to [0, 1] as CellProfiler scales it; empty when
// unreadable.
inline Image LoadGray(const std::string& path) {
  auto image = ReadGrayscale(path);
  return image.ok() ? std::move(image).value() : Image();
}

// The rows of a CellProfiler CSV export, as column name -> number.
inline std::vector<std::map<std::string, double>> ReadCsv(const std::string& path) {
  std::vector<std::map<std::string, double>> rows;
  auto text = ReadFileDecompressed(path);
  if (!text.ok()) return rows;
  auto table = ParseCsv(*text);
  if (!table.ok()) return rows;
  for (const auto& r : table->rows) {
    std::map<std::string, double> row;
    for (std::size_t i = 0; i < r.size(); ++i) row[table->header[i]] = std::atof(r[i].c_str());
    rows.push_back(std::move(row));
  }
  return rows;
}

struct Matched {
  int pairs = 0;
  std::vector<double> relative_area_difference;
};

// Pairs objects with CellProfiler's by centre (nearest first, one to one, within 4 px).
inline Matched MatchByCentre(const Labels& labels,
                             const std::vector<std::map<std::string, double>>& ref,
                             bool with_area) {
  std::vector<double> sx(labels.count + 1, 0), sy(labels.count + 1, 0), n(labels.count + 1, 0);
  for (int y = 0; y < labels.height; ++y) {
    for (int x = 0; x < labels.width; ++x) {
      const int v = labels.at(x, y);
      if (v <= 0) continue;
      sx[v] += x;
      sy[v] += y;
      n[v] += 1;
    }
  }
  struct Candidate {
    double d;
    std::size_t ref;
    int ours;
  };
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    for (int j = 1; j <= labels.count; ++j) {
      const double d = std::hypot(ref[i].at("Location_Center_X") - sx[j] / n[j],
                                  ref[i].at("Location_Center_Y") - sy[j] / n[j]);
      if (d < 4.0) candidates.push_back({d, i, j});
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.d < b.d; });
  std::vector<bool> ref_used(ref.size(), false), ours_used(labels.count + 1, false);
  Matched m;
  for (const Candidate& c : candidates) {
    if (ref_used[c.ref] || ours_used[c.ours]) continue;
    ref_used[c.ref] = ours_used[c.ours] = true;
    ++m.pairs;
    if (with_area) {
      const double area = ref[c.ref].at("AreaShape_Area");
      m.relative_area_difference.push_back(std::fabs(n[c.ours] - area) / area);
    }
  }
  return m;
}

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 1.0 : v[v.size() / 2];
}

}  // namespace sund::cells::testing_data
