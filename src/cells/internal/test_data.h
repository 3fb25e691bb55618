// Test helpers for the cells module: reading CellProfiler's ExampleHuman reference data
// (shared/data/cellprofiler-examplehuman: 8-bit TIFFs and CellProfiler 4.0.6's CSV exports) and
// matching objects to CellProfiler's by centre. Used by the *_test.cc files only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cells/image.h"

namespace sund::cells::testing_data {

// An 8- or 16-bit grayscale file scaled to [0, 1] as CellProfiler scales it; empty when
// unreadable.
inline Image LoadGray(const std::string& path) {
  const cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  Image image;
  if (m.empty() || m.channels() != 1) return image;
  const double scale = m.depth() == CV_16U ? 1.0 / 65535 : 1.0 / 255;
  image = Image(m.cols, m.rows);
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x) {
      const double v = m.depth() == CV_16U ? m.at<std::uint16_t>(y, x) : m.at<std::uint8_t>(y, x);
      image.at(x, y) = static_cast<float>(v * scale);
    }
  }
  return image;
}

// The rows of a CellProfiler CSV export, as column name -> number.
inline std::vector<std::map<std::string, double>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::map<std::string, double>> rows;
  if (!std::getline(in, line)) return rows;
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string cell; std::getline(hs, cell, ',');) header.push_back(cell);
  while (std::getline(in, line)) {
    std::map<std::string, double> row;
    std::stringstream ls(line);
    std::size_t i = 0;
    for (std::string cell; std::getline(ls, cell, ','); ++i) {
      if (i < header.size()) row[header[i]] = std::atof(cell.c_str());
    }
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
