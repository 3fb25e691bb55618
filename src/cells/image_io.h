// Reading microscopy images and label images, writing label and overlay images (OpenCV's
// codecs: TIFF 8/16-bit, multi-page, multi-channel; PNG).
//
// Errors name the file and the reason (NotFound, InvalidArgument for a file that is empty,
// corrupt, truncated or of an unsupported kind). Thread-safety: free functions, no shared state.
#pragma once

#include <string>
#include <vector>

#include "cells/image.h"
#include "core/status.h"

namespace sund::cells {

// Every plane of the file, in order: the pages of a multi-page TIFF, and within a page its
// channels (an RGB PNG gives three planes). 8-bit values are divided by 255 and 16-bit by
// 65,535, as CellProfiler does; 32-bit float planes are taken as they are, and refused
// (InvalidArgument) unless every value lies in [0, 1].
Result<std::vector<Image>> ReadImagePlanes(const std::string& path);

// One grayscale image. `plane` picks a plane of a multi-plane file (0-based); with -1 the file
// must hold one plane, or planes that are all equal (a grayscale image stored as RGB).
// Refuses a 0x0 image.
Result<Image> ReadGrayscale(const std::string& path, int plane = -1);

// A label image (8- or 16-bit, 0 = background): labels renumbered 1..count in order of first
// appearance in row-major order.
Result<Labels> ReadLabels(const std::string& path);

// 16-bit PNG of the labels (at most 65,535 objects).
Status WriteLabelsPng(const std::string& path, const Labels& labels);

// An 8-bit RGB PNG of `base` (contrast-stretched to its 0.1-99.9 percentiles) with the outline
// of each labelled object drawn in its colour: `outlines[i]` in `colours[i]` (0xRRGGBB).
Status WriteOverlayPng(const std::string& path, const Image& base,
                       const std::vector<const Labels*>& outlines,
                       const std::vector<unsigned>& colours);

// Labels renumbered 1..count in order of first appearance (label values kept apart).
void Relabel(Labels& labels);

}  // namespace sund::cells
