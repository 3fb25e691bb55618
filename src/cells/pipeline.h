// The analysis pipeline of `sund cells analyze`: an ordered list of steps named after the
// CellProfiler modules they reproduce, read from and written to JSON (docs/cells.md), so that a
// run states every step and parameter and can be repeated exactly.
//
//   {"sund_cells_pipeline": 1, "steps": [
//     {"module": "IdentifyPrimaryObjects", "name": "Nuclei", "image": "DNA", ...},
//     {"module": "IdentifySecondaryObjects", "name": "Cells", "primary": "Nuclei", ...},
//     {"module": "IdentifyTertiaryObjects", "name": "Cytoplasm", "larger": "Cells", ...},
//     {"module": "SegmentWithModel", "name": "Nuclei", "image": "DNA", "model": "default"},
//     {"module": "RelateObjects", "parent": "Nuclei", "child": "PH3"},
//     {"module": "MeasureObjectIntensity", "images": ["DNA"], "objects": ["Nuclei"]},
//     {"module": "MeasureObjectSizeShape", "objects": ["Nuclei"], "zernike": true},
//     {"module": "MeasureTexture", "images": ["DNA"], "objects": ["Nuclei"], "scales": [3]}]}
//
// Parsing is strict: an unknown module, key or value is an error naming the step, so that a
// misspelt parameter never silently falls back to its default. Thread-safety: values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cells/primary.h"
#include "cells/secondary.h"
#include "core/status.h"

namespace sund::cells {

enum class StepKind {
  kPrimary,           // IdentifyPrimaryObjects
  kSecondary,         // IdentifySecondaryObjects
  kTertiary,          // IdentifyTertiaryObjects
  kModel,             // SegmentWithModel: a bioimage.io model, then a seeded watershed
  kRelate,            // RelateObjects
  kMeasureIntensity,  // MeasureObjectIntensity
  kMeasureSizeShape,  // MeasureObjectSizeShape
  kMeasureTexture,    // MeasureTexture (Haralick)
};

struct Step {
  StepKind kind = StepKind::kPrimary;
  std::string name;                  // the objects a segmentation step makes
  std::string image;                 // its input channel
  std::string primary;               // secondary: the objects grown from
  std::string larger, smaller;       // tertiary
  bool shrink_smaller = true;        // tertiary
  std::string parent, child;         // relate
  std::vector<std::string> images;   // intensity: channels
  std::vector<std::string> objects;  // measurements: object sets
  bool zernike = true;               // size and shape
  std::vector<int> scales = {3};     // texture: pixel distances
  int gray_levels = 256;             // texture
  PrimaryOptions primary_options;    // primary; model (its watershed)
  // Primary: the typical diameter measured on each image instead of a fixed range (for image
  // sets whose magnification or cell size varies): the median equivalent diameter of the
  // thresholded blobs times this factor becomes the minimum diameter (which sets the
  // declumping's smoothing and the distance between seeds); no size filter. 0: off.
  double auto_diameter = 0;
  SecondaryOptions secondary_options;  // secondary
  std::string model;                   // model: a name or folder
  // Model: the foreground threshold of a one-output model; a package that declares its own
  // instance post-processing (model.h, config.sund.instances) uses its own thresholds.
  double probability_threshold = 0.5;
};

struct Pipeline {
  std::vector<Step> steps;

  // Channels any step reads, in first use.
  std::vector<std::string> Channels() const;
  // Object sets the steps make, in order.
  std::vector<std::string> Objects() const;
};

// Checks names as well as values: every object set used is made by an earlier step, no name
// is made twice, diameters and thresholds are in range.
Result<Pipeline> ParsePipeline(std::string_view json);

// Every parameter written out, defaults included, in the format ParsePipeline reads.
std::string PipelineJson(const Pipeline& pipeline);

// Nuclei on `channel` (IdentifyPrimaryObjects: Otsu, the typical diameter measured on each
// image, declumping by shape, objects cut by the image's edge left out), their intensity on that
// channel, size and shape.
Pipeline DefaultPipeline(const std::string& channel = "DNA");

}  // namespace sund::cells
