// `sund cells train`: trains a small 2-D U-Net for nuclei on the CPU with libtorch, or fine-tunes
// the TorchScript weights of an existing package, and writes the result as a bioimage.io package
// (format 0.5, model.h) that SegmentationModel runs and `sund cells models test` checks:
//
//   bioimageio.yaml   axes, pre-processing (scale_range 1-99.8 %, or the parent's), sigmoid,
//                     halo, weights, test tensors, authors, license, and under config.sund the
//                     instance post-processing (instances.h) and the training's figures and command
//   weights.pt        TorchScript (torch.jit.load and bioimage.io tools load it)
//   test_input.npy    a crop of the first validation image, before pre-processing
//   test_output.npy   what the written package makes of it (SegmentationModel::Run)
//   README.md         the same figures for people
//
// A new U-Net has two outputs, foreground and interior (logits; the package declares the
// sigmoid), turned into objects by seeded_watershed. A fine-tuned package keeps its parent's
// outputs, pre-processing and post-processing; a one-output foreground model (such as
// unet2d-nuclei-broad) is trained on the foreground alone and keeps the threshold method.
//
// Each step draws `batch` random crops of random training images with random flips, 90-degree
// rotations and intensity scale, gamma and offset (on the pre-processed image); the loss is the
// binary cross-entropy of each output against its target, pixels where two objects come within
// 2 pixels of each other weighing `contact_weight` (Adam, learning rate on a cosine from
// `learning_rate` down). Each epoch (`steps_per_epoch` steps) ends with the validation images
// segmented whole exactly as `sund cells eval --model` segments them (pre-processing, tiles with
// the halo, the package's instance post-processing) and scored with evaluate.h; the weights of the
// epoch with the best AP@0.5 are kept, and training stops after `patience` epochs without a
// better one. Last, seeded_watershed's thresholds and minimum area are chosen on the validation
// images. The test images of a split are never read.
//
// Thread-safety: Train sets and uses libtorch's global thread pool; run one at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::cells {

struct TrainOptions {
  std::string images_dir;
  std::string labels_dir;              // label images of the same stem (.png or .tif)
  std::vector<std::string> train_ids;  // image stems; empty: every image with a label image
  std::vector<std::string> val_ids;    // empty: 10% of the training images, drawn with `seed`
  std::string from;                    // a package folder to fine-tune; empty: a new U-Net
  std::string out_dir;
  int epochs = 40;
  int steps_per_epoch = 100;
  int batch = 8;
  int crop = 128;          // a multiple of 2^(levels-1)
  int base_channels = 16;  // new U-Net: channels of the first level, doubling per level
  int levels = 4;          // new U-Net: resolution levels
  double learning_rate = 1e-3;
  double contact_weight = 5;  // loss weight where objects meet (1: none)
  int patience = 10;          // epochs without a better validation AP@0.5 before stopping
  std::uint64_t seed = 1;
  int threads = 2;       // libtorch's threads
  bool progress = true;  // a bar per epoch on a terminal, and a line per epoch on stderr
  std::string command;   // recorded in the package (config.sund.training.command)
  std::string data;      // a description of the data, recorded likewise
};

struct EpochReport {
  int epoch = 0;    // from 1
  double loss = 0;  // mean over the epoch's steps
  double val_ap50 = 0;
  double val_ap = 0;
  double learning_rate = 0;  // at the epoch's end
  double seconds = 0;        // training and validation
  bool best = false;
};

struct TrainReport {
  std::vector<EpochReport> epochs;
  int best_epoch = 0;
  double val_ap50 = 0;  // the best epoch, with the thresholds finally chosen
  double val_ap = 0;
  double val_f1 = 0;
  int train_images = 0;
  int val_images = 0;
  std::int64_t parameters = 0;
  std::int64_t weights_bytes = 0;
  double seconds = 0;
  std::string package;  // the folder written
};

// Trains and writes the package to options.out_dir (created; files of the same names are
// replaced). InvalidArgument for options out of range, images without label images, a --from
// package without TorchScript weights or with several inputs; NotFound for missing folders or
// images; NotImplemented in a build without libtorch.
Result<TrainReport> Train(const TrainOptions& options);

}  // namespace sund::cells
