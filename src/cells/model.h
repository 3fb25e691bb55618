// Deep-learning segmentation models in the bioimage.io format: a folder with `bioimageio.yaml`
// (the model's description: axes, pre- and post-processing, test tensors, weights), ONNX and/or
// TorchScript weights, and test tensors (`test_input.npy` before pre-processing,
// `test_output.npy` after post-processing). ONNX weights run with OpenCV's dnn module.
//
// Supported: one input and one output tensor with axes (batch, channel, y, x) and one channel;
// pre-processing `zero_mean_unit_variance` (over the whole image, so that tiles do not differ),
// `scale_range` and `scale_linear`; post-processing `sigmoid`. A model needing anything else is
// refused when loaded, naming what is missing.
//
// Thread-safety: a SegmentationModel is used by one thread at a time (OpenCV's network object
// keeps per-run state); load one per worker thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cells/image.h"
#include "cells/npy.h"
#include "core/status.h"

namespace sund::cells {

struct ModelInfo {
  std::string dir;
  std::string name;
  std::string description;
  std::string format_version;
  std::string license;
  std::vector<std::string> weights;         // formats present: onnx, torchscript, ...
  std::vector<std::string> preprocessing;   // ids, in order
  std::vector<std::string> postprocessing;  // ids, in order
  int tile = 512;          // tile edge the network is run on (a multiple of `multiple`)
  int multiple = 16;       // the spatial size must be a multiple of this
  int halo = 0;            // output border to discard between tiles
  std::string test_input;  // paths, empty when the package has none
  std::string test_output;
};

class SegmentationModel {
 public:
  // Reads `dir/bioimageio.yaml` and loads the ONNX weights.
  static Result<std::unique_ptr<SegmentationModel>> Load(const std::string& dir);
  ~SegmentationModel();

  const ModelInfo& info() const;

  // The model on a tensor shaped as its input declares, with its pre- and post-processing.
  Result<Tensor> Run(const Tensor& input);

  // The foreground probability of every pixel of an image of any size: the image is
  // pre-processed as a whole, cut into overlapping tiles (each tile's border of `halo` pixels
  // is discarded, so there are no seams) and mirrored at the image's edges.
  Result<Image> Predict(const Image& image);

  // Runs on tiles of this edge instead of the declared one (a multiple of info().multiple,
  // larger than twice the halo): larger tiles for speed, smaller ones for memory.
  Status SetTile(int tile);

 private:
  struct Impl;
  explicit SegmentationModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ModelTest {
  double max_abs_difference = 0;
  double tolerance = 0;
  bool passed = false;
};

// Runs the package's test input and compares with its test output.
Result<ModelTest> TestModel(SegmentationModel& model, double tolerance = 1e-4);

// The model folders under `root` (each holding a bioimageio.yaml), sorted by name.
std::vector<std::string> FindModels(const std::string& root);

// A model by folder path, or by folder name under one of the roots (the first found); the
// name "default" stands for the shipped nuclei model, nuclei-default. NotFound otherwise.
Result<std::string> FindModel(const std::string& name, const std::vector<std::string>& roots);

}  // namespace sund::cells
