#include "cells/image_io.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string_view>
#include <unordered_map>

namespace sund::cells {

namespace {

std::string Name(const std::string& path) { return std::filesystem::path(path).filename(); }

Result<Image> ToImage(const cv::Mat& plane, const std::string& path) {
  Image img(plane.cols, plane.rows);
  cv::Mat dst(plane.rows, plane.cols, CV_32F, img.pixels.data());
  switch (plane.depth()) {
    case CV_8U:
      plane.convertTo(dst, CV_32F, 1.0 / 255.0);
      break;
    case CV_16U:
      plane.convertTo(dst, CV_32F, 1.0 / 65535.0);
      break;
    case CV_32F:
      plane.copyTo(dst);
      // Thresholds, declumping, texture and overlays all assume CellProfiler's [0, 1] scale: a
      // float image on another scale (or holding NaN) would segment wrongly without a word.
      for (float v : img.pixels) {
        if (!(v >= 0.0f && v <= 1.0f)) {
          return InvalidArgument(Name(path) +
                                 ": float intensities must lie in [0, 1] (rescale the image)");
        }
      }
      break;
    default:
      return InvalidArgument(Name(path) + ": unsupported pixel type (8-bit, 16-bit or float only)");
  }
  return img;
}

Status CheckFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(Name(path) + ": no such file");
  if (std::filesystem::is_directory(path, ec)) return InvalidArgument(Name(path) + ": a folder");
  if (std::filesystem::file_size(path, ec) == 0)
    return InvalidArgument(Name(path) + ": empty file");
  // Only TIFF (also BigTIFF) and PNG reach OpenCV: imread tries every decoder Debian built in
  // (DICOM through GDCM, JPEG 2000, GDAL's formats ...), and a crafted file made GDCM assert and
  // abort the process (found by fuzz_cells_image, issue #11).
  char magic[8] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(magic, sizeof magic);
  std::string_view m(magic, static_cast<std::size_t>(in.gcount()));
  auto starts = [&](std::string_view prefix) { return m.substr(0, prefix.size()) == prefix; };
  using namespace std::string_view_literals;
  if (!starts("II*\0"sv) && !starts("MM\0*"sv) && !starts("II+\0"sv) && !starts("MM\0+"sv) &&
      !starts("\x89PNG\r\n\x1a\n"sv)) {
    return InvalidArgument(Name(path) + ": not a readable image (not a TIFF or PNG file)");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Image>> ReadImagePlanes(const std::string& path) {
  SUND_RETURN_IF_ERROR(CheckFile(path));
  std::vector<cv::Mat> pages;
  try {
    if (!cv::imreadmulti(path, pages, cv::IMREAD_UNCHANGED) || pages.empty()) {
      return InvalidArgument(Name(path) +
                             ": not a readable image (corrupt, truncated or an "
                             "unsupported format)");
    }
  } catch (const cv::Exception&) {
    return InvalidArgument(Name(path) + ": not a readable image (the decoder failed)");
  }
  std::vector<Image> planes;
  for (const cv::Mat& page : pages) {
    if (page.empty() || page.cols == 0 || page.rows == 0) {
      return InvalidArgument(Name(path) + ": an image of size 0");
    }
    std::vector<cv::Mat> channels;
    cv::split(page, channels);
    // OpenCV decodes colour as BGR(A); planes are given in the file's order, R first.
    if (channels.size() >= 3) std::swap(channels[0], channels[2]);
    for (const cv::Mat& c : channels) {
      SUND_ASSIGN_OR_RETURN(Image img, ToImage(c, path));
      planes.push_back(std::move(img));
    }
  }
  return planes;
}

Result<Image> ReadGrayscale(const std::string& path, int plane) {
  SUND_ASSIGN_OR_RETURN(std::vector<Image> planes, ReadImagePlanes(path));
  if (plane >= 0) {
    if (static_cast<std::size_t>(plane) >= planes.size()) {
      return InvalidArgument(Name(path) + ": has " + std::to_string(planes.size()) +
                             " planes, plane " + std::to_string(plane) + " asked for");
    }
    return std::move(planes[plane]);
  }
  for (std::size_t i = 1; i < planes.size(); ++i) {
    if (planes[i].width != planes[0].width || planes[i].height != planes[0].height ||
        planes[i].pixels != planes[0].pixels) {
      return InvalidArgument(Name(path) + ": has " + std::to_string(planes.size()) +
                             " different planes (channels or pages) where one is expected; "
                             "name the plane to use");
    }
  }
  return std::move(planes[0]);
}

void Relabel(Labels& labels) {
  std::unordered_map<std::int32_t, std::int32_t> map;
  std::int32_t next = 0;
  for (auto& v : labels.pixels) {
    if (v == 0) continue;
    auto [it, inserted] = map.try_emplace(v, next + 1);
    if (inserted) ++next;
    v = it->second;
  }
  labels.count = next;
}

Result<Labels> ReadLabels(const std::string& path) {
  SUND_RETURN_IF_ERROR(CheckFile(path));
  cv::Mat m;
  try {
    m = cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    m = cv::Mat();
  }
  if (m.empty()) return InvalidArgument(Name(path) + ": not a readable label image");
  if (m.channels() != 1) return InvalidArgument(Name(path) + ": a label image has one channel");
  if (m.depth() != CV_8U && m.depth() != CV_16U && m.depth() != CV_32S) {
    return InvalidArgument(Name(path) + ": labels must be 8-, 16- or 32-bit integers");
  }
  Labels labels(m.cols, m.rows);
  cv::Mat dst(m.rows, m.cols, CV_32S, labels.pixels.data());
  m.convertTo(dst, CV_32S);
  Relabel(labels);
  return labels;
}

Status WriteLabelsPng(const std::string& path, const Labels& labels) {
  if (labels.count > 65535) return InvalidArgument("more than 65,535 objects for a 16-bit PNG");
  cv::Mat src(labels.height, labels.width, CV_32S, const_cast<std::int32_t*>(labels.pixels.data()));
  cv::Mat out;
  src.convertTo(out, CV_16U);
  try {
    if (!cv::imwrite(path, out)) return Internal("cannot write " + Name(path));
  } catch (const cv::Exception&) {
    return Internal("cannot write " + Name(path));
  }
  return Status::Ok();
}

Status WriteOverlayPng(const std::string& path, const Image& base,
                       const std::vector<const Labels*>& outlines,
                       const std::vector<unsigned>& colours) {
  std::vector<float> sorted = base.pixels;
  float lo = 0, hi = 1;
  if (!sorted.empty()) {
    auto at = [&](double q) {
      auto k = static_cast<std::size_t>(q * (sorted.size() - 1));
      std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
      return sorted[k];
    };
    lo = at(0.001);
    hi = at(0.999);
  }
  if (hi <= lo) hi = lo + 1e-6f;
  cv::Mat out(base.height, base.width, CV_8UC3);
  for (int y = 0; y < base.height; ++y) {
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < base.width; ++x) {
      float v = std::clamp((base.at(x, y) - lo) / (hi - lo), 0.0f, 1.0f);
      auto g = static_cast<unsigned char>(v * 255.0f + 0.5f);
      row[x] = cv::Vec3b(g, g, g);
    }
  }
  for (std::size_t i = 0; i < outlines.size(); ++i) {
    const Labels& l = *outlines[i];
    if (l.width != base.width || l.height != base.height) continue;
    unsigned c = i < colours.size() ? colours[i] : 0xFFFF00u;
    cv::Vec3b bgr(c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF);
    for (int y = 0; y < l.height; ++y) {
      for (int x = 0; x < l.width; ++x) {
        std::int32_t v = l.at(x, y);
        if (v == 0) continue;
        bool edge = x == 0 || y == 0 || x == l.width - 1 || y == l.height - 1 ||
                    l.at(x - 1, y) != v || l.at(x + 1, y) != v || l.at(x, y - 1) != v ||
                    l.at(x, y + 1) != v;
        if (edge) out.at<cv::Vec3b>(y, x) = bgr;
      }
    }
  }
  try {
    if (!cv::imwrite(path, out)) return Internal("cannot write " + Name(path));
  } catch (const cv::Exception&) {
    return Internal("cannot write " + Name(path));
  }
  return Status::Ok();
}

}  // namespace sund::cells
