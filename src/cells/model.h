// Deep-learning segmentation models in the bioimage.io format: a folder with `bioimageio.yaml`
// (the model's description: axes, pre- and post-processing, test tensors, weights), ONNX and/or
// TorchScript weights, and test tensors (`test_input.npy` before pre-processing,
// `test_output.npy` after post-processing). ONNX weights run with OpenCV's dnn module,
// TorchScript weights with libtorch (torch_model.h) in a build that has it; a package with both
// runs ONNX unless TorchScript is asked for.
//
// Supported: one input tensor with axes (batch, channel, y, x) and one channel; one output tensor
// with one or more channels (0.5: the channel axis's channel_names); pre-processing
// `zero_mean_unit_variance` (over the whole image, so that tiles do not differ), `scale_range`
// and `scale_linear`; post-processing `sigmoid` (on every channel). A model needing anything else
// is refused when loaded, naming what is missing.
//
// Sund's own keys, under `config: {sund: {...}}` (all optional):
//   instances: {method: threshold | seeded_watershed, foreground_channel, interior_channel,
//               foreground_threshold, seed_threshold, min_area}   how the output becomes objects
//                                                                 (instances.h; default threshold)
//   tile: N                                                       the tile edge to run on
//   training: {...}                                               what `sund cells train` records
//
// Thread-safety: a SegmentationModel is used by one thread at a time (OpenCV's network object
// keeps per-run state); load one per worker thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cells/image.h"
#include "cells/instances.h"
#include "cells/npy.h"
#include "cells/primary.h"
#include "core/status.h"

namespace sund::cells {

struct ModelInfo {
  std::string dir;
  std::string name;
  std::string description;
  std::string format_version;
  std::string license;
  std::vector<std::string> weights;         // formats present: onnx, torchscript, ...
  std::string runtime;                      // the weights this object runs: onnx or torchscript
  std::vector<std::string> preprocessing;   // ids, in order
  std::vector<std::string> postprocessing;  // ids, in order
  int tile = 512;     // tile edge the network is run on (a multiple of `multiple`)
  int multiple = 16;  // the spatial size must be a multiple of this
  int halo = 0;       // output border to discard between tiles
  int output_channels = 1;
  InstanceOptions instances;  // config.sund.instances
  std::string test_input;     // paths, empty when the package has none
  std::string test_output;
};

// Which weights of a package to run: kAuto takes ONNX when present, else TorchScript.
enum class WeightsFormat { kAuto, kOnnx, kTorchScript };

// "auto", "onnx", "torchscript"; InvalidArgument otherwise.
Result<WeightsFormat> ParseWeightsFormat(const std::string& name);

class SegmentationModel {
 public:
  // Reads `dir/bioimageio.yaml` and loads the weights of `format`. InvalidArgument when the
  // package lacks them or they cannot be loaded; NotImplemented when only TorchScript would do
  // and this build has no libtorch.
  static Result<std::unique_ptr<SegmentationModel>> Load(
      const std::string& dir, WeightsFormat format = WeightsFormat::kAuto);
  ~SegmentationModel();

  const ModelInfo& info() const;

  // The model on a tensor shaped as its input declares (1x1xHxW), with its pre- and
  // post-processing: 1xCxHxW.
  Result<Tensor> Run(const Tensor& input);

  // The output channels (after post-processing) of an image of any size: the image is
  // pre-processed as a whole, cut into overlapping tiles (each tile's border of `halo` pixels
  // is discarded, so there are no seams) and mirrored at the image's edges.
  Result<std::vector<Image>> PredictChannels(const Image& image);
  // The foreground channel of PredictChannels (instances.foreground_channel).
  Result<Image> Predict(const Image& image);

  // The objects of an image, as the package's instance post-processing makes them
  // (info().instances): a threshold model's foreground map thresholded at `threshold` and
  // declumped by IdentifyPrimary with `primary`'s other options; a seeded_watershed model's
  // SeededWatershed with the package's thresholds, then the objects touching the image's edge
  // dropped when primary.discard_border_objects. `stats` and `unedited` as IdentifyPrimary
  // fills them (unedited: before the edge filter).
  Result<Labels> Segment(const Image& image, const PrimaryOptions& primary, double threshold,
                         PrimaryStats* stats = nullptr, Labels* unedited = nullptr);

  // The image after the package's pre-processing, as Predict applies it.
  Image Preprocess(const Image& image) const;

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
